"""Input validation shared by the backbones: image and latent shapes, resolutions, fade-in alpha."""

from __future__ import annotations

from torch import Tensor

from contradistinct._checks import check_rank


def check_images(x: object, name: str, channels: int, resolutions: tuple[int, ...]) -> Tensor:
    """Check ``x`` is ``(B, channels, R, R)`` with ``R`` one of ``resolutions``."""
    sizes = " or ".join(str(r) for r in resolutions)
    expected = f"(B, {channels}, R, R) with R = {sizes}"
    x = check_rank(x, name, 4, expected)
    _, got_channels, height, width = x.shape
    if got_channels != channels or height != width or height not in resolutions:
        raise ValueError(f"{name} must have shape {expected}, got {tuple(x.shape)}")
    return x


def check_latents(z: object, name: str, dim: int) -> Tensor:
    """Check ``z`` is ``(B, dim)``."""
    z = check_rank(z, name, 2, f"(B, {dim})")
    if z.shape[1] != dim:
        raise ValueError(f"{name} must have shape (B, {dim}), got {tuple(z.shape)}")
    return z


def check_alpha(alpha: object) -> float:
    """Check the fade-in weight is a Python number in ``[0, 1]``."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        raise TypeError(f"alpha must be a float in [0, 1], got {type(alpha).__name__}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    return float(alpha)


def powers_of_two(low: int, high: int) -> tuple[int, ...]:
    """The resolutions ``low, 2 low, ..., high``."""
    return tuple(2**k for k in range(low.bit_length() - 1, high.bit_length()))


def check_resolution(value: object, name: str, low: int, high: int) -> int:
    """Check ``value`` is a power of two in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value not in powers_of_two(low, high):
        raise ValueError(f"{name} must be a power of two from {low} to {high}, got {value}")
    return value
