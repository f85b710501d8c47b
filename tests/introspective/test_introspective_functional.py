"""Soft-IntroVAE and IntroVAE losses: hand-computed values, stop-gradients, numerics, bad input."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from contradistinct.functional import (
    exp_elbo,
    intro_vae_decoder_loss,
    intro_vae_encoder_loss,
    negative_elbo,
    soft_intro_decoder_loss,
    soft_intro_encoder_loss,
)

BETAS = {"beta_rec": 0.2, "beta_kl": 0.3}


def t(*rows: list[float]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


def hand_case() -> dict[str, torch.Tensor]:
    # One sample of 2D data and a 1D latent, small enough to evaluate every term by hand.
    return {
        "x": t([1.0, 0.0]),
        "x_rec": t([0.0, 0.0]),  # reconstruction error 1
        "mu": t([0.5]),  # KL 0.125
        "logvar": t([0.0]),
        "fake": t([1.0, 1.0]),
        "fake_rec": t([0.0, 1.0]),  # error 1
        "fake_mu": t([1.0]),  # KL 0.5
        "fake_logvar": t([0.0]),
        "rec": t([0.0, 0.0]),
        "rec_rec": t([0.0, 2.0]),  # error 4
        "rec_mu": t([0.0]),  # KL 0
        "rec_logvar": t([0.0]),
    }


def encoder_kwargs(case: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in case.items() if k not in ("x", "x_rec", "mu", "logvar")}


def decoder_kwargs(case: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in case.items() if k not in ("x", "x_rec", "mu", "logvar")}


def test_negative_elbo_by_hand() -> None:
    value = negative_elbo(t([0.0, 0.0]), t([1.0, 2.0]), t([1.0]), t([0.0]), **BETAS)
    assert value.item() == pytest.approx(0.2 * 5 + 0.3 * 0.5)


def test_exp_elbo_by_hand() -> None:
    value = exp_elbo(torch.tensor([1.0, 2.0]), scale=0.5)
    assert value.item() == pytest.approx(0.5 * (math.exp(-1.0) + math.exp(-2.0)) / 2)
    per_sample = exp_elbo(torch.tensor([1.0, 2.0]), scale=0.25, alpha=1.0, reduction="none")
    torch.testing.assert_close(per_sample, torch.tensor([math.exp(-0.25), math.exp(-0.5)]))
    total = exp_elbo(torch.tensor([1.0, 2.0]), scale=0.5, reduction="sum")
    assert total.item() == pytest.approx(0.5 * (math.exp(-1.0) + math.exp(-2.0)))


def test_soft_intro_encoder_loss_by_hand() -> None:
    c = hand_case()
    s = 0.5
    real = s * (0.2 * 1 + 0.3 * 0.125)
    fake = math.exp(-2 * s * (0.2 * 1 + 0.9 * 0.5))
    rec = math.exp(-2 * s * (0.2 * 4 + 0.9 * 0.0))
    expected = real + 0.25 * (fake + rec)
    value = soft_intro_encoder_loss(
        c["x"],
        c["x_rec"],
        c["mu"],
        c["logvar"],
        **encoder_kwargs(c),
        **BETAS,
        beta_neg=0.9,
        scale=s,
    )
    assert value.item() == pytest.approx(expected)


def test_soft_intro_decoder_loss_by_hand() -> None:
    c = hand_case()
    s, gamma_r = 0.5, 0.1
    expected = s * (0.2 * 1 + 0.5 * 0.3 * (0.5 + 0.0) + 0.5 * gamma_r * 0.2 * (4 + 1))
    kwargs = decoder_kwargs(c)
    value = soft_intro_decoder_loss(c["x"], c["x_rec"], **kwargs, **BETAS, gamma_r=gamma_r, scale=s)
    assert value.item() == pytest.approx(expected)


def test_intro_vae_losses_by_hand() -> None:
    c = hand_case()
    latents = {
        "fake_mu": c["fake_mu"],  # KL 0.5
        "fake_logvar": c["fake_logvar"],
        "rec_mu": t([3.0]),  # KL 4.5, beyond the margin
        "rec_logvar": t([0.0]),
    }
    weights = {"weight_rec": 0.5, "weight_kl": 2.0}
    enc = intro_vae_encoder_loss(
        c["x"], c["x_rec"], c["mu"], c["logvar"], **latents, margin=2.0, weight_neg=0.5, **weights
    )
    assert enc.item() == pytest.approx(0.5 * 1 + 2.0 * (0.125 + 0.5 * 0.5 * (0.0 + 1.5)))
    dec = intro_vae_decoder_loss(c["x"], c["x_rec"], **latents, **weights)
    assert dec.item() == pytest.approx(0.5 * 1 + 0.5 * 2.0 * (4.5 + 0.5))


def random_case(batch: int = 5, fake_batch: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)

    def r(*shape: int) -> torch.Tensor:
        return torch.randn(shape, generator=g).requires_grad_()

    return {
        "x": r(batch, 2),
        "x_rec": r(batch, 2),
        "mu": r(batch, 3),
        "logvar": r(batch, 3),
        "fake": r(fake_batch, 2),
        "fake_rec": r(fake_batch, 2),
        "fake_mu": r(fake_batch, 3),
        "fake_logvar": r(fake_batch, 3),
        "rec": r(batch, 2),
        "rec_rec": r(batch, 2),
        "rec_mu": r(batch, 3),
        "rec_logvar": r(batch, 3),
    }


@pytest.mark.parametrize("detach_rec_target", [False, True])
def test_encoder_loss_stop_gradients(detach_rec_target: bool) -> None:
    """Prior samples are fixed targets; ``rec`` is one only with ``detach_rec_target``."""
    c = random_case()
    loss = soft_intro_encoder_loss(
        c["x"],
        c["x_rec"],
        c["mu"],
        c["logvar"],
        **encoder_kwargs(c),
        **BETAS,
        beta_neg=0.9,
        scale=0.5,
        detach_rec_target=detach_rec_target,
    )
    loss.backward()
    assert c["fake"].grad is None
    if detach_rec_target:
        assert c["rec"].grad is None
    else:  # the authors' gradient: the reconstruction target moves with the encoder
        assert c["rec"].grad is not None and c["rec"].grad.abs().sum() > 0
    for name in ("x_rec", "mu", "logvar", "fake_rec", "fake_mu", "fake_logvar", "rec_rec"):
        assert c[name].grad is not None and c[name].grad.abs().sum() > 0, name


def test_decoder_loss_stop_gradients() -> None:
    c = random_case()
    loss = soft_intro_decoder_loss(
        c["x"], c["x_rec"], **decoder_kwargs(c), **BETAS, gamma_r=1e-2, scale=0.5
    )
    loss.backward()
    assert c["fake"].grad is None
    assert c["rec"].grad is None
    assert c["mu"].grad is None  # the KL of real data does not reach the decoder
    for name in ("x_rec", "fake_rec", "fake_mu", "fake_logvar", "rec_rec", "rec_mu"):
        assert c[name].grad is not None and c[name].grad.abs().sum() > 0, name


finite_floats = st.floats(allow_nan=False, allow_infinity=False, width=32)


@given(
    values=st.lists(finite_floats, min_size=1, max_size=16),
    scale=st.floats(1e-6, 10.0),
    reduction=st.sampled_from(["mean", "sum", "none"]),
)
def test_exp_elbo_stays_finite(values: list[float], scale: float, reduction: str) -> None:
    n = torch.tensor(values, requires_grad=True)
    out = exp_elbo(n, scale=scale, reduction=reduction)
    assert out.isfinite().all()
    assert (out >= 0).all()
    out.sum().backward()
    assert n.grad is not None and n.grad.isfinite().all()


@pytest.mark.parametrize("value", [1.7014118e38, 3.4e38, -3.4e38, -1e6, 1e6])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_exp_elbo_extremes_have_finite_value_and_gradient(value: float, reduction: str) -> None:
    # alpha * s * n overflows float32 for the first three values.
    n = torch.tensor([value, 0.5], requires_grad=True)
    out = exp_elbo(n, scale=1.0, reduction=reduction)
    assert out.isfinite().all()
    out.sum().backward()
    assert n.grad is not None and n.grad.isfinite().all()


@given(magnitude=st.floats(0.0, 1e15), scale=st.floats(1e-4, 1.0))
def test_encoder_loss_finite_for_extreme_generated_elbos(magnitude: float, scale: float) -> None:
    c = random_case()
    kwargs = encoder_kwargs(c)
    kwargs["fake_rec"] = kwargs["fake_rec"] * magnitude
    kwargs["rec_mu"] = kwargs["rec_mu"] * magnitude
    loss = soft_intro_encoder_loss(
        c["x"], c["x_rec"], c["mu"], c["logvar"], **kwargs, **BETAS, beta_neg=0.9, scale=scale
    )
    assert loss.isfinite()
    loss.backward()
    assert c["mu"].grad is not None and c["mu"].grad.isfinite().all()


@given(seed=st.integers(0, 2**16), batch=st.integers(1, 6), fake_batch=st.integers(1, 6))
def test_losses_invariant_to_batch_permutation(seed: int, batch: int, fake_batch: int) -> None:
    c = {k: v.detach() for k, v in random_case(batch, fake_batch, seed).items()}
    g = torch.Generator().manual_seed(seed + 1)
    real_perm, fake_perm = (
        torch.randperm(batch, generator=g),
        torch.randperm(fake_batch, generator=g),
    )
    permuted = {k: v[fake_perm if k.startswith("fake") else real_perm] for k, v in c.items()}
    a = soft_intro_encoder_loss(
        c["x"],
        c["x_rec"],
        c["mu"],
        c["logvar"],
        **encoder_kwargs(c),
        **BETAS,
        beta_neg=0.9,
        scale=0.5,
    )
    b = soft_intro_encoder_loss(
        permuted["x"],
        permuted["x_rec"],
        permuted["mu"],
        permuted["logvar"],
        **encoder_kwargs(permuted),
        **BETAS,
        beta_neg=0.9,
        scale=0.5,
    )
    torch.testing.assert_close(a, b)
    a = soft_intro_decoder_loss(
        c["x"], c["x_rec"], **decoder_kwargs(c), **BETAS, gamma_r=0.1, scale=0.5
    )
    b = soft_intro_decoder_loss(
        permuted["x"],
        permuted["x_rec"],
        **decoder_kwargs(permuted),
        **BETAS,
        gamma_r=0.1,
        scale=0.5,
    )
    torch.testing.assert_close(a, b)
    latents = ("fake_mu", "fake_logvar", "rec_mu", "rec_logvar")
    a = intro_vae_encoder_loss(
        c["x"], c["x_rec"], c["mu"], c["logvar"], margin=3.0, **{k: c[k] for k in latents}
    )
    b = intro_vae_encoder_loss(
        permuted["x"],
        permuted["x_rec"],
        permuted["mu"],
        permuted["logvar"],
        margin=3.0,
        **{k: permuted[k] for k in latents},
    )
    torch.testing.assert_close(a, b)


def test_bf16_autocast_gives_float32_close_to_float32() -> None:
    c = {k: v.detach() for k, v in random_case().items()}
    ref = soft_intro_encoder_loss(
        c["x"],
        c["x_rec"],
        c["mu"],
        c["logvar"],
        **encoder_kwargs(c),
        **BETAS,
        beta_neg=0.9,
        scale=0.5,
    )
    half = {k: v.bfloat16() for k, v in c.items()}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        enc = soft_intro_encoder_loss(
            half["x"],
            half["x_rec"],
            half["mu"],
            half["logvar"],
            **encoder_kwargs(half),
            **BETAS,
            beta_neg=0.9,
            scale=0.5,
        )
        dec = soft_intro_decoder_loss(
            half["x"], half["x_rec"], **decoder_kwargs(half), **BETAS, gamma_r=1e-8, scale=0.5
        )
    assert enc.dtype == dec.dtype == torch.float32
    torch.testing.assert_close(enc, ref, rtol=5e-2, atol=5e-2)
    assert dec.isfinite()


def test_bad_input() -> None:
    c = {k: v.detach() for k, v in random_case().items()}
    base = {"beta_neg": 0.9, "scale": 0.5, **BETAS}
    kwargs = encoder_kwargs(c)
    with pytest.raises(ValueError, match="fake_rec"):
        soft_intro_encoder_loss(
            c["x"],
            c["x_rec"],
            c["mu"],
            c["logvar"],
            **{**kwargs, "fake_rec": torch.zeros(3, 5)},
            **base,
        )
    with pytest.raises(ValueError, match="x_rec and mu"):
        soft_intro_encoder_loss(c["x"], c["x_rec"], c["mu"][:2], c["logvar"][:2], **kwargs, **base)
    with pytest.raises(ValueError, match="scale"):
        soft_intro_encoder_loss(
            c["x"], c["x_rec"], c["mu"], c["logvar"], **kwargs, **{**base, "scale": 0.0}
        )
    with pytest.raises(ValueError, match="beta_neg"):
        soft_intro_encoder_loss(
            c["x"], c["x_rec"], c["mu"], c["logvar"], **kwargs, **{**base, "beta_neg": -1.0}
        )
    with pytest.raises(ValueError, match="kind"):
        soft_intro_decoder_loss(
            c["x"], c["x_rec"], **kwargs, **BETAS, gamma_r=0.0, scale=0.5, kind="l1"
        )
    with pytest.raises(TypeError, match="x_rec"):
        intro_vae_encoder_loss(
            c["x"],
            [0.0],
            c["mu"],
            c["logvar"],
            fake_mu=c["fake_mu"],
            fake_logvar=c["fake_logvar"],
            rec_mu=c["rec_mu"],
            rec_logvar=c["rec_logvar"],
            margin=1.0,
        )
    with pytest.raises(ValueError, match="margin"):
        intro_vae_encoder_loss(
            c["x"],
            c["x_rec"],
            c["mu"],
            c["logvar"],
            fake_mu=c["fake_mu"],
            fake_logvar=c["fake_logvar"],
            rec_mu=c["rec_mu"],
            rec_logvar=c["rec_logvar"],
            margin=0.0,
        )
    with pytest.raises(ValueError, match="negative_elbo"):
        exp_elbo(torch.zeros(2, 2), scale=1.0)
    with pytest.raises(TypeError, match="negative_elbo"):
        exp_elbo(torch.zeros(2, dtype=torch.long), scale=1.0)
