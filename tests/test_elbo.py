"""IELBO (DC-VAE Eq. 8) and the ELBO of the baselines (Eqs. 1 and 3)."""

from __future__ import annotations

from typing import NamedTuple

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from contradistinct import ELBO, IELBO, InstanceLoss
from contradistinct.functional import gaussian_kl, info_nce, reconstruction_loss

REDUCTIONS = ["mean", "sum", "none"]


@given(st.integers(1, 8), st.sampled_from(["mean", "sum"]), st.floats(0, 1))
def test_ielbo_is_instance_plus_weighted_kl(batch, reduction, weight):
    torch.manual_seed(batch)
    instance = InstanceLoss(dim=4, queue_size=16, queue_init="random")
    negatives = instance.queue.keys.clone()
    ielbo = IELBO(instance, kl_weight=weight, kl_reduction=reduction)
    q, k = torch.randn(batch, 4), torch.randn(batch, 4)
    mu, logvar = torch.randn(batch, 3), torch.randn(batch, 3)
    out = ielbo(q, k, mu, logvar)
    expected_instance = info_nce(q, k, negatives)
    expected_kl = gaussian_kl(mu, logvar, reduction=reduction)
    torch.testing.assert_close(out.instance, expected_instance, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.kl, expected_kl)
    torch.testing.assert_close(
        out.loss, expected_instance + weight * expected_kl, rtol=1e-5, atol=1e-5
    )
    assert not hasattr(instance, "accuracy")  # the accuracy is returned, never stored


def test_ielbo_builds_its_output_from_what_the_instance_loss_returns():
    class Result(NamedTuple):
        loss: torch.Tensor
        accuracy: torch.Tensor

    class Fixed(torch.nn.Module):
        def forward(self, query, key):
            return Result(torch.tensor(2.0), torch.tensor(0.25))

    out = IELBO(Fixed(), kl_weight=1.0, kl_reduction="mean")(
        None, None, torch.ones(2, 1), torch.zeros(2, 1)
    )
    torch.testing.assert_close(out.instance, torch.tensor(2.0))
    torch.testing.assert_close(out.accuracy, torch.tensor(0.25))
    torch.testing.assert_close(out.loss, torch.tensor(2.5))


def test_ielbo_per_sample_with_a_per_sample_instance_loss():
    instance = InstanceLoss(dim=4, queue_size=8, queue_init="random", reduction="none")
    negatives = instance.queue.keys.clone()
    q, k = torch.randn(5, 4), torch.randn(5, 4)
    mu, logvar = torch.randn(5, 3), torch.randn(5, 3)
    out = IELBO(instance, kl_weight=0.1, kl_reduction="none")(q, k, mu, logvar)
    expected = info_nce(q, k, negatives, reduction="none") + 0.1 * gaussian_kl(
        mu, logvar, reduction="none"
    )
    torch.testing.assert_close(out.loss, expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"per-sample instance loss.*\(5,\).*shape \(\)"):
        IELBO(InstanceLoss(dim=4, queue_size=8), kl_reduction="none")(q, k, mu, logvar)


def test_ielbo_official_defaults_sum_kl_times_1e_minus_6():
    ielbo = IELBO(InstanceLoss(dim=4, queue_size=8))
    assert ielbo.kl_weight == 1e-6 and ielbo.kl_reduction == "sum"


def test_ielbo_gradients_reach_queries_and_posterior_not_keys():
    ielbo = IELBO(InstanceLoss(dim=4, queue_size=8, queue_init="random"), kl_weight=1.0)
    q, k = torch.randn(3, 4, requires_grad=True), torch.randn(3, 4, requires_grad=True)
    mu, logvar = torch.randn(3, 2, requires_grad=True), torch.randn(3, 2, requires_grad=True)
    ielbo(q, k, mu, logvar).loss.backward()
    assert q.grad is not None and mu.grad is not None and logvar.grad is not None
    assert k.grad is None


