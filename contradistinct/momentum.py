"""An exponential-moving-average copy of a module: the key encoder of DC-VAE, and decoder EMA."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from contradistinct._checks import check_unit_interval
from contradistinct._wrappers import unwrap
from contradistinct.taps import FeatureTaps


class MomentumEncoder(nn.Module):
    r"""A frozen exponential-moving-average copy of ``module``.

    After each optimiser step of the online module, :meth:`update` moves every floating-point
    parameter of the copy towards it,

    .. math:: \xi \leftarrow m\,\xi + (1 - m)\,\theta,

    with one fused ``torch._foreach_lerp_`` call, and copies the buffers (batch-norm statistics,
    spectral-norm power-iteration vectors) as they are. The copy never receives gradients:
    its parameters have ``requires_grad=False`` and :meth:`forward` runs under ``no_grad``.

    DC-VAE embeds the real images through such a copy of the discriminator to get the keys of
    the instance loss (Eq. 6, following MoCo); the authors' code (``train.py`` of
    github.com/mlpc-ucsd/DC-VAE) also keeps a decoder EMA with the same momentum for evaluation.
    ``DistributedDataParallel`` and ``torch.compile`` wrappers are unwrapped before copying. Its
    ``state_dict`` holds only the copy.

    The copy may live in another dtype or on another device than the online module (after
    ``ema.half()``, ``ema.to(torch.float64)`` or moving either one): :meth:`update` converts the
    online tensors to the copy's dtype and device. Moving the online network *and* its copy
    together keeps the update a single fused call.

    Args:
        module: the online module to follow.
        momentum: :math:`m \in [0, 1]` (0.999 in the paper); 0 copies the online weights.

    Example:
        >>> import torch
        >>> from contradistinct import MomentumEncoder
        >>> online = torch.nn.Linear(4, 2)
        >>> ema = MomentumEncoder(online, momentum=0.9)
        >>> with torch.no_grad():
        ...     _ = online.weight.add_(1.0)
        >>> ema.update()
        >>> torch.allclose(ema.module.weight, online.weight - 0.9)
        True
        >>> ema(torch.randn(3, 4)).requires_grad
        False
    """

    def __init__(self, module: nn.Module, momentum: float = 0.999) -> None:
        super().__init__()
        if not isinstance(module, nn.Module):
            raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
        self.momentum = check_unit_interval(momentum, "momentum")
        online = unwrap(module)
        # Kept out of the module tree so the online weights are neither saved twice nor moved
        # with ``.to()``; the copy is what this module owns.
        self.__dict__["online"] = online
        self.module = copy.deepcopy(online).requires_grad_(False)

    def _pairs(self, kind: str) -> tuple[list[Tensor], list[Tensor]]:
        online = dict(getattr(self.online, f"named_{kind}")())
        mine = dict(getattr(self.module, f"named_{kind}")())
        if online.keys() != mine.keys():
            raise RuntimeError(
                f"the online module's {kind} no longer match the momentum copy's: "
                f"{sorted(online.keys() ^ mine.keys())}"
            )
        return [mine[n] for n in mine], [online[n] for n in mine]

    @torch.no_grad()
    def update(self, momentum: float | None = None) -> None:
        """Move the copy towards the online module (parameters EMA'd, buffers copied).

        Call it once per training step, after the online module's optimiser step; with
        ``MultiScaleContrastive(..., key_momentum=m)`` call
        :meth:`MultiScaleContrastive.update <contradistinct.MultiScaleContrastive.update>`
        there too, so the key heads follow the discriminator they belong to.

        Args:
            momentum: override the momentum for this call, in ``[0, 1]`` like the constructor's
                (for example 0 to re-synchronise).
        """
        m = self.momentum if momentum is None else check_unit_interval(momentum, "momentum")
        ema_params, online_params = self._pairs("parameters")
        pairs = zip(ema_params, online_params, strict=True)
        floating = [(e, _like(o.detach(), e)) for e, o in pairs if e.is_floating_point()]
        if floating:
            ema = [e for e, _ in floating]
            torch._foreach_lerp_(ema, [o for _, o in floating], 1.0 - m)
        ema_buffers, online_buffers = self._pairs("buffers")
        if ema_buffers:
            online_buffers = [_like(o, e) for e, o in zip(ema_buffers, online_buffers, strict=True)]
            torch._foreach_copy_(ema_buffers, online_buffers)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Run the momentum copy without building a graph."""
        with torch.no_grad():
            return self.module(*args, **kwargs)

    def taps(self, layers: Sequence[str]) -> FeatureTaps:
        """:class:`~contradistinct.FeatureTaps` on the momentum copy, named as in the online module.

        Example:
            >>> import torch
            >>> from contradistinct import MomentumEncoder
            >>> ema = MomentumEncoder(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()))
            >>> with ema.taps(["0"]) as taps:
            ...     _ = ema(torch.randn(2, 4))
            >>> taps.features()["0"].shape
            torch.Size([2, 3])
        """
        return FeatureTaps(self.module, layers)

    def extra_repr(self) -> str:
        return f"momentum={self.momentum}"


def _like(online: Tensor, ema: Tensor) -> Tensor:
    """``online`` in the dtype and on the device of ``ema`` (itself when they already match)."""
    if online.dtype == ema.dtype and online.device == ema.device:
        return online
    return online.to(device=ema.device, dtype=ema.dtype)
