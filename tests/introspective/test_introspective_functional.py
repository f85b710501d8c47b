"""Soft-IntroVAE and IntroVAE losses: hand-computed values, stop-gradients, numerics, bad input."""

from __future__ import annotations

import math
from typing import NamedTuple

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from contradistinct.functional import (
    ReencodedBatch,
    exp_elbo,
    gaussian_kl,
    intro_vae_decoder_loss,
    intro_vae_encoder_loss,
    negative_elbo,
    soft_intro_decoder_loss,
    soft_intro_encoder_loss,
)
from contradistinct.introspective import IntroVAELoss

BETAS = {"beta_rec": 0.2, "beta_kl": 0.3}


class Case(NamedTuple):
    """A real batch and the two re-encoded generated batches."""

    x_rec: torch.Tensor
    x: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor
    fake: ReencodedBatch
    rec: ReencodedBatch

    def map(self, fn) -> Case:  # type: ignore[no-untyped-def]
        return Case(
            *(fn(t) for t in self[:4]),
            ReencodedBatch(*(fn(t) for t in self.fake)),
            ReencodedBatch(*(fn(t) for t in self.rec)),
        )

    def leaves(self) -> dict[str, torch.Tensor]:
        named = dict(zip(("x_rec", "x", "mu", "logvar"), self[:4], strict=True))
        for branch in ("fake", "rec"):
            named |= {f"{branch}.{k}": v for k, v in getattr(self, branch)._asdict().items()}
        return named


def encoder_loss(case: Case, **kwargs: object) -> torch.Tensor:
    settings = {**BETAS, "beta_neg": 0.9, "scale": 0.5, **kwargs}
    return soft_intro_encoder_loss(*case[:4], fake=case.fake, rec=case.rec, **settings)


def decoder_loss(case: Case, **kwargs: object) -> torch.Tensor:
    settings = {**BETAS, "gamma_r": 1e-2, "scale": 0.5, **kwargs}
    return soft_intro_decoder_loss(case.x_rec, case.x, fake=case.fake, rec=case.rec, **settings)


def t(*rows: list[float]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


def hand_case() -> Case:
    # One sample of 2D data and a 1D latent, small enough to evaluate every term by hand.
    return Case(
        x_rec=t([0.0, 0.0]),  # reconstruction error 1
        x=t([1.0, 0.0]),
        mu=t([0.5]),  # KL 0.125
        logvar=t([0.0]),
        fake=ReencodedBatch(
            decoded=t([1.0, 1.0]),
            mu=t([1.0]),  # KL 0.5
            logvar=t([0.0]),
            reconstruction=t([0.0, 1.0]),  # error 1
        ),
        rec=ReencodedBatch(
            decoded=t([0.0, 0.0]),
            mu=t([0.0]),  # KL 0
            logvar=t([0.0]),
            reconstruction=t([0.0, 2.0]),  # error 4
        ),
    )


def test_negative_elbo_by_hand() -> None:
    value = negative_elbo(
        t([0.0, 0.0]), t([1.0, 2.0]), t([1.0]), t([0.0]), recon_weight=0.2, kl_weight=0.3
    )
    assert value.item() == pytest.approx(0.2 * 5 + 0.3 * 0.5)


def test_negative_elbo_takes_the_prediction_first() -> None:
    logits, target = t([2.0, -1.0]), t([1.0, 0.0])
    zero = t([0.0])
    value = negative_elbo(logits, target, zero, zero, recon="bce")
    expected = math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-1.0))
    assert value.item() == pytest.approx(expected)


def test_exp_elbo_by_hand() -> None:
    value = exp_elbo(torch.tensor([1.0, 2.0]), scale=0.5)
    assert value.item() == pytest.approx(0.5 * (math.exp(-1.0) + math.exp(-2.0)) / 2)
    per_sample = exp_elbo(torch.tensor([1.0, 2.0]), scale=0.25, alpha=1.0, reduction="none")
    torch.testing.assert_close(per_sample, torch.tensor([math.exp(-0.25), math.exp(-0.5)]))
    total = exp_elbo(torch.tensor([1.0, 2.0]), scale=0.5, reduction="sum")
    assert total.item() == pytest.approx(0.5 * (math.exp(-1.0) + math.exp(-2.0)))


def test_soft_intro_encoder_loss_by_hand() -> None:
    s = 0.5
    real = s * (0.2 * 1 + 0.3 * 0.125)
    fake = math.exp(-2 * s * (0.2 * 1 + 0.9 * 0.5))
    rec = math.exp(-2 * s * (0.2 * 4 + 0.9 * 0.0))
    expected = real + 0.25 * (fake + rec)
    assert encoder_loss(hand_case(), scale=s).item() == pytest.approx(expected)


