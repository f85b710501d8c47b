"""Small helpers for code that runs the same under ``torch.distributed`` and in one process."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["gather_across_ranks", "is_distributed"]


def is_distributed() -> bool:
    """``True`` when a ``torch.distributed`` process group of more than one rank is running.

    Example:
        >>> from contradistinct.distributed import is_distributed
        >>> is_distributed()
        False
    """
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def gather_across_ranks(tensor: Tensor) -> Tensor:
    """Concatenate ``tensor`` from every rank along dim 0, in rank order; no gradient flows.

    In a single process the tensor is returned as it is. Every rank must pass a tensor of the
    same shape (as ``DistributedSampler`` with ``drop_last=True`` gives).

    Args:
        tensor: ``(B, *)`` tensor on this rank.

    Returns:
        ``(world_size * B, *)`` tensor, identical on every rank.

    Example:
        >>> import torch
        >>> from contradistinct.distributed import gather_across_ranks
        >>> gather_across_ranks(torch.ones(2, 3)).shape
        torch.Size([2, 3])
    """
    if not is_distributed():
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.detach().contiguous())
    return torch.cat(parts, dim=0)
