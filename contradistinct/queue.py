"""A preallocated ring buffer of negative keys (the "dictionary" of MoCo, used by DC-VAE Eq. 6)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contradistinct._checks import check_choice, check_positive_int, check_rank
from contradistinct.distributed import gather_across_ranks

QUEUE_INITS = ("empty", "random")


class NegativeQueue(nn.Module):
    r"""Ring buffer holding the ``size`` newest keys of dimension ``dim``.

    DC-VAE contrasts each reconstruction against real images other than its input (Eq. 6); the
    queue supplies those negatives as detached keys of earlier batches (8192 × 16 per scale in
    the paper). Writing a batch of ``n`` keys at pointer :math:`p` puts row :math:`i` at slot
    :math:`(p + i) \bmod \text{size}` for the newest :math:`\min(n, \text{size})` rows, then sets
    :math:`p \leftarrow (p + n) \bmod \text{size}` and
    :math:`\text{count} \leftarrow \min(\text{count} + n, \text{size})`.

    * Any batch size works, including one that does not divide ``size`` or exceeds it (only the
      newest rows are kept).
    * ``ptr`` and ``count`` are buffers, so ``state_dict`` restores the queue exactly; loading a
      state of another size or dim raises a ``ValueError``.
    * :meth:`valid_mask` marks the filled slots; with ``init="empty"`` (default) the first steps
      never contrast against uninitialised vectors. ``init="random"`` fills the queue with
      normalised Gaussian vectors and marks it full, as ``train.py`` of
      github.com/mlpc-ucsd/DC-VAE (and MoCo) does.
    * :meth:`enqueue` runs on the device with no host synchronisation and compiles with
      ``torch.compile(fullgraph=True)``.
    * Under ``torch.distributed`` the keys of all ranks are gathered first, so every rank's
      queue stays identical.

    Args:
        size: number of slots ``K``.
        dim: key dimension ``D``.
        init: ``"empty"`` or ``"random"``.

    Shapes:
        ``keys`` buffer: ``(K, D)`` float32; :meth:`enqueue` takes ``(B, D)``.

    Example:
        >>> import torch
        >>> from contradistinct import NegativeQueue
        >>> queue = NegativeQueue(size=5, dim=2)
        >>> queue.enqueue(torch.arange(6.0).reshape(3, 2))
        >>> queue.valid_mask()
        tensor([ True,  True,  True, False, False])
        >>> queue.enqueue(torch.ones(3, 2))
        >>> queue.ptr, queue.count
        (tensor(1), tensor(5))
    """

    keys: Tensor
    ptr: Tensor
    count: Tensor
    slots: Tensor

    def __init__(self, size: int, dim: int, *, init: str = "empty") -> None:
        super().__init__()
        self.size = check_positive_int(size, "size")
        self.dim = check_positive_int(dim, "dim")
        check_choice(init, "init", QUEUE_INITS)
        if init == "random":
            keys = F.normalize(torch.randn(size, dim), dim=1)
            count = size
        else:
            keys = torch.zeros(size, dim)
            count = 0
        self.register_buffer("keys", keys)
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("count", torch.tensor(count, dtype=torch.long))
        self.register_buffer("slots", torch.arange(size), persistent=False)

    @torch.no_grad()
    def enqueue(self, keys: Tensor, *, gather: bool = True) -> None:
        """Write a batch of keys, gathered from every rank under ``torch.distributed``.

        Args:
            keys: ``(B, D)`` keys; stored detached, in the queue's dtype.
            gather: set to ``False`` when ``keys`` already holds the keys of every rank (for
                example the output of :func:`~contradistinct.distributed.gather_across_ranks`).
        """
        keys = check_rank(keys, "keys", 2, "(B, D)")
        if keys.shape[1] != self.dim:
            raise ValueError(
                f"keys must have shape (B, {self.dim}) for a queue of dim {self.dim}, "
                f"got {tuple(keys.shape)}"
            )
        keys = keys.detach()
        if gather:
            keys = gather_across_ranks(keys)
        total = keys.shape[0]
        kept = min(total, self.size)
        newest = keys[total - kept :].to(self.keys.dtype)
        offsets = torch.arange(total - kept, total, device=self.ptr.device)
        self.keys.index_copy_(0, (self.ptr + offsets) % self.size, newest)
        self.ptr.copy_((self.ptr + total) % self.size)
        self.count.copy_((self.count + total).clamp(max=self.size))

    def valid_mask(self) -> Tensor:
        """``(K,)`` bool tensor, ``True`` for slots that hold a key."""
        return self.slots < self.count

    def forward(self) -> tuple[Tensor, Tensor]:
        """Return ``(keys, valid_mask)``: the ``(K, D)`` buffer and its ``(K,)`` mask."""
        return self.keys, self.valid_mask()

    def reset(self) -> None:
        """Empty the queue (pointer and count to zero)."""
        self.keys.zero_()
        self.ptr.zero_()
        self.count.zero_()

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
        stored = state_dict.get(prefix + "keys")
        if stored is not None and tuple(stored.shape) != (self.size, self.dim):
            raise ValueError(
                f"cannot load a NegativeQueue state of (size, dim) = {tuple(stored.shape)} into "
                f"a queue of (size, dim) = ({self.size}, {self.dim})"
            )
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def extra_repr(self) -> str:
        return f"size={self.size}, dim={self.dim}"