def test_soft_intro_decoder_loss_by_hand() -> None:
    s, gamma_r = 0.5, 0.1
    expected = s * (0.2 * 1 + 0.5 * 0.3 * (0.5 + 0.0) + 0.5 * gamma_r * 0.2 * (4 + 1))
    value = decoder_loss(hand_case(), gamma_r=gamma_r, scale=s)
    assert value.item() == pytest.approx(expected)


def test_intro_vae_losses_by_hand() -> None:
    c = hand_case()
    posteriors = {
        "fake_posterior": (c.fake.mu, c.fake.logvar),  # KL 0.5
        "rec_posterior": (t([3.0]), t([0.0])),  # KL 4.5, beyond the margin
    }
    weights = {"recon_weight": 0.5, "kl_weight": 2.0}
    enc = intro_vae_encoder_loss(*c[:4], **posteriors, margin=2.0, neg_weight=0.5, **weights)
    assert enc.item() == pytest.approx(0.5 * 1 + 2.0 * (0.125 + 0.5 * 0.5 * (0.0 + 1.5)))
    dec = intro_vae_decoder_loss(c.x_rec, c.x, **posteriors, **weights)
    assert dec.item() == pytest.approx(0.5 * 1 + 0.5 * 2.0 * (4.5 + 0.5))


def test_intro_vae_per_sample_hinge_by_hand() -> None:
    c = hand_case()
    # Two decoded prior samples, KL 0.5 and 4.5: the margin 2 is passed by one of them only.
    fake = (t([1.0], [3.0]), t([0.0], [0.0]))
    posteriors = {"fake_posterior": fake, "rec_posterior": (t([3.0]), t([0.0]))}
    weights = {"recon_weight": 0.5, "kl_weight": 2.0, "neg_weight": 0.5, "margin": 2.0}
    base = 0.5 * 1 + 2.0 * 0.125
    batch = intro_vae_encoder_loss(*c[:4], **posteriors, **weights)
    assert batch.item() == pytest.approx(base)  # the mean KL, 2.5, is past the margin
    per_sample = intro_vae_encoder_loss(*c[:4], **posteriors, **weights, hinge="sample")
    assert per_sample.item() == pytest.approx(base + 2.0 * 0.5 * 0.5 * (1.5 + 0.0) / 2)
    with pytest.raises(ValueError, match="hinge must be one of"):
        intro_vae_encoder_loss(*c[:4], **posteriors, **weights, hinge="mean")
    with pytest.raises(ValueError, match="hinge must be one of"):
        IntroVAELoss(hinge="mean")


@given(
    seed=st.integers(0, 2**16),
    batch=st.integers(1, 6),
    fake_batch=st.integers(1, 6),
    margin=st.floats(0.01, 20.0),
)
def test_intro_vae_per_sample_hinge_bounds_the_batch_hinge(
    seed: int, batch: int, fake_batch: int, margin: float
) -> None:
    c = random_case(batch, fake_batch, seed).map(torch.Tensor.detach)
    posteriors = {
        "fake_posterior": (c.fake.mu, c.fake.logvar),
        "rec_posterior": (c.rec.mu, c.rec.logvar),
    }
    kls = [gaussian_kl(*p, reduction="none") for p in posteriors.values()]

    def loss(hinge: str) -> torch.Tensor:
        return intro_vae_encoder_loss(*c[:4], **posteriors, margin=margin, hinge=hinge)

    # The hinge is convex: the mean of hinges is at least the hinge of the mean, and equal
    # when each batch's KLs lie on one side of the margin.
    assert loss("sample") >= loss("batch") - 1e-5
    if all((kl <= margin).all() or (kl >= margin).all() for kl in kls):
        torch.testing.assert_close(loss("sample"), loss("batch"))
    module = IntroVAELoss(margin=margin, hinge="sample")
    torch.testing.assert_close(module.encoder_loss(*c[:4], **posteriors), loss("sample"))


def random_case(batch: int = 5, fake_batch: int = 3, seed: int = 0) -> Case:
    g = torch.Generator().manual_seed(seed)

    def r(*shape: int) -> torch.Tensor:
        return torch.randn(shape, generator=g).requires_grad_()

    def branch(n: int) -> ReencodedBatch:
        return ReencodedBatch(r(n, 2), r(n, 3), r(n, 3), r(n, 2))

    return Case(
        r(batch, 2), r(batch, 2), r(batch, 3), r(batch, 3), branch(fake_batch), branch(batch)
    )


