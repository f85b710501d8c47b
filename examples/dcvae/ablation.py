"""DC-VAE's ablation (Table 1, and the linear probe of Table 6) on the digits, over seeds.

    python examples/dcvae/ablation.py --seeds 0 1 2 --jobs 2 --out runs/ablation

Every mode trains with the ``digits`` preset (``--steps`` defaults to its 3,000 iterations)
for every seed, into ``OUT/seed<k>/<mode>``, evaluated once, at the end; that evaluation also
runs the linear probe of DC-VAE Table 6 (:func:`models.linear_probe`) on the run's encoder.
The last lines of the runs' ``metrics.jsonl`` make:

* ``OUT/ablation.md``: one row per mode, each cell the mean ± standard deviation over the
  seeds (the value itself for one seed);
* ``OUT/ablation.json``: the same numbers, and every run's own;
* ``OUT/ablation.png`` and ``OUT/ablation_reconstructions.png``: each mode's samples, and its
  inputs above their reconstructions, for the first seed, large enough to read the digits.

``--jobs 2`` trains two runs at a time, each on one thread (a run of the digits preset uses
one core). A run whose last ``metrics.jsonl`` line is at ``--steps`` is kept, so an
interrupted ablation continues where it stopped when run again with the same flags: a run
with a checkpoint resumes from it, one without starts over. A run's log is
``OUT/seed<k>/<mode>/log.txt``. Extra flags after ``--`` go to every run (e.g.
``-- --queue-init empty``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import math
import multiprocessing
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from checkpoint import FILENAME, CheckpointError, check_same_config
from config import MODES, Config, parse_config
from train import run

#: metrics.jsonl key, column title; lower is better for every distance.
COLUMNS = (
    ("sample_fid", "sample FID ↓"),
    ("reconstruction_fid", "reconstruction FID ↓"),
    ("pixel_distance", "pixel distance ↓"),
    ("perceptual_distance", "perceptual distance ↓"),
    ("contrastive_accuracy", "contrastive accuracy"),
    ("probe_accuracy", "probe accuracy ↑"),
)
TITLES = {
    "vae": "VAE",
    "vaegan": "VAE/GAN",
    "vae-contrastive": "VAE-Contrastive",
    "dcvae": "DC-VAE",
}
#: Each pixel of a run's grids (already drawn 2 × 2) is drawn this many times larger again.
ZOOM = 2


def run_folder(out: Path, seed: int, mode: str) -> Path:
    return out / f"seed{seed}" / mode


def last_record(folder: Path) -> dict[str, float] | None:
    """The last ``metrics.jsonl`` line of a run, or ``None`` when it has none."""
    path = folder / "metrics.jsonl"
    lines = path.read_text().splitlines() if path.is_file() else []
    return json.loads(lines[-1]) if lines else None


def finished(folder: Path, config: Config) -> bool:
    """Whether the run trained ``config.steps`` iterations and was evaluated there.

    Raises:
        CheckpointError: the run was trained with other settings than ``config``.
    """
    record = last_record(folder)
    if record is None or record["step"] != config.steps:
        return False
    saved = json.loads((folder / "config.json").read_text())
    try:
        check_same_config(saved, json.loads(config.to_json()), folder / "config.json")
    except CheckpointError as error:
        raise CheckpointError(
            f"{folder} holds a finished run with other settings; run the ablation with its "
            f"settings, give it another --out, or delete that folder to retrain ({error})"
        ) from error
    return True


def train_one(config: Config, log: bool = False) -> float:
    """Train one run (resuming from its checkpoint if it has one); return seconds.

    A run that stopped before its first checkpoint starts over in an emptied folder. With
    ``log`` the run prints into ``log.txt`` in its folder instead of the console.
    """
    start = time.perf_counter()
    folder = Path(config.out)
    record = last_record(folder)
    checkpointed = (folder / FILENAME).is_file()
    if not (checkpointed and record is not None and record["step"] == config.steps):
        if checkpointed:
            config = dataclasses.replace(config, resume=True)
        else:
            shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        sink = (folder / "log.txt").open("a") if log else contextlib.nullcontext(sys.stdout)
        with sink as stream, contextlib.redirect_stdout(stream):
            run(config)
    return time.perf_counter() - start


def train_all(configs: dict[tuple[int, str], Config], jobs: int) -> list[str]:
    """Train and probe every run, ``jobs`` at a time; return the failures, one line each.

    One job trains here, printing to the console; more train in fresh interpreters ("spawn":
    forking a process that has run torch can deadlock), each printing into its run's log.
    """
    failed = []

    def report(seed: int, mode: str, result: Callable[[], float]) -> None:
        try:
            seconds = result()
        except Exception as error:  # a failed run is reported, the others go on
            failed.append(f"seed {seed} {mode}: {type(error).__name__}: {error}")
            print(f"== seed {seed} {mode}: FAILED ({error})", flush=True)
            return
        print(f"== seed {seed} {mode}: done in {seconds:.0f} s", flush=True)

    if jobs == 1:
        for (seed, mode), config in configs.items():
            print(f"== seed {seed} {mode}", flush=True)
            report(seed, mode, functools.partial(train_one, config))
        return failed
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {key: pool.submit(train_one, config, True) for key, config in configs.items()}
        for seed, mode in futures:
            print(f"== seed {seed} {mode}: log in {Path(configs[seed, mode].out) / 'log.txt'}")
        for (seed, mode), future in futures.items():
            report(seed, mode, future.result)
    return failed


def summarize(values: list[float]) -> dict[str, float | list[float]]:
    """Mean, sample standard deviation (0 for one value) and the values themselves."""
    mean = math.fsum(values) / len(values)
    squares = math.fsum((value - mean) ** 2 for value in values)
    std = math.sqrt(squares / (len(values) - 1)) if len(values) > 1 else 0.0
    return {"mean": mean, "std": std, "values": values}


def aggregate(
    runs: dict[int, dict[str, dict[str, float]]], modes: list[str]
) -> dict[str, dict[str, dict[str, float | list[float]]]]:
    """Mode → metric → :func:`summarize` over the seeds that have that metric."""
    table: dict[str, dict[str, dict[str, float | list[float]]]] = {}
    for mode in modes:
        rows = [seeds[mode] for seeds in runs.values() if mode in seeds]
        table[mode] = {
            key: summarize([row[key] for row in rows if key in row])
            for key, _ in COLUMNS
            if any(key in row for row in rows)
        }
    return table


def cell(summary: dict[str, float | list[float]] | None) -> str:
    if summary is None:
        return "–"
    mean, std, values = summary["mean"], summary["std"], summary["values"]
    assert isinstance(values, list)
    # Two significant digits of the spread, written out (190, not 1.9e+02).
    return f"{mean:.4g}" if len(values) == 1 else f"{mean:.4g} ± {float(f'{std:.2g}'):g}"


def markdown_table(table: dict[str, dict[str, dict[str, float | list[float]]]]) -> str:
    """One row per mode; a metric a mode does not have is shown as a dash."""
    columns = [(key, title) for key, title in COLUMNS if any(key in r for r in table.values())]
    lines = [
        "| mode | " + " | ".join(title for _, title in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for mode, row in table.items():
        cells = [cell(row.get(key)) for key, _ in columns]
        lines.append(f"| {TITLES[mode]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def grids_figure(folders: dict[str, Path], picture: str, path: Path) -> None:
    """The ``picture`` of every run in a grid of two columns, titled, each pixel enlarged."""
    from PIL import Image, ImageDraw, ImageFont

    panels = {}
    for mode, folder in folders.items():
        with Image.open(folder / picture) as image:
            gray = image.convert("L")
        size = (gray.width * ZOOM, gray.height * ZOOM)
        panels[mode] = gray.resize(size, Image.Resampling.NEAREST)
    width = max(panel.width for panel in panels.values())
    height = max(panel.height for panel in panels.values())
    font = ImageFont.load_default(size=32)
    title, margin = 48, 16
    columns = min(2, len(panels))
    rows = -(-len(panels) // columns)
    figure = Image.new(
        "L", (columns * (width + margin) + margin, rows * (height + title + margin)), 255
    )
    draw = ImageDraw.Draw(figure)
    for index, (mode, panel) in enumerate(panels.items()):
        left = margin + (index % columns) * (width + margin)
        top = (index // columns) * (height + title + margin)
        centre = (left + width // 2, top + title // 2)
        draw.text(centre, TITLES[mode], fill=0, font=font, anchor="mm")
        figure.paste(panel, (left, top + title))
    figure.save(path, optimize=True)


def main(argv: list[str] | None = None) -> dict[str, dict[str, dict[str, float | list[float]]]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, help="iterations per run (default: the preset's)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="one run per seed")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at a time, 1 thread each")
    parser.add_argument("--out", type=Path, default=Path("runs/ablation"))
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("extra", nargs="*", help="flags passed to every run, after --")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    # Every flag is checked before anything trains.
    common = parse_config(args.extra)
    if common.data != "digits":
        parser.error(f"the probe needs the digits' labels: --data digits, not {common.data}")
    steps = args.steps or common.steps
    threads = ["--threads", "1"] if args.jobs > 1 else []
    configs: dict[tuple[int, str], Config] = {}
    for seed in args.seeds:
        for mode in args.modes:
            configs[seed, mode] = parse_config([
                "--mode", mode, "--steps", str(steps), "--seed", str(seed),
                "--eval-every", str(steps), "--out", str(run_folder(args.out, seed, mode)),
                "--feature-cache", str(args.out / "feature_network"), "--quiet",
                *threads, *args.extra,
            ])  # fmt: skip
    try:
        kept = [(seed, mode) for (seed, mode), c in configs.items() if finished(Path(c.out), c)]
    except CheckpointError as error:
        raise SystemExit(f"error: {error}") from error
    for seed, mode in kept:
        print(f"== seed {seed} {mode}: finished before, kept", flush=True)
    # The costliest runs first, so that two jobs end together: on the digits an iteration of
    # dcvae, vaegan, vae-contrastive and vae takes about 120, 100, 40 and 25 ms of CPU.
    pending = sorted(
        ((key, c) for key, c in configs.items() if key not in kept),
        key=lambda item: (not item[1].adversarial, not item[1].contrastive),
    )
    failed = train_all(dict(pending), args.jobs) if pending else []
    runs: dict[int, dict[str, dict[str, float]]] = {seed: {} for seed in args.seeds}
    for (seed, mode), config in configs.items():
        record = last_record(Path(config.out))
        if record is not None and finished(Path(config.out), config):
            runs[seed][mode] = {k: v for k, v in record.items() if k != "step"}
    table = aggregate(runs, args.modes)
    report = {"steps": steps, "seeds": args.seeds, "modes": table, "runs": runs}
    (args.out / "ablation.json").write_text(json.dumps(report, indent=2, sort_keys=True))
    (args.out / "ablation.md").write_text(markdown_table(table))
    first = {mode: run_folder(args.out, args.seeds[0], mode) for mode in runs[args.seeds[0]]}
    if first:
        grids_figure(first, "samples.png", args.out / "ablation.png")
        grids_figure(first, "reconstructions.png", args.out / "ablation_reconstructions.png")
    print(markdown_table(table))
    if failed:
        raise SystemExit("runs that failed (rerun to retry them):\n" + "\n".join(failed))
    return table


if __name__ == "__main__":
    main()
