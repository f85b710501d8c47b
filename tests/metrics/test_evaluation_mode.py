"""evaluation_mode: eval inside, every submodule's own flag restored after, errors named."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from contradistinct.metrics import evaluation_mode


def test_several_modules_and_a_mixed_state_are_restored_exactly() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.Dropout())
    frozen = model[1].eval()  # a frozen part inside a training model
    other = nn.Dropout()
    with evaluation_mode(model, other):
        assert not any(m.training for m in [*model.modules(), other])
    assert model.training and not frozen.training and model[2].training and other.training


def test_restored_when_the_block_raises_and_gradients_stay_on() -> None:
    net = nn.Linear(2, 1)
    x = torch.randn(3, 2)
    with pytest.raises(KeyError), evaluation_mode(net):
        assert net(x).requires_grad
        raise KeyError("inside")
    assert net.training


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="at least one module"), evaluation_mode():
        pass
    with pytest.raises(TypeError, match="got function at position 1"):
        with evaluation_mode(nn.Linear(1, 1), lambda t: t):  # type: ignore[arg-type]
            pass
