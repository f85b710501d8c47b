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

__all__ = [
    "AutoGANDecoder",
    "AutoGANDiscriminator",
    "AutoGANEncoder",
    "EqualizedConv2d",
    "EqualizedLinear",
    "MinibatchStdDev",
    "PixelNorm",
    "minibatch_stddev",
    "pixel_norm",
]
