"""2D samplers and the Table 2 metrics: seeds, shapes, numpy agreement, stated conventions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from contradistinct.toy import (
    DATASETS,
    eight_gaussians,
    eight_gaussians_means,
    grid_normalized_elbo,
    grid_points,
    histogram2d,
    histogram_jsd,
    histogram_kl,
    plot_range,
    rings,
    sample,
    soft_intro_histogram_jsd,
    soft_intro_histogram_kl,
)


@given(name=st.sampled_from(sorted(DATASETS)), seed=st.integers(0, 2**31), n=st.integers(1, 64))
def test_samplers_reproducible_under_a_seed(name: str, seed: int, n: int) -> None:
    a = sample(name, n, generator=torch.Generator().manual_seed(seed))
    b = sample(name, n, generator=torch.Generator().manual_seed(seed))
    assert a.shape == (n, 2) and a.dtype == torch.float32
    assert torch.equal(a, b)
    c = sample(name, n, generator=torch.Generator().manual_seed(seed + 1))
    assert not torch.equal(a, c)


def test_eight_gaussians_sit_on_the_compass_points() -> None:
    points = eight_gaussians(4000, generator=torch.Generator().manual_seed(0))
    angles = torch.arange(8) * (math.pi / 4)
    centres = 2 * torch.stack([angles.cos(), angles.sin()], dim=1) / 1.414
    nearest = torch.cdist(points, centres).min(dim=1)
    assert nearest.values.max() < 6 * 0.02 / 1.414
    assert torch.bincount(nearest.indices, minlength=8).min() > 400


def test_eight_gaussians_means_are_the_modes_centres() -> None:
    means = eight_gaussians_means()
    assert means.shape == (8, 2) and means.dtype == torch.float32
    assert torch.allclose(means.norm(dim=1), torch.full((8,), 2 / 1.414))
    points = eight_gaussians(8000, generator=torch.Generator().manual_seed(1))
    nearest = torch.cdist(points, means).argmin(dim=1)
    for k in range(8):
        assert torch.allclose(points[nearest == k].mean(0), means[k], atol=0.003)
    means[0] = 99.0
    assert eight_gaussians_means()[0, 0] < 2  # a fresh copy: callers cannot corrupt it


def test_rings_radii_and_checkerboard_squares() -> None:
    g = torch.Generator().manual_seed(0)
    radius = rings(4000, generator=g).norm(dim=1)
    distance = (radius[:, None] - torch.tensor([0.75, 1.5, 2.25, 3.0])).abs().min(dim=1).values
    assert distance.max() < 0.5
    board = sample("checkerboard", 4000, generator=g) / 2  # back to the unit squares
    cells = board.floor().long()
    assert ((cells[:, 0] + cells[:, 1]) % 2 == 0).all()
    assert board.abs().max() <= 2


def test_plot_range() -> None:
    assert plot_range("8gaussians") == (-2.0, 2.0)
    assert {plot_range(n) for n in ("2spirals", "checkerboard", "rings")} == {(-4.0, 4.0)}


def test_histogram_matches_numpy() -> None:
    g = torch.Generator().manual_seed(0)
    points = torch.cat([3 * torch.randn(2000, 2, generator=g), torch.tensor([[2.0, 2.0]])])
    ours = histogram2d(points, bins=17, range=(-2.0, 2.0))
    counts, _, _ = np.histogram2d(
        points[:, 0].numpy(), points[:, 1].numpy(), bins=17, range=[[-2, 2], [-2, 2]]
    )
    np.testing.assert_allclose(ours.numpy(), counts / counts.sum())


def authors_reference(real: torch.Tensor, fake: torch.Tensor, low: float, high: float):  # type: ignore[no-untyped-def]
    """Table 2's KL and JSD written out from the reference facts with numpy densities."""

    def density(points: torch.Tensor) -> np.ndarray:
        h, _, _ = np.histogram2d(
            points[:, 0].numpy(), points[:, 1].numpy(), bins=100, range=[[low, high]] * 2,
            density=True,
        )  # fmt: skip
        return h

    def kl(p: np.ndarray, q: np.ndarray) -> float:
        mask = p > 0
        return float((p[mask] * (np.log(p[mask]) - np.log(q[mask] + 1e-14))).sum() / 100)

    p, q = density(real), density(fake)
    m = 0.5 * (p + q)
    return kl(p, q), 0.5 * (kl(m, p) + kl(m, q))


@pytest.mark.parametrize("name", ["8gaussians", "rings"])
def test_soft_intro_metrics_follow_the_authors_conventions(name: str) -> None:
    g = torch.Generator().manual_seed(1)
    low, high = plot_range(name)
    real = sample(name, 5000, generator=g)
    fake = real + 0.05 * torch.randn(5000, 2, generator=g)
    expected_kl, expected_jsd = authors_reference(real, fake, low, high)
    kl = soft_intro_histogram_kl(fake, real, range=(low, high))
    jsd = soft_intro_histogram_jsd(fake, real, range=(low, high))
    assert kl.item() == pytest.approx(expected_kl, rel=1e-9)
    assert jsd.item() == pytest.approx(expected_jsd, rel=1e-9)
    # The stated relation to the textbook KL on bin probabilities.
    area = ((high - low) / 100) ** 2
    textbook = histogram_kl(fake, real, range=(low, high), floor=1e-14 * area)
    assert kl.item() == pytest.approx(textbook.item() / (100 * area), rel=1e-9)


