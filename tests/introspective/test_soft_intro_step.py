"""SoftIntroVAELoss, IntroVAELoss and soft_intro_step: settings, gradient flow, the reference."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from contradistinct.functional import (
    gaussian_kl,
    reconstruction_loss,
    reparameterize,
    soft_intro_encoder_loss,
)
from contradistinct.introspective import IntroVAELoss, SoftIntroVAELoss, soft_intro_step


class Encoder(nn.Module):
    def __init__(self, data_dim: int = 3, z_dim: int = 2) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(data_dim, 8), nn.Tanh(), nn.Linear(8, 2 * z_dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.net(x).chunk(2, dim=1)
        return mu, logvar


def networks(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(seed)
    decoder = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 3))
    return Encoder(), decoder


def snapshot(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def grads(module: nn.Module) -> list[torch.Tensor | None]:
    return [None if p.grad is None else p.grad.clone() for p in module.parameters()]


class Spy(torch.optim.SGD):
    """SGD that records both networks' parameters and gradients when it steps."""

    def __init__(self, params, watch: dict[str, nn.Module], lr: float = 0.1) -> None:
        super().__init__(params, lr=lr)
        self.watch = watch
        self.seen: dict[str, tuple[list[torch.Tensor], list[torch.Tensor | None]]] = {}

    def step(self, closure=None):  # type: ignore[override]
        self.seen = {name: (snapshot(m), grads(m)) for name, m in self.watch.items()}
        return super().step(closure)


def test_module_scale_defaults_to_inverse_input_dim() -> None:
    loss = SoftIntroVAELoss(beta_rec=1.0, beta_kl=1.0, beta_neg=1.0)
    assert loss.scale_for(torch.zeros(4, 3, 8, 8)) == pytest.approx(1 / 192)
    assert SoftIntroVAELoss(1.0, 1.0, 1.0, scale=0.5).scale_for(torch.zeros(4, 7)) == 0.5


def test_module_matches_functional_and_bce_maps_targets_to_data() -> None:
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randn(s, generator=g)  # noqa: E731
    x, x_rec, mu, logvar = torch.rand(4, 3), r(4, 3), r(4, 2), r(4, 2)
    branch = {
        "fake": r(4, 3), "fake_rec": r(4, 3), "fake_mu": r(4, 2), "fake_logvar": r(4, 2),
        "rec_rec": r(4, 3), "rec_mu": r(4, 2), "rec_logvar": r(4, 2),
    }  # fmt: skip
    loss = SoftIntroVAELoss(beta_rec=0.2, beta_kl=0.3, beta_neg=0.9, recon="bce")
    expected = soft_intro_encoder_loss(
        x, x_rec, mu, logvar, **{**branch, "fake": torch.sigmoid(branch["fake"])},
        rec=torch.sigmoid(x_rec), beta_rec=0.2, beta_kl=0.3, beta_neg=0.9, scale=1 / 3,
        kind="bce",
    )  # fmt: skip
    torch.testing.assert_close(loss.encoder_loss(x, x_rec, mu, logvar, **branch), expected)


def test_bad_settings() -> None:
    with pytest.raises(ValueError, match="beta_kl"):
        SoftIntroVAELoss(beta_rec=1.0, beta_kl=-1.0, beta_neg=1.0)
    with pytest.raises(ValueError, match="scale"):
        SoftIntroVAELoss(1.0, 1.0, 1.0, scale=0.0)
    with pytest.raises(ValueError, match="recon"):
        SoftIntroVAELoss(1.0, 1.0, 1.0, recon="l1")
    with pytest.raises(ValueError, match="margin"):
        IntroVAELoss(margin=-1.0)


def test_step_rejects_an_encoder_without_logvar() -> None:
    encoder, decoder = nn.Linear(3, 2), nn.Linear(2, 3)
    opt = torch.optim.SGD([*encoder.parameters(), *decoder.parameters()], lr=0.1)
    with pytest.raises(TypeError, match="mu, logvar"):
        soft_intro_step(encoder, decoder, torch.zeros(4, 3), opt, opt, SoftIntroVAELoss(1, 1, 1))


