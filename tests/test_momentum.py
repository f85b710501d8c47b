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
        ((nn.Linear(2, 2), -0.1), ValueError, r"momentum must lie in \[0, 1\], got -0.1"),
        ((nn.Linear(2, 2), float("nan")), ValueError, r"momentum must lie in \[0, 1\], got nan"),
        (("not a module", 0.9), TypeError, "module must be an nn.Module, got str"),
    ],
)
def test_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        MomentumEncoder(*args)


@pytest.mark.parametrize("momentum", [1.5, -0.1, float("nan"), float("inf")])
def test_update_refuses_a_momentum_the_constructor_refuses(momentum):
    # issue 14: update(momentum=1.5) was accepted and extrapolated away from the online weights.
    ema = MomentumEncoder(nn.Linear(2, 2), momentum=0.9)
    before = ema.module.weight.clone()
    with pytest.raises(ValueError, match=r"momentum must lie in \[0, 1\]"):
        ema.update(momentum=momentum)
    assert torch.equal(ema.module.weight, before)
    with pytest.raises(TypeError, match="momentum must be a number"):
        ema.update(momentum="0.5")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "move",
    [
        lambda m: m.to(torch.float64),
        lambda m: m.half(),
        lambda m: m.to(torch.bfloat16),
    ],
    ids=["float64", "half", "bfloat16"],
)
@pytest.mark.parametrize("moved", ["copy", "online"])
def test_update_works_after_either_side_changes_dtype(move, moved):
    # issue 14: .to(float64) / .half() / .to(bfloat16) then update() failed with a dtype error.
    online = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    ema = MomentumEncoder(online, momentum=0.5)
    move(ema if moved == "copy" else online)
    with torch.no_grad():
        for p in online.parameters():
            p.add_(1.0)
    online.train()(torch.randn(8, 3, dtype=next(online.parameters()).dtype))
    before = [p.detach().double().clone() for p in ema.module.parameters()]
    ema.update()
    for b, p, o in zip(before, ema.module.parameters(), online.parameters(), strict=True):
        assert p.dtype == next(ema.module.parameters()).dtype
        expected = 0.5 * b + 0.5 * o.detach().double()
        torch.testing.assert_close(p.double(), expected, rtol=1e-2, atol=1e-2)
    torch.testing.assert_close(
        ema.module[1].running_mean.double(), online[1].running_mean.double(), rtol=1e-2, atol=1e-2
    )


def test_update_follows_a_copy_moved_to_the_meta_device():
    online = nn.Linear(3, 4)
    ema = MomentumEncoder(online).to("meta")
    ema.update()
    assert ema.module.weight.device.type == "meta"
