"""Perceptual path length: closed form for a linear decoder, sampling modes, bad input."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from contradistinct.metrics import perceptual_path_length


def linear_decoder(latent_dim: int, pixels: int = 12) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(latent_dim, pixels), nn.Unflatten(1, (3, 2, pixels // 6)))


def test_linear_decoder_matches_closed_form() -> None:
    # G(z) = Az + b, identity features: d / eps^2 = |A (z2 - z1)|^2 / P for every t, so the
    # expectation over z1, z2 ~ N(0, I) is 2 tr(A^T A) / P.
    decoder = linear_decoder(4)
    linear = decoder[0]
    assert isinstance(linear, nn.Linear)
    weight = linear.weight.detach()
    expected = 2 * weight.square().sum() / weight.shape[0]
    g = torch.Generator().manual_seed(0)
    value = perceptual_path_length(
        decoder, nn.Flatten(), 4, n=20_000, batch_size=5000, discard_outliers=False, generator=g
    )
    torch.testing.assert_close(value, expected, rtol=0.05, atol=0)


def test_end_sampling_and_outliers() -> None:
    decoder = linear_decoder(3)
    kwargs: dict = {"n": 200, "batch_size": 256, "epsilon": 1e-2}
    full = perceptual_path_length(
        decoder, nn.Flatten(), 3, generator=torch.Generator().manual_seed(1), **kwargs
    )
    end = perceptual_path_length(
        decoder,
        nn.Flatten(),
        3,
        sampling="end",
        generator=torch.Generator().manual_seed(1),
        **kwargs,
    )
    # A linear decoder has the same path length everywhere along the line.
    torch.testing.assert_close(full, end, rtol=1e-3, atol=0)
    kept = perceptual_path_length(
        decoder,
        nn.Flatten(),
        3,
        discard_outliers=False,
        generator=torch.Generator().manual_seed(1),
        **kwargs,
    )
    assert kept.item() > 0 and full.item() > 0


def test_constant_decoder_has_zero_length() -> None:
    def decoder(z: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(z), 1, 4, 4)

    assert perceptual_path_length(decoder, nn.Flatten(), 5, n=10).item() == 0.0


def test_bad_input() -> None:
    decoder = linear_decoder(4)
    with pytest.raises(ValueError, match=r"images \(4, C, H, W\), got \(4, 12\)"):
        perceptual_path_length(nn.Linear(4, 12), nn.Flatten(), 4, n=2)
    with pytest.raises(ValueError, match="sampling must be one of"):
        perceptual_path_length(decoder, nn.Flatten(), 4, n=2, sampling="middle")
    with pytest.raises(ValueError, match="epsilon must be positive"):
        perceptual_path_length(decoder, nn.Flatten(), 4, n=2, epsilon=0.0)
    with pytest.raises(TypeError, match="latent_dim must be an int"):
        perceptual_path_length(decoder, nn.Flatten(), 4.0, n=2)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="decoder must be callable"):
        perceptual_path_length(3, nn.Flatten(), 4, n=2)  # type: ignore[arg-type]
