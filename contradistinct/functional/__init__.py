"""Pure functions on tensors: every loss of the library exists here first."""

from contradistinct.functional.gaussian import gaussian_kl, reparameterize
from contradistinct.functional.introspective import (
    exp_elbo,
    intro_vae_decoder_loss,
    intro_vae_encoder_loss,
    negative_elbo,
    soft_intro_decoder_loss,
    soft_intro_encoder_loss,
)
from contradistinct.functional.pga import (
    hypersphere_noise,
    latent_reconstruction_loss,
    pga_decoder_nll,
    pga_encoder_nll,
    pga_vae_loss,
)
from contradistinct.functional.reconstruction import reconstruction_loss

__all__ = [
    "exp_elbo",
    "gaussian_kl",
    "hypersphere_noise",
    "intro_vae_decoder_loss",
    "intro_vae_encoder_loss",
    "latent_reconstruction_loss",
    "negative_elbo",
    "pga_decoder_nll",
    "pga_encoder_nll",
    "pga_vae_loss",
    "reconstruction_loss",
    "reparameterize",
    "soft_intro_decoder_loss",
    "soft_intro_encoder_loss",
]