def test_each_step_updates_only_its_own_network() -> None:
    encoder, decoder = networks()
    watch = {"encoder": encoder, "decoder": decoder}
    opt_e = Spy(encoder.parameters(), watch)
    opt_d = Spy(decoder.parameters(), watch)
    decoder_before, encoder_before = snapshot(decoder), snapshot(encoder)
    loss = SoftIntroVAELoss(beta_rec=0.5, beta_kl=0.5, beta_neg=2.0, gamma_r=1e-2)
    soft_intro_step(encoder, decoder, torch.randn(16, 3), opt_e, opt_d, loss)

    # Encoder step: the decoder has no gradient and has not moved.
    dec_params, dec_grads = opt_e.seen["decoder"]
    assert all(g is None for g in dec_grads)
    assert all(torch.equal(a, b) for a, b in zip(dec_params, decoder_before, strict=True))
    enc_grads = opt_e.seen["encoder"][1]
    assert all(g is not None and g.abs().sum() > 0 for g in enc_grads)

    # Decoder step: the encoder's gradients are those of the encoder step, untouched, and
    # its weights are those the encoder step produced.
    enc_params_at_d, enc_grads_at_d = opt_d.seen["encoder"]
    assert all(torch.equal(a, b) for a, b in zip(enc_grads_at_d, enc_grads, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(enc_params_at_d, snapshot(encoder), strict=True))
    assert not all(
        torch.equal(a, b) for a, b in zip(snapshot(encoder), encoder_before, strict=True)
    )
    assert all(g is not None and g.abs().sum() > 0 for g in opt_d.seen["decoder"][1])


def reference_step(encoder, decoder, x, lr, betas, gamma_r, scale, seed, detach_rec_target=False):  # type: ignore[no-untyped-def]
    """The update written out from the authors' code, freezing with requires_grad."""
    beta_rec, beta_kl, beta_neg = betas
    g = torch.Generator().manual_seed(seed)
    opt_e = torch.optim.SGD(encoder.parameters(), lr=lr)
    opt_d = torch.optim.SGD(decoder.parameters(), lr=lr)

    def rec_error(a, b):  # type: ignore[no-untyped-def]
        return reconstruction_loss(a, b, reduction="none")

    def kl(mu, logvar):  # type: ignore[no-untyped-def]
        return gaussian_kl(mu, logvar, reduction="none")

    decoder.requires_grad_(False)
    mu, logvar = encoder(x)
    z = reparameterize(mu, logvar, generator=g)
    noise = torch.randn(mu.shape, generator=g)
    rec = decoder(z)
    fake = decoder(noise)
    f_mu, f_lv = encoder(fake.detach())
    f_rec = decoder(reparameterize(f_mu, f_lv, generator=g))
    r_mu, r_lv = encoder(rec.detach())
    r_rec = decoder(reparameterize(r_mu, r_lv, generator=g))
    real = beta_rec * rec_error(rec, x).mean() + beta_kl * kl(mu, logvar).mean()
    exp_f = torch.exp(-2 * scale * (beta_rec * rec_error(f_rec, fake) + beta_neg * kl(f_mu, f_lv)))
    rec_target = rec.detach() if detach_rec_target else rec
    exp_r = torch.exp(
        -2 * scale * (beta_rec * rec_error(r_rec, rec_target) + beta_neg * kl(r_mu, r_lv))
    )
    loss_e = scale * real + 0.25 * (exp_f.mean() + exp_r.mean())
    opt_e.zero_grad()
    loss_e.backward()
    opt_e.step()
    decoder.requires_grad_(True)

    encoder.requires_grad_(False)
    fake = decoder(noise)
    rec = decoder(z.detach())
    r_mu, r_lv = encoder(rec)
    f_mu, f_lv = encoder(fake)
    f_z = reparameterize(f_mu, f_lv, generator=g)
    r_z = reparameterize(r_mu, r_lv, generator=g)
    r_rec, f_rec = decoder(r_z.detach()), decoder(f_z.detach())
    loss_d = scale * (
        beta_rec * rec_error(rec, x).mean()
        + 0.5 * beta_kl * (kl(f_mu, f_lv).mean() + kl(r_mu, r_lv).mean())
        + 0.5 * gamma_r * beta_rec
        * (rec_error(r_rec, rec.detach()).mean() + rec_error(f_rec, fake.detach()).mean())
    )  # fmt: skip
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    encoder.requires_grad_(True)
    return loss_e.detach(), loss_d.detach()


@pytest.mark.parametrize("detach_rec_target", [False, True])
def test_step_matches_the_reference_update(detach_rec_target: bool) -> None:
    encoder, decoder = networks(seed=3)
    ref_encoder, ref_decoder = copy.deepcopy(encoder), copy.deepcopy(decoder)
    x = torch.randn(12, 3, generator=torch.Generator().manual_seed(7))
    betas, gamma_r, scale = (0.4, 0.3, 1.5), 0.05, 1 / 3
    expected = reference_step(
        ref_encoder, ref_decoder, x, 0.1, betas, gamma_r, scale, 11, detach_rec_target
    )

    loss = SoftIntroVAELoss(*betas, gamma_r=gamma_r, detach_rec_target=detach_rec_target)
    opt_e = torch.optim.SGD(encoder.parameters(), lr=0.1)
    opt_d = torch.optim.SGD(decoder.parameters(), lr=0.1)
    generator = torch.Generator().manual_seed(11)
    out = soft_intro_step(encoder, decoder, x, opt_e, opt_d, loss, generator=generator)

    torch.testing.assert_close(out.encoder_loss, expected[0])
    torch.testing.assert_close(out.decoder_loss, expected[1])
    for ours, ref in ((encoder, ref_encoder), (decoder, ref_decoder)):
        for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
            torch.testing.assert_close(a, b)


def authors_encoder_gradient(encoder, decoder, x, betas, scale, seed, detach_rec_target):  # type: ignore[no-untyped-def]
    """The encoder's gradient of the authors' encoder loss, each term written out by hand.

    L_E = s (β_rec L_rec + β_kl KL) + 0.25 (mean exp(-2s(β_rec r_f + β_neg k_f))
    + mean exp(-2s(β_rec r_r + β_neg k_r))); the decoder is frozen, the re-encoder's inputs
    are detached and ``rec`` keeps its graph as the target of r_r (unless detached).
    """
    beta_rec, beta_kl, beta_neg = betas
    g = torch.Generator().manual_seed(seed)

    def sse(prediction, target):  # type: ignore[no-untyped-def]
        return (prediction - target).square().sum(dim=1)

    def kl(mu, logvar):  # type: ignore[no-untyped-def]
        return 0.5 * (mu.square() + logvar.exp() - 1 - logvar).sum(dim=1)

    def draw(mu, logvar):  # type: ignore[no-untyped-def]
        return mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=g)

    decoder.requires_grad_(False)
    mu, logvar = encoder(x)
    z = draw(mu, logvar)
    noise = torch.randn(mu.shape, generator=g)
    rec = decoder(z)
    fake = decoder(noise)
    f_mu, f_lv = encoder(fake.detach())
    f_rec = decoder(draw(f_mu, f_lv))
    r_mu, r_lv = encoder(rec.detach())
    r_rec = decoder(draw(r_mu, r_lv))
    r_target = rec.detach() if detach_rec_target else rec
    r_f, k_f = sse(f_rec, fake), kl(f_mu, f_lv)
    r_r, k_r = sse(r_rec, r_target), kl(r_mu, r_lv)
    loss_e = scale * (beta_rec * sse(rec, x).mean() + beta_kl * kl(mu, logvar).mean()) + 0.25 * (
        torch.exp(-2 * scale * (beta_rec * r_f + beta_neg * k_f)).mean()
        + torch.exp(-2 * scale * (beta_rec * r_r + beta_neg * k_r)).mean()
    )
    decoder.requires_grad_(True)
    return torch.autograd.grad(loss_e, list(encoder.parameters()))


