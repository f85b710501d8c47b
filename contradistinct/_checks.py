"""Argument validation shared by every public entry point.

Errors name the argument and the shape or value received, so that a user reading a traceback
knows which tensor to look at without opening the library.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor


def check_tensor(value: object, name: str) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    return value


def check_floating(value: object, name: str) -> Tensor:
    tensor = check_tensor(value, name)
    if not tensor.is_floating_point():
        # Complex tensors are refused here too: no loss of the library is defined on them.
        raise TypeError(f"{name} must be a floating-point tensor (real), got dtype {tensor.dtype}")
    return tensor


def check_rank(value: object, name: str, ndim: int, layout: str = "") -> Tensor:
    tensor = check_floating(value, name)
    if tensor.ndim != ndim:
        expected = f" {layout}" if layout else ""
        raise ValueError(
            f"{name} must have {ndim} dimensions{expected}, got shape {tuple(tensor.shape)}"
        )
    return tensor


def check_min_rank(value: object, name: str, ndim: int) -> Tensor:
    tensor = check_floating(value, name)
    if tensor.ndim < ndim:
        raise ValueError(
            f"{name} must have at least {ndim} dimensions, got shape {tuple(tensor.shape)}"
        )
    return tensor


def check_same_device(a: Tensor, a_name: str, b: Tensor, b_name: str) -> None:
    if a.device != b.device:
        raise ValueError(
            f"{a_name} and {b_name} must be on the same device, got {a_name} on {a.device} and "
            f"{b_name} on {b.device}"
        )


def check_same_shape(a: Tensor, a_name: str, b: Tensor, b_name: str) -> None:
    """Same shape, and (as tensors computed together) the same device."""
    check_same_device(a, a_name, b, b_name)
    if a.shape != b.shape:
        raise ValueError(
            f"{a_name} and {b_name} must have the same shape, got {tuple(a.shape)} and "
            f"{tuple(b.shape)}"
        )


def check_nonempty_batch(tensor: Tensor, name: str) -> None:
    if tensor.ndim == 0 or tensor.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one sample, got shape {tuple(tensor.shape)}")


def _check_number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    return float(value)


def check_positive(value: float, name: str) -> float:
    """A finite number > 0: an infinite weight, scale or temperature is never meant."""
    number = _check_number(value, name)
    # Comparisons rather than math.isfinite, which torch.compile cannot trace on a symbolic
    # float; NaN fails every comparison.
    if not 0 < number < math.inf:
        raise ValueError(f"{name} must be positive and finite, got {value}")
    return number


def check_non_negative(value: float, name: str) -> float:
    """A finite number >= 0 (a weight that may switch its term off)."""
    number = _check_number(value, name)
    if not 0 <= number < math.inf:
        raise ValueError(f"{name} must be non-negative and finite, got {value}")
    return number


def check_unit_interval(value: float, name: str) -> float:
    """A number in ``[0, 1]`` (a momentum, a fade-in weight)."""
    number = _check_number(value, name)
    if not 0 <= number <= 1:
        raise ValueError(f"{name} must lie in [0, 1], got {value}")
    return number


def check_choice(value: object, name: str, choices: Sequence[str]) -> str:
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value  # type: ignore[return-value]


def check_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return value


def check_same_batch(a: Tensor, a_name: str, b: Tensor, b_name: str) -> None:
    """Same number of samples, and (as tensors computed together) the same device."""
    check_same_device(a, a_name, b, b_name)
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{a_name} and {b_name} must hold the same number of samples, got shapes "
            f"{tuple(a.shape)} and {tuple(b.shape)}"
        )


def check_module_device(tensor: Tensor, name: str, weight: Tensor, owner: str) -> None:
    """``tensor`` must be on the device of ``owner``'s parameters (``weight`` is one of them)."""
    if tensor.device != weight.device:
        raise ValueError(
            f"{name} is on {tensor.device} but this {owner} is on {weight.device}: move one of "
            "them (module.to(device) moves the module)"
        )