@pytest.mark.parametrize("detach_rec_target", [False, True])
def test_encoder_loss_stop_gradients(detach_rec_target: bool) -> None:
    """Prior samples are fixed targets; ``rec`` is one only with ``detach_rec_target``."""
    c = random_case()
    encoder_loss(c, detach_rec_target=detach_rec_target).backward()
    leaves = c.leaves()
    assert leaves.pop("fake.decoded").grad is None
    leaves.pop("x")  # data: a target, never produced by a network
    rec_target = leaves.pop("rec.decoded")
    if detach_rec_target:
        assert rec_target.grad is None
    else:  # the authors' gradient: the reconstruction target moves with the encoder
        assert rec_target.grad is not None and rec_target.grad.abs().sum() > 0
    for name, leaf in leaves.items():
        assert leaf.grad is not None and leaf.grad.abs().sum() > 0, name


def test_decoder_loss_stop_gradients() -> None:
    c = random_case()
    decoder_loss(c).backward()
    leaves = c.leaves()
    for name in ("x", "mu", "logvar"):  # data, and the real KL that does not reach the decoder
        leaves.pop(name)
    for name in ("fake.decoded", "rec.decoded"):  # detached where they are targets
        assert leaves.pop(name).grad is None, name
    for name, leaf in leaves.items():
        assert leaf.grad is not None and leaf.grad.abs().sum() > 0, name


def test_reencoded_batch_is_a_named_tuple_of_its_four_tensors() -> None:
    c = random_case()
    fake = c.fake
    assert ReencodedBatch._fields == ("decoded", "mu", "logvar", "reconstruction")
    assert ReencodedBatch(*fake) == fake
    swapped = fake._replace(decoded=fake.reconstruction)
    assert swapped.decoded is fake.reconstruction and swapped.mu is fake.mu


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


@given(
    seed=st.integers(0, 2**16),
    batch=st.integers(1, 6),
    reduction=st.sampled_from(["mean", "sum", "none"]),
)
def test_negative_elbo_reductions_agree(seed: int, batch: int, reduction: str) -> None:
    c = random_case(batch, 1, seed).map(torch.Tensor.detach)
    per_sample = negative_elbo(*c[:4], recon_weight=0.4, kl_weight=0.7, reduction="none")
    assert per_sample.shape == (batch,) and (per_sample >= 0).all()
    value = negative_elbo(*c[:4], recon_weight=0.4, kl_weight=0.7, reduction=reduction)
    expected = {"mean": per_sample.mean(), "sum": per_sample.sum(), "none": per_sample}
    torch.testing.assert_close(value, expected[reduction])


@given(magnitude=st.floats(0.0, 1e15), scale=st.floats(1e-4, 1.0))
def test_encoder_loss_finite_for_extreme_generated_elbos(magnitude: float, scale: float) -> None:
    c = random_case()
    extreme = c._replace(
        fake=c.fake._replace(reconstruction=c.fake.reconstruction * magnitude),
        rec=c.rec._replace(mu=c.rec.mu * magnitude),
    )
    loss = encoder_loss(extreme, scale=scale)
    assert loss.isfinite()
    loss.backward()
    assert c.mu.grad is not None and c.mu.grad.isfinite().all()


@given(seed=st.integers(0, 2**16), batch=st.integers(1, 6), fake_batch=st.integers(1, 6))
def test_losses_invariant_to_batch_permutation(seed: int, batch: int, fake_batch: int) -> None:
    c = random_case(batch, fake_batch, seed).map(torch.Tensor.detach)
    g = torch.Generator().manual_seed(seed + 1)
    real_perm = torch.randperm(batch, generator=g)
    fake_perm = torch.randperm(fake_batch, generator=g)
    permuted = Case(
        *(v[real_perm] for v in c[:4]),
        ReencodedBatch(*(v[fake_perm] for v in c.fake)),
        ReencodedBatch(*(v[real_perm] for v in c.rec)),
    )
    torch.testing.assert_close(encoder_loss(c), encoder_loss(permuted))
    torch.testing.assert_close(decoder_loss(c), decoder_loss(permuted))

    def intro(case: Case) -> torch.Tensor:
        return intro_vae_encoder_loss(
            *case[:4],
            fake_posterior=(case.fake.mu, case.fake.logvar),
            rec_posterior=(case.rec.mu, case.rec.logvar),
            margin=3.0,
        )

    torch.testing.assert_close(intro(c), intro(permuted))