def test_ielbo_forwards_keyword_arguments():
    instance = InstanceLoss(dim=4, queue_size=8)
    IELBO(instance)(
        torch.randn(2, 4), torch.randn(2, 4), torch.zeros(2, 2), torch.zeros(2, 2), enqueue=False
    )
    assert int(instance.queue.count) == 0


@given(st.integers(1, 6), st.sampled_from(REDUCTIONS), st.sampled_from(["mse", "bce"]))
def test_elbo_is_the_reduced_per_sample_reconstruction_plus_weighted_kl(batch, reduction, recon):
    torch.manual_seed(batch)
    x_rec, x = torch.randn(batch, 3, 2, 2), torch.rand(batch, 3, 2, 2)
    mu, logvar = torch.randn(batch, 5), torch.randn(batch, 5)
    out = ELBO(recon=recon, kl_weight=0.5, reduction=reduction)(x_rec, x, mu, logvar)
    rec = reconstruction_loss(x_rec, x, recon=recon, reduction="none")
    kl = gaussian_kl(mu, logvar, reduction="none")
    per_sample = rec + 0.5 * kl
    expected = {"mean": per_sample.mean(), "sum": per_sample.sum(), "none": per_sample}[reduction]
    torch.testing.assert_close(out.loss, expected, rtol=1e-5, atol=1e-5)
    assert out.reconstruction.shape == out.kl.shape == out.loss.shape


def test_elbo_pixel_and_feature_forms():
    x, x_rec = torch.randn(4, 3, 2, 2), torch.randn(4, 3, 2, 2)
    mu, logvar = torch.randn(4, 5), torch.randn(4, 5)
    out = ELBO(kl_weight=0.5)(x_rec, x, mu, logvar)
    rec = ((x - x_rec) ** 2).flatten(1).sum(1).mean()
    torch.testing.assert_close(out.reconstruction, rec)
    torch.testing.assert_close(out.loss, rec + 0.5 * gaussian_kl(mu, logvar))
    # VAE/GAN (Eq. 3): the same squared error on discriminator features.
    f_rec, f_real = torch.randn(4, 16), torch.randn(4, 16)
    feats = ELBO(recon="mse")(f_rec, f_real, mu, logvar)
    torch.testing.assert_close(feats.reconstruction, (f_rec - f_real).square().sum(1).mean())


def test_elbo_bce():
    logits, x = torch.randn(2, 6), torch.rand(2, 6)
    out = ELBO("bce")(logits, x, torch.zeros(2, 2), torch.zeros(2, 2))
    assert out.kl.item() == 0.0 and out.reconstruction > 0


def test_bad_input():
    with pytest.raises(TypeError, match="instance_loss must be an nn.Module"):
        IELBO(lambda q, k: q)
    returns_a_tensor = IELBO(torch.nn.Bilinear(2, 2, 1))
    with pytest.raises(TypeError, match=r"instance_loss \(Bilinear\) must return a result with"):
        returns_a_tensor(torch.zeros(1, 2), torch.zeros(1, 2), torch.zeros(1, 2), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="kl_reduction must be one of"):
        IELBO(InstanceLoss(dim=4, queue_size=8), kl_reduction="batchmean")
    with pytest.raises(ValueError, match="recon must be one of"):
        ELBO("feature")
    with pytest.raises(ValueError, match="reduction must be one of"):
        ELBO(reduction="batchmean")
    with pytest.raises(ValueError, match=r"same shape, got \(2, 3\) and \(2, 4\)"):
        ELBO()(torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(2, 2), torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"input and mu must hold the same number of samples"):
        ELBO()(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(3, 2), torch.zeros(3, 2))


@pytest.mark.parametrize("make", [ELBO, lambda kl_weight: IELBO(InstanceLoss(8, 16), kl_weight)])
@pytest.mark.parametrize("value", [float("inf"), float("nan"), -1.0])
def test_an_infinite_kl_weight_is_refused(make, value) -> None:
    # issue 14: an infinite kl_weight was accepted.
    with pytest.raises(ValueError, match="kl_weight must be non-negative and finite"):
        make(kl_weight=value)
