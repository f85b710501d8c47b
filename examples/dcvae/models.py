"""The networks of a run: encoder, decoder, discriminator, and the contrastive heads on its taps.

``--backbone`` picks a builder from :data:`BACKBONES`; everything else is read from the networks
it returns, which follow the conventions of :mod:`contradistinct.backbones`:

* calls: ``encoder(x, alpha)``, ``decoder(z, resolution, alpha)``, ``discriminator(x, alpha)``;
* growth: the discriminator's ``resolutions`` (one for AutoGAN-32, ``4 ... --resolution`` for
  ProGAN) give the :class:`~contradistinct.backbones.ProgressiveSchedule` of the run;
* layers: ``discriminator.taps(resolution)`` (a
  :class:`~contradistinct.backbones.DiscriminatorTaps`) gives the layers contrasted by default,
  the feature layer of VAE/GAN (DC-VAE Eq. 3) and the layers that run at each resolution.

Adding a backbone is adding a builder to :data:`BACKBONES`: a function of the config and the
image channels returning a :class:`Backbone` of networks that follow those conventions.

The contrastive part (:func:`build_contrastive`) is one head and one queue of real negatives per
contrasted layer (DC-VAE Eq. 6 per scale, weights ``1/n``, §4.2), in a
:class:`~contradistinct.MultiScaleContrastive` used inside :class:`~contradistinct.IELBO`
(Eq. 8):

* a ``(B, C, H, W)`` layer gets a :class:`~contradistinct.DeepSupervisionHead` (1×1 conv to one
  channel, flatten, linear), a ``(B, C)`` layer a :class:`~contradistinct.ProjectionHead` (sum
  pooling, bias-free linear, spectrally normalised as in the authors' code,
  github.com/mlpc-ucsd/DC-VAE ``models/models_32.py``);
* with ``--shared-head`` (AutoGAN) the discriminator's logit is computed from its own
  ``embed_dim`` projection of the pooled features, and that projection (the tap
  ``"embedding"``, the authors' ``"final"``) is the last contrasted scale, with no head of its
  own: the set-level and the instance-level losses train the same projection, as in the
  authors' ``DualEncoder``;
* the queues start as ``--queue-init`` says (``"random"``: full of random unit vectors, as the
  authors' ``train.py`` starts them);
* ``--local-patch-after N`` adds a :class:`~contradistinct.LocalPatchHead` on the first
  contrasted layer from step ``N`` on (§4.2), under the name ``"<layer>/patch"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from contradistinct import (
    DeepSupervisionHead,
    FeatureTaps,
    LocalPatchHead,
    MultiScaleContrastive,
    ProjectionHead,
)
from contradistinct.backbones import (
    AutoGANDecoder,
    AutoGANDiscriminator,
    AutoGANEncoder,
    DiscriminatorTaps,
    GrowthState,
    ProGANDecoder,
    ProGANDiscriminator,
    ProGANEncoder,
    ProgressiveSchedule,
)
from contradistinct.metrics import evaluation_mode, linear_probe_accuracy

if TYPE_CHECKING:
    from config import Config

PATCH = "/patch"


class Backbone(NamedTuple):
    """The three networks of a backbone, built in this order (the order draws their weights).

    ``contrast`` overrides the discriminator's ``taps().contrast`` as the layers contrasted by
    default; ``embeddings`` lists the tapped layers whose output already is a contrastive
    embedding of ``--embed-dim`` (a shared head), contrasted with no head of their own.
    """

    encoder: nn.Module
    decoder: nn.Module
    discriminator: nn.Module
    contrast: tuple[str, ...] | None = None
    embeddings: tuple[str, ...] = ()


def autogan(config: Config, channels: int) -> Backbone:
    """DC-VAE's 32×32 networks (§5.1); ``--width`` and ``--decoder-width`` set their widths.

    With ``--shared-head`` the contrasted scales are the authors' ``layers = ["b1", "final"]``
    (github.com/mlpc-ucsd/DC-VAE ``train.py``): the first block and the shared embedding.
    """
    if config.resolution not in AutoGANDiscriminator.resolutions:
        raise ValueError(
            f"the AutoGAN-32 backbone trains at --resolution 32, got {config.resolution}"
        )
    discriminator = AutoGANDiscriminator(
        config.width,
        in_channels=channels,
        shared_head=config.shared_head,
        embed_dim=config.embed_dim,
    )
    networks = (
        AutoGANEncoder(config.latent_dim, config.width, in_channels=channels),
        AutoGANDecoder(config.latent_dim, config.decoder_width, out_channels=channels),
        discriminator,
    )
    if config.shared_head:
        return Backbone(*networks, contrast=("block1", "embedding"), embeddings=("embedding",))
    return Backbone(*networks)


def progan(config: Config, channels: int) -> Backbone:
    """The Progressive GAN networks up to ``--resolution``, ``--width`` channels at most."""
    if config.shared_head:
        raise ValueError(
            "--shared-head needs a discriminator whose logit can read the contrastive embedding "
            "(--backbone autogan); the ProGAN discriminator has no shared head"
        )
    # channel_base = 32 × width keeps ProGAN's "max width up to 32×32, then halve".
    sizes = dict(channel_base=32 * config.width, max_channels=config.width)
    return Backbone(
        ProGANEncoder(config.latent_dim, config.resolution, in_channels=channels, **sizes),
        ProGANDecoder(config.latent_dim, config.resolution, out_channels=channels, **sizes),
        ProGANDiscriminator(config.resolution, in_channels=channels, **sizes),
    )


#: ``--backbone`` name → builder.
BACKBONES: dict[str, Callable[[Config, int], Backbone]] = {"autogan": autogan, "progan": progan}


class Networks(nn.Module):
    """Encoder, decoder and discriminator of a run, called at a growth state.

    Attributes:
        schedule: the growth schedule over the discriminator's resolutions (a fixed state for a
            backbone with one resolution).
        taps: the discriminator's layers at its full resolution, with their DC-VAE roles.
        default_contrast: the backbone's default contrasted layers when they are not
            ``taps.contrast`` (``None`` otherwise).
        embeddings: the layers contrasted as they are (see :class:`Backbone`).
    """

    def __init__(self, config: Config, channels: int) -> None:
        super().__init__()
        backbone = BACKBONES[config.backbone](config, channels)
        self.encoder, self.decoder, self.discriminator = backbone[:3]
        self.default_contrast = backbone.contrast
        self.embeddings = backbone.embeddings
        self.channels = channels
        self.latent_dim = config.latent_dim
        resolutions: tuple[int, ...] = self.discriminator.resolutions
        self.resolution = resolutions[-1]
        # --start-resolution is about growing: a backbone with one resolution has nothing to grow.
        growing = len(resolutions) > 1
        start = (config.start_resolution if growing else None) or resolutions[0]
        if start not in resolutions:
            raise ValueError(
                f"--start-resolution must be one of the resolutions {resolutions} of the "
                f"{config.backbone} discriminator, got {start}"
            )
        self.schedule = ProgressiveSchedule(
            self.resolution,
            start_resolution=start,
            fade_images=config.fade_images,
            stabilize_images=config.stabilize_images,
        )
        self.taps: DiscriminatorTaps = self.discriminator.taps()

    def growth(self, images_seen: int) -> GrowthState:
        """The resolution and fade-in weight after ``images_seen`` training images."""
        return self.schedule(images_seen)

    def encode(self, x: Tensor, growth: GrowthState) -> tuple[Tensor, Tensor]:
        return self.encoder(x, growth.alpha)

    def decode(self, z: Tensor, growth: GrowthState, decoder: nn.Module | None = None) -> Tensor:
        decoder = self.decoder if decoder is None else decoder
        return decoder(z, growth.resolution, growth.alpha)

    def critic(self, x: Tensor, growth: GrowthState, critic: nn.Module | None = None) -> Tensor:
        """Logits ``(B,)`` of ``x`` by the discriminator (or by ``critic``, its momentum copy)."""
        critic = self.discriminator if critic is None else critic
        return critic(x, growth.alpha).flatten()

    def tapped_critic(
        self, x: Tensor, growth: GrowthState, layers: list[str], critic: nn.Module | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Logits ``(B,)`` of ``x`` and the outputs of ``layers`` of the critic, in one pass.

        A name ``"<layer>/patch"`` reads the output of ``<layer>`` (the local-patch scale).
        """
        critic = self.discriminator if critic is None else critic
        tapped = list(dict.fromkeys(name.removesuffix(PATCH) for name in layers))
        with FeatureTaps(critic, tapped) as recorder:
            logits = self.critic(x, growth, critic)
            features = recorder.features()
        return logits, {name: features[name.removesuffix(PATCH)] for name in layers}

    def contrast_layers(self, layers: list[str] | None, local_patch_after: int | None) -> list[str]:
        """The contrasted layers: ``layers`` (or the backbone's defaults), then a patch scale.

        Raises:
            ValueError: a layer of the discriminator does not run at the first resolution of the
                growth, so it has no features to contrast there.
        """
        chosen = list(layers or self.default_contrast or self.taps.contrast)
        start = self.discriminator.taps(self.schedule.start_resolution).names
        late = [name for name in chosen if name in self.taps.names and name not in start]
        if late:
            raise ValueError(
                f"--layers {late} do not run at the first resolution of the growth "
                f"({self.schedule.start_resolution}); layers that do: {start}"
            )
        if local_patch_after is not None:
            chosen.append(chosen[0] + PATCH)
        return chosen


