"""Adapt a discriminator you did not write: its GAN logit and contrasted features in one call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from torch import Tensor, nn

from contradistinct._wrappers import unprefixed_names, unwrap
from contradistinct.posterior import describe
from contradistinct.taps import FeatureTaps

#: Output modules whose values are (log-)probabilities, not the logits a GAN loss takes.
PROBABILITY_MODULES: tuple[type[nn.Module], ...] = (
    nn.Sigmoid,
    nn.Softmax,
    nn.Softmax2d,
    nn.LogSigmoid,
    nn.LogSoftmax,
)
#: Containers without a ``forward``: the network calls their elements, never them.
UNCALLED_CONTAINERS: tuple[type[nn.Module], ...] = (nn.ModuleList, nn.ModuleDict)


class CriticOutput(NamedTuple):
    """What :class:`Critic` returns for one batch; every value is a live tensor of the pass."""

    logits: Tensor
    """The GAN logits, as the logit layer (or the ``logit`` function) gave them, e.g. ``(B, 1)``;
    what :class:`~contradistinct.SetLevelLoss` takes."""
    features: dict[str, Tensor]
    """Layer name → output of that layer, for the contrastive heads
    (:class:`~contradistinct.MultiScaleContrastive` takes this dict as queries or keys)."""


class Critic(nn.Module):
    r"""Wrap a discriminator, unchanged, so one call returns its GAN logits and tapped features.

    DC-VAE's discriminator plays two parts: its logit enters the set-level GAN loss (Eq. 4)
    and its intermediate features, through heads, the instance loss (Eq. 6, §4.2). A
    discriminator from another code base rarely hands both over: it may return an output
    object, end in a ``Sigmoid`` (a probability, on which a hinge or Wasserstein loss runs
    without a word and learns nothing sensible), or bury the layers to contrast inside a
    ``ModuleList``. The critic reads what it needs by layer name with forward hooks
    (:class:`~contradistinct.FeatureTaps`); the discriminator's code and weights are untouched,
    and :meth:`forward` runs it exactly once.

    The logit is read in one of three ways: ``logit="layers.2.0"`` taps that layer (the
    ``Linear`` before a ``Sigmoid``, say); ``logit=fn`` applies ``fn`` to whatever the
    discriminator returns (``lambda out: out[0]``); ``logit=None`` takes the returned tensor
    itself. A probability in place of the logits is refused, naming the layer to tap instead:

    * at construction, when the module types show it: a logit layer that is a
      ``Sigmoid``/``Softmax`` (or their ``Log`` forms) or a ``Sequential`` ending in one, and,
      with ``logit=None`` or a function, an ``nn.Sequential`` discriminator ending in one;
    * at each call, for any other discriminator: when the logits are the output of such a
      module of the discriminator (the tensor itself or a view of it), as
      ``lambda out: out.embedding`` is when ``embedding`` holds ``sigmoid(logit)``.

    A ``ModuleList``/``ModuleDict`` named as a layer is refused too, listing its elements: the
    network calls those, never the container, so no hook on it would ever fire.

    Use one critic for every pass: queries (``critic(x_rec).features``), the generator's and
    the discriminator's GAN terms (``critic(x).logits``), and, through a
    :class:`~contradistinct.MomentumEncoder` of the critic, the keys
    (``MomentumEncoder(critic)(x).features``: the copy taps its own layers under the same
    names). :func:`~contradistinct.candidate_layers` lists the layers and their output shapes,
    :func:`~contradistinct.build_heads` sizes a head for each feature layer.

    Args:
        discriminator: the network to wrap (possibly in ``DistributedDataParallel`` or
            ``torch.compile``; its layers are tapped inside the wrapper, and the names work with
            or without the wrapper's prefix).
        features: qualified names (as in ``named_modules()``) of the layers to contrast.
        logit: the layer whose output is the GAN logit, a function from the discriminator's
            output to the logits, or ``None`` when the discriminator returns its logits.

    Raises:
        ValueError: an unknown layer (with the closest names), no feature layer, a container as
            a layer, or a logit that the module types show to be a probability.
        TypeError: arguments of the wrong type.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from contradistinct import Critic
        >>> disc = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1), nn.Sigmoid())
        >>> critic = Critic(disc, logit="2", features=["1"])
        >>> out = critic(torch.randn(3, 4))
        >>> out.logits.shape, {name: f.shape for name, f in out.features.items()}
        (torch.Size([3, 1]), {'1': torch.Size([3, 8])})
        >>> Critic(disc, features=["1"])
        Traceback (most recent call last):
        ...
        ValueError: the output of the discriminator (Sequential) comes out of a Sigmoid at '3': ...
    """

    def __init__(
        self,
        discriminator: nn.Module,
        *,
        features: Sequence[str],
        logit: str | Callable[[Any], Tensor] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(discriminator, nn.Module):
            raise TypeError(
                f"discriminator must be an nn.Module, got {type(discriminator).__name__}"
            )
        if isinstance(features, str) or not isinstance(features, Sequence):
            raise TypeError(
                f"features must be a sequence of layer names such as ['layers.1'], got {features!r}"
            )
        if len(features) == 0:
            raise ValueError("features must name at least one layer to contrast, got none")
        if logit is not None and not isinstance(logit, str) and not callable(logit):
            raise TypeError(
                "logit must be a layer name, a function of the discriminator's output, or None; "
                f"got {type(logit).__name__}"
            )
        self.discriminator = discriminator
        #: The contrasted layer names as given, which key :attr:`CriticOutput.features`.
        self.features: tuple[str, ...] = tuple(features)
        #: The logit layer's name, the function that reads the logits, or ``None``.
        self.logit = logit
        tapped = [*self.features]
        if isinstance(logit, str) and logit not in tapped:
            tapped.append(logit)
        # Names are checked here (unknown ones answered with the closest); the hooks are attached
        # for each call only, so a deep copy (a MomentumEncoder of this critic) taps its own layers.
        self._taps = FeatureTaps(discriminator, tapped)
        self._taps.remove()
        root = unwrap(discriminator)
        modules = dict(root.named_modules())
        for name in tapped:
            argument = "logit" if name == logit else "features"
            _refuse_container(name, modules[_bare(name, modules)], argument)
        # Where the logits could come out of a probability without a layer name to check.
        self._probabilities: list[tuple[str, nn.Module]] = []
        if isinstance(logit, str):
            _refuse_probability_layer(logit, _bare(logit, modules), root)
        else:
            _refuse_probability_output(root, logit is None)
            self._probabilities = [
                (name, module)
                for name, module in modules.items()
                if isinstance(module, PROBABILITY_MODULES)
            ]

    def forward(self, *args: Any, **kwargs: Any) -> CriticOutput:
        """Run the discriminator once on ``args``/``kwargs``; return its logits and features."""
        probabilities: list[tuple[str, Tensor]] = []
        handles = [
            module.register_forward_hook(_collect(name, probabilities))
            for name, module in self._probabilities
        ]
        try:
            with self._taps:
                output = self.discriminator(*args, **kwargs)
                try:
                    recorded = self._taps.features()
                except RuntimeError as error:
                    raise RuntimeError(
                        f"{type(unwrap(self.discriminator)).__name__}.forward ran without calling "
                        "some tapped layers, so they are not on its path "
                        "(cd.candidate_layers(discriminator, x) lists the layers that run); "
                        f"FeatureTaps: {error}"
                    ) from None
        finally:
            # No reference to this pass's graph outlives the call (nor reaches a deep copy).
            self._taps.clear()
            for handle in handles:
                handle.remove()
        if isinstance(self.logit, str):
            logits, source = recorded[self.logit], f"layer {self.logit!r}"
        elif self.logit is not None:
            logits, source = self.logit(output), "logit(discriminator output)"
        else:
            logits, source = output, "the discriminator"
        if not isinstance(logits, Tensor) or not logits.is_floating_point():
            hint = (
                ": name the logit layer (logit='...') or pass a function that reads the logits "
                "from the output (logit=lambda out: ...)"
                if self.logit is None
                else ""
            )
            raise TypeError(
                f"{source} gave {describe(logits)}, not floating-point logits (B,) or (B, 1){hint}"
            )
        for name, probability in probabilities:
            if logits is probability or logits._base is probability:
                raise ValueError(
                    f"the logits, read from {source}, are the output of a "
                    f"{type(dict(self._probabilities)[name]).__name__} at {name!r}: a "
                    f"probability, not a logit, and the GAN losses take logits; "
                    f"{_tap_instead(name, unwrap(self.discriminator))} (logit='...')"
                )
        return CriticOutput(logits, {name: recorded[name] for name in self.features})

    def extra_repr(self) -> str:
        logit = self.logit if self.logit is None or isinstance(self.logit, str) else "<function>"
        return f"logit={logit!r}, features={list(self.features)}"


def _collect(
    name: str, outputs: list[tuple[str, Tensor]]
) -> Callable[[nn.Module, tuple[object, ...], Tensor], None]:
    def hook(module: nn.Module, inputs: tuple[object, ...], output: Tensor) -> None:
        outputs.append((name, output))

    return hook


def _bare(name: str, modules: dict[str, nn.Module]) -> str:
    """``name`` without wrapper prefixes, as in the unwrapped network's ``named_modules()``."""
    # FeatureTaps has accepted the name, so one of its unprefixed forms is a submodule.
    return next(n for n in unprefixed_names(name) if n in modules)


