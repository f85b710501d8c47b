"""Ready-made networks: AutoGAN-32 and Progressive GAN encoders, decoders and discriminators.

One calling convention for all of them, ``encoder(x, alpha)``, ``decoder(z, resolution, alpha)``
and ``discriminator(x, alpha)``, with ``resolutions`` listing the resolutions each one runs at,
and one tap API: ``net.taps(resolution)`` returns the qualified submodule names whose outputs a
forward hook (``contradistinct.FeatureTaps``) can capture at that resolution (:class:`Taps`);
a discriminator's :class:`DiscriminatorTaps` also names the layers DC-VAE contrasts and the layer
of VAE/GAN's feature reconstruction.
"""

from contradistinct.backbones.autogan import (
    AutoGANDecoder,
    AutoGANDiscriminator,
    AutoGANEncoder,
)
from contradistinct.backbones.layers import (
    EqualizedConv2d,
    EqualizedLinear,
    MinibatchStdDev,
    PixelNorm,
    minibatch_stddev,
    pixel_norm,
)
from contradistinct.backbones.progan import (
    ProGANDecoder,
    ProGANDiscriminator,
    ProGANEncoder,
    progan_channels,
)
from contradistinct.backbones.schedule import GrowthState, ProgressiveSchedule
from contradistinct.backbones.taps import DiscriminatorTaps, Taps

__all__ = [
    "AutoGANDecoder",
    "AutoGANDiscriminator",
    "AutoGANEncoder",
    "DiscriminatorTaps",
    "EqualizedConv2d",
    "EqualizedLinear",
    "GrowthState",
    "MinibatchStdDev",
    "PixelNorm",
    "ProGANDecoder",
    "ProGANDiscriminator",
    "ProGANEncoder",
    "ProgressiveSchedule",
    "Taps",
    "minibatch_stddev",
    "pixel_norm",
    "progan_channels",
]
