"""Read a diagonal Gaussian posterior ``(mu, logvar)`` out of whatever an encoder returned.

Every loss that calls a user's encoder goes through :func:`as_posterior`, so the forms an
encoder may return are listed, accepted and refused in one place. Today that is a pair
``(mu, logvar)``; another form is one more branch in :func:`as_posterior` and one more entry
in ``_ACCEPTED``.
"""

from __future__ import annotations

from torch import Tensor

_ACCEPTED = "a (mu, logvar) pair of floating-point tensors of the same shape (B, D)"


def describe(value: object) -> str:
    """A short account of ``value`` for an error message: types, shapes and dtypes."""
    if isinstance(value, Tensor):
        return f"Tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    if isinstance(value, (tuple, list)):
        items = ", ".join(describe(item) for item in value)
        return f"{type(value).__name__} of {len(value)} [{items}]"
    return type(value).__name__


def as_posterior(output: object, name: str, *, ndim: int | None = None) -> tuple[Tensor, Tensor]:
    """Return ``(mu, logvar)`` from an encoder's ``output``, or say what was wrong with it.

    Args:
        output: what the encoder returned.
        name: what the caller calls ``output`` in messages, e.g. ``"encoder(x)"``.
        ndim: the exact number of dimensions ``mu`` must have; ``None`` asks for at least 2.

    Raises:
        TypeError: ``output`` is not one of the accepted forms; the message shows what it is.
        ValueError: ``mu`` and ``logvar`` disagree in shape or have the wrong rank.
    """
    if not (
        isinstance(output, (tuple, list))
        and len(output) == 2
        and all(isinstance(t, Tensor) and t.is_floating_point() for t in output)
    ):
        hint = (
            "; split a (B, 2D) output with .chunk(2, dim=1)" if isinstance(output, Tensor) else ""
        )
        raise TypeError(f"{name} must be {_ACCEPTED}, got {describe(output)}{hint}")
    mu, logvar = output
    if mu.shape != logvar.shape:
        raise ValueError(
            f"{name}'s mu and logvar must have the same shape, got {tuple(mu.shape)} and "
            f"{tuple(logvar.shape)}"
        )
    if (mu.ndim != ndim) if ndim is not None else (mu.ndim < 2):
        expected = f"{ndim}" if ndim is not None else "at least 2"
        raise ValueError(
            f"{name}'s mu and logvar must have {expected} dimensions (B, D), got shape "
            f"{tuple(mu.shape)}"
        )
    return mu, logvar
