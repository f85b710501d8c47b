"""What a run reports besides checkpoints: loss logs, image grids, loss curves, metrics.

:class:`LossLog` keeps running means of every term the training steps log, and the first term
that was not finite, with no per-step host sync: every iteration's logs stay on the device;
:meth:`LossLog.add` accumulates them and checks all of them for finiteness at once;
:meth:`LossLog.flush` (every ``--log-every`` steps) and :meth:`LossLog.check` (before every
checkpoint) read the result once and raise :class:`NonFiniteLoss`, so a checkpoint is never
written after a non-finite loss (the trainer's message then names the last good checkpoint).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor

from contradistinct.distributed import is_distributed

PADDING = 2
#: The loss curves and the metric lines in a run's folder.
LOSS_CURVES = "losses.png"
METRICS = "metrics.jsonl"


class NonFiniteLoss(RuntimeError):
    """A logged term was NaN or infinite; the message names the term and the step."""


class LossLog:
    """Running means of any logged terms, and the first step and term that were not finite.

    Terms are named by the steps' logs (0-dim device tensors); a name seen for the first time is
    added to :attr:`names`, in order.
    """

    def __init__(self, device: torch.device) -> None:
        #: Every term logged so far, in the order first seen; indices into it are on the device.
        self.names: list[str] = []
        self.sums: dict[str, Tensor] = {}
        self.counts: dict[str, int] = {}
        # (first non-finite step, index of its term in names); -1 while everything is finite.
        self.first_bad = torch.full((2,), -1, dtype=torch.long, device=device)
        # Term indices per set of logged names, built once: a host-to-device copy on every
        # step would wait for the device.
        self._term_indices: dict[tuple[str, ...], Tensor] = {}

    def add(self, logs: dict[str, Tensor], step: int) -> None:
        """Accumulate one iteration's ``logs`` (term → 0-dim tensor) of iteration ``step``."""
        key = tuple(logs)
        values = torch.stack([value.detach().float() for value in logs.values()])
        if key not in self._term_indices:
            self.names += [name for name in key if name not in self.names]
            indices = [self.names.index(name) for name in key]
            self._term_indices[key] = torch.tensor(indices, device=values.device)
        bad = ~torch.isfinite(values)
        first_term = self._term_indices[key][bad.int().argmax()]
        new = bad.any() & (self.first_bad[0] < 0)
        candidate = torch.stack([torch.full_like(first_term, step), first_term])
        self.first_bad.copy_(torch.where(new, candidate, self.first_bad))
        for name, value in zip(key, values, strict=True):
            self.sums[name] = self.sums[name] + value if name in self.sums else value
            self.counts[name] = self.counts.get(name, 0) + 1

    def check(self) -> None:
        """Raise :class:`NonFiniteLoss` if any rank logged a non-finite term (collective)."""
        first_bad = self.first_bad.clone()
        if is_distributed():
            dist.all_reduce(first_bad, op=dist.ReduceOp.MAX)
        step, term = first_bad.tolist()
        if step >= 0:
            raise NonFiniteLoss(f"the loss term {self.names[term]!r} was not finite at step {step}")

    def flush(self) -> dict[str, float]:
        """Check, then return and reset the means since the last flush."""
        self.check()
        means = {name: (self.sums[name] / self.counts[name]).item() for name in self.sums}
        self.sums, self.counts = {}, {}
        return means


def image_grid(images: Tensor, nrow: int) -> np.ndarray:
    """``(N, C, H, W)`` images in ``[-1, 1]`` as one ``uint8`` grid, ``nrow`` images per row."""
    images = images.detach().float().cpu().clamp(-1, 1).add(1).mul(127.5).round().byte()
    n, c, h, w = images.shape
    rows = -(-n // nrow)
    grid = np.full(
        (rows * (h + PADDING) + PADDING, nrow * (w + PADDING) + PADDING, c), 255, np.uint8
    )
    for index, image in enumerate(images.permute(0, 2, 3, 1).numpy()):
        top = (index // nrow) * (h + PADDING) + PADDING
        left = (index % nrow) * (w + PADDING) + PADDING
        grid[top : top + h, left : left + w] = image
    return grid[..., 0] if c == 1 else grid


def save_grid(images: Tensor, path: Path, nrow: int = 8, scale: int = 2) -> None:
    """Save images as a PNG grid, each pixel drawn ``scale`` × ``scale``."""
    from PIL import Image

    grid = image_grid(images, nrow)
    picture = Image.fromarray(grid)
    picture = picture.resize(
        (picture.width * scale, picture.height * scale), Image.Resampling.NEAREST
    )
    picture.save(path)


def interleave_rows(inputs: Tensor, reconstructions: Tensor, nrow: int) -> Tensor:
    """Rows of ``nrow`` inputs, each followed by the row of their reconstructions."""
    pairs = inputs.shape[0] // nrow
    rows = [
        part[i * nrow : (i + 1) * nrow] for i in range(pairs) for part in (inputs, reconstructions)
    ]
    return torch.cat(rows)


def plot_losses(history: list[dict[str, float]], path: Path) -> None:
    """One panel per logged term against the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({k for entry in history for k in entry if k != "step"})
    if not names:
        return
    columns = min(3, len(names))
    rows = -(-len(names) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 2.6 * rows), squeeze=False)
    for axis, name in zip(axes.flat, names, strict=False):
        points = [(e["step"], e[name]) for e in history if name in e]
        axis.plot(*zip(*points, strict=True), linewidth=1)
        axis.set_title(name, fontsize=9)
        axis.set_xlabel("step", fontsize=8)
        axis.tick_params(labelsize=7)
    for axis in list(axes.flat)[len(names) :]:
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def truncate_jsonl(path: Path, last_step: int) -> None:
    """Drop the records written after ``last_step`` (a resumed run writes them again)."""
    if not path.is_file():
        return
    kept = [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= last_step]
    path.write_text("".join(line + "\n" for line in kept))


def append_jsonl(path: Path, record: dict[str, object]) -> None:
    with path.open("a") as file:
        file.write(json.dumps(record, sort_keys=True) + "\n")
