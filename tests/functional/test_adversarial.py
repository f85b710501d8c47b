"""GAN terms on logits (DC-VAE Eq. 4 and variants)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from contradistinct.functional import discriminator_loss, fake_term, generator_loss, real_term

KINDS = ["hinge", "nonsaturating", "wasserstein", "least_squares"]
logits = hnp.arrays(
    "float32", st.integers(1, 16), elements=st.floats(-50, 50, allow_nan=False, width=32)
)


@given(logits, logits)
def test_hinge_vanishes_once_margins_are_met(real, fake):
    real = torch.from_numpy(real).abs() + 1.0
    fake = -torch.from_numpy(fake).abs() - 1.0
    assert discriminator_loss(real, fake, kind="hinge").item() == 0.0


@given(logits, logits, st.sampled_from(KINDS))
def test_losses_are_finite_float32_and_match_the_references(real, fake, kind):
    real, fake = torch.from_numpy(real), torch.from_numpy(fake)
    d = discriminator_loss(real, fake, kind=kind)
    g = generator_loss(fake, kind=kind)
    assert d.dtype == g.dtype == torch.float32
    assert torch.isfinite(d) and torch.isfinite(g)
    r, f = real.double(), fake.double()
    expected_d = {
        "hinge": F.relu(1 - r).mean() + F.relu(1 + f).mean(),
        "nonsaturating": -F.logsigmoid(r).mean() - F.logsigmoid(-f).mean(),
        "wasserstein": f.mean() - r.mean(),
        "least_squares": 0.5 * ((r - 1) ** 2).mean() + 0.5 * (f**2).mean(),
    }[kind]
    expected_g = {
        "hinge": -f.mean(),
        "nonsaturating": -F.logsigmoid(f).mean(),
        "wasserstein": -f.mean(),
        "least_squares": 0.5 * ((f - 1) ** 2).mean(),
    }[kind]
    torch.testing.assert_close(d.double(), expected_d, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(g.double(), expected_g, rtol=1e-5, atol=1e-4)


def test_nonsaturating_reference_by_hand():
    # D(x) = 0 -> -log(1/2) on both sides.
    zero = torch.zeros(3)
    assert discriminator_loss(zero, zero, kind="nonsaturating").item() == pytest.approx(
        2 * math.log(2)
    )
    assert generator_loss(zero, kind="nonsaturating").item() == pytest.approx(math.log(2))


def test_nonsaturating_is_stable_for_huge_logits():
    huge = torch.tensor([1e4, -1e4])
    assert torch.isfinite(discriminator_loss(huge, huge, kind="nonsaturating"))
    assert torch.isfinite(generator_loss(huge, kind="nonsaturating"))


@given(logits, logits, st.sampled_from(KINDS))
def test_reduction_is_over_every_logit(real, fake, kind):
    real, fake = torch.from_numpy(real), torch.from_numpy(fake)
    for term, d in ((real_term, real), (fake_term, fake), (generator_loss, fake)):
        per_logit = term(d, kind=kind, reduction="none")
        assert per_logit.shape == d.shape and per_logit.dtype == torch.float32
        torch.testing.assert_close(term(d, kind=kind), per_logit.mean())
        torch.testing.assert_close(term(d, kind=kind, reduction="sum"), per_logit.sum())
    both = discriminator_loss(real, fake, kind=kind, reduction="sum")
    torch.testing.assert_close(
        both,
        real_term(real, kind=kind, reduction="sum") + fake_term(fake, kind=kind, reduction="sum"),
    )


def test_per_logit_discriminator_loss_pairs_real_and_fake_logits():
    real, fake = torch.randn(5, 2), torch.randn(5, 2)
    torch.testing.assert_close(
        discriminator_loss(real, fake, reduction="none"),
        real_term(real, reduction="none") + fake_term(fake, reduction="none"),
    )
    with pytest.raises(ValueError, match=r"same shape, got \(5, 2\) and \(4, 2\)"):
        discriminator_loss(real, fake[:4], reduction="none")


def test_real_and_fake_batches_may_differ_and_terms_compose():
    real, fake = torch.randn(64, 1), torch.randn(128, 1)
    for kind in KINDS:
        torch.testing.assert_close(
            discriminator_loss(real, fake, kind=kind),
            real_term(real, kind=kind) + fake_term(fake, kind=kind),
        )


def test_gradient_signs():
    fake = torch.zeros(4, requires_grad=True)
    generator_loss(fake, kind="hinge").backward()
    assert (fake.grad < 0).all()  # the generator pushes fake logits up


def test_bf16_autocast_upcasts():
    real, fake = torch.randn(8).bfloat16(), torch.randn(8).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for kind in KINDS:
            assert discriminator_loss(real, fake, kind=kind).dtype == torch.float32
            assert generator_loss(fake, kind=kind).dtype == torch.float32


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: discriminator_loss(torch.zeros(2), torch.zeros(2), kind="bce"),
            ValueError,
            "kind must be one of",
        ),
        (lambda: generator_loss(torch.zeros(2), kind="logistic"), ValueError, "kind must be"),
        (
            lambda: discriminator_loss(torch.zeros(0), torch.zeros(2)),
            ValueError,
            "real_logits must hold at least one sample",
        ),
        (lambda: generator_loss(torch.tensor(1.0)), ValueError, "fake_logits must hold"),
        (lambda: generator_loss(torch.zeros(2, dtype=torch.long)), TypeError, "floating"),
        (lambda: real_term(torch.zeros(2), reduction="avg"), ValueError, "reduction must be"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
