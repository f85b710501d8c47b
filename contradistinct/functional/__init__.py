"""Pure functions on tensors: every loss of the library exists here first."""

from contradistinct.functional.gaussian import gaussian_kl, reparameterize
from contradistinct.functional.reconstruction import reconstruction_loss

__all__ = ["gaussian_kl", "reconstruction_loss", "reparameterize"]
