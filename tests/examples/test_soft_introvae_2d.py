"""The stacked 2D trainer of examples/soft_introvae_2d.py: stacked seeds are separate runs."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
import torch

from contradistinct.functional import negative_elbo
from contradistinct.toy import (
    eight_gaussians,
    eight_gaussians_means,
    grid_normalized_elbo,
    grid_points,
    soft_intro_histogram_kl,
)

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))

import soft_introvae_2d as toy  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "soft_introvae_2d_benchmark", ROOT / "benchmarks" / "soft_introvae_2d.py"
)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)
EagerRun = bench.EagerRun

#: Networks and batches small enough for a few hundred steps to take seconds.
SMALL = ["--hidden", "32", "--depth", "2", "--batch-size", "64", "--lr", "1e-3"]


def small_args(iterations: int, warmup: int) -> object:
    return toy.parse_args(
        ["train", *SMALL, "--iterations", str(iterations), "--warmup", str(warmup)]
    )


def member_params(trainer: toy.StackedTrainer, s: int) -> list[torch.Tensor]:
    return [
        p[s]
        for net in (trainer.encoder, trainer.decoder)
        for pair in zip(net.weights, net.biases, strict=True)
        for p in pair
    ]


@pytest.mark.parametrize("method", toy.METHODS)
@pytest.mark.parametrize("kernel", ["onednn", "mkl"])
def test_stacked_run_equals_separate_eager_runs(
    method: str, kernel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if kernel == "onednn" and not toy._onednn_available():
        pytest.skip("PyTorch built without oneDNN")
    monkeypatch.setattr(toy, "KERNEL", kernel)
    torch.set_num_threads(1)
    args = small_args(iterations=200, warmup=20)
    dataset = "rings"
    config = toy.default_config(method, dataset)
    runs = [toy.Run(method, dataset, seed, config) for seed in (3, 7, 11)]
    stacked = toy.StackedTrainer(runs, args)
    eager = [EagerRun(run, args, fused=True) for run in runs]
    for _ in range(args.iterations):
        stacked.step()
        for e in eager:
            e.step()
    for s, e in enumerate(eager):
        ours = member_params(stacked, s)
        theirs = [p for net in (e.enc, e.dec) for p in net.parameters()]
        for a, b in zip(ours, theirs, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)


TINY = [
    *SMALL, "--hidden", "8", "--iterations", "4", "--warmup", "2", "--grid-points", "16",
    "--eval-samples", "200", "--gnelbo-samples", "100", "--log-every", "0",
]  # fmt: skip


def test_finished_runs_are_recorded_and_skipped_on_restart(tmp_path: Path) -> None:
    out = ["--out", str(tmp_path)]
    toy.main(["train", "--method", "vae", "--seeds", "0", "1", *TINY, *out])
    records = toy.read_records(tmp_path / "runs.jsonl")
    assert [(r["method"], r["seed"], r["phase"]) for r in records] == [
        ("vae", 0, "final"),
        ("vae", 1, "final"),
    ]
    weights = tmp_path / records[0]["weights"]
    stamp = weights.stat().st_mtime_ns
    # A restart with one more seed trains only that seed.
    toy.main(["train", "--method", "vae", "--seeds", "0", "1", "2", *TINY, *out])
    records = toy.read_records(tmp_path / "runs.jsonl")
    assert [r["seed"] for r in records] == [0, 1, 2]
    assert weights.stat().st_mtime_ns == stamp


def test_grid_winner_trains_the_table_and_report_writes_it(tmp_path: Path) -> None:
    out = ["--out", str(tmp_path)]
    toy.main(["grid", "--method", "introvae", *TINY, *out])
    grid = toy.read_records(tmp_path / "runs.jsonl")
    assert len(grid) == len(toy.GRIDS["introvae"])
    assert {r["seed"] for r in grid}.isdisjoint(range(5))
    toy.main(["train", "--method", "introvae", "--from-grid", "--seeds", "0", *TINY, *out])
    final = toy.read_records(tmp_path / "runs.jsonl")[-1]
    best = min(grid, key=lambda r: toy.grid_score(r["metrics"]))
    assert final["config"] == best["config"]
    toy.main(["report", "--redraws", "3", *TINY, *out])
    text = (tmp_path / "results.md").read_text()
    assert "IntroVAE grid" in text
    assert "KL + JSD redrawn" in text
    assert "| 8gaussians | IntroVAE | 1 |" in text
    assert "| 8gaussians | the data itself |" in text
    assert (tmp_path / "8gaussians.png").exists()
    redrawn = json.loads((tmp_path / "results.json").read_text())["redrawn"]
    (model,) = redrawn["8gaussians"]["introvae"]
    assert len(model["KL"]) == len(model["JSD"]) == 3
    assert len(set(model["KL"])) == 3  # each draw is a new set of points
    # Two draws of the data are closer than a 4-iteration model is to the data.
    (data,) = redrawn["8gaussians"]["data"]
    assert max(data["JSD"]) < min(model["JSD"])
    assert len(model["uncovered"]) == 3
    assert max(data["uncovered"]) < min(model["uncovered"])
    assert "| uncovered |" in text
    assert "| IntroVAE | 0 |" in text  # the 8-Gaussian modes table, seed by seed
    modes = json.loads((tmp_path / "results.json").read_text())["modes"]
    assert [(m["method"], m["seed"]) for m in modes] == [("data", None), ("introvae", 0)]
    (energy,) = json.loads((tmp_path / "results.json").read_text())["energy"]
    assert (energy["dataset"], energy["method"], energy["n"]) == ("8gaussians", "introvae", 1)
    assert "| 8gaussians | IntroVAE | 1 |" in text.split("| plane KL |")[-1]
    # Re-evaluated on the recorded gnELBO's own points, r gives that gnELBO back.
    args = toy.parse_args(["report", *TINY, *out])
    implied = 1e7 / (energy["r"] * args.grid_points**2 + args.gnelbo_samples)
    assert implied == pytest.approx(final["metrics"]["gnELBO"], rel=1e-4)

    toy.main(["report", "--redraws", "0", *TINY, *out])
    text = (tmp_path / "results.md").read_text()
    assert "IntroVAE grid" in text
    assert "redrawn" not in text
    assert "Evaluation noise" not in text
    assert json.loads((tmp_path / "results.json").read_text())["redrawn"] == {}


def test_warm_up_keeps_its_share_of_a_shorter_budget() -> None:
    assert toy.parse_args(["train"]).warmup == 2_000
    assert toy.parse_args(["grid"]).warmup == 667
    assert toy.parse_args(["grid", "--iterations", "5000"]).warmup == 333
    assert toy.parse_args(["grid", "--iterations", "5000", "--warmup", "50"]).warmup == 50


def test_a_grid_rerun_at_another_schedule_trains_and_alone_is_ranked(tmp_path: Path) -> None:
    out = ["--out", str(tmp_path)]
    toy.main(["grid", "--method", "introvae", *TINY, *out])
    first = toy.read_records(tmp_path / "runs.jsonl")
    # The same settings with another warm-up are other runs, not recorded ones.
    toy.main(["grid", "--method", "introvae", *TINY, "--warmup", "1", *out])
    records = toy.read_records(tmp_path / "runs.jsonl")
    assert len(records) == 2 * len(first)
    ranked, earlier = toy.grid_runs(records, "introvae")
    assert earlier == first
    assert {r["warmup"] for r in ranked} == {1}
    # Each run keeps its own weights: the rerun wrote no file over the first grid's.
    assert len({r["weights"] for r in records}) == len(records)
    winner = toy.grid_ranking(records, "introvae")[0]
    best = min(ranked, key=lambda r: toy.grid_score(r["metrics"]))
    assert winner == best["config"]
    toy.main(["report", "--redraws", "0", *TINY, *out])
    text = (tmp_path / "results.md").read_text()
    assert "4 iterations, 1 warm-up" in text
    assert "Earlier IntroVAE grid runs at another schedule" in text
    grids = json.loads((tmp_path / "results.json").read_text())["grids"]["introvae"]
    assert len(grids["runs"]) == len(grids["earlier"]) == len(first)


def test_a_vae_run_is_the_same_run_whatever_the_warm_up(tmp_path: Path) -> None:
    # The VAE never warms up, so another --warmup must not retrain it.
    out = ["--out", str(tmp_path)]
    toy.main(["train", "--method", "vae", "--seeds", "0", *TINY, *out])
    toy.main(["train", "--method", "vae", "--seeds", "0", *TINY, "--warmup", "1", *out])
    assert len(toy.read_records(tmp_path / "runs.jsonl")) == 1


def test_shards_split_a_commands_runs_between_processes(tmp_path: Path) -> None:
    out = ["--out", str(tmp_path)]
    command = ["train", "--method", "vae", "--seeds", "0", "1", "2", *TINY, *out]
    toy.main([*command, "--shard", "1/2"])
    assert [r["seed"] for r in toy.read_records(tmp_path / "runs.jsonl")] == [1]
    toy.main([*command, "--shard", "0/2"])
    assert [r["seed"] for r in toy.read_records(tmp_path / "runs.jsonl")] == [1, 0, 2]
    for bad in ("2/2", "1", "a/b", "-1/2"):
        with pytest.raises(SystemExit):
            toy.parse_args(["train", "--shard", bad])


def test_report_keeps_only_each_methods_current_settings() -> None:
    def final(method: str, seed: int, margin: float) -> dict:
        config = {"margin": margin}
        return {"method": method, "dataset": "rings", "seed": seed, "config": config}

    old = [final("introvae", s, 5.0) for s in (0, 1)]
    new = [final("introvae", s, 4.0) for s in (0, 1)]
    other = [final("vae", 0, 5.0)]
    kept, superseded = toy.current_settings([*old, *other, *new])
    assert kept == [*other, *new]
    assert superseded == old
    # A grid rerun that crowns the earlier settings again brings their runs back.
    ranking = [{"margin": 5.0}, {"margin": 4.0}]
    kept, superseded = toy.current_settings([*old, *other, *new], {"introvae": ranking})
    assert kept == [*old, *other]
    assert superseded == new
    # Until a new winner has runs, the best-ranked settings that have them are shown.
    ranking = [{"margin": 9.0}, {"margin": 4.0}, {"margin": 5.0}]
    kept, _ = toy.current_settings([*old, *other, *new], {"introvae": ranking})
    assert kept == [*other, *new]
    # Settings the grid never ranked leave the latest ones in place.
    kept, _ = toy.current_settings([*old, *other, *new], {"introvae": [{"margin": 7.0}]})
    assert kept == [*other, *new]


def test_uncovered_counts_real_points_in_bins_without_generated_points() -> None:
    bounds = (-2.0, 2.0)
    real = torch.tensor([[0.01, 0.01], [0.01, 0.02], [1.5, 1.5], [-1.5, 1.5], [3.0, 3.0]])
    generated = torch.tensor([[0.02, 0.03], [-1.51, 1.52]])
    # [1.5, 1.5] is alone in its bin; [3.0, 3.0] lies outside the range and is not counted.
    assert toy.uncovered(generated, real, bounds) == pytest.approx(1 / 4)
    assert toy.uncovered(real, real, bounds) == 0.0
    far = torch.tensor([[-1.9, -1.9]])
    assert toy.uncovered(far, real, bounds) == pytest.approx(1.0)


def test_an_uncovered_real_point_adds_a_fixed_amount_to_the_kl() -> None:
    """The docstring's arithmetic: ten stray real points, each alone in an empty bin."""
    bounds, area = (-2.0, 2.0), 0.04**2
    generator = torch.Generator().manual_seed(0)
    centres = torch.arange(-1 + 0.02, 1, 0.04)  # every bin of [-1, 1]², twice
    generated = torch.cartesian_prod(centres, centres).repeat(2, 1)
    covered = torch.rand(4990, 2, generator=generator) * 2 - 1
    stray = torch.tensor([[1.5 + 0.04 * k, 1.9] for k in range(10)])  # ten bins, one each
    real = torch.cat([covered, stray])
    assert toy.uncovered(generated, real, bounds) == pytest.approx(10 / 5000)
    base = soft_intro_histogram_kl(generated, covered, range=bounds).item()
    # 5,000 real points instead of 4,990 scale every covered density by 4990/5000.
    kept = 4990 / 5000
    rescaled = kept * base + kept * math.log(kept) / (100 * area)
    density = 1 / (5000 * area)
    per_point = density * (math.log(density) + 14 * math.log(10)) / 100
    assert per_point == pytest.approx(0.0377, abs=1e-4)
    total = soft_intro_histogram_kl(generated, real, range=bounds).item()
    assert total == pytest.approx(rescaled + 10 * per_point, rel=1e-9)


