"""The stacked 2D trainer of examples/soft_introvae_2d.py: stacked seeds are separate runs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

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
