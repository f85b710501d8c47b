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
      newest rows are kept); an empty batch changes nothing.
    * **A non-finite key never becomes a negative.** :meth:`enqueue` writes a row holding a NaN
      or an infinity as zeros and clears its bit in the ``finite`` buffer, so
      :meth:`valid_mask` leaves that slot out until a finite key overwrites it. The row still
      takes its slot and advances the pointer: which slots a batch fills never depends on the
      values, so nothing is read back to the host. Without this, one NaN key would make every
      later loss NaN until the ring wrapped around.
    * ``ptr``, ``count`` and ``finite`` are buffers, so ``state_dict`` restores the queue
      exactly. Loading validates the state: a state of another size or dim, a ``ptr`` outside
      ``[0, size)``, a ``count`` outside ``[0, size]``, a ``ptr`` that differs from ``count``
      while the queue is not full (the ring fills from slot 0), or integer/boolean entries of
      another dtype raise a ``ValueError``. A state holding ``keys`` without ``ptr`` and
      ``count`` is refused even under ``strict=False`` (guessing ``count = 0`` would mask every
      loaded key); a state without ``finite`` (saved before it existed) has it inferred from
      the keys, and non-finite loaded keys are zeroed and masked like enqueued ones.
    * :meth:`valid_mask` marks the filled slots that hold a finite key; with ``init="empty"``
      (default) the first steps never contrast against uninitialised vectors.
      ``init="random"`` fills the queue with normalised Gaussian vectors and marks it full, as
      ``train.py`` of github.com/mlpc-ucsd/DC-VAE (and MoCo) does.
    * :meth:`enqueue` runs on the device with no host synchronisation and compiles with
      ``torch.compile(fullgraph=True)``.
    * Under ``torch.distributed`` the keys of all ranks are gathered first, so every rank's
      queue stays identical.

    Args:
        size: number of slots ``K``.
        dim: key dimension ``D``.
        init: ``"empty"`` or ``"random"``.

    Shapes:
        ``keys`` buffer: ``(K, D)`` float32; ``finite``: ``(K,)`` bool; :meth:`enqueue`
        takes ``(B, D)``.

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
        >>> queue.enqueue(torch.tensor([[float("nan"), 0.0]]))  # never a negative
        >>> queue.valid_mask()
        tensor([ True, False,  True,  True,  True])
    """

    # Version 2 added the ``finite`` buffer; a state without it has it inferred from its keys.
    _version = 2

    keys: Tensor
    ptr: Tensor
    count: Tensor
    finite: Tensor
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
        self.register_buffer("finite", torch.ones(size, dtype=torch.bool))
        self.register_buffer("slots", torch.arange(size), persistent=False)

    @torch.no_grad()
    def enqueue(self, keys: Tensor, *, gather: bool = True) -> None:
        """Write a batch of keys, gathered from every rank under ``torch.distributed``.

        A row holding a NaN or an infinity is stored as zeros and masked out (see the class
        docstring); the loss computed from it before the enqueue is non-finite as PyTorch
        propagates it, but it never reaches a later batch.

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
        if keys.device != self.keys.device:
            raise ValueError(
                f"keys is on {keys.device} but this NegativeQueue is on {self.keys.device}: "
                "move one of them (module.to(device) moves the queue)"
            )
        keys = keys.detach()
        if gather:
            keys = gather_across_ranks(keys)
        total = keys.shape[0]
        kept = min(total, self.size)
        newest = keys[total - kept :].to(self.keys.dtype)
        # Masking instead of dropping: dropping would make the slots written depend on the
        # values, which the host cannot know without a sync.
        finite = newest.isfinite().all(dim=1)
        newest = torch.where(finite.unsqueeze(1), newest, torch.zeros_like(newest))
        offsets = torch.arange(total - kept, total, device=self.ptr.device)
        slots = (self.ptr + offsets) % self.size
        self.keys.index_copy_(0, slots, newest)
        self.finite.index_copy_(0, slots, finite)
        self.ptr.copy_((self.ptr + total) % self.size)
        self.count.copy_((self.count + total).clamp(max=self.size))

    def valid_mask(self) -> Tensor:
        """``(K,)`` bool tensor, ``True`` for slots that hold a finite key."""
        return (self.slots < self.count) & self.finite

    def forward(self) -> tuple[Tensor, Tensor]:
        """Return ``(keys, valid_mask)``: the ``(K, D)`` buffer and its ``(K,)`` mask."""
        return self.keys, self.valid_mask()

    def reset(self) -> None:
        """Empty the queue (pointer and count to zero)."""
        self.keys.zero_()
        self.ptr.zero_()
        self.count.zero_()
        self.finite.fill_(True)

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
        # Loading is not on a training step's path: reading ptr and count here costs nothing.
        present = [name for name in ("keys", "ptr", "count") if prefix + name in state_dict]
        if present:
            self._check_state(state_dict, prefix, present)
            stored = state_dict[prefix + "keys"]
            finite = state_dict.get(prefix + "finite")
            if finite is None:
                finite = torch.ones(self.size, dtype=torch.bool, device=stored.device)
            finite = finite & stored.isfinite().all(dim=1)
            state_dict[prefix + "finite"] = finite
            state_dict[prefix + "keys"] = torch.where(finite.unsqueeze(1), stored, 0.0)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def _check_state(self, state_dict: dict[str, Any], prefix: str, present: list[str]) -> None:
        where = "the NegativeQueue state" + (f" at {prefix[:-1]!r}" if prefix else "")
        if len(present) != 3:
            absent = [name for name in ("keys", "ptr", "count") if name not in present]
            raise ValueError(
                f"{where} holds {present} but not {absent}: a queue's keys, ptr and count only "
                "mean something together (loading keys with count = 0 would mask every key)"
            )
        keys, ptr, count = (state_dict[prefix + name] for name in ("keys", "ptr", "count"))
        finite = state_dict.get(prefix + "finite")
        if not (isinstance(keys, Tensor) and keys.is_floating_point()):
            raise ValueError(f"{where}: keys must be a floating tensor, got {_describe(keys)}")
        if tuple(keys.shape) != (self.size, self.dim):
            raise ValueError(
                f"cannot load a NegativeQueue state of (size, dim) = {tuple(keys.shape)} into "
                f"a queue of (size, dim) = ({self.size}, {self.dim})"
            )
        for name, value, ok, kind in (
            ("ptr", ptr, _is_int_scalar(ptr), "0-dim integer"),
            ("count", count, _is_int_scalar(count), "0-dim integer"),
            ("finite", finite, finite is None or _is_bool_vector(finite, self.size), "(K,) bool"),
        ):
            if not ok:
                raise ValueError(f"{where}: {name} must be a {kind} tensor, got {_describe(value)}")
        p, c = int(ptr), int(count)
        if not (0 <= p < self.size and 0 <= c <= self.size):
            raise ValueError(
                f"{where} has ptr = {p} and count = {c}; a queue of size {self.size} needs "
                f"0 <= ptr < {self.size} and 0 <= count <= {self.size}"
            )
        if c < self.size and p != c:
            raise ValueError(
                f"{where} has ptr = {p} but count = {c}: a queue that is not full has written "
                "slots 0 .. count - 1, so its pointer must equal its count"
            )

    def extra_repr(self) -> str:
        return f"size={self.size}, dim={self.dim}"


def _is_int_scalar(value: object) -> bool:
    return (
        isinstance(value, Tensor)
        and value.ndim == 0
        and not value.is_floating_point()
        and not value.is_complex()
        and value.dtype != torch.bool
    )


def _is_bool_vector(value: object, size: int) -> bool:
    return isinstance(value, Tensor) and value.dtype == torch.bool and tuple(value.shape) == (size,)


def _describe(value: object) -> str:
    if isinstance(value, Tensor):
        return f"dtype {value.dtype} and shape {tuple(value.shape)}"
    return type(value).__name__
