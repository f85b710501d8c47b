"""Pure functions on tensors: every loss of the library exists here first."""

from contradistinct.functional.adversarial import (
    discriminator_loss,
    fake_term,
    generator_loss,
    real_term,
)
from contradistinct.functional.contrastive import contrastive_accuracy, info_nce, info_nce_logits
from contradistinct.functional.gaussian import gaussian_kl, reparameterize
from contradistinct.functional.penalties import gradient_penalty, r1_penalty
from contradistinct.functional.reconstruction import reconstruction_loss

__all__ = [
    "contrastive_accuracy",
    "discriminator_loss",
    "fake_term",
    "gaussian_kl",
    "generator_loss",
    "gradient_penalty",
    "info_nce",
    "info_nce_logits",
    "r1_penalty",
    "real_term",
    "reconstruction_loss",
    "reparameterize",
]
