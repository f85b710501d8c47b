"""Read a diagonal Gaussian posterior ``(mu, logvar)`` out of whatever an encoder returned.

Every loss that calls a user's encoder goes through :func:`as_posterior`, so the forms an
encoder may return are listed, accepted and refused in one place: a ``(mu, logvar)`` pair (or
``(mu, std)``, ``(mu, var)`` with ``scale=``), a ``torch.distributions.Normal`` (also inside
``Independent``), and a mapping, dataclass or output object read through named fields.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import NamedTuple

from torch import Tensor
from torch.distributions import Independent, Normal

SCALES = ("logvar", "std", "var")


class Posterior(NamedTuple):
    r"""A diagonal Gaussian :math:`q_\phi(z|x) = \mathcal N(\mu, \mathrm{diag}(e^{\log\sigma^2}))`.

    A named pair: ``mu, logvar = as_posterior(...)`` unpacks it, and it can be passed on as
    ``*posterior`` to :class:`~contradistinct.IELBO`, :func:`~contradistinct.functional.gaussian_kl`
    or :func:`~contradistinct.functional.reparameterize`.
    """

    mu: Tensor
    """``(B, D)`` means."""
    logvar: Tensor
    """``(B, D)`` log-variances :math:`\\log\\sigma^2`."""


def describe(value: object) -> str:
    """A short account of ``value`` for an error message: types, shapes and dtypes.

    Strings are shown with their value: a ``(mu, logvar)`` that is really the two keys of a
    dict (``mu, logvar = encoder(x)`` on an encoder returning a dict) then reads as such.
    """
    if isinstance(value, Tensor):
        return f"Tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    if isinstance(value, str):
        return f"str {value[:40]!r}"
    if isinstance(value, (tuple, list)):
        items = ", ".join(describe(item) for item in value)
        return f"{type(value).__name__} of {len(value)} [{items}]"
    return type(value).__name__


def as_posterior(
    output: object,
    name: str = "the encoder's output",
    *,
    fields: str | tuple[str, str] | None = None,
    scale: str = "logvar",
    ndim: int | None = None,
) -> Posterior:
    r"""Return the :class:`Posterior` ``(mu, logvar)`` in an encoder's ``output``, or say why not.

    Accepted forms, the second tensor of a pair converted to :math:`\log\sigma^2` as ``scale``
    says (:math:`2\log\sigma` from a standard deviation, :math:`\log\sigma^2` from a variance):

    * a pair ``(mu, s)`` of floating-point tensors (a tuple, a list or a named tuple), ``s``
      the log-variance (``scale="logvar"``, default), the standard deviation (``"std"``) or the
      variance (``"var"``);
    * a ``torch.distributions.Normal`` (or ``Independent`` of one): its ``loc`` and ``scale``,
      the standard deviation whatever ``scale`` says;
    * with ``fields=("mean_field", "scale_field")``: a mapping (``output[field]``) or any object
      with those attributes (a dataclass, a library's output object), read as a pair;
    * with ``fields="field"``: a mapping or object whose one field holds any form above.

    Nothing is read back from the device: ``std`` and ``var`` are converted with one ``log``.

    Args:
        output: what the encoder returned.
        name: what the caller calls ``output`` in messages, e.g. ``"encoder(x)"``.
        fields: the names of the mean and the scale in an output object, or of the one field
            that holds the posterior.
        scale: what the second tensor of a pair is: ``"logvar"``, ``"std"`` or ``"var"``.
        ndim: the exact number of dimensions ``mu`` must have; ``None`` asks for at least 2.

    Returns:
        A :class:`Posterior`; with ``scale="logvar"`` its tensors are the encoder's own.

    Raises:
        TypeError: ``output`` is not one of the accepted forms; the message shows what it is.
        ValueError: ``mu`` and the scale disagree in shape or have the wrong rank, a field is
            missing (the message lists those present), or ``scale`` is unknown.

    Example:
        >>> import torch
        >>> from contradistinct import as_posterior
        >>> mu, std = torch.zeros(2, 3), torch.full((2, 3), 2.0)
        >>> as_posterior((mu, std), scale="std").logvar[0]
        tensor([1.3863, 1.3863, 1.3863])
        >>> out = {"embedding": mu, "log_covariance": torch.zeros(2, 3)}
        >>> as_posterior(out, fields=("embedding", "log_covariance")).mu is mu
        True
        >>> as_posterior(torch.distributions.Normal(mu, std)).logvar[0, 0]
        tensor(1.3863)
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    if isinstance(fields, str):
        output, name = _field(output, fields, name), f"{name}.{fields}"
    elif fields is not None:
        if not (
            isinstance(fields, tuple)
            and len(fields) == 2
            and all(isinstance(f, str) for f in fields)
        ):
            raise TypeError(
                f"fields must be a field name or a (mean, {scale}) pair of names, got {fields!r}"
            )
        output = tuple(_field(output, field, name) for field in fields)
    if isinstance(output, Independent):
        output = output.base_dist
    if isinstance(output, Normal):
        mu, second, scale = output.loc, output.scale, "std"
    elif _is_pair(output):
        mu, second = output  # type: ignore[misc]
    else:
        raise TypeError(_refusal(output, name, scale))
    if mu.shape != second.shape:
        raise ValueError(
            f"{name}'s mu and {scale} must have the same shape, got {tuple(mu.shape)} and "
            f"{tuple(second.shape)}"
        )
    if (mu.ndim != ndim) if ndim is not None else (mu.ndim < 2):
        expected = f"{ndim}" if ndim is not None else "at least 2"
        raise ValueError(
            f"{name}'s mu and {scale} must have {expected} dimensions (B, D), got shape "
            f"{tuple(mu.shape)}"
        )
    if scale == "std":
        return Posterior(mu, 2 * second.log())
    if scale == "var":
        return Posterior(mu, second.log())
    return Posterior(mu, second)


def _is_pair(output: object) -> bool:
    return (
        isinstance(output, (tuple, list))
        and len(output) == 2
        and all(isinstance(t, Tensor) and t.is_floating_point() for t in output)
    )


def _field(output: object, field: str, name: str) -> object:
    """``output[field]`` of a mapping, else ``output.field``; a missing one lists those present."""
    if isinstance(output, Mapping):
        if field in output:
            return output[field]
        present = list(output)
    else:
        if hasattr(output, field):
            return getattr(output, field)
        present = _attribute_names(output)
    raise ValueError(f"{name} ({type(output).__name__}) has no field {field!r}; it has {present}")


def _attribute_names(output: object) -> list[str]:
    if dataclasses.is_dataclass(output):
        return [f.name for f in dataclasses.fields(output)]
    return [n for n in vars(output) if not n.startswith("_")] if hasattr(output, "__dict__") else []


def _refusal(output: object, name: str, scale: str) -> str:
    accepted = (
        f"{name} must be a (mu, {scale}) pair of floating-point tensors of the same shape (B, D), "
        "a torch.distributions.Normal, or an output object read with fields="
    )
    if isinstance(output, Tensor):
        hint = "; split a (B, 2D) output with .chunk(2, dim=1)"
    elif isinstance(output, Mapping) or dataclasses.is_dataclass(output):
        names = list(output) if isinstance(output, Mapping) else _attribute_names(output)
        values = [output[n] if isinstance(output, Mapping) else getattr(output, n) for n in names]
        shown = "; ".join(f"{n}: {describe(v)}" for n, v in zip(names, values, strict=True))
        example = tuple(names[:2]) if len(names) >= 2 else ("mean", scale)
        hint = f" with fields {{{shown}}}; name the mean and the {scale}: fields={example!r}"
    elif isinstance(output, (tuple, list)) and output and all(isinstance(v, str) for v in output):
        hint = (
            " (the keys of a mapping? `mu, logvar = encoder(x)` unpacks a dict's keys: pass the "
            "output itself with fields=(mean, scale) instead)"
        )
    else:
        hint = ""
    return f"{accepted}, got {describe(output)}{hint}"


__all__ = ["Posterior", "as_posterior"]
