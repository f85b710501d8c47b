"""SetLevelLoss (DC-VAE Eq. 4): both fake sets, weights, kinds."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from contradistinct import SetLevelLoss
from contradistinct.functional import discriminator_loss, fake_term, generator_loss, real_term

KINDS = ["hinge", "nonsaturating", "wasserstein", "least_squares"]
logits = hnp.arrays("float32", st.integers(1, 8), elements=st.floats(-5, 5, width=32))


@given(logits, logits, logits, st.sampled_from(KINDS), st.floats(0, 1), st.floats(0, 1))
def test_weighted_sum_of_the_functional_terms(real, rec, sample, kind, wr, ws):
    real, rec, sample = (torch.from_numpy(a) for a in (real, rec, sample))
    adv = SetLevelLoss(kind, recon_weight=wr, sample_weight=ws)
    torch.testing.assert_close(
        adv.discriminator(real, rec, sample),
        real_term(real, kind=kind)
        + wr * fake_term(rec, kind=kind)
        + ws * fake_term(sample, kind=kind),
    )
    torch.testing.assert_close(
        adv.generator(rec, sample),
        wr * generator_loss(rec, kind=kind) + ws * generator_loss(sample, kind=kind),
    )


def test_official_hinge_reference_value():
    # relu(1 - 0.5) + 0.5 relu(1 + 0) + 0.5 relu(1 - 3) = 0.5 + 0.5 + 0 = 1.
    adv = SetLevelLoss()
    d = adv.discriminator(torch.tensor([0.5]), torch.tensor([0.0]), torch.tensor([-3.0]))
    assert d.item() == pytest.approx(1.0)
    # -(0.5 * 2 + 0.5 * 4) = -3.
    assert adv.generator(torch.tensor([2.0]), torch.tensor([4.0])).item() == pytest.approx(-3.0)


def test_one_fake_set_reduces_to_the_plain_gan():
    real, fake = torch.randn(6), torch.randn(6)
    adv = SetLevelLoss("nonsaturating", recon_weight=1.0)
    torch.testing.assert_close(
        adv.discriminator(real, recon_logits=fake),
        discriminator_loss(real, fake, kind="nonsaturating"),
    )


def test_gradients_flow_to_both_fake_sets():
    rec = torch.zeros(4, requires_grad=True)
    sample = torch.zeros(8, requires_grad=True)
    SetLevelLoss().generator(rec, sample).backward()
    assert rec.grad is not None and sample.grad is not None


def test_bad_input():
    with pytest.raises(ValueError, match="kind must be one of"):
        SetLevelLoss("relativistic")
    with pytest.raises(ValueError, match="recon_weight must be non-negative"):
        SetLevelLoss(recon_weight=-1)
    with pytest.raises(ValueError, match="got neither"):
        SetLevelLoss().generator()
    with pytest.raises(ValueError, match="recon_logits"):
        SetLevelLoss().discriminator(torch.zeros(2))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda adv: adv.discriminator(torch.zeros(0), torch.zeros(2)), ValueError, "real_logits"),
        (lambda adv: adv.discriminator(torch.zeros(2), torch.zeros(0)), ValueError, "recon_logits"),
        (
            lambda adv: adv.discriminator(torch.zeros(2), sample_logits=torch.tensor(1.0)),
            ValueError,
            r"sample_logits must hold at least one sample, got shape \(\)",
        ),
        (lambda adv: adv.generator(torch.zeros(2, dtype=torch.long)), TypeError, "recon_logits"),
        (lambda adv: adv.generator(None, [0.0]), TypeError, "sample_logits must be a torch"),
    ],
)
def test_bad_logits_are_named_as_the_caller_named_them(call, error, match):
    with pytest.raises(error, match=match) as raised:
        call(SetLevelLoss())
    assert "fake_logits" not in str(raised.value)


@pytest.mark.parametrize("name", ["recon_weight", "sample_weight"])
@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_an_infinite_weight_is_refused(name, value):
    # issue 14: infinite weights were accepted and made every loss inf or NaN.
    with pytest.raises(ValueError, match=rf"{name} must be non-negative and finite"):
        SetLevelLoss(**{name: value})


def test_logits_on_another_device_name_both_arguments():
    meta = torch.zeros(2, device="meta")
    with pytest.raises(ValueError, match=r"real_logits and sample_logits must be on the same"):
        SetLevelLoss().discriminator(torch.zeros(2), torch.zeros(2), meta)
    with pytest.raises(ValueError, match=r"recon_logits and sample_logits must be on the same"):
        SetLevelLoss().generator(torch.zeros(2), meta)
