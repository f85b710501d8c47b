"""Multi-scale instance loss of DC-VAE §4.2: one InfoNCE term per tapped layer."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple, cast

import torch
from torch import Tensor, nn

from contradistinct._chance import chance_level
from contradistinct._checks import check_non_negative, check_positive_int
from contradistinct.heads import LocalPatchHead
from contradistinct.instance import InstanceLoss
from contradistinct.momentum import MomentumEncoder


class MultiScaleOutput(NamedTuple):
    """What :class:`MultiScaleContrastive` returns; every value is a device tensor."""

    loss: Tensor
    r"""The weighted total :math:`\sum_l w_l(t)\,\mathcal L_l`, a float32 scalar."""
    losses: dict[str, Tensor]
    """Per-scale InfoNCE loss, unweighted; computed at every step, also before a scale's start
    step (its weight is then 0), so a late scale can be watched before it joins."""
    accuracies: dict[str, Tensor]
    """Per-scale top-1 contrastive accuracy, computed at every step like ``losses``."""
    weights: dict[str, Tensor]
    """The weight :math:`w_l(t)` each scale received at this step; 0 before its start step."""
    accuracy: Tensor
    """Mean top-1 accuracy over the scales active at this step (0 when none is yet)."""
    chance_levels: dict[str, Tensor]
    r"""Per-scale chance level :math:`1 / (1 + N_l)`, the accuracy of guessing among the
    :math:`N_l` valid negatives of scale :math:`l` and the positive; 1 while its queue is empty
    (loss :math:`\log 1 = 0`, accuracy a trivial 1)."""
    chance_level: Tensor
    """Mean chance level over the active scales, the number to read ``accuracy`` against."""


class MultiScaleContrastive(nn.Module):
    r"""Contrast reconstructions and inputs at several layers of the discriminator (DC-VAE §4.2).

    Each scale :math:`l` has a head :math:`f_l` (:class:`~contradistinct.ProjectionHead`,
    :class:`~contradistinct.DeepSupervisionHead`, :class:`~contradistinct.LocalPatchHead` or any
    module mapping a tapped feature to ``(B, D)``) and its own
    :class:`~contradistinct.InstanceLoss` with its own queue of negatives. The loss is

    .. math::

        \mathcal L = \sum_{l} w_l(t)\,
        \mathcal L_{\text{instance}}\bigl(f_l(F^q_l), f_l(F^k_l)\bigr),
        \qquad w_l(t) = \frac{[t \ge t_l]}{|A(t)|}\ \text{by default},

    with :math:`\mathcal L_{\text{instance}}` the InfoNCE loss of Eq. 6, :math:`F^q_l` the
    layer-:math:`l` features of the reconstruction through the discriminator and :math:`F^k_l`
    those of the real input through its momentum copy. :math:`A(t)` is the set of scales active
    at step :math:`t`: the paper trains with deep supervision first and adds local patches "after
    certain iterations" (§4.2), so a scale with a start step :math:`t_l` joins when
    :math:`t \ge t_l`. The default weights :math:`1/|A(t)|` (``lambda_cont = 1 / len(layers)``
    in ``train.py`` of github.com/mlpc-ucsd/DC-VAE) always sum to one; explicit ``weights`` are
    multiplied by :math:`[t \ge t_l]` and not renormalised.

    Every call runs every scale the same way, whatever the step: each head embeds its features,
    each :class:`InstanceLoss` computes its loss and accuracy and enqueues its keys, and the
    start steps only enter through the weights, computed on the device. Nothing is read back
    to the host, there is no branch on the step, and the call compiles as one graph
    (``torch.compile(fullgraph=True)``, with ``step`` a tensor). A scale before its start step
    therefore costs its head's forward pass, contributes exactly zero to :attr:`loss
    <MultiScaleOutput.loss>` and to the gradients, and fills its queue with real keys, so it
    joins with a queue of recent negatives instead of an empty one.

    The ``state_dict`` keys every scale by its layer name (``_heads.block1.…``,
    ``_instance_losses.block1.queue.keys``; a ``.`` in a layer name is written ``:``), so a
    state loads into the scales of the same names whatever their order. Loading a state whose
    layer names differ from the module's, or one saved by contradistinct 0.1.0 (which keyed the
    scales by position, so it cannot say which head is which), is a ``ValueError`` naming the
    layers on both sides, also under ``strict=False``.

    By default keys pass through the same heads as the queries, without gradient
    (:class:`InstanceLoss` detaches them anyway). With ``key_momentum=m`` they pass through a
    :class:`~contradistinct.MomentumEncoder` copy of the heads instead, which :meth:`update`
    moves towards the online heads by :math:`\xi \leftarrow m\xi + (1 - m)\theta`: call it
    where you call the discriminator's ``MomentumEncoder.update()``. In the authors' code the
    heads sit inside the discriminator (``models/models_32.py``), so its momentum copy embeds
    the keys with momentum heads, which keeps the queued keys consistent (MoCo's reason for the
    momentum encoder). A :class:`LocalPatchHead` reads the query and key maps at the same
    locations either way. Put the parameters that require a gradient (the heads, and learnable
    temperatures) in the optimiser that minimises this loss; in the authors' code that is the
    discriminator's trunk together with the encoder and decoder.

    Each result reports the chance level :math:`1 / (1 + N_l)` of every scale beside its
    accuracy, :math:`N_l` the valid negatives its queries met: an empty queue (the first step
    with ``queue_init="empty"``) gives loss 0, accuracy 1 and chance level 1, so a log reads
    "top-1 1.00 (chance 1.00)". The module holds the heads, their momentum copy and the queues:
    move it to the device with the networks (``contrast.to(device)``); features on another
    device are refused with that fix.

    Args:
        heads: layer name → head, in the order the scales are reported.
        queue_size: negatives per scale (8192 in the paper).
        temperature: :math:`\tau` of every scale (0.07 in the paper).
        weights: layer name → :math:`w_l` for every scale; ``None`` for :math:`1/|A(t)|`.
        start_steps: layer name → :math:`t_l` for the scales that start late (others start at 0).
        dim: embedding size of every head; ``None`` reads each head's ``dim`` (or
            ``out_features``) attribute.
        learnable_temperature: passed to each :class:`InstanceLoss`.
        in_batch_negatives: passed to each :class:`InstanceLoss`.
        queue_init: passed to each :class:`InstanceLoss`.
        key_momentum: embed keys through a momentum copy of the heads with this momentum
            (0.999 in the paper), moved by :meth:`update`; ``None`` embeds them through the
            online heads. The heads' parameters must exist at construction (give a
            ``DeepSupervisionHead`` its ``spatial_size``).

    Shapes:
        ``queries`` and ``keys`` map each layer name to the features its head takes (for
        example ``(B, C, H, W)``); other entries are ignored.

    Example:
        >>> import torch
        >>> from contradistinct import DeepSupervisionHead, MultiScaleContrastive, ProjectionHead
        >>> contrast = MultiScaleContrastive(
        ...     {
        ...         "block1": DeepSupervisionHead(in_channels=8, dim=16, spatial_size=4),
        ...         "head": ProjectionHead(in_features=8, dim=16),
        ...     },
        ...     queue_size=64,
        ...     start_steps={"block1": 100},
        ...     key_momentum=0.999,
        ... )
        >>> q = {"block1": torch.randn(2, 8, 4, 4), "head": torch.randn(2, 8)}
        >>> k = {"block1": torch.randn(2, 8, 4, 4), "head": torch.randn(2, 8)}
        >>> out = contrast(q, k, step=torch.tensor(0))
        >>> out.weights["block1"], out.weights["head"]
        (tensor(0.), tensor(1.))
        >>> out = contrast(q, k, step=torch.tensor(100))
        >>> out.weights["block1"] + out.weights["head"]
        tensor(1.)
        >>> contrast.update()  # after the optimiser step, with the discriminator's copy
    """

    # Version 2 keys the scales' state by layer name; version 1 (0.1.0) keyed it by position.
    _version = 2

    _start_steps: Tensor
    _weights: Tensor

    def __init__(
        self,
        heads: Mapping[str, nn.Module],
        queue_size: int = 8192,
        temperature: float = 0.07,
        weights: Mapping[str, float] | None = None,
        start_steps: Mapping[str, int] | None = None,
        *,
        dim: int | None = None,
        learnable_temperature: bool = False,
        in_batch_negatives: bool = False,
        queue_init: str = "empty",
        key_momentum: float | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(heads, Mapping) or len(heads) == 0:
            raise ValueError(
                f"heads must be a non-empty dict of layer name -> module, got {heads!r}"
            )
        for name, head in heads.items():
            if not isinstance(name, str):
                raise TypeError(f"heads must be keyed by layer name (str), got {name!r}")
            if not isinstance(head, nn.Module):
                raise TypeError(f"heads[{name!r}] must be an nn.Module, got {type(head).__name__}")
        #: The layer names of the scales, in the order of ``heads``.
        self.names: tuple[str, ...] = tuple(heads)
        #: Layer name → explicit weight :math:`w_l`, or ``None`` for :math:`1/|A(t)|`.
        self.weights = None if weights is None else _per_scale_weights(weights, self.names)
        #: Layer name → start step :math:`t_l` (0 for the scales active from the start).
        self.start_steps = _per_scale_start_steps(start_steps, self.names)
        # The schedule as device tensors, so that the weights are computed without a host sync.
        starts = [self.start_steps[name] for name in self.names]
        self.register_buffer("_start_steps", torch.tensor(starts), persistent=False)
        explicit = [1.0] * len(self.names) if self.weights is None else list(self.weights.values())
        self.register_buffer("_weights", torch.tensor(explicit), persistent=False)
        # A ModuleList rather than a ModuleDict: layer names contain dots ("blocks.2").
        self._heads = nn.ModuleList(heads.values())
        self.key_heads: MomentumEncoder | None = None
        if key_momentum is not None:
            lazy = [
                name
                for name, head in heads.items()
                if any(
                    isinstance(p, nn.parameter.UninitializedParameter) for p in head.parameters()
                )
            ]
            if lazy:
                raise ValueError(
                    f"key_momentum needs heads whose parameters exist at construction; {lazy} "
                    "are lazy (give a DeepSupervisionHead its spatial_size)"
                )
            self.key_heads = MomentumEncoder(self._heads, momentum=key_momentum)
        self._instance_losses = nn.ModuleList(
            InstanceLoss(
                _head_dim(name, head, dim),
                queue_size,
                temperature,
                learnable_temperature,
                in_batch_negatives,
                queue_init=queue_init,
            )
            for name, head in heads.items()
        )
        # The scales live in ModuleLists (module names cannot hold the dots of layer names);
        # their state is keyed by layer name all the same, so it cannot land on another scale.
        self._register_state_dict_hook(_key_state_by_layer_name)

    @property
    def heads(self) -> dict[str, nn.Module]:
        """Layer name → head."""
        return dict(zip(self.names, self._heads, strict=True))

    @property
    def instance_losses(self) -> dict[str, InstanceLoss]:
        """Layer name → the :class:`InstanceLoss` (queue, temperature) of that scale."""
        return dict(zip(self.names, self._instance_losses, strict=True))  # type: ignore[arg-type]

    def forward(
        self,
        queries: Mapping[str, Tensor],
        keys: Mapping[str, Tensor],
        *,
        step: int | Tensor | None = None,
        enqueue: bool = True,
    ) -> MultiScaleOutput:
        r"""Per-scale InfoNCE losses and their weighted total, then enqueue every scale's keys.

        Args:
            queries: layer name → features of the reconstructions (with gradients), e.g.
                ``FeatureTaps(discriminator, layers).features()``.
            keys: layer name → features of the real inputs, e.g. from
                ``MomentumEncoder.taps(layers)``.
            step: training step :math:`t \ge 0`, an ``int`` or a 0-dim tensor (a tensor keeps a
                compiled step from recompiling as it changes); required when a scale has a
                start step.
            enqueue: write the keys of every scale into its queue.

        Returns:
            A :class:`MultiScaleOutput`.
        """
        _check_features(queries, "queries", self.names)
        _check_features(keys, "keys", self.names)
        self._check_device(queries, keys)
        active = self._start_steps <= self._check_step(step)
        num_active = active.sum().clamp(min=1)
        if self.weights is None:
            weight = active / num_active
        else:
            weight = active * self._weights
        key_heads = (
            self._heads if self.key_heads is None else cast(nn.ModuleList, self.key_heads.module)
        )
        scales = zip(self.names, self._heads, key_heads, self._instance_losses, strict=True)
        outputs, chances = [], []
        for name, head, key_head, criterion in scales:
            query, key = _embed(name, head, key_head, queries[name], keys[name])
            chances.append(chance_level(criterion, query.shape[0]))  # before it enqueues
            outputs.append(criterion(query, key, enqueue=enqueue))
        losses = torch.stack([out.loss for out in outputs])
        accuracies = torch.stack([out.accuracy for out in outputs])
        return MultiScaleOutput(
            loss=(weight * losses).sum(),
            losses={name: out.loss for name, out in zip(self.names, outputs, strict=True)},
            accuracies={name: out.accuracy for name, out in zip(self.names, outputs, strict=True)},
            weights=dict(zip(self.names, weight.unbind(), strict=True)),
            accuracy=(active * accuracies).sum() / num_active,
            chance_levels=dict(zip(self.names, chances, strict=True)),
            chance_level=(active * torch.stack(chances)).sum() / num_active,
        )

    @torch.no_grad()
    def update(self, momentum: float | None = None) -> None:
        """Move the momentum copy of the heads towards the online heads (``key_momentum``).

        Call it once per iteration, after the iteration's last optimiser step of the heads or
        the discriminator (the discriminator step, when it has its own), next to the
        discriminator's :meth:`MomentumEncoder.update <contradistinct.MomentumEncoder.update>`.
        Without ``key_momentum`` the keys go through the online heads and there is nothing to
        move: the call does nothing.

        Args:
            momentum: override ``key_momentum`` for this call (0 copies the online heads).
        """
        if self.key_heads is not None:
            self.key_heads.update(momentum)

    def _check_device(self, queries: Mapping[str, Tensor], keys: Mapping[str, Tensor]) -> None:
        # Metadata only (no sync): a module left behind names its fix, not a kernel's dtype.
        here = self._start_steps.device
        for role, features in (("queries", queries), ("keys", keys)):
            for name in self.names:
                if isinstance(features[name], Tensor) and features[name].device != here:
                    raise ValueError(
                        f"{role}[{name!r}] is on {features[name].device} but the "
                        f"MultiScaleContrastive is on {here}: move it with the networks, "
                        f"contrast.to(device) (its heads, their momentum copy and the queues)"
                    )

    def _check_step(self, step: object) -> int | Tensor:
        if step is None:
            late = {name: start for name, start in self.start_steps.items() if start > 0}
            if late:
                raise ValueError(
                    f"step is required when scales start late (start_steps={late}); pass the "
                    "training step as step="
                )
            return 0
        if isinstance(step, Tensor):
            if step.ndim != 0 or step.is_complex() or step.dtype == torch.bool:
                raise ValueError(
                    f"step must be an int or a 0-dim real tensor, got a tensor of shape "
                    f"{tuple(step.shape)} and dtype {step.dtype}"
                )
            return step
        if isinstance(step, bool) or not isinstance(step, int):
            raise TypeError(f"step must be an int or a 0-dim tensor, got {type(step).__name__}")
        if step < 0:
            raise ValueError(f"step must be non-negative, got {step}")
        return step

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        where = "the MultiScaleContrastive state" + (f" at {prefix[:-1]!r}" if prefix else "")
        version = local_metadata.get("version")
        if version is not None and version < 2:
            raise ValueError(
                f"{where} was saved by contradistinct 0.1.0, which keyed the scales by position "
                "(_heads.0, _heads.1, ...): it cannot say which head and queue belong to which of "
                f"the layers {list(self.names)}, so it is not loaded"
            )
        position = {_state_key(name): str(i) for i, name in enumerate(self.names)}
        for container in _SCALE_CONTAINERS:
            start = prefix + container
            held = [key for key in state_dict if key.startswith(start)]
            saved = {key[len(start) :].split(".", 1)[0] for key in held}
            if saved and saved != set(position):
                raise ValueError(
                    f"{where} holds the scales {sorted(map(_layer_name, saved))} but this module "
                    f"has {sorted(self.names)}: a scale's head, queue and temperature load only "
                    f"into the layer of the same name (missing here: "
                    f"{sorted(map(_layer_name, saved - set(position)))}; not in the state: "
                    f"{sorted(map(_layer_name, set(position) - saved))})"
                )
            # Back to the positions of this module's lists, which its children load from; all
            # popped first, as a layer named "1" may sit at position 0.
            entries = [(key[len(start) :].split(".", 1), state_dict.pop(key)) for key in held]
            for (scale, rest), value in entries:
                state_dict[f"{start}{position[scale]}.{rest}"] = value
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def extra_repr(self) -> str:
        parts = [f"scales={list(self.names)}"]
        if self.weights is not None:
            parts.append(f"weights={self.weights}")
        late = {name: start for name, start in self.start_steps.items() if start > 0}
        if late:
            parts.append(f"start_steps={late}")
        if self.key_heads is not None:
            parts.append(f"key_momentum={self.key_heads.momentum}")
        return ", ".join(parts)


def _embed(
    name: str, head: nn.Module, key_head: nn.Module, query: Tensor, key: Tensor
) -> tuple[Tensor, Tensor]:
    """Project the query through the head and the key through ``key_head``, without gradient."""
    fit = f"fit the head of layer {name!r} ({type(head).__name__})"
    if isinstance(head, LocalPatchHead):
        with _naming(f"queries[{name!r}] and keys[{name!r}] do not {fit}"):
            pair = head(query, key.detach() if isinstance(key, Tensor) else key)
        if key_head is head:
            return pair.query, pair.key
        with torch.no_grad():
            return pair.query, cast(LocalPatchHead, key_head).embed_at(key, pair.locations)
    with _naming(f"queries[{name!r}] does not {fit}"):
        embedded_query = head(query)
    with torch.no_grad(), _naming(f"keys[{name!r}] does not {fit}"):
        embedded_key = key_head(key)
    shapes = [getattr(e, "shape", None) for e in (embedded_query, embedded_key)]
    if shapes[0] != shapes[1]:
        raise ValueError(
            f"the embeddings of queries[{name!r}] and keys[{name!r}] (layer {name!r}) do not "
            f"make an InfoNCE pair: got shapes {tuple(shapes[0] or ())} and "
            f"{tuple(shapes[1] or ())} from features {_shape_of(query)} and {_shape_of(key)}"
        )
    return embedded_query, embedded_key


def _shape_of(value: object) -> object:
    return tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__


@contextlib.contextmanager
def _naming(what: str) -> Iterator[None]:
    """Re-raise a head's ``TypeError``/``ValueError`` naming the caller's entry and layer."""
    try:
        yield
    except (TypeError, ValueError) as error:
        raise type(error)(f"{what}: {error}") from error


# The lists whose children are the scales, in the order of ``names``.
_SCALE_CONTAINERS = ("_heads.", "_instance_losses.", "key_heads.module.")
_ESCAPES = {"%": "%25", ":": "%3A", ".": ":"}
_UNESCAPES = {code: char for char, code in _ESCAPES.items()}


def _state_key(name: str) -> str:
    """The state key of a layer's scale: ``"blocks.2"`` -> ``"blocks:2"`` (dot-free, so a key
    parses back); ``%`` and ``:`` are escaped first, so distinct layer names never share a key,
    and the empty name (the tapped network itself) is ``"%"``."""
    return "".join(_ESCAPES.get(char, char) for char in name) or "%"


def _layer_name(key: str) -> str:
    """The layer name that :func:`_state_key` wrote as ``key`` (for messages)."""
    if key == "%":
        return ""
    return re.sub(r"%25|%3A|:", lambda match: _UNESCAPES[match.group()], key)


def _key_state_by_layer_name(
    module: nn.Module, state_dict: dict[str, Any], prefix: str, local_metadata: dict[str, Any]
) -> None:
    """State-dict hook: ``_heads.0.…`` -> ``_heads.<layer>.…``, in place, order kept."""
    keys = [_state_key(name) for name in cast(MultiScaleContrastive, module).names]
    # This module's entries are the last ones written; re-adding them keeps their order.
    mine = [key for key in state_dict if key.startswith(prefix)]
    entries = [(key, state_dict.pop(key)) for key in mine]
    for key, value in entries:
        for container in _SCALE_CONTAINERS:
            start = prefix + container
            if key.startswith(start):
                index, rest = key[len(start) :].split(".", 1)
                key = f"{start}{keys[int(index)]}.{rest}"
                break
        state_dict[key] = value


def _check_features(features: object, name: str, layers: tuple[str, ...]) -> None:
    if not isinstance(features, Mapping):
        raise TypeError(
            f"{name} must be a dict of layer name -> tensor (FeatureTaps.features()), got "
            f"{type(features).__name__}"
        )
    missing = [layer for layer in layers if layer not in features]
    if missing:
        raise ValueError(
            f"{name} lacks the layers {missing} that have heads; it holds {list(features)}"
        )


def _head_dim(name: str, head: nn.Module, dim: int | None) -> int:
    if dim is not None:
        return check_positive_int(dim, "dim")
    for attribute in ("dim", "out_features"):
        value = getattr(head, attribute, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    raise ValueError(
        f"cannot tell the embedding size of heads[{name!r}] ({type(head).__name__} has no `dim` "
        "or `out_features`); pass dim="
    )


def _per_scale_weights(weights: Mapping[str, float], names: tuple[str, ...]) -> dict[str, float]:
    if not isinstance(weights, Mapping):
        raise TypeError(f"weights must be a dict of layer name -> weight, got {weights!r}")
    if set(weights) != set(names):
        raise ValueError(
            f"weights must give a weight for every scale {list(names)} and nothing else, got "
            f"{list(weights)}"
        )
    return {name: check_non_negative(weights[name], f"weights[{name!r}]") for name in names}


def _per_scale_start_steps(
    start_steps: Mapping[str, int] | None, names: tuple[str, ...]
) -> dict[str, int]:
    steps = {name: 0 for name in names}
    if start_steps is None:
        return steps
    if not isinstance(start_steps, Mapping):
        raise TypeError(f"start_steps must be a dict of layer name -> step, got {start_steps!r}")
    unknown = [name for name in start_steps if name not in steps]
    if unknown:
        raise ValueError(
            f"start_steps names unknown scales {unknown}; the scales are {list(names)}"
        )
    for name, start in start_steps.items():
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise ValueError(f"start_steps[{name!r}] must be a non-negative int, got {start!r}")
        steps[name] = start
    return steps
