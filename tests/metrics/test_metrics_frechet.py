"""Fréchet distance: closed forms computed by hand, symmetry, non-negativity, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from contradistinct.metrics import frechet_distance

finite = st.floats(-5, 5, allow_nan=False, allow_infinity=False)
variance = st.floats(1e-3, 10, allow_nan=False, allow_infinity=False)


def random_gaussian(dim: int, seed: int, rank: int | None = None) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    factor = torch.randn(dim, rank or dim, generator=g, dtype=torch.float64)
    return torch.randn(dim, generator=g, dtype=torch.float64), factor @ factor.T


def test_hand_computed_value() -> None:
    # |0 - 1|^2 * 2 + 2 * (sqrt(1) - sqrt(4))^2 = 2 + 2 = 4
    value = frechet_distance(torch.zeros(2), torch.eye(2), torch.ones(2), 4 * torch.eye(2))
    assert value.dtype == torch.float64
    assert value.item() == pytest.approx(4.0, abs=1e-12)


@given(m1=finite, m2=finite, v1=variance, v2=variance)
def test_one_dimensional_closed_form(m1: float, m2: float, v1: float, v2: float) -> None:
    value = frechet_distance(
        torch.tensor([m1]), torch.tensor([[v1]]), torch.tensor([m2]), torch.tensor([[v2]])
    )
    expected = (m1 - m2) ** 2 + (math.sqrt(v1) - math.sqrt(v2)) ** 2
    assert value.item() == pytest.approx(expected, rel=1e-5, abs=1e-5)


@given(
    st.integers(1, 6).flatmap(
        lambda d: st.tuples(
            st.lists(finite, min_size=d, max_size=d),
            st.lists(finite, min_size=d, max_size=d),
            st.lists(variance, min_size=d, max_size=d),
            st.lists(variance, min_size=d, max_size=d),
        )
    )
)
def test_diagonal_closed_form(case: tuple[list[float], ...]) -> None:
    m1, m2, v1, v2 = (torch.tensor(c, dtype=torch.float64) for c in case)
    value = frechet_distance(m1, torch.diag(v1), m2, torch.diag(v2))
    expected = (m1 - m2).square().sum() + (v1.sqrt() - v2.sqrt()).square().sum()
    assert value.item() == pytest.approx(expected.item(), rel=1e-7, abs=1e-7)


@given(dim=st.integers(1, 12), seed=st.integers(0, 2**16), rank=st.integers(1, 12))
def test_symmetric_and_non_negative(dim: int, seed: int, rank: int) -> None:
    mu1, sigma1 = random_gaussian(dim, seed, rank)
    mu2, sigma2 = random_gaussian(dim, seed + 1)
    forward = frechet_distance(mu1, sigma1, mu2, sigma2)
    backward = frechet_distance(mu2, sigma2, mu1, sigma1)
    assert forward.item() >= 0
    assert forward.item() == pytest.approx(backward.item(), rel=1e-6, abs=1e-8)


@given(dim=st.integers(1, 12), seed=st.integers(0, 2**16), rank=st.integers(1, 12))
def test_zero_for_identical_statistics(dim: int, seed: int, rank: int) -> None:
    mu, sigma = random_gaussian(dim, seed, rank)
    scale = 1 + sigma.trace().item()
    assert frechet_distance(mu, sigma, mu, sigma).item() == pytest.approx(0, abs=1e-7 * scale)


def test_matches_commuting_closed_form() -> None:
    # Covariances sharing eigenvectors: tr sqrt(S1 S2) = sum sqrt(a_i b_i).
    rotation, _ = torch.linalg.qr(torch.randn(5, 5, dtype=torch.float64))
    a, b = torch.rand(5, dtype=torch.float64) + 0.1, torch.rand(5, dtype=torch.float64) + 0.1
    sigma1, sigma2 = rotation @ torch.diag(a) @ rotation.T, rotation @ torch.diag(b) @ rotation.T
    mu = torch.zeros(5, dtype=torch.float64)
    expected = (a.sqrt() - b.sqrt()).square().sum()
    assert frechet_distance(mu, sigma1, mu, sigma2).item() == pytest.approx(expected.item())


def test_accepts_numpy_and_float32() -> None:
    mu, sigma = np.zeros(3), np.eye(3)
    assert frechet_distance(mu, sigma, mu, 4 * sigma).item() == pytest.approx(3.0)
    value = frechet_distance(torch.zeros(3), torch.eye(3), torch.zeros(3), torch.eye(3))
    assert value.dtype == torch.float64


def test_bad_shapes_name_the_argument() -> None:
    with pytest.raises(ValueError, match=r"sigma2 must have shape \(3, 3\).*\(2, 2\)"):
        frechet_distance(torch.zeros(3), torch.eye(3), torch.zeros(3), torch.eye(2))
    with pytest.raises(ValueError, match=r"mu1 must have 1 dimensions \(F,\), got shape \(1, 3\)"):
        frechet_distance(torch.zeros(1, 3), torch.eye(3), torch.zeros(3), torch.eye(3))
    with pytest.raises(ValueError, match="mu2 must have shape"):
        frechet_distance(torch.zeros(3), torch.eye(3), torch.zeros(4), torch.eye(3))


def test_non_finite_and_wrong_type() -> None:
    sigma = torch.eye(2)
    sigma[0, 0] = float("nan")
    with pytest.raises(ValueError, match="sigma1 must be finite"):
        frechet_distance(torch.zeros(2), sigma, torch.zeros(2), torch.eye(2))
    with pytest.raises(TypeError, match=r"mu1 must be a torch\.Tensor"):
        frechet_distance([0.0, 0.0], torch.eye(2), torch.zeros(2), torch.eye(2))  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["sigma1", "sigma2"])
@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (-torch.eye(3, dtype=torch.float64), r"must be positive semi-definite, .* -1"),
        (
            torch.diag(torch.tensor([2.0, 1.0, -0.5], dtype=torch.float64)),
            r"must be .* eigenvalue is -0\.5",
        ),
        (torch.tensor([[1.0, 0.5, 0], [0, 1, 0], [0, 0, 1]]), r"must be a symmetric covariance"),
    ],
)
def test_a_covariance_that_is_not_symmetric_psd_is_refused(name, bad, match) -> None:
    # issue 14: a non-positive-definite covariance silently dropped the trace term.
    sigmas = {"sigma1": torch.eye(3), "sigma2": torch.eye(3)} | {name: bad}
    with pytest.raises(ValueError, match=rf"{name} {match}"):
        frechet_distance(torch.zeros(3), sigmas["sigma1"], torch.zeros(3), sigmas["sigma2"])


@given(dim=st.integers(2, 10), seed=st.integers(0, 2**16), rank=st.integers(1, 10))
def test_rounding_below_zero_of_a_singular_covariance_is_still_accepted(dim, seed, rank) -> None:
    mu, sigma = random_gaussian(dim, seed, rank)
    noisy = (sigma.float() + 1e-7 * torch.randn(dim, dim).float()).double()  # float32 rounding
    noisy = 0.5 * (noisy + noisy.T) + 1e-7 * torch.triu(torch.ones(dim, dim), 1).double()
    assert frechet_distance(mu, noisy, mu, sigma).item() >= 0
