"""Running means of the logged losses, and the non-finite check, with no per-step host sync.

Every iteration's logs stay on the device: :meth:`LossLog.add` accumulates them and records the
first step and term that were not finite; :meth:`LossLog.flush` (every ``--log-every`` steps)
and :meth:`LossLog.check` (before every checkpoint) read them once and raise
:class:`NonFiniteLoss`, so a checkpoint is never written after a non-finite loss.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

from contradistinct.distributed import is_distributed

TERMS = ("d_loss", "g_adv", "reconstruction", "instance", "kl", "accuracy")


class NonFiniteLoss(RuntimeError):
    """A loss term was NaN or infinite; the message names the term and the step."""


class LossLog:
    def __init__(self, device: torch.device) -> None:
        self.sums: dict[str, Tensor] = {}
        self.counts: dict[str, int] = {}
        # (first non-finite step, index of its term in TERMS); -1 while everything is finite.
        self.first_bad = torch.full((2,), -1, dtype=torch.long, device=device)
        # Term indices per set of logged names, built once: a host-to-device copy on every
        # step would wait for the device.
        self._term_indices: dict[tuple[str, ...], Tensor] = {}

    def add(self, logs: dict[str, Tensor], step: int) -> None:
        names = [name for name in TERMS if name in logs]
        values = torch.stack([logs[name].detach().float() for name in names])
        bad = ~torch.isfinite(values)
        key = tuple(names)
        if key not in self._term_indices:
            indices = [TERMS.index(n) for n in names]
            self._term_indices[key] = torch.tensor(indices, device=values.device)
        term = self._term_indices[key]
        first_term = term[bad.int().argmax()]
        new = bad.any() & (self.first_bad[0] < 0)
        candidate = torch.stack([torch.full_like(first_term, step), first_term])
        self.first_bad.copy_(torch.where(new, candidate, self.first_bad))
        for name, value in zip(names, values, strict=True):
            self.sums[name] = self.sums[name] + value if name in self.sums else value
            self.counts[name] = self.counts.get(name, 0) + 1

    def check(self) -> None:
        """Raise :class:`NonFiniteLoss` if any rank logged a non-finite term (collective)."""
        first_bad = self.first_bad.clone()
        if is_distributed():
            dist.all_reduce(first_bad, op=dist.ReduceOp.MAX)
        step, term = first_bad.tolist()
        if step >= 0:
            raise NonFiniteLoss(
                f"the loss term {TERMS[term]!r} was not finite at step {step}; training stopped, "
                "the last checkpoint (written before it) is intact"
            )

    def flush(self) -> dict[str, float]:
        """Check, then return and reset the means since the last flush."""
        self.check()
        means = {name: (self.sums[name] / self.counts[name]).item() for name in self.sums}
        self.sums, self.counts = {}, {}
        return means
