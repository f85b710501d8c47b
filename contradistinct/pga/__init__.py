"""Perceptual generative autoencoders: match the data distribution in the latent space.

:class:`LPGALoss` (maximum likelihood, PGA Eq. 7) and :class:`VPGALoss` (VAE-based, Eq. 11).
"""

from contradistinct.pga.lpga import LPGALoss, LPGATerms
from contradistinct.pga.vpga import VPGALoss, VPGATerms

__all__ = ["LPGALoss", "LPGATerms", "VPGALoss", "VPGATerms"]
