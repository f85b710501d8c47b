"""Run a measuring network in evaluation mode without leaving a user's model changed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def evaluation_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Put every submodule in eval mode, then restore each one's own ``training`` flag.

    Feature networks are measuring instruments: batch-norm must use its running statistics so a
    feature does not depend on the other images of the batch. Restoring per submodule (rather
    than calling ``train()``) keeps a mixed state, such as a frozen backbone inside a training
    model, exactly as the caller left it.
    """
    previous = [(submodule, submodule.training) for submodule in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for submodule, training in previous:
            submodule.training = training
