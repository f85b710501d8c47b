"""The discriminator's features at named layers, and the multi-scale instance loss on them.

:func:`tapped_critic` runs the discriminator (or its momentum copy) once under
:class:`~contradistinct.FeatureTaps` and returns its logits with the outputs of the named layers;
:func:`build_contrastive` builds the :class:`~contradistinct.MultiScaleContrastive` module that
turns query and key features into the InfoNCE loss of DC-VAE Eq. 6 (one queue of real negatives
per scale, weights ``1/n``), used inside :class:`~contradistinct.IELBO` (Eq. 8):

* a ``(B, C, H, W)`` layer gets a :class:`~contradistinct.DeepSupervisionHead` (1×1 conv to one
  channel, flatten, linear), a ``(B, C)`` layer a :class:`~contradistinct.ProjectionHead` (sum
  pooling, bias-free linear, spectrally normalised as in the authors' code);
* ``--local-patch-after N`` adds a :class:`~contradistinct.LocalPatchHead` on the first spatial
  layer from step ``N`` on (DC-VAE §4.2), under the name ``"<layer>/patch"``.
"""

from __future__ import annotations

import torch
from config import Config, default_layers
from models import Networks
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from contradistinct import (
    DeepSupervisionHead,
    FeatureTaps,
    LocalPatchHead,
    MultiScaleContrastive,
    ProjectionHead,
)
from contradistinct.backbones import GrowthState

PATCH = "/patch"


def tapped_critic(
    networks: Networks,
    x: Tensor,
    growth: GrowthState,
    layers: list[str],
    critic: nn.Module | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Logits ``(B,)`` of ``x`` and the outputs of ``layers`` of the critic, in one pass.

    A name ``"<layer>/patch"`` reads the output of ``<layer>`` (the local-patch scale).
    """
    critic = networks.discriminator if critic is None else critic
    tapped = list(dict.fromkeys(name.removesuffix(PATCH) for name in layers))
    with FeatureTaps(critic, tapped) as taps:
        logits = networks.critic(x, growth, critic)
        features = taps.features()
    return logits, {name: features[name.removesuffix(PATCH)] for name in layers}


def contrast_layers(config: Config) -> list[str]:
    """The contrasted layers: ``--layers`` (or the backbone's defaults), then a patch scale."""
    layers = list(config.layers or default_layers(config.backbone))
    if config.local_patch_after is not None:
        layers.append(layers[0] + PATCH)
    return layers


def build_contrastive(config: Config, networks: Networks) -> MultiScaleContrastive:
    """One head and one queue per contrasted layer, sized by a probe pass at full resolution."""
    layers = contrast_layers(config)
    channels = networks.channels
    probe = torch.zeros(2, channels, config.resolution, config.resolution)
    with torch.no_grad():
        _, features = tapped_critic(networks, probe, GrowthState(config.resolution, 1.0), layers)
    heads: dict[str, nn.Module] = {}
    for name, feature in features.items():
        if name.endswith(PATCH):
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
        key_momentum=config.momentum,
    )
