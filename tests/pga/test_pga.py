"""PGA terms: hand-computed values, which network each term trains, numerics, bad input."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from contradistinct.functional import (
    hypersphere_noise,
    latent_reconstruction_loss,
    pga_decoder_nll,
    pga_encoder_nll,
    pga_vae_loss,
)
from contradistinct.pga import LPGALoss, VPGALoss


class PosteriorEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 4))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.net(x).chunk(2, dim=1)
        return mu, logvar


def lpga_networks() -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 2))
    decoder = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 6))
    return encoder, decoder


def vpga_networks() -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    return PosteriorEncoder(), nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 6))


def gradient_norms(term: torch.Tensor, module: nn.Module) -> float:
    params = list(module.parameters())
    found = torch.autograd.grad(term, params, retain_graph=True, allow_unused=True)
    return sum(0.0 if g is None else g.abs().sum().item() for g in found)


def test_functional_terms_by_hand() -> None:
    z = torch.tensor([[1.0, 2.0]])
    assert latent_reconstruction_loss(torch.zeros(1, 2), z).item() == pytest.approx(0.5 * 5)
    assert pga_encoder_nll(z).item() == pytest.approx(0.5 * 5 / 2)
    # h(z) = 3z scales every direction by 3: log|det| / H = log 3 exactly.
    delta = torch.tensor([[0.01, -0.02]])
    assert pga_decoder_nll(3 * (z + delta), 3 * z, delta).item() == pytest.approx(math.log(3))
    vae = pga_vae_loss(torch.zeros(1, 2), z, torch.tensor([[1.0, 0.0]]), torch.zeros(1, 2), sigma=2)
    assert vae.item() == pytest.approx(0.5 * 5 / 4 + 0.5)


def test_pga_vae_loss_takes_the_prediction_first() -> None:
    # The shape check names the target, the encoding z_hat, which must match mu's shape.
    with pytest.raises(ValueError, match="mu and target"):
        pga_vae_loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(2, 4))


@given(seed=st.integers(0, 2**16), batch=st.integers(1, 6))
def test_pga_vae_loss_reductions_agree(seed: int, batch: int) -> None:
    g = torch.Generator().manual_seed(seed)
    z_rec, z_hat, mu, logvar = (torch.randn(batch, 3, generator=g) for _ in range(4))
    per_sample = pga_vae_loss(z_rec, z_hat, mu, logvar, sigma=0.7, reduction="none")
    assert per_sample.shape == (batch,)
    expected = latent_reconstruction_loss(z_rec, z_hat, reduction="none") / 0.49
    expected = expected + 0.5 * (mu.square() + logvar.exp() - 1 - logvar).sum(dim=1)
    torch.testing.assert_close(per_sample, expected)
    torch.testing.assert_close(pga_vae_loss(z_rec, z_hat, mu, logvar, sigma=0.7), expected.mean())
    total = pga_vae_loss(z_rec, z_hat, mu, logvar, sigma=0.7, reduction="sum")
    torch.testing.assert_close(total, expected.sum())


def test_hypersphere_noise_radius_and_seed() -> None:
    z = torch.zeros(64, 5)
    a = hypersphere_noise(z, 0.3, generator=torch.Generator().manual_seed(1))
    b = hypersphere_noise(z, 0.3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    torch.testing.assert_close(a.norm(dim=1), torch.full((64,), 0.3))


def test_decoder_nll_finite_when_h_collapses() -> None:
    z, delta = torch.zeros(3, 2), torch.full((3, 2), 0.01)
    assert pga_decoder_nll(z, z, delta).isfinite().all()


@given(seed=st.integers(0, 2**16), batch=st.integers(1, 8))
def test_functional_terms_invariant_to_batch_permutation(seed: int, batch: int) -> None:
    g = torch.Generator().manual_seed(seed)
    a, b, c, d = (torch.randn(batch, 3, generator=g) for _ in range(4))
    perm = torch.randperm(batch, generator=g)
    for fn, args in (
        (latent_reconstruction_loss, (a, b)),
        (pga_encoder_nll, (a,)),
        (pga_decoder_nll, (a, b, c)),
        (pga_vae_loss, (a, b, c, d)),
    ):
        torch.testing.assert_close(fn(*args), fn(*(t[perm] for t in args)))


def test_lpga_routing() -> None:
    encoder, decoder = lpga_networks()
    terms = LPGALoss().terms(encoder, decoder, torch.randn(16, 6))
    for name in ("latent_prior", "latent_data", "nll_encoder"):
        term = getattr(terms, name)
        assert gradient_norms(term, decoder) == 0.0, name
        assert gradient_norms(term, encoder) > 0.0, name
    assert gradient_norms(terms.nll_decoder, encoder) == 0.0
    assert gradient_norms(terms.nll_decoder, decoder) > 0.0
    assert gradient_norms(terms.reconstruction, encoder) > 0.0
    assert gradient_norms(terms.reconstruction, decoder) > 0.0


def test_vpga_routing() -> None:
    encoder, decoder = vpga_networks()
    terms = VPGALoss().terms(encoder, decoder, torch.randn(16, 6))
    for name in ("latent_prior", "latent_data", "kl"):
        assert gradient_norms(getattr(terms, name), decoder) == 0.0, name
    assert gradient_norms(terms.latent_likelihood, decoder) > 0.0
    # The likelihood reaches the encoder through the sampled noise (the log-variance rows of
    # the last layer), never through the mean rows.
    (weight_grad,) = torch.autograd.grad(
        terms.latent_likelihood, [encoder.net[2].weight], retain_graph=True
    )
    assert weight_grad[:2].abs().sum() == 0.0
    assert weight_grad[2:].abs().sum() > 0.0


@pytest.mark.parametrize("loss_cls", [LPGALoss, VPGALoss])
def test_forward_combines_terms(loss_cls: type) -> None:
    encoder, decoder = lpga_networks() if loss_cls is LPGALoss else vpga_networks()
    weight = "nll_weight" if loss_cls is LPGALoss else "vae_weight"
    loss = loss_cls(latent_prior_weight=0.7, latent_data_weight=0.3, **{weight: 0.2})
    x = torch.randn(8, 6)
    t = loss.terms(encoder, decoder, x, generator=torch.Generator().manual_seed(4))
    enc, dec = loss(encoder, decoder, x, generator=torch.Generator().manual_seed(4))
    shared = t.reconstruction + 0.7 * t.latent_prior + 0.3 * t.latent_data
    if loss_cls is LPGALoss:
        torch.testing.assert_close(enc, shared + 0.2 * t.nll_encoder)
        torch.testing.assert_close(dec, t.reconstruction + 0.2 * t.nll_decoder)
    else:
        torch.testing.assert_close(enc, shared + 0.2 * (t.latent_likelihood + t.kl))
        torch.testing.assert_close(dec, t.reconstruction + 0.2 * t.latent_likelihood)


def test_bf16_autocast() -> None:
    encoder, decoder = lpga_networks()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        enc, dec = LPGALoss(nll_weight=0.1)(encoder, decoder, torch.randn(8, 6))
        venc, vdec = VPGALoss()(*vpga_networks(), torch.randn(8, 6))
    for value in (enc, dec, venc, vdec):
        assert value.dtype == torch.float32
        assert value.isfinite()


def test_bad_input() -> None:
    encoder, decoder = lpga_networks()
    with pytest.raises(TypeError, match=r"encoder must return a \(B, H\) tensor, got tuple of 2"):
        LPGALoss()(PosteriorEncoder(), decoder, torch.randn(4, 6))
    with pytest.raises(TypeError, match=r"encoder\(x\) must be a \(mu, logvar\) pair.*Tensor"):
        VPGALoss()(encoder, decoder, torch.randn(4, 6))
    with pytest.raises(ValueError, match="nll_weight"):
        LPGALoss(nll_weight=-1.0)
    with pytest.raises(ValueError, match="latent_data_weight"):
        VPGALoss(latent_data_weight=-1.0)
    with pytest.raises(ValueError, match="epsilon"):
        LPGALoss(epsilon=0.0)
    with pytest.raises(ValueError, match="sigma"):
        VPGALoss(sigma=-1.0)
    with pytest.raises(ValueError, match="h_perturbed and h"):
        pga_decoder_nll(torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="input must have 2 dimensions"):
        latent_reconstruction_loss(torch.zeros(2, 3, 1), torch.zeros(2, 3))
    with pytest.raises(TypeError, match="x"):
        LPGALoss()(encoder, decoder, torch.zeros(4, 6, dtype=torch.long))


def test_the_likelihoods_refuse_an_empty_batch() -> None:
    # issue 14: the batch mean over no samples was NaN.
    empty = torch.zeros(0, 3)
    with pytest.raises(ValueError, match=r"z must hold at least one sample, got shape \(0, 3\)"):
        pga_encoder_nll(empty)
    with pytest.raises(ValueError, match=r"h_perturbed must hold at least one sample"):
        pga_decoder_nll(empty, empty, empty)
    with pytest.raises(ValueError, match=r"input must hold at least one sample"):
        latent_reconstruction_loss(empty, empty)
    with pytest.raises(ValueError, match=r"input must hold at least one sample"):
        pga_vae_loss(empty, empty, empty, empty)
    assert hypersphere_noise(empty, 0.1).shape == (0, 3)  # noise for no sample is no noise
