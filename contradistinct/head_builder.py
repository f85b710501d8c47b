"""Contrastive heads sized from one example batch: list a network's layers, build their heads."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from contradistinct._wrappers import unwrap
from contradistinct.critic import Critic, probability_layer
from contradistinct.heads import DeepSupervisionHead, ProjectionHead


class LayerCandidate(NamedTuple):
    """One layer of a network that ran on the example batch, with what its output would take."""

    name: str
    """Qualified name, as in ``named_modules()``: what :class:`~contradistinct.Critic` takes."""
    module: str
    """The layer's class name, e.g. ``"Linear"``."""
    shape: tuple[int, ...]
    """Its output shape on the example batch (the last output if it ran more than once)."""
    head: str
    """The head :func:`build_heads` gives it: ``"DeepSupervisionHead"`` for a ``(B, C, H, W)``
    map, ``"ProjectionHead"`` for a ``(B, F)`` vector, ``""`` for other shapes and for
    probabilities."""
    probability: bool
    """Whether the module types show its output to be a probability (a ``Sigmoid``/``Softmax``
    or a ``Sequential`` ending in one): not a logit."""

    def __str__(self) -> str:
        note = "  (a probability, not a logit)" if self.probability else ""
        return f"{self.name:<20} {self.module:<12} {self.shape!s:<18} {self.head or '-'}{note}"


def candidate_layers(module: nn.Module, *inputs: Any, **kwargs: Any) -> list[LayerCandidate]:
    """Run ``module`` once on an example batch and list every layer that ran, with its shape.

    The pass runs under ``no_grad`` in eval mode (no batch-norm statistics or spectral-norm
    vectors move) and every training flag is restored afterwards. Layers are listed in the
    order of ``named_modules()``; those that did not run, or returned something other than a
    tensor, are left out, containers such as ``ModuleList`` included (the network calls their
    elements, never them), so every name listed can be tapped.

    Args:
        module: the discriminator, or a :class:`~contradistinct.Critic` (its discriminator's
            layers are listed).
        inputs: the example batch (and any further positional arguments of ``forward``); two
            samples suffice.
        kwargs: keyword arguments of ``forward``.

    Returns:
        A list of :class:`LayerCandidate`; ``print`` each for a table.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from contradistinct import candidate_layers
        >>> disc = nn.Sequential(nn.Conv2d(1, 4, 3, 2, 1), nn.Flatten(), nn.Linear(64, 1))
        >>> for layer in candidate_layers(disc, torch.zeros(2, 1, 8, 8)):
        ...     print(layer)
        0                    Conv2d       (2, 4, 4, 4)       DeepSupervisionHead
        1                    Flatten      (2, 64)            ProjectionHead
        2                    Linear       (2, 1)             ProjectionHead
    """
    network = module.discriminator if isinstance(module, Critic) else module
    if not isinstance(network, nn.Module):
        raise TypeError(f"module must be an nn.Module or a Critic, got {type(module).__name__}")
    root = unwrap(network)
    named = [(name, layer) for name, layer in root.named_modules() if name]
    shapes: dict[str, tuple[int, ...]] = {}
    handles = [layer.register_forward_hook(_shape_recorder(name, shapes)) for name, layer in named]
    try:
        with _example_pass(root):
            network(*inputs, **kwargs)
    finally:
        for handle in handles:
            handle.remove()
    return [
        LayerCandidate(
            name,
            type(layer).__name__,
            shapes[name],
            "" if probability else _head_kind(shapes[name]),
            probability,
        )
        for name, layer in named
        if name in shapes
        for probability in [probability_layer(layer, name) is not None]
    ]


