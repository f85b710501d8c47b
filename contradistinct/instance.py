"""The instance-level contrastive loss of DC-VAE (Eq. 6) against a queue of negatives."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from contradistinct._checks import (
    check_positive,
    check_positive_int,
    check_rank,
    check_same_device,
)
from contradistinct._precision import as_float32
from contradistinct._reduction import check_reduction, reduce
from contradistinct.distributed import gather_across_ranks, is_distributed
from contradistinct.functional.contrastive import contrastive_accuracy, info_nce_logits
from contradistinct.queue import NegativeQueue


class InstanceOutput(NamedTuple):
    """What :class:`InstanceLoss` returns; both fields are device tensors."""

    loss: Tensor
    """The float32 InfoNCE loss, a scalar (or ``(B,)`` for ``reduction="none"``)."""
    accuracy: Tensor
    """The fraction of queries whose own key is their most similar candidate (top-1 contrastive
    accuracy), a float32 scalar; reading it costs no host sync until it is printed."""


class InstanceLoss(nn.Module):
    r"""InfoNCE between reconstructions and their inputs, with a queue of real negatives (Eq. 6).

    .. math::

        \mathcal L_{\text{instance}} = -\frac1B\sum_i \log
        \frac{e^{h(q_i, k_i)/\tau}}
        {e^{h(q_i, k_i)/\tau} + \sum_{n \in \mathcal Q} e^{h(q_i, n)/\tau}}

    with the cosine critic :math:`h`. The query :math:`q_i` embeds the reconstruction
    :math:`f_\theta(z_i)` through the discriminator; the key :math:`k_i` embeds the real input
    :math:`x_i` through a momentum copy of it (:class:`~contradistinct.MomentumEncoder`).
    :meth:`forward` computes the loss against the queue's filled slots *before* enqueueing the
    normalised, detached keys of this batch, so a sample is never its own negative. It returns
    the loss with the batch's top-1 contrastive accuracy, an :class:`InstanceOutput`; the module
    keeps no other state than the queue (and a learnable temperature).

    Under ``torch.distributed`` the keys of every rank are gathered and enqueued on every rank,
    so the queues stay identical; with ``in_batch_negatives`` the other ranks' keys are also
    negatives, so the loss equals the single-process loss on the concatenated batch.

    The ``state_dict`` holds the queue, the learnable :math:`\log\tau` if any, and a record of
    the temperature setting (the buffer ``fixed_temperature``: :math:`\tau`, or 0 when it is
    learnable, which no fixed :math:`\tau` can be). Loading a state saved with another fixed
    temperature, or a learnable one into a fixed one (and the reverse), is a ``ValueError``
    naming both, not a silent change of :math:`\tau`; a state saved without the record loads
    unchecked.

    A non-finite key never enters the queue as a negative (:class:`~contradistinct.NegativeQueue`
    masks it); the loss of the batch that holds it, or a non-finite query, is non-finite for
    that row, as PyTorch propagates NaN. On the ``meta`` device (``.to("meta")``) the call
    infers shapes.

    Args:
        dim: embedding size ``D`` (16 in the paper).
        queue_size: number of queued negatives ``K`` (8192 in the paper).
        temperature: :math:`\tau` (0.07 in the paper), finite and positive, or its initial value
            if learnable.
        learnable_temperature: learn :math:`\log\tau`, clamped to
            ``[min_temperature, max_temperature]``.
        in_batch_negatives: also use the other keys of the batch as negatives.
        min_temperature: lower clamp of a learnable temperature.
        max_temperature: upper clamp of a learnable temperature.
        queue_init: ``"empty"`` (masked until filled) or ``"random"`` (the authors'
            initialisation, ``train.py`` of github.com/mlpc-ucsd/DC-VAE).
        reduction: ``"mean"`` (the batch mean of Eq. 6), ``"sum"`` or ``"none"`` (one loss per
            query).

    Shapes:
        ``query``: ``(B, D)``; ``key``: ``(B, D)``; ``loss``: scalar, or ``(B,)`` for
        ``reduction="none"``; ``accuracy``: scalar.

    Example:
        >>> import torch
        >>> from contradistinct import InstanceLoss
        >>> criterion = InstanceLoss(dim=16, queue_size=64)
        >>> query = torch.randn(8, 16, requires_grad=True)
        >>> out = criterion(query, torch.randn(8, 16))
        >>> out.loss.backward()
        >>> out.accuracy  # an empty queue holds no negatives yet
        tensor(1.)
        >>> int(criterion.queue.count)
        8
    """

    # Version 2 records the temperature setting in the state (``fixed_temperature``).
    _version = 2

    fixed_temperature: Tensor

    def __init__(
        self,
        dim: int = 16,
        queue_size: int = 8192,
        temperature: float = 0.07,
        learnable_temperature: bool = False,
        in_batch_negatives: bool = False,
        *,
        min_temperature: float = 0.01,
        max_temperature: float = 1.0,
        queue_init: str = "empty",
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        self.dim = check_positive_int(dim, "dim")
        self.reduction = check_reduction(reduction)
        check_positive(temperature, "temperature")
        self.in_batch_negatives = bool(in_batch_negatives)
        self.queue = NegativeQueue(queue_size, dim, init=queue_init)
        self.learnable_temperature = bool(learnable_temperature)
        self.min_temperature = check_positive(min_temperature, "min_temperature")
        self.max_temperature = check_positive(max_temperature, "max_temperature")
        if self.min_temperature > self.max_temperature:
            raise ValueError(
                f"min_temperature must not exceed max_temperature, got {min_temperature} > "
                f"{max_temperature}"
            )
        if self.learnable_temperature:
            if not min_temperature <= temperature <= max_temperature:
                raise ValueError(
                    f"temperature must lie in [min_temperature, max_temperature] = "
                    f"[{min_temperature}, {max_temperature}], got {temperature}"
                )
            self.log_temperature = nn.Parameter(torch.tensor(math.log(temperature)))
        else:
            self._fixed_temperature = float(temperature)
        # A record of the setting for the state_dict (0: learnable; finite, so checks that
        # every saved tensor is finite still pass); the math reads the float.
        record = 0.0 if self.learnable_temperature else float(temperature)
        self.register_buffer("fixed_temperature", torch.tensor(record))

    @property
    def temperature(self) -> float | Tensor:
        """Current temperature, a float, or a scalar tensor when it is learnable."""
        if self.learnable_temperature:
            low, high = math.log(self.min_temperature), math.log(self.max_temperature)
            return self.log_temperature.clamp(low, high).exp()
        return self._fixed_temperature

    def forward(self, query: Tensor, key: Tensor, *, enqueue: bool = True) -> InstanceOutput:
        """Loss of ``query`` against its ``key`` and the queued negatives, then enqueue the keys.

        Args:
            query: ``(B, D)`` embeddings of the reconstructions; gradients flow into them.
            key: ``(B, D)`` embeddings of the real inputs; detached here.
            enqueue: write the keys into the queue after computing the loss.

        Returns:
            An :class:`InstanceOutput` ``(loss, accuracy)``.
        """
        query = check_rank(query, "query", 2, "(B, D)")
        key = check_rank(key, "key", 2, "(B, D)")
        if query.shape[1] != self.dim or key.shape != query.shape:
            raise ValueError(
                f"query and key must both have shape (B, {self.dim}), got query "
                f"{tuple(query.shape)} and key {tuple(key.shape)}"
            )
        check_same_device(query, "query", key, "key")
        if query.device != self.queue.keys.device:
            raise ValueError(
                f"query is on {query.device} but this InstanceLoss (its queue) is on "
                f"{self.queue.keys.device}: move the module with .to({str(query.device)!r})"
            )
        key = F.normalize(as_float32(key.detach()), dim=1)
        distributed = is_distributed()
        # A collective only when this call needs other ranks' keys: a rank-local call
        # (evaluation with enqueue=False) must not wait for ranks that never make it.
        all_keys = gather_across_ranks(key) if enqueue or self.in_batch_negatives else key
        negatives, mask = self.queue()
        if self.in_batch_negatives and distributed:
            rank, batch = dist.get_rank(), key.shape[0]
            others = torch.cat([all_keys[: rank * batch], all_keys[(rank + 1) * batch :]])
            negatives = torch.cat([negatives, others])
            mask = torch.cat([mask, mask.new_ones(others.shape[0])])
        logits = info_nce_logits(
            query,
            key,
            negatives,
            temperature=self.temperature,
            in_batch_negatives=self.in_batch_negatives,
            negative_mask=mask,
        )
        target = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
        loss = reduce(F.cross_entropy(logits, target, reduction="none"), self.reduction)
        accuracy = contrastive_accuracy(logits)
        if enqueue:
            self.queue.enqueue(all_keys, gather=False)
        return InstanceOutput(loss, accuracy)

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
        key = prefix + "fixed_temperature"
        saved = state_dict.get(key)
        if saved is not None:
            self._check_saved_temperature(saved, prefix)
        # The record is this module's own setting (equal, or absent from a state saved before
        # it existed); copying the saved one would carry its rounding into the next save.
        state_dict[key] = self.fixed_temperature
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def _check_saved_temperature(self, saved: object, prefix: str) -> None:
        where = "the InstanceLoss state" + (f" at {prefix[:-1]!r}" if prefix else "")
        if not (isinstance(saved, Tensor) and saved.is_floating_point() and saved.numel() == 1):
            raise ValueError(
                f"{where}: fixed_temperature must be a floating scalar tensor, got {saved!r}"
            )
        # Compared in the saved dtype, so a state saved after .half() matches its own tau.
        mine = self.fixed_temperature.to(saved.dtype).cpu()
        saved = saved.detach().reshape(()).cpu()
        if bool(saved == mine):
            return

        def describe(value: Tensor) -> str:
            return "a learnable temperature" if value == 0 else f"temperature={value.item():g}"

        raise ValueError(
            f"{where} was saved with {describe(saved)} but this InstanceLoss has "
            f"{describe(mine)}: build it with the saved setting to load this state"
        )

    def extra_repr(self) -> str:
        kind = "learnable" if self.learnable_temperature else "fixed"
        return (
            f"dim={self.dim}, queue_size={self.queue.size}, {kind} temperature, "
            f"in_batch_negatives={self.in_batch_negatives}, reduction={self.reduction!r}"
        )
