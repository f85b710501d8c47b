"""What a run leaves in its output folder besides checkpoints: image grids, loss curves, metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

PADDING = 2


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
