"""What ``DataParallel``, ``DistributedDataParallel`` and ``torch.compile`` put around a network.

The one place that knows the wrappers: :func:`unwrap` finds the network inside, and
:func:`unprefixed_names` strips the prefix each wrapper adds to qualified names (``module.`` for
the data-parallel wrappers, which hold the network as ``module``; ``_orig_mod.`` for
``torch.compile``, which holds it as ``_orig_mod``).
"""

from __future__ import annotations

from torch import nn

WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def unwrap(module: nn.Module) -> nn.Module:
    """Strip ``DistributedDataParallel``/``DataParallel`` and ``torch.compile`` wrappers."""
    while True:
        if isinstance(module, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            module = module.module
        elif isinstance(getattr(module, "_orig_mod", None), nn.Module):
            module = module._orig_mod
        else:
            return module


def unprefixed_names(name: str) -> list[str]:
    """``name``, then ``name`` with one, two, ... leading wrapper prefixes removed.

    ``"_orig_mod.module.block1"`` gives ``["_orig_mod.module.block1", "module.block1",
    "block1"]``: the first of them that names a submodule of the unwrapped network is meant.
    """
    names = [name]
    while True:
        prefix = next((p for p in WRAPPER_PREFIXES if names[-1].startswith(p)), None)
        if prefix is None:
            return names
        names.append(names[-1][len(prefix) :])
