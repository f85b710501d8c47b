"""Progressive GAN layers: equalised learning rate, pixel norm and minibatch standard deviation.

All three come from Karras et al., *Progressive Growing of GANs* (ICLR 2018), Section 4 (pixel
norm, equalised learning rate) and Section 3 (minibatch standard deviation).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contradistinct._checks import (
    check_min_rank,
    check_module_device,
    check_non_negative,
    check_nonempty_batch,
    check_positive,
    check_positive_int,
    check_rank,
)

LEAKY_SLOPE = 0.2
"""Negative slope of the leaky ReLU used after every ProGAN convolution (ProGAN Appendix A)."""


def pixel_norm(x: Tensor, *, eps: float = 1e-8) -> Tensor:
    r"""Normalise every pixel's feature vector to unit mean square (ProGAN Eq. 2).

    .. math::

        b_{x,y} = \frac{a_{x,y}}{\sqrt{\frac1C \sum_{j=1}^{C} \bigl(a^j_{x,y}\bigr)^2 + \epsilon}}

    Args:
        x: real floating-point features, shape ``(B, C)`` or ``(B, C, H, W)``; normalised over
            ``C``. Complex and integer tensors are refused (the mean square of Eq. 2 is of real
            activations).
        eps: the :math:`\epsilon` under the square root.

    Returns:
        A tensor of the shape of ``x``.

    Example:
        >>> import torch
        >>> from contradistinct.backbones import pixel_norm
        >>> pixel_norm(torch.full((1, 4, 2, 2), 3.0))[0, :, 0, 0]
        tensor([1., 1., 1., 1.])
    """
    x = check_min_rank(x, "x", 2)
    eps = check_positive(eps, "eps")
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + eps)


class PixelNorm(nn.Module):
    """Module form of :func:`pixel_norm`; used after every decoder convolution.

    Args:
        eps: the :math:`\\epsilon` of :func:`pixel_norm`.

    Example:
        >>> import torch
        >>> from contradistinct.backbones import PixelNorm
        >>> PixelNorm()(torch.randn(2, 8, 4, 4)).square().mean(dim=1).allclose(torch.ones(2, 4, 4))
        True
    """

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = check_positive(eps, "eps")

    def forward(self, x: Tensor) -> Tensor:
        return pixel_norm(x, eps=self.eps)


def minibatch_stddev(x: Tensor, *, group_size: int = 4, eps: float = 1e-8) -> Tensor:
    r"""Append the average minibatch standard deviation as one extra channel (ProGAN Section 3).

    The batch is split into groups of ``G = min(group_size, B)`` samples. Within each group the
    standard deviation of every feature at every pixel is taken over the samples,

    .. math::

        s = \frac{1}{CHW} \sum_{c,h,w} \sqrt{\operatorname{Var}_{g}\bigl[x_{g,c,h,w}\bigr]
            + \epsilon},

    and the scalar :math:`s` of a group is appended as a constant ``(H, W)`` feature map to each
    of its samples.

    Args:
        x: features, shape ``(B, C, H, W)`` with ``B >= 1`` divisible by
            ``min(group_size, B)`` (the standard deviation of no samples is undefined).
        group_size: the group size (4 in ProGAN).
        eps: added to the variance before the square root.

    Returns:
        Shape ``(B, C + 1, H, W)``.

    Example:
        >>> import torch
        >>> from contradistinct.backbones import minibatch_stddev
        >>> minibatch_stddev(torch.randn(8, 16, 4, 4)).shape
        torch.Size([8, 17, 4, 4])
    """
    x = check_rank(x, "x", 4, "(B, C, H, W)")
    check_nonempty_batch(x, "x")
    check_positive_int(group_size, "group_size")
    eps = check_non_negative(eps, "eps")
    batch, channels, height, width = x.shape
    group = min(group_size, batch)
    if batch % group:
        raise ValueError(
            f"minibatch_stddev needs a batch size divisible by the group size {group}, "
            f"got x of shape {tuple(x.shape)}"
        )
    grouped = x.reshape(group, batch // group, channels, height, width)
    std = torch.sqrt(grouped.var(dim=0, unbiased=False) + eps)
    per_group = std.mean(dim=(1, 2, 3))
    extra = per_group.reshape(1, -1, 1, 1, 1).expand(group, -1, 1, height, width)
    return torch.cat([x, extra.reshape(batch, 1, height, width)], dim=1)


class MinibatchStdDev(nn.Module):
    """Module form of :func:`minibatch_stddev`; used in the last ProGAN discriminator block.

    Args:
        group_size: samples per group (ProGAN: 4).

    Example:
        >>> import torch
        >>> from contradistinct.backbones import MinibatchStdDev
        >>> MinibatchStdDev()(torch.randn(4, 3, 4, 4)).shape
        torch.Size([4, 4, 4, 4])
    """

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        self.group_size = check_positive_int(group_size, "group_size")

    def forward(self, x: Tensor) -> Tensor:
        return minibatch_stddev(x, group_size=self.group_size)


class EqualizedConv2d(nn.Module):
    r"""Convolution with an equalised learning rate (ProGAN Section 4.1).

    The stored weight is drawn from :math:`\mathcal N(0, 1)` and rescaled at run time by the
    He constant :math:`c = \text{gain} / \sqrt{\text{fan\_in}}`, so that Adam's per-parameter
    step sizes act on every layer at the same scale:

    .. math::

        y = (c\, W) \ast x + b, \qquad W_{ij} \sim \mathcal N(0, 1),\ b = 0 \text{ at init}.

    Padding keeps the spatial size (``kernel_size // 2``, odd kernels).

    Args:
        in_channels: ``C_in``.
        out_channels: ``C_out``.
        kernel_size: odd square kernel size.
        gain: :math:`\sqrt 2` before a (leaky) ReLU, 1 before a linear output.
        bias: whether to add a bias.

    Maps ``(B, C_in, H, W)`` to ``(B, C_out, H, W)``.

    Example:
        >>> import torch
        >>> from contradistinct.backbones import EqualizedConv2d
        >>> conv = EqualizedConv2d(8, 4, 3)
        >>> conv(torch.randn(2, 8, 5, 5)).shape
        torch.Size([2, 4, 5, 5])
        >>> round(conv.scale, 4) == round(2**0.5 / (8 * 9) ** 0.5, 4)
        True
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        gain: float = math.sqrt(2.0),
        bias: bool = True,
    ) -> None:
        super().__init__()
        check_positive_int(in_channels, "in_channels")
        check_positive_int(out_channels, "out_channels")
        check_positive_int(kernel_size, "kernel_size")
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = check_positive(gain, "gain") / math.sqrt(in_channels * kernel_size**2)
        self.padding = kernel_size // 2

    def forward(self, x: Tensor) -> Tensor:
        in_channels = self.weight.shape[1]
        x = check_rank(x, "x", 4, f"(B, {in_channels}, H, W)")
        if x.shape[1] != in_channels:
            raise ValueError(f"x must have shape (B, {in_channels}, H, W), got {tuple(x.shape)}")
        check_module_device(x, "x", self.weight, "EqualizedConv2d")
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)

    def extra_repr(self) -> str:
        out_channels, in_channels, kernel, _ = self.weight.shape
        return f"{in_channels}, {out_channels}, kernel_size={kernel}, scale={self.scale:.4g}"


