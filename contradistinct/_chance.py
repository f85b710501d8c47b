"""The chance level of a contrastive classification: what a top-1 accuracy is compared with."""

from __future__ import annotations

import torch.distributed as dist
from torch import Tensor

from contradistinct.distributed import is_distributed
from contradistinct.instance import InstanceLoss


def chance_level(criterion: InstanceLoss, rows: int) -> Tensor:
    r"""The top-1 accuracy of guessing, :math:`1 / (1 + N)`, for the next call of ``criterion``.

    :math:`N` counts the valid negatives each of ``rows`` queries meets: the filled slots of the
    queue, plus, with in-batch negatives, the other keys of the batch on every rank. Read it
    *before* the call, which enqueues. An empty queue gives 1: the positive is the only
    candidate, so the loss is :math:`\log 1 = 0` and the accuracy a trivial 1. A float32 device
    tensor, computed without a host sync.
    """
    negatives = criterion.queue.valid_mask().sum()
    if criterion.in_batch_negatives:
        world = dist.get_world_size() if is_distributed() else 1
        negatives = negatives + (rows * world - 1)
    return 1.0 / (1.0 + negatives.float())
