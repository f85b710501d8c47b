"""The encoder, decoder and discriminator of a run, from ``contradistinct.backbones``.

``autogan``: the AutoGAN-32 networks of DC-VAE at 32×32 (the ``digits`` preset uses them at
reduced widths with one channel). ``progan``: the Progressive GAN networks, grown by
:class:`~contradistinct.backbones.ProgressiveSchedule` from 4×4 to ``--resolution``.
:class:`Networks` hides the difference: every call takes the current growth state.
"""

from __future__ import annotations

import torch.nn.functional as F
from config import Config
from torch import Tensor, nn

from contradistinct.backbones import (
    AutoGANDecoder,
    AutoGANDiscriminator,
    AutoGANEncoder,
    GrowthState,
    ProGANDecoder,
    ProGANDiscriminator,
    ProGANEncoder,
    ProgressiveSchedule,
)


class Networks(nn.Module):
    """Encoder, decoder and discriminator, called at a growth state (ignored by AutoGAN)."""

    def __init__(self, config: Config, channels: int) -> None:
        super().__init__()
        self.progressive = config.backbone == "progan"
        self.encoder: nn.Module
        self.decoder: nn.Module
        self.discriminator: nn.Module
        if self.progressive:
            # channel_base = 32 × width keeps ProGAN's "max width up to 32×32, then halve".
            sizes = dict(channel_base=32 * config.width, max_channels=config.width)
            self.encoder = ProGANEncoder(
                config.latent_dim, config.resolution, in_channels=channels, **sizes
            )
            self.decoder = ProGANDecoder(
                config.latent_dim, config.resolution, out_channels=channels, **sizes
            )
            self.discriminator = ProGANDiscriminator(
                config.resolution, in_channels=channels, **sizes
            )
        else:
            self.encoder = AutoGANEncoder(config.latent_dim, config.width, in_channels=channels)
            self.decoder = AutoGANDecoder(
                config.latent_dim, config.decoder_width, out_channels=channels
            )
            self.discriminator = AutoGANDiscriminator(config.width, in_channels=channels)
        self.channels = channels
        self.latent_dim = config.latent_dim
        self.resolution = config.resolution

    def encode(self, x: Tensor, growth: GrowthState) -> tuple[Tensor, Tensor]:
        if self.progressive:
            return self.encoder(x, alpha=growth.alpha)
        return self.encoder(x)

    def decode(self, z: Tensor, growth: GrowthState, decoder: nn.Module | None = None) -> Tensor:
        decoder = self.decoder if decoder is None else decoder
        if self.progressive:
            return decoder(z, resolution=growth.resolution, alpha=growth.alpha)
        return decoder(z)

    def critic(self, x: Tensor, growth: GrowthState, critic: nn.Module | None = None) -> Tensor:
        critic = self.discriminator if critic is None else critic
        if self.progressive:
            return critic(x, alpha=growth.alpha).flatten()
        return critic(x).flatten()


def growth_schedule(config: Config) -> ProgressiveSchedule | None:
    if config.backbone != "progan":
        return None
    return ProgressiveSchedule(
        config.resolution,
        start_resolution=config.start_resolution or 4,
        fade_images=config.fade_images,
        stabilize_images=config.stabilize_images,
    )


def real_at(x: Tensor, growth: GrowthState) -> Tensor:
    """Real images at the growth state: downsampled, and faded in as the decoder's output is."""
    if growth.resolution == x.shape[-1]:
        return x
    factor = x.shape[-1] // growth.resolution
    small = F.avg_pool2d(x, factor)
    if growth.alpha == 1.0:
        return small
    coarse = F.interpolate(F.avg_pool2d(small, 2), scale_factor=2, mode="nearest")
    return coarse.lerp(small, growth.alpha)