class EqualizedLinear(nn.Module):
    r"""Linear layer with an equalised learning rate (ProGAN Section 4.1).

    .. math::

        y = x\, (c\, W)^\top + b, \qquad c = \text{gain} / \sqrt{\text{in\_features}},
        \quad W_{ij} \sim \mathcal N(0, 1).

    Args:
        in_features: ``D_in``.
        out_features: ``D_out``.
        gain: :math:`\sqrt 2` before a (leaky) ReLU, 1 before a linear output.
        bias: whether to add a bias (zero at init).

    Maps ``(B, D_in)`` to ``(B, D_out)``.

    Example:
        >>> import torch
        >>> from contradistinct.backbones import EqualizedLinear
        >>> EqualizedLinear(16, 3, gain=1.0)(torch.randn(5, 16)).shape
        torch.Size([5, 3])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        gain: float = math.sqrt(2.0),
        bias: bool = True,
    ) -> None:
        super().__init__()
        check_positive_int(in_features, "in_features")
        check_positive_int(out_features, "out_features")
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.scale = check_positive(gain, "gain") / math.sqrt(in_features)

    def forward(self, x: Tensor) -> Tensor:
        in_features = self.weight.shape[1]
        x = check_min_rank(x, "x", 1)
        if x.shape[-1] != in_features:
            raise ValueError(f"x must have shape (*, {in_features}), got {tuple(x.shape)}")
        check_module_device(x, "x", self.weight, "EqualizedLinear")
        return F.linear(x, self.weight * self.scale, self.bias)

    def extra_repr(self) -> str:
        out_features, in_features = self.weight.shape
        return f"{in_features}, {out_features}, scale={self.scale:.4g}"
