"""ProGAN layers: pixel norm, minibatch stddev and equalised learning rate."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from contradistinct.backbones import (
    EqualizedConv2d,
    EqualizedLinear,
    MinibatchStdDev,
    PixelNorm,
    minibatch_stddev,
    pixel_norm,
)


@settings(max_examples=20)
@given(
    batch=st.integers(1, 4),
    channels=st.integers(1, 16),
    size=st.integers(1, 5),
    scale=st.floats(1e-2, 1e2),
    seed=st.integers(0, 2**16),
)
def test_pixel_norm_gives_unit_mean_square_per_pixel(batch, channels, size, scale, seed):
    x = scale * torch.randn(
        batch, channels, size, size, generator=torch.Generator().manual_seed(seed)
    )
    mean_square = x.square().mean(dim=1)
    out_mean_square = pixel_norm(x, eps=1e-8).square().mean(dim=1)
    # Unit mean square per pixel, up to the eps under the root.
    expected = mean_square / (mean_square + 1e-8)
    torch.testing.assert_close(out_mean_square, expected, rtol=1e-4, atol=1e-6)


def test_pixel_norm_hand_value_and_zero_input():
    x = torch.tensor([[3.0, 4.0]])  # mean square 12.5
    torch.testing.assert_close(pixel_norm(x), x / math.sqrt(12.5))
    assert torch.equal(PixelNorm()(torch.zeros(2, 3)), torch.zeros(2, 3))


def test_minibatch_stddev_hand_value():
    # Two samples, one group: per-pixel std of {a, b} (biased) is |a - b| / 2.
    x = torch.zeros(2, 2, 1, 2)
    x[0, :, 0, :] = torch.tensor([[0.0, 2.0], [4.0, 4.0]])
    x[1, :, 0, :] = torch.tensor([[2.0, 2.0], [0.0, 8.0]])
    expected = (1.0 + 0.0 + 2.0 + 2.0) / 4
    out = minibatch_stddev(x, eps=0.0)
    assert out.shape == (2, 3, 1, 2)
    torch.testing.assert_close(out[:, :2], x)
    torch.testing.assert_close(out[:, 2], torch.full((2, 1, 2), expected))


def test_minibatch_stddev_groups_are_independent():
    # With 8 samples and groups of 4, samples i and i + 2 share a group (ProGAN's strided split).
    x = torch.randn(8, 3, 2, 2)
    out = MinibatchStdDev(group_size=4)(x)
    grouped = x.reshape(4, 2, 3, 2, 2)
    for member in range(2):
        std = torch.sqrt(grouped[:, member].var(dim=0, unbiased=False) + 1e-8).mean()
        torch.testing.assert_close(out[member::2, 3], std.expand(4, 2, 2))


def test_minibatch_stddev_rejects_indivisible_batch():
    with pytest.raises(ValueError, match=r"divisible.*\(6, 3, 4, 4\)"):
        minibatch_stddev(torch.randn(6, 3, 4, 4))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\).*\(6, 3\)"):
        minibatch_stddev(torch.randn(6, 3))


def test_equalized_weights_have_unit_variance_and_zero_bias():
    conv = EqualizedConv2d(64, 64, 3)
    linear = EqualizedLinear(256, 256)
    for layer in (conv, linear):
        weight = layer.weight.detach()
        assert abs(weight.mean().item()) < 0.02
        assert abs(weight.std().item() - 1.0) < 0.02
        assert torch.equal(layer.bias, torch.zeros_like(layer.bias))


@settings(max_examples=15)
@given(
    in_channels=st.integers(1, 8),
    out_channels=st.integers(1, 8),
    kernel=st.sampled_from([1, 3]),
    gain=st.floats(0.1, 3.0),
)
def test_equalized_conv_scales_weight_at_run_time(in_channels, out_channels, kernel, gain):
    conv = EqualizedConv2d(in_channels, out_channels, kernel, gain=gain)
    with torch.no_grad():
        conv.bias.normal_()
    x = torch.randn(2, in_channels, 5, 5)
    scale = gain / math.sqrt(in_channels * kernel * kernel)
    expected = F.conv2d(x, conv.weight * scale, conv.bias, padding=kernel // 2)
    torch.testing.assert_close(conv(x), expected)
    # The scale is applied on every call, not folded into the stored weight.
    with torch.no_grad():
        conv.weight.mul_(2.0)
    expected = F.conv2d(x, conv.weight * scale, conv.bias, padding=kernel // 2)
    torch.testing.assert_close(conv(x), expected)


@settings(max_examples=15)
@given(in_features=st.integers(1, 32), out_features=st.integers(1, 8), gain=st.floats(0.1, 3.0))
def test_equalized_linear_scales_weight_at_run_time(in_features, out_features, gain):
    linear = EqualizedLinear(in_features, out_features, gain=gain)
    x = torch.randn(3, in_features)
    expected = x @ (linear.weight * gain / math.sqrt(in_features)).T + linear.bias
    torch.testing.assert_close(linear(x), expected)


def test_equalized_layers_keep_unit_output_variance_at_init():
    # The point of the He constant: a unit-variance input keeps an O(1) output scale.
    torch.manual_seed(0)
    x = torch.randn(64, 128)
    out = EqualizedLinear(128, 128, gain=1.0)(x)
    assert 0.8 < out.var().item() < 1.2


def test_layers_reject_bad_arguments():
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        EqualizedConv2d(3, 3, 2)
    with pytest.raises(ValueError, match="gain must be positive"):
        EqualizedLinear(3, 3, gain=0.0)
    with pytest.raises(TypeError, match="in_features must be an int"):
        EqualizedLinear(3.0, 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="group_size must be a positive int"):
        MinibatchStdDev(0)


def test_pixel_norm_refuses_complex_and_integer_tensors():
    # issue 14: complex tensors passed through.
    with pytest.raises(
        TypeError, match=r"x must be a floating-point tensor \(real\), got .*complex"
    ):
        pixel_norm(torch.randn(2, 4, dtype=torch.complex64))
    with pytest.raises(TypeError, match=r"x must be a floating-point tensor"):
        PixelNorm()(torch.ones(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"x must have at least 2 dimensions, got shape \(4,\)"):
        pixel_norm(torch.randn(4))


def test_minibatch_stddev_refuses_an_empty_batch():
    # issue 14: ZeroDivisionError from the group size min(4, 0).
    with pytest.raises(
        ValueError, match=r"x must hold at least one sample, got shape \(0, 3, 4, 4\)"
    ):
        minibatch_stddev(torch.randn(0, 3, 4, 4))