@pytest.mark.parametrize("detach_rec_target", [False, True])
def test_encoder_gradient_is_the_authors(detach_rec_target: bool) -> None:
    encoder, decoder = networks(seed=5)
    x = torch.randn(10, 3, generator=torch.Generator().manual_seed(2))
    betas, scale = (0.7, 0.3, 0.9), 1 / 3
    expected = authors_encoder_gradient(
        copy.deepcopy(encoder), copy.deepcopy(decoder), x, betas, scale, 4, detach_rec_target
    )
    other = authors_encoder_gradient(
        copy.deepcopy(encoder), copy.deepcopy(decoder), x, betas, scale, 4, not detach_rec_target
    )
    # The two gradients differ, so the comparison below tells them apart.
    assert not all(torch.allclose(a, b) for a, b in zip(expected, other, strict=True))

    watch = {"encoder": encoder}
    opt_e = Spy(encoder.parameters(), watch)
    opt_d = torch.optim.SGD(decoder.parameters(), lr=0.1)
    loss = SoftIntroVAELoss(*betas, scale=scale, detach_rec_target=detach_rec_target)
    generator = torch.Generator().manual_seed(4)
    soft_intro_step(encoder, decoder, x, opt_e, opt_d, loss, generator=generator)
    for ours, ref in zip(opt_e.seen["encoder"][1], expected, strict=True):
        torch.testing.assert_close(ours, ref)