def test_bf16_autocast_gives_float32_close_to_float32() -> None:
    c = random_case().map(torch.Tensor.detach)
    ref = encoder_loss(c)
    half = c.map(torch.Tensor.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        enc = encoder_loss(half)
        dec = decoder_loss(half, gamma_r=1e-8)
    assert enc.dtype == dec.dtype == torch.float32
    torch.testing.assert_close(enc, ref, rtol=5e-2, atol=5e-2)
    assert dec.isfinite()


def test_bad_input() -> None:
    c = random_case().map(torch.Tensor.detach)
    bad_fake = c._replace(fake=c.fake._replace(reconstruction=torch.zeros(3, 5)))
    with pytest.raises(ValueError, match=r"fake.reconstruction and fake.decoded"):
        encoder_loss(bad_fake)
    with pytest.raises(ValueError, match="input and mu"):
        encoder_loss(c._replace(mu=c.mu[:2], logvar=c.logvar[:2]))
    with pytest.raises(ValueError, match="scale"):
        encoder_loss(c, scale=0.0)
    with pytest.raises(ValueError, match="beta_neg"):
        encoder_loss(c, beta_neg=-1.0)
    with pytest.raises(ValueError, match="recon must be one of"):
        decoder_loss(c, recon="l1")
    with pytest.raises(TypeError, match=r"rec must be a ReencodedBatch.*got tuple of 4"):
        encoder_loss(c._replace(rec=tuple(c.rec)))
    posteriors = {
        "fake_posterior": (c.fake.mu, c.fake.logvar),
        "rec_posterior": (c.rec.mu, c.rec.logvar),
    }
    with pytest.raises(TypeError, match="input"):
        intro_vae_encoder_loss([0.0], c.x, c.mu, c.logvar, **posteriors, margin=1.0)
    with pytest.raises(ValueError, match="margin"):
        intro_vae_encoder_loss(*c[:4], **posteriors, margin=0.0)
    with pytest.raises(TypeError, match=r"rec_posterior must be .*got tuple of 2 \[list of 0"):
        intro_vae_decoder_loss(
            c.x_rec, c.x, fake_posterior=posteriors["fake_posterior"], rec_posterior=([], "mu")
        )
    with pytest.raises(ValueError, match="recon_weight"):
        negative_elbo(*c[:4], recon_weight=-1.0)
    with pytest.raises(ValueError, match="negative_elbo"):
        exp_elbo(torch.zeros(2, 2), scale=1.0)
    with pytest.raises(TypeError, match="negative_elbo"):
        exp_elbo(torch.zeros(2, dtype=torch.long), scale=1.0)


@pytest.mark.parametrize("name", ["recon_weight", "kl_weight"])
def test_negative_elbo_refuses_an_infinite_weight(name: str) -> None:
    # issue 14: infinite weights were accepted.
    x, z = torch.zeros(2, 3), torch.zeros(2, 4)
    with pytest.raises(ValueError, match=rf"{name} must be non-negative and finite, got inf"):
        negative_elbo(x, x, z, z, **{name: math.inf})


def test_intro_vae_names_the_posterior_that_is_empty_or_elsewhere() -> None:
    # The hinge's KLs once called these posteriors "mu" and "logvar", the caller's other names.
    x, z = torch.zeros(2, 3), torch.zeros(2, 4)
    empty = (torch.zeros(0, 4), torch.zeros(0, 4))
    with pytest.raises(ValueError, match=r"fake_posterior must hold at least one sample"):
        intro_vae_decoder_loss(x, x, fake_posterior=empty, rec_posterior=(z, z))
    meta = (torch.zeros(2, 4, device="meta"), z)
    with pytest.raises(ValueError, match=r"rec_posterior's mu and rec_posterior's logvar must be"):
        intro_vae_encoder_loss(x, x, z, z, fake_posterior=(z, z), rec_posterior=meta, margin=1.0)


def test_soft_intro_encoder_loss_names_its_own_weights() -> None:
    x, z = torch.zeros(2, 3), torch.zeros(2, 4)
    batch = ReencodedBatch(x, z, z, x)
    with pytest.raises(ValueError, match=r"beta_kl must be non-negative and finite, got nan"):
        soft_intro_encoder_loss(
            x, x, z, z, fake=batch, rec=batch, beta_rec=1.0, beta_kl=math.nan, beta_neg=1.0,
            scale=0.5,
        )  # fmt: skip