def build_heads(
    critic: Critic, *inputs: Any, dim: int = 16, reduced_channels: int = 1, **kwargs: Any
) -> dict[str, nn.Module]:
    r"""One contrastive head per feature layer of ``critic``, sized by one example batch.

    A ``(B, C, H, W)`` map gets a :class:`~contradistinct.DeepSupervisionHead` (DC-VAE §4.2:
    :math:`1\times1` convolution to one channel, flatten, linear to ``dim``) with its
    ``spatial_size`` set, so it can have a momentum copy
    (``MultiScaleContrastive(..., key_momentum=m)``); a ``(B, F)`` vector gets a
    :class:`~contradistinct.ProjectionHead` (a bias-free linear layer, the authors' head of the
    last layer). Another shape is refused with its layer's name: give that layer a head of your
    own. The heads are created on the example's device; the pass is the one of
    :func:`candidate_layers` (``no_grad``, eval mode, flags restored).

    Args:
        critic: the :class:`~contradistinct.Critic` whose ``features`` need heads.
        inputs: the example batch (and any further positional arguments of ``forward``).
        dim: the embedding size ``D`` of every head (16 in the paper).
        reduced_channels: the channels ``r`` a deep-supervision head reduces a map to (1 in
            the authors' code; more keep more of a small map).
        kwargs: keyword arguments of the discriminator's ``forward``.

    Returns:
        Layer name → head, in the order of ``critic.features``: the ``heads`` argument of
        :class:`~contradistinct.MultiScaleContrastive`.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from contradistinct import Critic, build_heads
        >>> disc = nn.Sequential(nn.Conv2d(1, 4, 3, 2, 1), nn.Flatten(), nn.Linear(64, 1))
        >>> heads = build_heads(Critic(disc, features=["0", "1"]), torch.zeros(2, 1, 8, 8))
        >>> heads["0"]
        DeepSupervisionHead(
          in_channels=4, dim=16, reduced_channels=1, spatial_size=(4, 4)
          (reduce): Conv2d(4, 1, kernel_size=(1, 1), stride=(1, 1))
          (linear): Linear(in_features=16, out_features=16, bias=False)
        )
        >>> heads["1"]
        ProjectionHead(
          in_features=64, dim=16, pool='sum'
          (linear): Linear(in_features=64, out_features=16, bias=False)
        )
    """
    if not isinstance(critic, Critic):
        raise TypeError(
            f"critic must be a Critic (cd.Critic(discriminator, logit=..., features=[...])), got "
            f"{type(critic).__name__}"
        )
    with _example_pass(critic):
        features = critic(*inputs, **kwargs).features
    heads: dict[str, nn.Module] = {}
    for name, feature in features.items():
        shape = tuple(feature.shape)
        if feature.ndim == 4:
            head: nn.Module = DeepSupervisionHead(
                shape[1], dim, reduced_channels, spatial_size=shape[2:]
            )
        elif feature.ndim == 2:
            head = ProjectionHead(shape[1], dim)
        else:
            raise ValueError(
                f"layer {name!r} outputs shape {shape}: build_heads sizes heads for (B, C, H, W) "
                "maps and (B, F) vectors; give this layer a head of your own (any module "
                "mapping its output to (B, D))"
            )
        heads[name] = head.to(feature.device)
    return heads


def _head_kind(shape: tuple[int, ...]) -> str:
    return {4: DeepSupervisionHead.__name__, 2: ProjectionHead.__name__}.get(len(shape), "")


def _shape_recorder(
    name: str, shapes: dict[str, tuple[int, ...]]
) -> Callable[[nn.Module, tuple[object, ...], object], None]:
    def record(module: nn.Module, inputs: tuple[object, ...], output: object) -> None:
        if isinstance(output, Tensor):
            shapes[name] = tuple(output.shape)

    return record


@contextlib.contextmanager
def _example_pass(module: nn.Module) -> Iterator[None]:
    """``no_grad`` and eval mode for an example pass, restoring every module's training flag."""
    modes = [(layer, layer.training) for layer in module.modules()]
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for layer, training in modes:
            layer.training = training


__all__ = ["LayerCandidate", "build_heads", "candidate_layers"]
