"""DC-VAE's ablation (Table 1) on the digits: the four modes with the same budget and seed.

    python examples/dcvae/ablation.py --steps 400 --out runs/ablation

Each mode trains with the ``digits`` preset into ``OUT/<mode>``; the last line of its
``metrics.jsonl`` is its row of ``OUT/ablation.md``, and ``OUT/ablation.png`` shows the four
sample grids side by side. Extra flags after ``--`` go to every run (e.g. ``-- --threads 2``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from config import MODES, parse_config
from train import run

#: metrics.jsonl key, column title; lower is better for every distance.
COLUMNS = (
    ("sample_fid", "sample FID ↓"),
    ("reconstruction_fid", "reconstruction FID ↓"),
    ("pixel_distance", "pixel distance ↓"),
    ("perceptual_distance", "perceptual distance ↓"),
    ("contrastive_accuracy", "contrastive accuracy"),
)
TITLES = {
    "vae": "VAE",
    "vaegan": "VAE/GAN",
    "vae-contrastive": "VAE-Contrastive",
    "dcvae": "DC-VAE",
}


def markdown_table(rows: dict[str, dict[str, float]]) -> str:
    """One row per mode; a metric a mode does not have is shown as a dash."""
    columns = [(key, title) for key, title in COLUMNS if any(key in r for r in rows.values())]
    lines = [
        "| mode | " + " | ".join(title for _, title in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for mode, row in rows.items():
        cells = [f"{row[key]:.4g}" if key in row else "–" for key, _ in columns]
        lines.append(f"| {TITLES[mode]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def side_by_side(out: Path, modes: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    figure, axes = plt.subplots(1, len(modes), figsize=(3.2 * len(modes), 3.5))
    for axis, mode in zip(axes, modes, strict=True):
        axis.imshow(Image.open(out / mode / "samples.png"), cmap="gray", interpolation="nearest")
        axis.set_title(TITLES[mode])
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    # The grids are gray: a one-channel PNG is a fraction of matplotlib's RGBA one.
    with Image.open(path) as picture:
        gray = picture.convert("L")
    gray.save(path, optimize=True)


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/ablation"))
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("extra", nargs="*", help="flags passed to every run, after --")
    args = parser.parse_args(argv)
    rows: dict[str, dict[str, float]] = {}
    for mode in args.modes:
        config = parse_config([
            "--mode", mode, "--steps", str(args.steps), "--seed", str(args.seed),
            "--eval-every", str(args.steps), "--checkpoint-every", str(args.steps),
            "--out", str(args.out / mode), "--feature-cache", str(args.out / "feature_network"),
            "--quiet", *args.extra,
        ])  # fmt: skip
        print(f"== {mode}", flush=True)
        run(config)
        last = (args.out / mode / "metrics.jsonl").read_text().splitlines()[-1]
        rows[mode] = {k: v for k, v in json.loads(last).items() if k != "step"}
    (args.out / "ablation.md").write_text(markdown_table(rows))
    side_by_side(args.out, args.modes, args.out / "ablation.png")
    print(markdown_table(rows))
    return rows


if __name__ == "__main__":
    main()