def test_mode_shares_of_the_data_and_of_collapsed_samples() -> None:
    data = toy.mode_shares(eight_gaussians(40_000, generator=torch.Generator().manual_seed(0)))
    assert data["off"] == 0.0
    assert 0.115 < data["least"] <= 0.125 <= data["most"] < 0.135
    assert data["std"] == pytest.approx(0.02 / 1.414, rel=0.02)
    one = toy.mode_shares(eight_gaussians_means()[3].expand(100, 2) + torch.tensor([[0.05, 0.0]]))
    assert one == {"off": 0.0, "least": 0.0, "most": 1.0, "std": 0.0}
    between = toy.mode_shares(torch.zeros(10, 2))  # the centre of the ring: no mode
    assert between["off"] == 1.0
    assert between["most"] == 0.0


def test_negative_redraws_are_refused() -> None:
    with pytest.raises(SystemExit):
        toy.parse_args(["report", "--redraws", "-1"])


def test_an_interrupted_run_resumes_from_its_checkpoint_bit_for_bit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    common = ["train", "--method", "soft-introvae", "--seeds", "0", "1", *TINY]
    common += ["--iterations", "6", "--checkpoint-every", "2"]
    toy.main([*common, "--out", str(tmp_path / "straight")])

    step = toy.StackedTrainer.step

    def interrupted(self: toy.StackedTrainer) -> None:
        if self.iteration == 5:
            raise KeyboardInterrupt
        step(self)

    monkeypatch.setattr(toy.StackedTrainer, "step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        toy.main([*common, "--out", str(tmp_path / "resumed")])
    assert not (tmp_path / "resumed" / "runs.jsonl").exists()
    monkeypatch.setattr(toy.StackedTrainer, "step", step)
    toy.main([*common, "--out", str(tmp_path / "resumed")])

    for straight, resumed in zip(
        toy.read_records(tmp_path / "straight" / "runs.jsonl"),
        toy.read_records(tmp_path / "resumed" / "runs.jsonl"),
        strict=True,
    ):
        assert straight["metrics"] == resumed["metrics"]
        a = torch.load(tmp_path / "straight" / straight["weights"])["state"]
        b = torch.load(tmp_path / "resumed" / resumed["weights"])["state"]
        for key in a:
            assert torch.equal(a[key], b[key]), key
    assert not list((tmp_path / "resumed" / "checkpoints").iterdir())


def test_benchmark_counts_a_vae_iterations_products_by_hand() -> None:
    # Encoder 2 -> 32 -> 32 -> 4, decoder 2 -> 32 -> 32 -> 2, 64 rows. Forward: every layer.
    # Backward: every weight gradient, and every input gradient except the encoder's first
    # layer (the data needs none; z does, so the decoder's first layer has one).
    args = small_args(iterations=10, warmup=0)
    encoder, decoder = [2 * 32, 32 * 32, 32 * 4], [2 * 32, 32 * 32, 32 * 2]
    forward = sum(encoder) + sum(decoder)
    backward = 2 * sum(encoder) - encoder[0] + 2 * sum(decoder)
    assert bench.flops_per_iteration("vae", args) == 2 * 64 * (forward + backward)


def test_benchmark_charges_the_warm_up_to_the_vae_step() -> None:
    args = small_args(iterations=10, warmup=4)
    seconds = {"vae": 1.0, "introvae": 2.0, "soft-introvae": 3.0}
    # VAE 10 s; IntroVAE 4 + 6 * 2; Soft-IntroVAE 4 + 6 * 3.
    assert bench.table_rows_hours(seconds, args) == pytest.approx((10 + 16 + 22) / 3600)


def test_the_gnelbo_is_set_by_the_planes_energy_over_the_datas() -> None:
    args = small_args(iterations=10, warmup=0)
    trainer = toy.StackedTrainer([toy.Run("vae", "8gaussians", 0, dict(toy.VAE_CONFIG))], args)
    model = toy.Member(trainer.member_state(0))
    data = eight_gaussians(300, generator=torch.Generator().manual_seed(1))
    grid = grid_points(range=(-2, 2), points_per_axis=40)
    terms = toy.energy_terms(model, data)
    assert terms.shape == (300, 2) and bool((terms >= 0).all())
    expected = negative_elbo(model.decode(model.encode(data)[0]), data, *model.encode(data),
                             reduction="none")  # fmt: skip
    torch.testing.assert_close(toy.energy(model, data), expected)
    ratio = toy.energy(model, grid).mean() / toy.energy(model, data).mean()
    gn = grid_normalized_elbo(toy.energy(model, data), toy.energy(model, grid))
    assert gn.item() == pytest.approx(1 / (40**2 * ratio.item() + 300), rel=1e-5)
