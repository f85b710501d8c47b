"""Pure functions on tensors: every loss of the library exists here first."""

from contradistinct.functional.adversarial import (
    discriminator_loss,
    fake_term,
    generator_loss,
    real_term,
)
from contradistinct.functional.contrastive import contrastive_accuracy, info_nce, info_nce_logits
from contradistinct.functional.gaussian import gaussian_kl, reparameterize
from contradistinct.functional.introspective import (
    ReencodedBatch,
    exp_elbo,
    intro_vae_decoder_loss,
    intro_vae_encoder_loss,
    negative_elbo,
    soft_intro_decoder_loss,
    soft_intro_encoder_loss,
)
from contradistinct.functional.penalties import gradient_penalty, r1_penalty
from contradistinct.functional.pga import (
    hypersphere_noise,
    latent_reconstruction_loss,
    pga_decoder_nll,
    pga_encoder_nll,
    pga_vae_loss,
)
from contradistinct.functional.reconstruction import reconstruction_loss

__all__ = [
    "ReencodedBatch",
    "contrastive_accuracy",
    "discriminator_loss",
    "exp_elbo",
    "fake_term",
    "gaussian_kl",
    "generator_loss",
    "gradient_penalty",
    "hypersphere_noise",
    "info_nce",
    "info_nce_logits",
    "intro_vae_decoder_loss",
    "intro_vae_encoder_loss",
    "latent_reconstruction_loss",
    "negative_elbo",
    "pga_decoder_nll",
    "pga_encoder_nll",
    "pga_vae_loss",
    "r1_penalty",
    "real_term",
    "reconstruction_loss",
    "reparameterize",
    "soft_intro_decoder_loss",
    "soft_intro_encoder_loss",
]
