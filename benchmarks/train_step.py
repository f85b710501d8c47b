"""Time of a discriminator step and of a generator iteration: DC-VAE against VAE/GAN.

Both modes run the reference trainer (``examples/dcvae``) on AutoGAN-32 at the authors' widths
and CIFAR-10 settings (batch 64, prior batch 128) on random images, interleaved over several
rounds after a warm-up; the figures are medians. A generator iteration of ``dcvae`` is the
authors' two sub-steps (adversarial, then contrastive on a fresh reconstruction with the
momentum update, heads, queue and InfoNCE), of ``dcvae --fused`` one reconstruction and one
discriminator pass, of ``vaegan`` one step with the feature reconstruction. The ratios to
``vaegan`` show what the contrastive machinery costs.

    python benchmarks/train_step.py [--batch-size 64] [--rounds 2] [--device cuda] [--clock cpu]

The default CPU run (no warm-up, two rounds) takes a few minutes on two cores; on a machine
shared with other jobs, ``--threads 1 --clock cpu`` gives steadier figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "dcvae"))

from config import PRESETS, Config
from step import Trainer

CONTENDERS: dict[str, dict[str, Any]] = {"vaegan": {"mode": "vaegan"}, "dcvae": {"mode": "dcvae"},
              "dcvae --fused": {"mode": "dcvae", "fused": True}}  # fmt: skip


def build(name: str, args: argparse.Namespace) -> Trainer:
    settings: dict[str, Any] = {**PRESETS["cifar10"], **CONTENDERS[name], "device": args.device}
    settings.update(batch_size=args.batch_size, prior_batch_size=2 * args.batch_size)
    torch.manual_seed(0)
    return Trainer(Config(**settings), channels=3).to(args.device)


def timed(function: Callable[[], object], clock: Callable[[], float], device: str) -> float:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = clock()
    function()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return clock() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=int, help="untimed rounds (default: 1 on GPU, 0 on CPU)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = parser.parse_args()
    if args.warmup is None:
        args.warmup = 0 if args.device == "cpu" else 1
    if args.threads:
        torch.set_num_threads(args.threads)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    trainers = {name: build(name, args) for name in CONTENDERS}
    x = torch.rand(args.batch_size, 3, 32, 32, device=args.device) * 2 - 1
    times: dict[str, dict[str, list[float]]] = {n: {"D": [], "G": []} for n in trainers}
    for round_ in range(args.warmup + args.rounds):
        for name, trainer in trainers.items():
            growth = trainer.growth()
            d = timed(partial(trainer.discriminator_step, x, growth), clock, args.device)
            g = timed(partial(trainer.generator_iteration, x, growth), clock, args.device)
            if round_ >= args.warmup:
                times[name]["D"].append(d)
                times[name]["G"].append(g)
    median = {n: {k: statistics.median(v) for k, v in t.items()} for n, t in times.items()}
    base = median["vaegan"]
    print(f"AutoGAN-32, batch {args.batch_size}, {args.device}, {torch.get_num_threads()} "
          f"threads, {args.clock} clock, median of {args.rounds} rounds")  # fmt: skip
    print(f"{'mode':<15}{'D step (s)':>12}{'G iteration (s)':>17}{'D ratio':>9}{'G ratio':>9}")
    for name, m in median.items():
        print(f"{name:<15}{m['D']:>12.3f}{m['G']:>17.3f}"
              f"{m['D'] / base['D']:>9.2f}{m['G'] / base['G']:>9.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
