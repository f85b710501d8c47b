"""KL to the prior and the reparameterisation trick (DC-VAE Eqs. 1 and 8)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from contradistinct.functional import gaussian_kl, reparameterize

finite = st.floats(-5.0, 5.0, allow_nan=False, width=32)
pairs = st.tuples(st.integers(1, 6), st.integers(1, 8)).flatmap(
    lambda s: st.tuples(
        hnp.arrays("float32", s, elements=finite), hnp.arrays("float32", s, elements=finite)
    )
)


@given(pairs)
def test_kl_is_non_negative_and_matches_the_closed_form(pair):
    mu, logvar = (torch.from_numpy(a) for a in pair)
    kl = gaussian_kl(mu, logvar, reduction="none")
    expected = 0.5 * (mu.double() ** 2 + logvar.double().exp() - 1 - logvar.double()).sum(1)
    assert kl.shape == (mu.shape[0],)
    assert (kl >= 0).all()
    torch.testing.assert_close(kl.double(), expected, rtol=1e-5, atol=1e-5)


coarse = st.sampled_from([0.0, 0.5, -0.5, 1.0, -2.0])
coarse_pairs = st.tuples(st.integers(1, 6), st.integers(1, 8)).flatmap(
    lambda s: st.tuples(
        hnp.arrays("float32", s, elements=coarse), hnp.arrays("float32", s, elements=coarse)
    )
)


@given(coarse_pairs)
def test_kl_is_zero_only_at_the_prior(pair):
    mu, logvar = (torch.from_numpy(a) for a in pair)
    kl = gaussian_kl(mu, logvar, reduction="none")
    at_prior = (mu == 0).all(1) & (logvar == 0).all(1)
    assert (kl[at_prior] == 0).all()
    assert (kl[~at_prior] > 0).all()


def test_kl_reference_value_and_reductions():
    # One dim, mu = 1, sigma^2 = e: 0.5 * (1 + e - 1 - 1) = 0.5 * (e - 1).
    mu, logvar = torch.ones(3, 1), torch.ones(3, 1)
    per = 0.5 * (math.e - 1)
    assert gaussian_kl(mu, logvar).item() == pytest.approx(per)
    assert gaussian_kl(mu, logvar, reduction="sum").item() == pytest.approx(3 * per)
    torch.testing.assert_close(gaussian_kl(mu, logvar, reduction="none"), torch.full((3,), per))


def test_kl_sums_every_non_batch_dimension_of_spatial_latents():
    mu = torch.randn(2, 4, 3, 3)
    torch.testing.assert_close(
        gaussian_kl(mu, torch.zeros_like(mu), reduction="none"),
        0.5 * mu.flatten(1).square().sum(1),
    )


def test_kl_bf16_autocast_upcasts():
    mu, logvar = torch.randn(4, 8).bfloat16(), torch.randn(4, 8).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        kl = gaussian_kl(mu, logvar)
    assert kl.dtype == torch.float32
    torch.testing.assert_close(kl, gaussian_kl(mu.float(), logvar.float()))


def test_kl_gradients():
    mu = torch.randn(4, 3, requires_grad=True)
    logvar = torch.randn(4, 3, requires_grad=True)
    gaussian_kl(mu, logvar, reduction="sum").backward()
    torch.testing.assert_close(mu.grad, mu.detach())
    torch.testing.assert_close(logvar.grad, 0.5 * (logvar.detach().exp() - 1))


@pytest.mark.parametrize(
    ("mu", "logvar", "kwargs", "error", "match"),
    [
        (torch.zeros(3), torch.zeros(3), {}, ValueError, r"mu must have at least 2 dim"),
        (torch.zeros(2, 3), torch.zeros(2, 4), {}, ValueError, r"same shape, got \(2, 3\)"),
        (torch.zeros(2, 3), torch.zeros(2, 3), {"reduction": "max"}, ValueError, "reduction"),
        (torch.zeros(0, 3), torch.zeros(0, 3), {}, ValueError, "at least one sample"),
        ([0.0], torch.zeros(2, 3), {}, TypeError, "mu must be a torch.Tensor"),
    ],
)
def test_kl_bad_input(mu, logvar, kwargs, error, match):
    with pytest.raises(error, match=match):
        gaussian_kl(mu, logvar, **kwargs)


def test_reparameterize_is_reproducible_and_has_the_right_moments():
    mu, logvar = torch.full((20000, 2), 3.0), torch.full((20000, 2), math.log(4.0))
    a = reparameterize(mu, logvar, generator=torch.Generator().manual_seed(1))
    b = reparameterize(mu, logvar, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert a.mean().item() == pytest.approx(3.0, abs=0.05)
    assert a.std().item() == pytest.approx(2.0, abs=0.05)


def test_reparameterize_passes_gradients():
    mu = torch.zeros(5, 3, requires_grad=True)
    logvar = torch.zeros(5, 3, requires_grad=True)
    reparameterize(mu, logvar).sum().backward()
    torch.testing.assert_close(mu.grad, torch.ones(5, 3))
    assert logvar.grad is not None


def test_reparameterize_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        reparameterize(torch.zeros(2, 3), torch.zeros(3, 2))
