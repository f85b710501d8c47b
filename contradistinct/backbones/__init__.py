"""Ready-made networks: AutoGAN-32 and Progressive GAN encoders, decoders and discriminators.

Every network documents its tap names: qualified submodule names whose outputs a forward hook
(``contradistinct.FeatureTaps``) can capture for the multi-scale contrastive heads.
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

__all__ = [
    "AutoGANDecoder",
    "AutoGANDiscriminator",
    "AutoGANEncoder",
    "EqualizedConv2d",
    "EqualizedLinear",
    "GrowthState",
    "MinibatchStdDev",
    "PixelNorm",
    "ProGANDecoder",
    "ProGANDiscriminator",
    "ProGANEncoder",
    "ProgressiveSchedule",
    "minibatch_stddev",
    "pixel_norm",
    "progan_channels",
]
