"""Pixel and perceptual distance: hand-computed values, identities, layer capture, bad input."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from contradistinct.metrics import perceptual_distance, pixel_distance


def network() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(64, 5)
    )


def test_pixel_distance_by_hand() -> None:
    x = torch.zeros(2, 1, 2, 2)
    y = torch.tensor([[1.0, 1.0, 1.0, 1.0], [2.0, 0.0, 0.0, 0.0]]).reshape(2, 1, 2, 2)
    torch.testing.assert_close(pixel_distance(x, y, reduction="none"), torch.tensor([1.0, 1.0]))
    torch.testing.assert_close(pixel_distance(x, y, reduction="sum"), torch.tensor(2.0))


def test_pixel_distance_bf16_upcasts() -> None:
    x = torch.zeros(2, 3, dtype=torch.bfloat16)
    assert pixel_distance(x, x + 1).dtype == torch.float32


@given(batch=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_perceptual_distance_zero_for_identical_inputs(batch: int, seed: int) -> None:
    x = torch.randn(batch, 3, 4, 4, generator=torch.Generator().manual_seed(seed))
    net = network()
    with torch.no_grad():
        assert perceptual_distance(x, x, net).item() == 0.0
        assert perceptual_distance(x, x.clone(), net, layer="2").item() == 0.0
        assert pixel_distance(x, x).item() == 0.0


def test_perceptual_distance_matches_features_by_hand() -> None:
    net = network()
    x, y = torch.randn(3, 3, 4, 4), torch.randn(3, 3, 4, 4)
    net.eval()
    with torch.no_grad():
        expected = (net[:3](x) - net[:3](y)).square().flatten(1).mean(1)
        got = perceptual_distance(x, y, net, layer="2", reduction="none")
        torch.testing.assert_close(got, expected)
        output = (net(x) - net(y)).square().mean()
        torch.testing.assert_close(perceptual_distance(x, y, net), output)


def test_feature_network_mode_is_restored_and_gradients_reach_inputs() -> None:
    net = network().train()
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    perceptual_distance(x, torch.zeros(2, 3, 4, 4), net).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    norm = net[1]
    assert isinstance(norm, nn.BatchNorm2d) and norm.num_batches_tracked is not None
    assert net.training and norm.training
    assert norm.num_batches_tracked.item() == 0


def test_unknown_layer_lists_the_closest_names() -> None:
    with pytest.raises(ValueError, match=r"unknown layer 'blok' in Net; closest: 'block'"):
        perceptual_distance(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4), Net(), "blok")


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Conv2d(3, 2, 1)
        self.pair = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.pair((x, x))
        return self.block(x)


def test_layer_of_a_wrapped_network_and_a_layer_that_is_no_tensor() -> None:
    net = Net()
    x, y = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    with torch.no_grad():
        direct = perceptual_distance(x, y, net, "block")
        # A DataParallel-style wrapper: the name is accepted with its "module." prefix too.
        wrapped = nn.Module()
        wrapped.module = net
        wrapped.forward = net.forward  # type: ignore[method-assign]
        torch.testing.assert_close(perceptual_distance(x, y, wrapped, "module.block"), direct)
        with pytest.raises(TypeError, match="layer 'pair' returned tuple"):
            perceptual_distance(x, y, net, "pair")


@given(
    batch=st.integers(1, 5),
    shift=st.floats(-2, 2, allow_nan=False),
    seed=st.integers(0, 2**16),
)
def test_pixel_distance_reductions_and_symmetry(batch: int, shift: float, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 1, 3, 3, generator=generator)
    y = x + shift
    per_sample = pixel_distance(input=y, target=x, reduction="none")
    assert per_sample.shape == (batch,) and (per_sample >= 0).all()
    torch.testing.assert_close(per_sample, torch.full((batch,), shift**2))
    torch.testing.assert_close(pixel_distance(y, x), per_sample.mean())
    torch.testing.assert_close(pixel_distance(y, x, reduction="sum"), per_sample.sum())
    torch.testing.assert_close(pixel_distance(x, y, reduction="none"), per_sample)


def test_bad_input() -> None:
    net = network()
    with pytest.raises(ValueError, match=r"input must have 4 dimensions \(B, C, H, W\)"):
        perceptual_distance(torch.zeros(3, 4, 4), torch.zeros(3, 4, 4), net)
    with pytest.raises(
        ValueError, match=r"input and target must have the same shape, got \(1, 3, 4, 4\)"
    ):
        perceptual_distance(torch.zeros(1, 3, 4, 4), torch.zeros(2, 3, 4, 4), net)
    with pytest.raises(ValueError, match=r"input and target must have the same shape"):
        pixel_distance(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"target must have at least 2 dimensions"):
        pixel_distance(torch.zeros(2, 3), torch.zeros(6))
    with pytest.raises(ValueError, match=r"reduction must be one of"):
        pixel_distance(torch.zeros(2, 3), torch.zeros(2, 3), reduction="max")
    with pytest.raises(TypeError, match=r"feature_extractor must be an nn\.Module"):
        perceptual_distance(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4), lambda t: t)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must keep the batch dimension"):
        perceptual_distance(
            torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4), nn.Flatten(start_dim=0)
        )


def test_bf16_autocast_gives_float32_distances() -> None:
    net = network()
    x, y = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    with torch.no_grad():
        exact = perceptual_distance(x, y, net)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = perceptual_distance(x, y, net)
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, exact, rtol=0.05, atol=0)


def test_layer_that_never_runs() -> None:
    class Skips(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.unused = nn.Identity()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    with pytest.raises(ValueError, match="layer 'unused' did not run"):
        perceptual_distance(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), Skips(), "unused")
