"""Building blocks of the AutoGAN-32 networks: the generator cell and the residual critic blocks.

Structure as in Gong et al., *AutoGAN* (ICCV 2019) and the DC-VAE authors' 32×32 models (DC-VAE
appendix A.5, Fig. 15; github.com/mlpc-ucsd/DC-VAE, ``models/models_32.py``); written from those
facts.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

UP_MODES = ("nearest", "bilinear")


def _resize(x: Tensor, size: tuple[int, int], mode: str) -> Tensor:
    align = False if mode == "bilinear" else None
    return F.interpolate(x, size=size, mode=mode, align_corners=align)


class AutoGANCell(nn.Module):
    r"""One up-sampling cell of the AutoGAN generator.

    .. math::

        s &= \mathrm{conv}_1\bigl(\mathrm{up}(\mathrm{ReLU}(x))\bigr)
             + \textstyle\sum_k \mathrm{conv}^{1\times1}_k\bigl(\mathrm{resize}(s_k)\bigr) \\
        y &= \mathrm{conv}_2\bigl(\mathrm{ReLU}(s)\bigr)
             + \mathrm{conv}^{1\times1}_{\mathrm{sc}}\bigl(\mathrm{up}(x)\bigr)

    where ``up`` doubles the size with ``up_mode``, :math:`s_k` are the skip outputs of earlier
    cells resized to this cell's size with the same mode, and the shortcut term is present only
    with ``shortcut=True``. The cell returns ``(s, y)``; :math:`s` (which includes the skip-ins,
    as in the authors' code) feeds later cells.

    Args:
        channels: ``C``, in and out.
        up_mode: ``"nearest"`` or ``"bilinear"``.
        skip_ins: how many earlier skip outputs are added.
        shortcut: whether to add the 1×1 shortcut from the input.

    Maps ``(B, C, H, W)`` and ``skip_ins`` tensors ``(B, C, h_k, w_k)`` to two ``(B, C, 2H, 2W)``.

    Example:
        >>> import torch
        >>> from contradistinct.backbones.autogan_blocks import AutoGANCell
        >>> cell = AutoGANCell(8, "bilinear", skip_ins=1, shortcut=True)
        >>> skip, out = cell(torch.randn(2, 8, 8, 8), [torch.randn(2, 8, 8, 8)])
        >>> skip.shape, out.shape
        (torch.Size([2, 8, 16, 16]), torch.Size([2, 8, 16, 16]))
    """

    def __init__(self, channels: int, up_mode: str, *, skip_ins: int, shortcut: bool) -> None:
        super().__init__()
        if up_mode not in UP_MODES:
            raise ValueError(f"up_mode must be one of {UP_MODES}, got {up_mode!r}")
        self.up_mode = up_mode
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.skip_convs = nn.ModuleList(nn.Conv2d(channels, channels, 1) for _ in range(skip_ins))
        self.shortcut = nn.Conv2d(channels, channels, 1) if shortcut else None

    def forward(self, x: Tensor, skips: Sequence[Tensor] = ()) -> tuple[Tensor, Tensor]:
        if len(skips) != len(self.skip_convs):
            raise ValueError(
                f"this cell takes {len(self.skip_convs)} skip inputs, got {len(skips)}"
            )
        size = (2 * x.shape[-2], 2 * x.shape[-1])
        skip_out = self.conv1(_resize(F.relu(x), size, self.up_mode))
        for conv, earlier in zip(self.skip_convs, skips, strict=True):
            skip_out = skip_out + conv(_resize(earlier, size, self.up_mode))
        out = self.conv2(F.relu(skip_out))
        if self.shortcut is not None:
            out = out + self.shortcut(_resize(x, size, self.up_mode))
        return skip_out, out


class OptimizedBlock(nn.Module):
    r"""First critic block (SNGAN's "optimised" block): no pre-activation, halves the size.

    .. math::

        y = \mathrm{avgpool}\bigl(\mathrm{conv}_2(\mathrm{ReLU}(\mathrm{conv}_1 x))\bigr)
            + \mathrm{conv}^{1\times1}_{\mathrm{sc}}\bigl(\mathrm{avgpool}(x)\bigr)

    Every convolution is spectrally normalised.

    Args:
        in_channels: ``C_in`` (3 for RGB).
        out_channels: ``C``.

    Maps ``(B, C_in, H, W)`` to ``(B, C, H/2, W/2)``.

    Example:
        >>> import torch
        >>> from contradistinct.backbones.autogan_blocks import OptimizedBlock
        >>> OptimizedBlock(3, 8)(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 8, 16, 16])
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = spectral_norm(nn.Conv2d(in_channels, out_channels, 3, padding=1))
        self.conv2 = spectral_norm(nn.Conv2d(out_channels, out_channels, 3, padding=1))
        self.shortcut = spectral_norm(nn.Conv2d(in_channels, out_channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        residual = F.avg_pool2d(self.conv2(F.relu(self.conv1(x))), 2)
        return residual + self.shortcut(F.avg_pool2d(x, 2))


class DiscriminatorBlock(nn.Module):
    r"""Pre-activation residual critic block, optionally halving the size.

    .. math::

        y = \mathrm{down}\Bigl(\mathrm{conv}_2\bigl(\mathrm{ReLU}(
                \mathrm{conv}_1(\mathrm{ReLU}\,x))\bigr)\Bigr) + \mathrm{shortcut}(x)

    ``down`` is a 2×2 average pool when ``downsample`` is set. The shortcut is the identity, or
    ``down(conv1x1(x))`` when the block downsamples or changes the channel count. Every
    convolution is spectrally normalised.

    Args:
        in_channels: ``C_in``.
        out_channels: ``C``.
        downsample: whether to halve the spatial size.

    Maps ``(B, C_in, H, W)`` to ``(B, C, H', W')`` with ``H' = H/2`` when downsampling.

    Example:
        >>> import torch
        >>> from contradistinct.backbones.autogan_blocks import DiscriminatorBlock
        >>> DiscriminatorBlock(8, 8, downsample=True)(torch.randn(2, 8, 16, 16)).shape
        torch.Size([2, 8, 8, 8])
    """

    def __init__(self, in_channels: int, out_channels: int, *, downsample: bool) -> None:
        super().__init__()
        self.downsample = downsample
        self.conv1 = spectral_norm(nn.Conv2d(in_channels, in_channels, 3, padding=1))
        self.conv2 = spectral_norm(nn.Conv2d(in_channels, out_channels, 3, padding=1))
        learnable = downsample or in_channels != out_channels
        self.shortcut = (
            spectral_norm(nn.Conv2d(in_channels, out_channels, 1)) if learnable else None
        )

    def _down(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, 2) if self.downsample else x

    def forward(self, x: Tensor) -> Tensor:
        residual = self._down(self.conv2(F.relu(self.conv1(F.relu(x)))))
        skip = x if self.shortcut is None else self._down(self.shortcut(x))
        return residual + skip


class SumPool(nn.Module):
    r"""Global sum pooling over the spatial dimensions, :math:`y_c = \sum_{h,w} x_{c,h,w}`.

    A module rather than a bare ``sum`` so that the pooled features are a named submodule output a
    forward hook can capture.

    Maps ``(B, C, H, W)`` to ``(B, C)``.

    Example:
        >>> import torch
        >>> from contradistinct.backbones.autogan_blocks import SumPool
        >>> SumPool()(torch.ones(2, 3, 4, 4))
        tensor([[16., 16., 16.],
                [16., 16., 16.]])
    """

    def forward(self, x: Tensor) -> Tensor:
        return x.sum(dim=(2, 3))