def _qualified(parent: str, child: str) -> str:
    return f"{parent}.{child}" if parent else child


def _refuse_container(name: str, module: nn.Module, argument: str) -> None:
    if isinstance(module, UNCALLED_CONTAINERS):
        children = [_qualified(name, child) for child, _ in module.named_children()]
        raise ValueError(
            f"{argument} names {name!r}, a {type(module).__name__}: the network calls its "
            f"elements, never the container, so nothing is recorded there; tap one of "
            f"{children}"
        )


def probability_layer(module: nn.Module, name: str) -> str | None:
    """The name of the probability module whose output ``module`` returns, as far as types show."""
    if isinstance(module, PROBABILITY_MODULES):
        return name
    if isinstance(module, nn.Sequential) and len(module) > 0:
        child, last = list(module.named_children())[-1]
        return probability_layer(last, _qualified(name, child))
    return None


def _layer_before(name: str, root: nn.Module) -> str | None:
    """The module registered just before ``name`` in a ``Sequential``/``ModuleList`` parent."""
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name)
    if not isinstance(parent, (nn.Sequential, nn.ModuleList)):
        return None
    children = [n for n, _ in parent.named_children()]
    index = children.index(child)
    return _qualified(parent_name, children[index - 1]) if index > 0 else None


def _tap_instead(probability: str, root: nn.Module) -> str:
    before = _layer_before(probability, root)
    if before is None:
        return "tap the layer that feeds it instead"
    return f"tap {before!r}, the {type(root.get_submodule(before)).__name__} before it, instead"


def _refuse_probability_layer(logit: str, name: str, root: nn.Module) -> None:
    probability = probability_layer(root.get_submodule(name), name)
    if probability is None:
        return
    kind = type(root.get_submodule(probability)).__name__
    where = f"is a {kind}" if probability == name else f"ends in a {kind} at {probability!r}"
    raise ValueError(
        f"logit={logit!r} {where}: its output is a probability, not a logit, and the GAN losses "
        f"take logits; {_tap_instead(probability, root)} (logit='...')"
    )


def _refuse_probability_output(root: nn.Module, returns_logits: bool) -> None:
    """Refuse an ``nn.Sequential`` whose output (the logits, or what ``logit`` reads) is a
    probability."""
    probability = probability_layer(root, "") if isinstance(root, nn.Sequential) else None
    if probability is None:
        return
    how = "" if returns_logits else " that the logit function reads"
    kind = type(root.get_submodule(probability)).__name__
    raise ValueError(
        f"the output{how} of the discriminator ({type(root).__name__}) comes out of a {kind} at "
        f"{probability!r}: a probability, not a logit, and the GAN losses take logits; "
        f"{_tap_instead(probability, root)} (logit='...')"
    )


__all__ = ["Critic", "CriticOutput"]
