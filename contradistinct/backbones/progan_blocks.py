"""Per-resolution blocks of the Progressive GAN networks (Karras et al., ICLR 2018, Table 2)."""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from contradistinct.backbones.layers import (
    LEAKY_SLOPE,
    EqualizedConv2d,
    EqualizedLinear,
    MinibatchStdDev,
    PixelNorm,
)


def _conv_act(in_channels: int, out_channels: int, kernel_size: int) -> list[nn.Module]:
    return [EqualizedConv2d(in_channels, out_channels, kernel_size), nn.LeakyReLU(LEAKY_SLOPE)]


class DecoderInputBlock(nn.Module):
    r"""The 4×4 block of the ProGAN generator.

    .. math::

        h = \mathrm{PN}\Bigl(\mathrm{lrelu}\bigl(\mathrm{conv}_{3\times3}\,
            \mathrm{PN}(\mathrm{lrelu}(\mathrm{reshape}_{C\times4\times4}(W\,\mathrm{PN}(z))))
            \bigr)\Bigr)

    The dense layer's equalised-lr gain is :math:`\sqrt2/4`, as in the official ProGAN code
    (it acts as a 4×4 transposed convolution of the ``(D, 1, 1)`` latent).

    Args:
        latent_dim: ``D``.
        channels: ``C``.

    Maps ``(B, D)`` to ``(B, C, 4, 4)``.

    Example:
        >>> import torch
        >>> from contradistinct.backbones.progan_blocks import DecoderInputBlock
        >>> DecoderInputBlock(8, 4)(torch.randn(2, 8)).shape
        torch.Size([2, 4, 4, 4])
    """

    def __init__(self, latent_dim: int, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.normalize_latent = PixelNorm()
        self.dense = EqualizedLinear(latent_dim, 16 * channels, gain=math.sqrt(2.0) / 4)
        self.dense_act = nn.Sequential(nn.LeakyReLU(LEAKY_SLOPE), PixelNorm())
        self.conv = nn.Sequential(*_conv_act(channels, channels, 3), PixelNorm())

    def forward(self, z: Tensor) -> Tensor:
        h = self.dense(self.normalize_latent(z)).view(-1, self.channels, 4, 4)
        return self.conv(self.dense_act(h))


class DecoderBlock(nn.Sequential):
    r"""A ProGAN generator block: nearest ×2 upsampling, then two conv3×3–lrelu–pixel-norm.

    .. math::

        h = \mathrm{PN}(\mathrm{lrelu}(\mathrm{conv}_2\,
            \mathrm{PN}(\mathrm{lrelu}(\mathrm{conv}_1\,\mathrm{up}_{\times2}(x)))))

    Args:
        in_channels: ``C_in``.
        out_channels: ``C``.

    Maps ``(B, C_in, H, W)`` to ``(B, C, 2H, 2W)``.

    Example:
        >>> import torch
        >>> from contradistinct.backbones.progan_blocks import DecoderBlock
        >>> DecoderBlock(8, 4)(torch.randn(2, 8, 4, 4)).shape
        torch.Size([2, 4, 8, 8])
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Upsample(scale_factor=2, mode="nearest"),
            *_conv_act(in_channels, out_channels, 3),
            PixelNorm(),
            *_conv_act(out_channels, out_channels, 3),
            PixelNorm(),
        )


class DiscriminatorBlock(nn.Sequential):
    r"""A ProGAN discriminator block: two conv3×3–lrelu, then 2×2 average pooling.

    .. math::

        h = \mathrm{avgpool}\bigl(\mathrm{lrelu}(\mathrm{conv}_2\,\mathrm{lrelu}(\mathrm{conv}_1 x))
            \bigr)

    Args:
        in_channels: ``C_in``, channels at this resolution.
        out_channels: ``C``, channels at half this resolution.

    Maps ``(B, C_in, H, W)`` to ``(B, C, H/2, W/2)``.

    Example:
        >>> import torch
        >>> from contradistinct.backbones.progan_blocks import DiscriminatorBlock
        >>> DiscriminatorBlock(4, 8)(torch.randn(2, 4, 8, 8)).shape
        torch.Size([2, 8, 4, 4])
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            *_conv_act(in_channels, in_channels, 3),
            *_conv_act(in_channels, out_channels, 3),
            nn.AvgPool2d(2),
        )


class DiscriminatorOutputBlock(nn.Sequential):
    r"""The 4×4 block of the ProGAN discriminator: [minibatch stddev], conv3×3, lrelu.

    Args:
        channels: ``C``.
        minibatch_std: prepend :class:`~contradistinct.backbones.MinibatchStdDev` (the
            discriminator does; the encoder does not, so each code depends on its image only).

    Maps ``(B, C, 4, 4)`` to ``(B, C, 4, 4)``.

    Example:
        >>> import torch
        >>> from contradistinct.backbones.progan_blocks import DiscriminatorOutputBlock
        >>> DiscriminatorOutputBlock(8, minibatch_std=True)(torch.randn(4, 8, 4, 4)).shape
        torch.Size([4, 8, 4, 4])
    """

    def __init__(self, channels: int, *, minibatch_std: bool) -> None:
        layers: list[nn.Module] = [MinibatchStdDev()] if minibatch_std else []
        super().__init__(*layers, *_conv_act(channels + int(minibatch_std), channels, 3))


def from_rgb(in_channels: int, channels: int) -> nn.Sequential:
    """A 1×1 equalised conv and leaky ReLU: the discriminator's entry at one resolution.

    Maps ``(B, in_channels, R, R)`` to ``(B, channels, R, R)``.

    Example:
        >>> import torch
        >>> from contradistinct.backbones.progan_blocks import from_rgb
        >>> from_rgb(3, 8)(torch.randn(2, 3, 4, 4)).shape
        torch.Size([2, 8, 4, 4])
    """
    return nn.Sequential(*_conv_act(in_channels, channels, 1))


def to_rgb(channels: int, out_channels: int) -> EqualizedConv2d:
    """A linear 1×1 equalised conv (gain 1): the generator's exit at one resolution.

    Maps ``(B, channels, R, R)`` to ``(B, out_channels, R, R)``.

    Example:
        >>> import torch
        >>> from contradistinct.backbones.progan_blocks import to_rgb
        >>> to_rgb(8, 3)(torch.randn(2, 8, 4, 4)).shape
        torch.Size([2, 3, 4, 4])
    """
    return EqualizedConv2d(channels, out_channels, 1, gain=1.0)


def downsample(x: Tensor) -> Tensor:
    """2×2 average pooling, the resize of the discriminator's fade-in path.

    Maps ``(B, C, H, W)`` to ``(B, C, H/2, W/2)``.

    Example:
        >>> import torch
        >>> from contradistinct.backbones.progan_blocks import downsample
        >>> downsample(torch.arange(4.0).reshape(1, 1, 2, 2))
        tensor([[[[1.5000]]]])
    """
    return F.avg_pool2d(x, 2)


def upsample(x: Tensor) -> Tensor:
    """Nearest-neighbour ×2, the resize of the generator's fade-in path.

    Maps ``(B, C, H, W)`` to ``(B, C, 2H, 2W)``.

    Example:
        >>> import torch
        >>> from contradistinct.backbones.progan_blocks import upsample
        >>> upsample(torch.tensor([[[[1.0, 2.0]]]]))
        tensor([[[[1., 1., 2., 2.],
                  [1., 1., 2., 2.]]]])
    """
    return F.interpolate(x, scale_factor=2.0, mode="nearest")
