"""R1 and WGAN-GP penalties with per-sample gradient norms."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from contradistinct.functional import gradient_penalty, r1_penalty


@given(st.integers(1, 6), st.integers(1, 4), st.integers(1, 5), st.integers(0, 1000))
def test_gradient_penalty_is_zero_for_a_unit_norm_linear_critic(batch, channels, side, seed):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(channels, side, side, generator=g)
    w = w / w.norm()

    def critic(x: torch.Tensor) -> torch.Tensor:
        return (x * w).flatten(1).sum(1)

    real = torch.randn(batch, channels, side, side, generator=g)
    fake = torch.randn(batch, channels, side, side, generator=g)
    assert gradient_penalty(critic, real, fake, generator=g).item() == pytest.approx(0, abs=1e-6)


def test_gradient_penalty_is_per_sample_not_per_batch():
    # Critic with gradient norm 2 everywhere: per-sample penalty (2 - 1)^2 = 1, whatever B.
    def critic(x: torch.Tensor) -> torch.Tensor:
        return 2.0 * x[:, 0]

    loss = gradient_penalty(critic, torch.randn(7, 3), torch.randn(7, 3))
    assert loss.item() == pytest.approx(1.0, rel=1e-5)


def test_gradient_penalty_trains_the_critic_only():
    critic = torch.nn.Linear(5, 1)
    real = torch.randn(4, 5, requires_grad=True)
    fake = torch.randn(4, 5, requires_grad=True)
    gradient_penalty(critic, real, fake).backward()
    assert critic.weight.grad is not None and critic.weight.grad.abs().sum() > 0
    assert real.grad is None and fake.grad is None


def test_gradient_penalty_mixes_dtypes_under_autocast():
    critic = torch.nn.Linear(6, 1)
    real, fake = torch.randn(4, 6), torch.randn(4, 6).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        penalty = gradient_penalty(critic, real, fake)
    assert penalty.dtype == torch.float32 and torch.isfinite(penalty)
    penalty.backward()
    assert critic.weight.grad is not None


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_penalties_reduce_per_sample_values(reduction):
    scale = torch.arange(1.0, 5.0)  # sample i has gradient norm i in every direction of 1

    def critic(x: torch.Tensor) -> torch.Tensor:
        return scale * x[:, 0]

    x = torch.randn(4, 3, requires_grad=True)
    expected_r1 = scale.square()
    expected_gp = (scale - 1).square()
    got_r1 = r1_penalty(critic(x), x, reduction=reduction)
    got_gp = gradient_penalty(critic, torch.randn(4, 3), torch.randn(4, 3), reduction=reduction)
    for got, per_sample in ((got_r1, expected_r1), (got_gp, expected_gp)):
        expected = {"mean": per_sample.mean(), "sum": per_sample.sum(), "none": per_sample}
        torch.testing.assert_close(got, expected[reduction])


def test_r1_reference_value():
    x = torch.randn(6, 2, 2, requires_grad=True)
    logits = 3.0 * x.flatten(1).sum(1)
    # gradient is 3 on each of 4 entries: squared norm 36.
    assert r1_penalty(logits, x).item() == pytest.approx(36.0)


def test_r1_backpropagates_into_the_discriminator():
    d = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    x = torch.randn(5, 3, requires_grad=True)
    r1_penalty(d(x), x).backward()
    # The last bias cannot change dD/dx, so it alone receives no gradient.
    assert all(p.grad is not None for n, p in d.named_parameters() if n != "2.bias")


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: r1_penalty(torch.zeros(2), torch.zeros(2, 3)), ValueError, "must require grad"),
        (
            lambda: r1_penalty(torch.zeros(3), torch.zeros(2, 3, requires_grad=True)),
            ValueError,
            r"one row per input, got real_logits \(3,\)",
        ),
        (
            lambda: gradient_penalty(lambda x: x, torch.zeros(2, 3), torch.zeros(2, 4)),
            ValueError,
            r"same shape, got \(2, 3\) and \(2, 4\)",
        ),
        (
            lambda: r1_penalty(torch.zeros(2), torch.zeros(2, 3), reduction="avg"),
            ValueError,
            "reduction must be one of",
        ),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
