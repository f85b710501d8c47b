"""Draw the DC-VAE training step: the data flow (top) and which loss trains which network (below).

Run from the repository root to refresh the picture shown on the concepts page::

    python docs/_scripts/draw_training_step.py docs/_static/dcvae_training_step.png

Needs matplotlib (the ``examples`` extra).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

INSTANCE, KL, GAN = "#1f77b4", "#2ca02c", "#d62728"
NETWORK, FROZEN, DATA = "#f2f2f2", "#fff4d6", "#ffffff"

# Which parameters each term of the step updates (DC-VAE Eq. 9 and the authors' code): the
# discriminator is the learned critic of the instance loss but the adversary of the GAN term.
LOSSES = [
    ("instance loss (Eq. 6)", INSTANCE, [1, 1, 1, 0]),
    ("KL of the IELBO (Eq. 8)", KL, [1, 0, 0, 0]),
    ("GAN, encoder/decoder side (Eq. 4)", GAN, [1, 1, 0, 0]),
    ("GAN, discriminator side (Eq. 4)", GAN, [0, 0, 1, 1]),
]
NETWORKS = ["encoder", "decoder", "D trunk +\nembedding", "D logit\nhead"]


def box(
    ax: Axes,
    xy: tuple[float, float],
    text: str,
    color: str,
    *,
    width: float = 1.7,
    edge: str = "#444444",
    style: str = "round,pad=0.08",
) -> None:
    x, y = xy
    ax.add_patch(
        FancyBboxPatch(
            (x - width / 2, y - 0.38), width, 0.76, boxstyle=style, fc=color, ec=edge, lw=1.4
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=9.5)


def arrow(
    ax: Axes,
    start: tuple[float, float],
    end: tuple[float, float],
    label: str = "",
    *,
    color: str = "#333333",
    dashed: bool = False,
    rad: float = 0.0,
    offset: tuple[float, float] = (0.0, 0.12),
) -> None:
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle="-|>",
            mutation_scale=12,
            color=color,
            lw=1.3,
            linestyle="--" if dashed else "-",
            connectionstyle=f"arc3,rad={rad}",
            shrinkA=2,
            shrinkB=2,
        )
    )
    if label:
        mid = ((start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1])
        ax.text(*mid, label, ha="center", va="bottom", fontsize=8.5, color=color)


def draw_flow(ax: Axes) -> None:
    ax.set_xlim(0, 11.0)
    ax.set_ylim(0.3, 7.0)
    ax.axis("off")
    ax.set_title("one step: data flow", fontsize=11)

    box(ax, (0.7, 5.0), "$x$\nreal images", DATA, width=1.1)
    box(ax, (2.45, 5.0), "encoder $E_\\phi$", NETWORK, width=1.4)
    box(ax, (2.45, 6.4), "KL", "white", edge=KL, width=0.9)
    box(ax, (5.3, 6.4), "$z_p \\sim \\mathcal{N}(0, I)$", DATA, width=1.6)
    box(ax, (5.3, 5.0), "decoder $f_\\theta$", NETWORK, width=1.5)
    box(ax, (8.0, 5.0), "discriminator $D$", NETWORK, width=1.8)
    box(ax, (5.3, 2.0), "$x$\nreal images", DATA, width=1.1)
    box(ax, (8.0, 2.0), "momentum copy of $D$\n(EMA, no gradients)", FROZEN, width=2.2)
    box(ax, (10.1, 3.5), "instance\nloss", "white", edge=INSTANCE, width=1.1)
    box(ax, (10.1, 6.4), "GAN loss", "white", edge=GAN, width=1.1)
    box(ax, (10.1, 0.9), "queue of\nreal keys", FROZEN, width=1.1)

    arrow(ax, (1.25, 5.0), (1.75, 5.0))
    arrow(ax, (2.45, 5.38), (2.45, 6.02), color=KL)
    ax.text(2.55, 5.62, "$\\mu, \\log\\sigma^2$", fontsize=8.5, color=KL, va="center")
    arrow(ax, (3.15, 5.0), (4.55, 5.0), "$z_q \\sim q_\\phi(z|x)$", offset=(0, 0.1))
    arrow(ax, (5.3, 6.02), (5.3, 5.38))
    arrow(ax, (6.05, 5.1), (7.1, 5.1), "$\\hat x = f_\\theta(z_q)$", offset=(0, 0.1))
    arrow(ax, (6.05, 4.85), (7.1, 4.85), "$f_\\theta(z_p)$", offset=(0, -0.42))
    arrow(ax, (5.7, 2.38), (7.4, 4.62), "$x$ (real)", offset=(-0.55, -0.05))
    arrow(ax, (5.85, 2.0), (6.9, 2.0))
    arrow(ax, (8.7, 5.38), (9.7, 6.02), "logits", color=GAN, offset=(-0.35, 0.05))
    arrow(
        ax, (8.7, 4.62), (9.7, 3.85), "query\n$F_D(\\hat x)$", color=INSTANCE, offset=(-0.5, -0.55)
    )
    arrow(
        ax, (9.1, 2.25), (9.75, 3.12), "key\n$F_{\\bar D}(x)$", color=INSTANCE, offset=(-0.6, -0.2)
    )
    arrow(ax, (9.1, 1.7), (9.6, 1.15), "enqueue", color="#666666", offset=(-0.35, -0.35))
    arrow(ax, (10.1, 1.28), (10.1, 3.12), "negatives", color=INSTANCE, offset=(0.45, -0.1))
    arrow(ax, (7.85, 4.62), (7.85, 2.38), "EMA", color="#888888", dashed=True, offset=(-0.3, 0))


def draw_matrix(ax: Axes) -> None:
    ax.set_xlim(-3.4, len(NETWORKS) - 0.4)
    ax.set_ylim(len(LOSSES) - 0.4, -1.1)
    ax.axis("off")
    ax.set_title("which loss updates which network", fontsize=11)
    for column, name in enumerate(NETWORKS):
        ax.text(column, -0.75, name, ha="center", va="center", fontsize=10)
    for row, (name, color, updates) in enumerate(LOSSES):
        ax.text(-0.55, row, name, ha="right", va="center", fontsize=10, color=color)
        for column, trains in enumerate(updates):
            if trains:
                ax.plot(column, row, "o", ms=13, color=color)
            else:
                ax.plot(column, row, "o", ms=13, mfc="none", mec="#bbbbbb")
    ax.text(
        (len(NETWORKS) - 1) / 2 - 1.4,
        len(LOSSES) - 0.1,
        "the momentum copy gets no gradients; it follows $D$ by EMA",
        ha="center",
        va="top",
        fontsize=9.5,
        color="#666666",
    )


def draw(output: Path) -> None:
    """Write the two-panel picture to ``output`` (PNG).

    The panels are stacked and the picture is as wide as the text column of the documentation
    at twice its pixel density, so it is shown at full size and its labels stay readable.
    """
    fig = Figure(figsize=(8.0, 7.9))
    flow, matrix = fig.subplots(2, 1, gridspec_kw={"height_ratios": [1.75, 1.0]})
    draw_flow(flow)
    draw_matrix(matrix)
    fig.tight_layout(h_pad=2.0)
    fig.savefig(output, dpi=200)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="the PNG to write")
    draw(parser.parse_args().output)


if __name__ == "__main__":
    main()
