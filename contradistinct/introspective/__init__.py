"""Introspective VAEs: the encoder scores real against generated data through its ELBO.

:class:`SoftIntroVAELoss` (soft exponential threshold), :class:`IntroVAELoss` (hard hinge) and
:func:`soft_intro_step`, the reference encoder-then-decoder update of Soft-IntroVAE.
:class:`~contradistinct.functional.ReencodedBatch`, the generated batch the Soft-IntroVAE
losses take, is importable from here too.
"""

from contradistinct.functional.introspective import ReencodedBatch
from contradistinct.introspective.intro_vae import IntroVAELoss
from contradistinct.introspective.soft_intro_vae import SoftIntroVAELoss
from contradistinct.introspective.step import SoftIntroStep, soft_intro_step

__all__ = [
    "IntroVAELoss",
    "ReencodedBatch",
    "SoftIntroStep",
    "SoftIntroVAELoss",
    "soft_intro_step",
]
