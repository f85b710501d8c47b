"""Capture intermediate outputs of a user's network by qualified module name."""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Callable, Sequence
from types import TracebackType

from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle
from typing_extensions import Self

from contradistinct._wrappers import unprefixed_names, unwrap


class FeatureTaps:
    """Forward hooks that record the outputs of named submodules.

    Layers are named as in ``module.named_modules()`` (``"block1"``, ``"blocks.2.conv"``; ``""``
    is the module itself). A network wrapped in ``DistributedDataParallel``, ``DataParallel`` or
    ``torch.compile`` is tapped on the network inside, and names are accepted with or without the
    wrapper's ``module.`` / ``_orig_mod.`` prefix, so one list of names serves the online network
    and its :class:`~contradistinct.MomentumEncoder` copy alike.

    Hooks are attached when the taps are created and detached by :meth:`remove` or on leaving a
    ``with`` block, also when the block raises; entering a ``with`` block attaches them again,
    so one ``FeatureTaps`` object can be reused every training step. Each forward pass of a
    tapped layer overwrites its record (a layer that runs twice keeps its last output). Records
    are references to the live outputs, gradients included; nothing is copied or synchronised.

    Args:
        module: the network to tap (any ``nn.Module``, possibly wrapped).
        layers: qualified names of the submodules whose outputs to record.

    Raises:
        ValueError: a name is not a submodule; the message lists the closest names.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from contradistinct import FeatureTaps
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> with FeatureTaps(net, ["0", "2"]) as taps:
        ...     _ = net(torch.randn(3, 4))
        ...     features = taps.features()
        >>> {name: tuple(f.shape) for name, f in features.items()}
        {'0': (3, 8), '2': (3, 2)}
        >>> len(net[0]._forward_hooks)
        0
    """

    def __init__(self, module: nn.Module, layers: Sequence[str]) -> None:
        if not isinstance(module, nn.Module):
            raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
        if isinstance(layers, str) or not isinstance(layers, Sequence):
            raise TypeError(
                f"layers must be a sequence of layer names such as ['block1'], got {layers!r}"
            )
        if len(layers) == 0:
            raise ValueError("layers must name at least one submodule, got an empty sequence")
        for name in layers:
            if not isinstance(name, str):
                raise TypeError(f"layers must hold strings, got {type(name).__name__} {name!r}")
        duplicates = sorted(name for name, count in Counter(layers).items() if count > 1)
        if duplicates:
            raise ValueError(f"layers must be distinct, got {duplicates} more than once")
        #: The tapped layer names, as given; the keys of :meth:`features`.
        self.layers: tuple[str, ...] = tuple(layers)
        self._targets = _resolve(unwrap(module), self.layers)
        self._records: dict[str, Tensor] = {}
        self._handles: list[RemovableHandle] = []
        self.attach()

    @property
    def attached(self) -> bool:
        """Whether the hooks are currently registered."""
        return bool(self._handles)

    def attach(self) -> Self:
        """Register the hooks (no-op if they already are) and forget earlier records."""
        self._records = {}
        if not self._handles:
            self._handles = [
                target.register_forward_hook(self._recorder(name, target))
                for name, target in zip(self.layers, self._targets, strict=True)
            ]
        return self

    def remove(self) -> None:
        """Detach every hook; the records of the last forward pass stay readable."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def clear(self) -> None:
        """Forget the recorded outputs (drops the references, and the graphs they hold)."""
        self._records = {}

    def features(self) -> dict[str, Tensor]:
        """The recorded outputs, keyed by the names given to the constructor.

        Returns:
            A new ``dict`` mapping each layer name to the output of its last forward pass.

        Raises:
            RuntimeError: a layer has not run since the hooks were attached or cleared.
        """
        missing = [name for name in self.layers if name not in self._records]
        if missing:
            raise RuntimeError(
                f"no output recorded for layers {missing}: run a forward pass of the tapped "
                "network while the taps are attached (inside the `with` block)"
            )
        return {name: self._records[name] for name in self.layers}

    def __enter__(self) -> Self:
        return self.attach()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.remove()

    def __repr__(self) -> str:
        state = "attached" if self.attached else "detached"
        return f"FeatureTaps(layers={list(self.layers)}, {state})"

    def _recorder(
        self, name: str, target: nn.Module
    ) -> Callable[[nn.Module, tuple[object, ...], object], None]:
        def record(module: nn.Module, inputs: tuple[object, ...], output: object) -> None:
            # A deep copy of the tapped network (a MomentumEncoder made while the taps are
            # attached) carries this hook along; its outputs must not land in these records.
            if module is not target:
                return
            if not isinstance(output, Tensor):
                raise TypeError(
                    f"layer {name!r} returned {type(output).__name__}; FeatureTaps records "
                    "tensor outputs only, tap a submodule that returns a tensor"
                )
            self._records[name] = output

        return record


def _resolve(root: nn.Module, layers: tuple[str, ...]) -> list[nn.Module]:
    modules = dict(root.named_modules())
    targets = []
    for name in layers:
        candidates = unprefixed_names(name)
        found = next((candidate for candidate in candidates if candidate in modules), None)
        if found is None:
            raise ValueError(_unknown_layer_message(name, candidates[-1], root, list(modules)))
        targets.append(modules[found])
    return targets


def _unknown_layer_message(name: str, bare: str, root: nn.Module, available: list[str]) -> str:
    named = [n for n in available if n]
    closest = difflib.get_close_matches(bare, named, n=5, cutoff=0.5)
    hint = (
        f"closest: {', '.join(repr(n) for n in closest)}"
        if closest
        else "available: "
        + ", ".join(repr(n) for n in named[:20])
        + (f" and {len(named) - 20} more" if len(named) > 20 else "")
    )
    return f"unknown layer {name!r} in {type(root).__name__}; {hint}"