def build_contrastive(
    config: Config, networks: Networks, layers: list[str]
) -> MultiScaleContrastive:
    """One head and one queue per contrasted layer, sized by a probe pass at full resolution."""
    probe = torch.zeros(2, networks.channels, networks.resolution, networks.resolution)
    with torch.no_grad():
        _, features = networks.tapped_critic(probe, GrowthState(networks.resolution, 1.0), layers)
    heads: dict[str, nn.Module] = {}
    for name, feature in features.items():
        if name in networks.embeddings:
            heads[name] = nn.Identity()
        elif name.endswith(PATCH):
            if feature.ndim != 4:
                raise ValueError(f"--local-patch-after needs a spatial first layer, not {name}")
            heads[name] = LocalPatchHead(feature.shape[1], config.embed_dim)
        elif feature.ndim == 4:
            heads[name] = DeepSupervisionHead(
                feature.shape[1],
                config.embed_dim,
                spatial_size=(feature.shape[2], feature.shape[3]),
            )
        else:
            head = ProjectionHead(feature.shape[1], config.embed_dim)
            spectral_norm(head.linear)
            heads[name] = head
    start = {layers[-1]: config.local_patch_after} if config.local_patch_after is not None else None
    # Keys through momentum copies of the heads, as the authors' heads sit inside D's copy.
    return MultiScaleContrastive(
        heads,
        config.queue_size,
        config.temperature,
        start_steps=start,
        dim=config.embed_dim,
        queue_init=config.queue_init,
        key_momentum=config.momentum,
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


def linear_probe(
    networks: Networks, images: Tensor, labels: Tensor, growth: GrowthState
) -> dict[str, float]:
    """DC-VAE Table 6 on a run: a linear classifier on the encoder's posterior means.

    :func:`~contradistinct.metrics.linear_probe_accuracy` (5 trials, 95 % interval) trains on
    the means of four images in five and tests on every fifth (the split of
    ``examples/digits_classifier.py``). The digits have no held-out set, so the autoencoder saw
    every image; only the classifier's test images are new to the classifier.

    Args:
        networks: the run's networks; only the encoder is used, in eval mode.
        images: ``(N, C, R, R)`` images at the full resolution.
        labels: ``(N,)`` their classes.
        growth: the growth state to encode at.

    Returns:
        ``probe_accuracy`` (the mean test accuracy) and ``probe_interval`` (the half-width of
        its 95 % interval).
    """
    with evaluation_mode(networks.encoder), torch.no_grad():
        means = torch.cat(
            [networks.encode(real_at(batch, growth), growth)[0] for batch in images.split(256)]
        )
    held = torch.arange(len(images), device=means.device) % 5 == 0
    labels = labels.to(means.device)
    result = linear_probe_accuracy(means[~held], labels[~held], means[held], labels[held])
    return {"probe_accuracy": result.accuracy, "probe_interval": result.confidence_interval}