def test_textbook_divergences() -> None:
    g = torch.Generator().manual_seed(2)
    a, b = torch.rand(3000, 2, generator=g), torch.rand(3000, 2, generator=g) - 0.5
    jsd = histogram_jsd(a, b, bins=10, range=(-1, 1))
    assert 0 < jsd.item() <= math.log(2)
    torch.testing.assert_close(jsd, histogram_jsd(b, a, bins=10, range=(-1, 1)))
    assert histogram_kl(a, b, bins=10, range=(-1, 1)).item() == math.inf  # disjoint bins
    assert histogram_kl(a, a, bins=10, range=(-1, 1)).item() == 0.0


def test_divergences_take_the_generated_samples_first() -> None:
    # KL(real || generated) is finite when the generated samples cover the real support and
    # infinite the other way round; the argument order is (generated, real).
    g = torch.Generator().manual_seed(3)
    generated = 2 * torch.rand(4000, 2, generator=g) - 1  # all of [-1, 1]^2
    real = torch.rand(4000, 2, generator=g)  # [0, 1]^2 only
    kl = histogram_kl(generated, real, bins=4, range=(-1, 1)).item()
    assert kl == pytest.approx(math.log(4), abs=0.05)  # KL(U[0,1]^2 || U[-1,1]^2)
    assert histogram_kl(real, generated, bins=4, range=(-1, 1)).item() == math.inf
    finite = soft_intro_histogram_kl(generated, real, bins=4, range=(-1, 1)).item()
    floored = soft_intro_histogram_kl(real, generated, bins=4, range=(-1, 1)).item()
    assert floored > 10 * finite > 0  # the 1e-14 floor turns inf into a large finite value


def test_grid_and_grid_normalized_elbo() -> None:
    grid = grid_points(range=(-4, 4), points_per_axis=5)
    assert grid.shape == (25, 2)
    assert grid.min().item() == -4 and grid.max().item() == 4
    value = grid_normalized_elbo(torch.tensor([2.0, 4.0]), torch.tensor([1.0, 1.0, 2.0]))
    assert value.item() == pytest.approx((2 / 10 + 4 / 10) / 2)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="name"):
        sample("moons", 10)
    with pytest.raises(ValueError, match="n must be a positive int"):
        eight_gaussians(0)
    with pytest.raises(ValueError, match="points must have shape"):
        histogram2d(torch.zeros(5, 3))
    with pytest.raises(ValueError, match="range"):
        histogram_kl(torch.zeros(5, 2), torch.zeros(5, 2), range=(1.0, -1.0))
    with pytest.raises(ValueError, match="data_energy"):
        grid_normalized_elbo(torch.zeros(2, 2), torch.zeros(3))
    with pytest.raises(ValueError, match="non-empty"):
        grid_normalized_elbo(torch.zeros(0), torch.zeros(3))


DIVERGENCES = [histogram_kl, histogram_jsd, soft_intro_histogram_kl, soft_intro_histogram_jsd]


@pytest.mark.parametrize("divergence", DIVERGENCES)
@pytest.mark.parametrize("empty", ["generated", "real"])
def test_an_empty_point_set_is_refused_naming_it(divergence, empty) -> None:
    # issue 14: empty point sets gave 0, inf or 0.3466.
    points = {"generated": torch.rand(50, 2), "real": torch.rand(50, 2)}
    points[empty] = torch.zeros(0, 2)
    with pytest.raises(ValueError, match=rf"{empty} must hold at least one point, got shape"):
        divergence(**points, bins=4, range=(-1, 1))
    points[empty] = torch.full((5, 2), 3.0)  # every point outside the range
    with pytest.raises(ValueError, match=rf"{empty} has no point inside range=\(-1, 1\)"):
        divergence(**points, bins=4, range=(-1, 1))


@pytest.mark.parametrize("divergence", DIVERGENCES)
def test_bad_points_name_the_callers_argument(divergence) -> None:
    with pytest.raises(ValueError, match=r"generated must have shape \(N, 2\), got \(5, 3\)"):
        divergence(torch.rand(5, 3), torch.rand(5, 2))
    with pytest.raises(ValueError, match=r"real must have 2 dimensions \(N, 2\), got shape \(5,\)"):
        divergence(torch.rand(5, 2), torch.rand(5))
    with pytest.raises(TypeError, match=r"range must be a \(low, high\) pair of numbers, got 2"):
        divergence(torch.rand(5, 2), torch.rand(5, 2), range=2)


def test_an_infinite_or_negative_floor_is_refused() -> None:
    for floor in (math.inf, -1.0, math.nan):
        with pytest.raises(ValueError, match="floor must be non-negative and finite"):
            histogram_kl(torch.rand(5, 2), torch.rand(5, 2), floor=floor)


def test_histogram2d_of_no_point_inside_is_all_zeros() -> None:
    # The documented result of the histogram itself, which is not a comparison.
    assert not histogram2d(torch.zeros(0, 2), bins=3).any()
    assert not histogram2d(torch.full((4, 2), 9.0), bins=3).any()
