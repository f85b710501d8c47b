"""MomentumEncoder: EMA arithmetic, frozen copy, buffers, wrappers and state."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from contradistinct import MomentumEncoder


def _net() -> nn.Module:
    return nn.Sequential(spectral_norm(nn.Linear(4, 6)), nn.BatchNorm1d(6), nn.Linear(6, 2))


@given(st.floats(0.0, 1.0), st.integers(1, 4))
def test_update_is_an_exponential_moving_average(momentum, steps):
    torch.manual_seed(0)
    online = nn.Linear(3, 2)
    ema = MomentumEncoder(online, momentum=momentum)
    expected = [p.detach().clone() for p in online.parameters()]
    for _ in range(steps):
        with torch.no_grad():
            for p in online.parameters():
                p.add_(torch.randn_like(p))
        ema.update()
        pairs = zip(expected, online.parameters(), strict=True)
        expected = [momentum * e + (1 - momentum) * p for e, p in pairs]
        for e, p in zip(expected, ema.module.parameters(), strict=True):
            torch.testing.assert_close(p, e, rtol=1e-5, atol=1e-6)


def test_copy_is_frozen_and_never_receives_gradients():
    online = _net()
    ema = MomentumEncoder(online)
    assert all(not p.requires_grad for p in ema.parameters())
    x = torch.randn(5, 4, requires_grad=True)
    out = ema(x)
    assert not out.requires_grad
    online(x).sum().backward()
    assert all(p.grad is None for p in ema.parameters())
    assert all(p.grad is not None for p in online.parameters())


def test_buffers_are_copied():
    online = _net()
    ema = MomentumEncoder(online)
    online.train()
    online(torch.randn(8, 4))
    ema.update()
    for (name, a), b in zip(online.named_buffers(), ema.module.buffers(), strict=True):
        assert torch.equal(a, b), name


def test_zero_momentum_copies_and_one_freezes():
    online = nn.Linear(3, 3)
    ema = MomentumEncoder(online, momentum=1.0)
    before = ema.module.weight.clone()
    with torch.no_grad():
        online.weight.mul_(2)
    ema.update()
    assert torch.equal(ema.module.weight, before)
    ema.update(momentum=0.0)
    assert torch.equal(ema.module.weight, online.weight)


def test_state_dict_holds_only_the_copy():
    ema = MomentumEncoder(nn.Linear(3, 2))
    assert set(ema.state_dict()) == {"module.weight", "module.bias"}


def test_unwraps_compile_wrappers():
    online = nn.Linear(3, 2)
    ema = MomentumEncoder(torch.compile(online))
    assert isinstance(ema.module, nn.Linear)
    with torch.no_grad():
        online.weight.add_(1.0)
    ema.update(momentum=0.0)
    assert torch.equal(ema.module.weight, online.weight)


def test_bf16_autocast_forward():
    ema = MomentumEncoder(nn.Linear(4, 2))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert ema(torch.randn(3, 4)).dtype == torch.bfloat16


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((nn.Linear(2, 2), 1.5), ValueError, r"momentum must lie in \[0, 1\], got 1.5"),
        ((nn.Linear(2, 2), -0.1), ValueError, "momentum must be non-negative"),
        (("not a module", 0.9), TypeError, "module must be an nn.Module, got str"),
    ],
)
def test_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        MomentumEncoder(*args)
