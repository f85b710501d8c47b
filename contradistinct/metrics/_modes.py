"""Run networks in evaluation mode without leaving a user's model changed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def evaluation_mode(*modules: nn.Module) -> Iterator[None]:
    """Put every submodule of ``modules`` in eval mode, then restore each one's own flag.

    Measuring instruments must not depend on the rest of a batch: in eval mode batch-norm uses
    its running statistics and dropout is off. On leaving the block, also when it raises, each
    submodule gets back its own ``training`` flag (rather than a ``train()`` of the top module),
    so a mixed state, such as a frozen backbone inside a training model, is kept exactly as the
    caller left it. Gradients are not switched off; add ``torch.no_grad()`` to evaluate without
    them. The feature networks of :class:`~contradistinct.metrics.FID` and
    :func:`~contradistinct.metrics.perceptual_distance` run under it.

    Args:
        modules: the networks to evaluate (at least one ``nn.Module``).

    Raises:
        TypeError: an argument is not an ``nn.Module``.
        ValueError: no module is given.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from contradistinct.metrics import evaluation_mode
        >>> encoder, decoder = nn.BatchNorm1d(4), nn.Dropout()
        >>> with evaluation_mode(encoder, decoder), torch.no_grad():
        ...     print(encoder.training, decoder.training)
        False False
        >>> encoder.training, decoder.training
        (True, True)
    """
    if not modules:
        raise ValueError("evaluation_mode needs at least one module, got none")
    for index, module in enumerate(modules):
        if not isinstance(module, nn.Module):
            raise TypeError(
                f"evaluation_mode takes nn.Module arguments, got {type(module).__name__} at "
                f"position {index}"
            )
    previous = [(sub, sub.training) for module in modules for sub in module.modules()]
    for module in modules:
        module.eval()
    try:
        yield
    finally:
        for submodule, training in previous:
            submodule.training = training
