"""The ablation script: four modes over seeds, one table, one JSON report, two figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ablation import aggregate, main, markdown_table
from PIL import Image


def _run_flags(tiny_args: list[str]) -> list[str]:
    return tiny_args[: tiny_args.index("--out")]


def _metrics(folder: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


def test_ablation_over_seeds_in_two_jobs_writes_table_json_and_figures(
    tiny_args: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "ablation"
    argv = ["--steps", "2", "--seeds", "0", "1", "--modes", "vae", "dcvae", "--jobs", "2"]
    table = main([*argv, "--out", str(out), "--", *_run_flags(tiny_args)])
    assert list(table) == ["vae", "dcvae"]
    lines = (out / "ablation.md").read_text().splitlines()
    assert [line.split("|")[1].strip() for line in lines[2:]] == ["VAE", "DC-VAE"]
    assert "pixel distance" in lines[0] and "probe accuracy" in lines[0]
    assert all(" ± " in line for line in lines[2:])  # two seeds: mean ± standard deviation
    report = json.loads((out / "ablation.json").read_text())
    assert report["seeds"] == [0, 1] and report["steps"] == 2
    for seed in (0, 1):
        for mode in table:
            folder = out / f"seed{seed}" / mode
            config = json.loads((folder / "config.json").read_text())
            assert (config["seed"], config["threads"], config["mode"]) == (seed, 1, mode)
            # Evaluated once, at the end, and probed there (DC-VAE Table 6).
            (record,) = _metrics(folder)
            assert record["step"] == 2 and 0 <= record["probe_accuracy"] <= 1
            assert report["runs"][str(seed)][mode]["probe_accuracy"] == record["probe_accuracy"]
    probe = report["modes"]["dcvae"]["probe_accuracy"]
    assert probe["values"] == [report["runs"][s]["dcvae"]["probe_accuracy"] for s in ("0", "1")]
    for name, picture in (("ablation.png", "samples.png"), ("ablation_reconstructions.png",
                                                            "reconstructions.png")):  # fmt: skip
        with Image.open(out / name) as figure, Image.open(out / "seed0/vae" / picture) as grid:
            # Side by side, each pixel of a run's grid drawn twice as large again.
            assert figure.mode == "L" and figure.width > 4 * grid.width
            assert figure.height > 2 * grid.height


def test_ablation_keeps_finished_runs_and_completes_interrupted_ones(
    tiny_args: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "ablation"
    argv = ["--steps", "2", "--modes", "vae", "vaegan", "--out", str(out)]
    argv += ["--", *_run_flags(tiny_args)]
    first = main(argv)
    vae, vaegan = out / "seed0/vae", out / "seed0/vaegan"
    kept = (vae / "checkpoint.pt").stat().st_mtime_ns
    trained = (vaegan / "checkpoint.pt").stat().st_mtime_ns
    assert main(argv) == first  # both finished: nothing retrained
    assert (vae / "checkpoint.pt").stat().st_mtime_ns == kept
    assert (vaegan / "checkpoint.pt").stat().st_mtime_ns == trained
    # A run that stopped before its first checkpoint (and evaluation) starts over.
    for name in ("checkpoint.pt", "metrics.jsonl"):
        (vaegan / name).unlink()
    assert main(argv) == first
    assert (vaegan / "checkpoint.pt").stat().st_mtime_ns > trained
    # A finished run with other settings is neither kept as if it matched nor overwritten.
    with pytest.raises(SystemExit, match=r"seed0/vae holds a finished run with other settings"):
        main([*argv, "--lr", "5e-4"])


def test_the_table_gives_mean_and_standard_deviation_over_seeds() -> None:
    dcvae = {"pixel_distance": 2.0, "probe_accuracy": 0.9}
    runs = {
        0: {"vae": {"pixel_distance": 1.0}, "vaegan": {}, "vae-contrastive": {}, "dcvae": dcvae},
        1: {"vae": {"pixel_distance": 3.0}, "dcvae": {**dcvae, "probe_accuracy": 0.7}},
    }
    table = aggregate(runs, ["vae", "vaegan", "vae-contrastive", "dcvae"])
    assert table["vae"]["pixel_distance"] == {"mean": 2.0, "std": 2**0.5, "values": [1.0, 3.0]}
    assert markdown_table(table).splitlines()[2:] == [
        "| VAE | 2 ± 1.4 | – |",
        "| VAE/GAN | – | – |",
        "| VAE-Contrastive | – | – |",
        "| DC-VAE | 2 ± 0 | 0.8 ± 0.14 |",
    ]
    single = aggregate({0: runs[0]}, ["vae"])
    assert markdown_table(single).splitlines()[2] == "| VAE | 1 |"
    fids = {0: {"vae": {"sample_fid": 100.0}}, 1: {"vae": {"sample_fid": 400.0}}}
    wide = aggregate(fids, ["vae"])
    assert markdown_table(wide).splitlines()[2] == "| VAE | 250 ± 210 |"
