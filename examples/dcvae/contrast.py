"""The discriminator's features at named layers, and the instance loss built on them.

:func:`tapped_critic` runs the discriminator (or its momentum copy) once and returns its logits
together with the outputs of the named layers; :func:`build_contrastive` builds the module that
turns query and key features into the InfoNCE loss of DC-VAE Eq. 6 against a queue of real
negatives, for use inside :class:`~contradistinct.IELBO` (Eq. 8).
"""

from __future__ import annotations

from config import Config
from models import Networks
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from contradistinct import InstanceLoss
from contradistinct.backbones import GrowthState


def tapped_critic(
    networks: Networks,
    x: Tensor,
    growth: GrowthState,
    layers: list[str],
    critic: nn.Module | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Logits ``(B,)`` of ``x`` and the outputs of ``layers`` of the critic, in one pass."""
    critic = networks.discriminator if critic is None else critic
    modules = dict(critic.named_modules())
    missing = [name for name in layers if name not in modules]
    if missing:
        raise ValueError(f"unknown discriminator layers {missing}; available: {sorted(modules)}")
    features: dict[str, Tensor] = {}
    handles = [
        modules[name].register_forward_hook(
            lambda _module, _inputs, output, name=name: features.__setitem__(name, output)
        )
        for name in layers
    ]
    try:
        logits = networks.critic(x, growth, critic)
    finally:
        for handle in handles:
            handle.remove()
    return logits, features


class PooledContrastive(nn.Module):
    """InfoNCE on the discriminator's pooled features through a bias-free linear head.

    The authors' final-layer scale: a spectrally-normalised ``Linear(C → dim)`` without bias.
    """

    def __init__(self, layer: str, in_features: int, config: Config) -> None:
        super().__init__()
        self.layer = layer
        self.head = spectral_norm(nn.Linear(in_features, config.embed_dim, bias=False))
        self.instance = InstanceLoss(config.embed_dim, config.queue_size, config.temperature)

    @property
    def accuracy(self) -> Tensor:
        return self.instance.accuracy

    def forward(
        self, query: dict[str, Tensor], key: dict[str, Tensor], step: int | None = None
    ) -> Tensor:
        return self.instance(self.head(query[self.layer]), self.head(key[self.layer]))


def contrast_layers(config: Config) -> list[str]:
    return ["pool"] if config.backbone == "autogan" else ["features"]


def build_contrastive(config: Config, networks: Networks) -> nn.Module:
    """The contrastive module over :func:`contrast_layers`, owning heads and queues."""
    (layer,) = contrast_layers(config)
    return PooledContrastive(layer, config.width, config)
