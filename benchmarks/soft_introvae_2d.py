"""Time per iteration of the 2D Table 2 runs: stacked seeds against a plain eager loop.

Prints, side by side and on the same thread, the time per training iteration of

- ``eager``: one run written the way the Soft-IntroVAE authors write a step (``nn.Linear``
  MLPs, ``requires_grad`` toggled between the encoder and the decoder update, one backward
  per network, every pass recomputed; written here from the paper's Algorithm 1 and the
  formulas of Eq. 2 and Eq. 4, not from their code);
- ``stacked xS``: the script's stacked set (``examples/soft_introvae_2d.py``), per run, for
  one run and for ``S`` seeds, with oneDNN and with PyTorch's BLAS for the products;

and, to set those times against the arithmetic, the GFLOP of one iteration's matrix products
per method, the rate of one hidden-layer product alone on each kernel, and the core-hours of
the 8-Gaussian rows (every method, ``S`` seeds, the table's schedule) at the stacked times and
with every product at that rate. ``--profile METHOD`` prints instead which operators take a
stacked set's time.

Run::

    PYTHONPATH=. python benchmarks/soft_introvae_2d.py --iterations 10 --repeats 3 --seeds 5
    PYTHONPATH=. python benchmarks/soft_introvae_2d.py --iterations 10 --profile soft-introvae

The eager loop also serves ``tests/examples/test_soft_introvae_2d.py`` as the reference
that a stacked run must match: it draws from each run's generator in the same order.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

import soft_introvae_2d as toy

from contradistinct.toy import sample


def eager_mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def load_member(net: nn.Sequential, stacked: toy.StackedMLP, s: int) -> None:
    """Copy member ``s`` of a stacked network into an eager one."""
    linears = [m for m in net if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for layer, w, b in zip(linears, stacked.weights, stacked.biases, strict=True):
            layer.weight.copy_(w[s])
            layer.bias.copy_(b[s])


def _kl(mu: Tensor, logvar: Tensor) -> Tensor:
    return 0.5 * (mu.square() + logvar.exp() - 1 - logvar).sum(1)


def _sse(a: Tensor, b: Tensor) -> Tensor:
    return (a - b).square().sum(1)


def _draw(mu: Tensor, logvar: Tensor, g: torch.Generator) -> Tensor:
    return mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=g)


def _train(net: nn.Module, flag: bool) -> None:
    for p in net.parameters():
        p.requires_grad_(flag)


class EagerRun:
    """One run, one step at a time, in the authors' style."""

    def __init__(self, run: toy.Run, args: argparse.Namespace, fused: bool = False) -> None:
        self.run = run
        self.config = run.config
        self.g = torch.Generator().manual_seed(run.seed)
        stacked_enc = toy.StackedMLP([self.g], 2, 2 * args.z_dim, args.hidden, args.depth)
        stacked_dec = toy.StackedMLP([self.g], args.z_dim, 2, args.hidden, args.depth)
        self.enc = eager_mlp([2] + [args.hidden] * args.depth + [2 * args.z_dim])
        self.dec = eager_mlp([args.z_dim] + [args.hidden] * args.depth + [2])
        load_member(self.enc, stacked_enc, 0)
        load_member(self.dec, stacked_dec, 0)
        self.opt_e = torch.optim.Adam(self.enc.parameters(), lr=args.lr, fused=fused)
        self.opt_d = torch.optim.Adam(self.dec.parameters(), lr=args.lr, fused=fused)
        milestones = [round(args.iterations * f) for f in args.decay_at]
        self.schedulers = [
            torch.optim.lr_scheduler.MultiStepLR(o, milestones=milestones, gamma=0.1)
            for o in (self.opt_e, self.opt_d)
        ]
        self.batch_size, self.z_dim, self.warmup = args.batch_size, args.z_dim, args.warmup
        self.iteration = 0

    def step(self) -> None:
        x = sample(self.run.dataset, self.batch_size, generator=self.g)
        if self.run.method == "vae" or self.iteration < self.warmup:
            self.vae(x)
        elif self.run.method == "soft-introvae":
            self.soft_intro(x)
        else:
            self.intro(x)
        for s in self.schedulers:
            s.step()
        self.iteration += 1

    def vae(self, x: Tensor) -> None:
        beta_rec, beta_kl = toy._vae_weights(self.run)
        _train(self.enc, True)
        _train(self.dec, True)
        mu, logvar = self.enc(x).chunk(2, 1)
        x_rec = self.dec(_draw(mu, logvar, self.g))
        loss = (beta_rec * _sse(x_rec, x) + beta_kl * _kl(mu, logvar)).mean()
        self.opt_e.zero_grad()
        self.opt_d.zero_grad()
        loss.backward()
        self.opt_e.step()
        self.opt_d.step()

    def soft_intro(self, x: Tensor) -> None:
        c, s = self.config, 0.5
        br, bk, bn = c["beta_rec"], c["beta_kl"], c["beta_neg"]
        # Encoder update (Algorithm 1 lines 7-14), decoder frozen.
        _train(self.enc, True)
        _train(self.dec, False)
        mu, logvar = self.enc(x).chunk(2, 1)
        z = _draw(mu, logvar, self.g)
        z_prior = torch.randn(x.shape[0], self.z_dim, generator=self.g)
        x_rec = self.dec(z)
        fake = self.dec(z_prior)
        f_mu, f_lv = self.enc(fake.detach()).chunk(2, 1)
        r_mu, r_lv = self.enc(x_rec.detach()).chunk(2, 1)
        f_rr = self.dec(_draw(f_mu, f_lv, self.g))
        r_rr = self.dec(_draw(r_mu, r_lv, self.g))
        real = s * (br * _sse(x_rec, x) + bk * _kl(mu, logvar)).mean()
        n_f = br * _sse(f_rr, fake) + bn * _kl(f_mu, f_lv)
        n_r = br * _sse(r_rr, x_rec) + bn * _kl(r_mu, r_lv)
        exp_elbo = 0.5 * ((-2 * s * n_f).exp().mean() + (-2 * s * n_r).exp().mean())
        loss_e = real + 0.5 * exp_elbo
        self.opt_e.zero_grad()
        loss_e.backward()
        self.opt_e.step()
        # Decoder update (lines 16-23), encoder frozen.
        _train(self.enc, False)
        _train(self.dec, True)
        fake = self.dec(z_prior)
        x_rec = self.dec(z.detach())
        f_mu, f_lv = self.enc(fake).chunk(2, 1)
        r_mu, r_lv = self.enc(x_rec).chunk(2, 1)
        f_rr = self.dec(_draw(f_mu, f_lv, self.g).detach())
        r_rr = self.dec(_draw(r_mu, r_lv, self.g).detach())
        damped = 0.5 * 1e-8 * br * (_sse(r_rr, x_rec.detach()) + _sse(f_rr, fake.detach()))
        kls = 0.5 * bk * (_kl(f_mu, f_lv) + _kl(r_mu, r_lv))
        loss_d = s * (br * _sse(x_rec, x) + kls + damped).mean()
        self.opt_d.zero_grad()
        loss_d.backward()
        self.opt_d.step()

    def intro(self, x: Tensor) -> None:
        c = self.config
        m, wr, wk, wn = c["margin"], c["recon_weight"], c["kl_weight"], c["neg_weight"]
        _train(self.enc, True)
        _train(self.dec, False)
        mu, logvar = self.enc(x).chunk(2, 1)
        z = _draw(mu, logvar, self.g)
        z_prior = torch.randn(x.shape[0], self.z_dim, generator=self.g)
        x_rec = self.dec(z)
        fake = self.dec(z_prior)
        kl_f = _kl(*self.enc(fake.detach()).chunk(2, 1)).mean()
        kl_r = _kl(*self.enc(x_rec.detach()).chunk(2, 1)).mean()
        hinge = torch.relu(m - kl_r) + torch.relu(m - kl_f)
        loss_e = wr * _sse(x_rec, x).mean() + wk * (_kl(mu, logvar).mean() + 0.5 * wn * hinge)
        self.opt_e.zero_grad()
        loss_e.backward()
        self.opt_e.step()
        _train(self.enc, False)
        _train(self.dec, True)
        fake = self.dec(z_prior)
        x_rec = self.dec(z.detach())
        kl_f = _kl(*self.enc(fake).chunk(2, 1)).mean()
        kl_r = _kl(*self.enc(x_rec).chunk(2, 1)).mean()
        loss_d = wr * _sse(x_rec, x).mean() + 0.5 * wk * (kl_r + kl_f)
        self.opt_d.zero_grad()
        loss_d.backward()
        self.opt_d.step()


def time_per_iteration(step, iterations: int, warm: int = 3) -> float:
    for _ in range(warm):
        step()
    start = time.perf_counter()
    for _ in range(iterations):
        step()
    return (time.perf_counter() - start) / iterations


def fastest_blocks(
    steps: dict[str, tuple[Callable[[], None], str]], iterations: int, repeats: int
) -> dict[str, float]:
    """Seconds per iteration of each ``(step, kernel)``: the fastest of ``repeats`` blocks.

    The blocks of all steps take turns, so a slow spell on a shared machine reaches every
    step alike, and the fastest block of each is the one least disturbed.
    """
    best = dict.fromkeys(steps, float("inf"))
    for repeat in range(repeats):
        for name, (step, kernel) in steps.items():
            toy.KERNEL = kernel
            t = time_per_iteration(step, iterations, warm=3 if repeat == 0 else 0)
            best[name] = min(best[name], t)
    return best


def flops_per_iteration(method: str, args: argparse.Namespace) -> int:
    """Floating-point operations of one introspective (or VAE) iteration of one run.

    Counted by ``FlopCounterMode`` on the ``torch.mm`` path (it counts aten's ``mm`` and
    ``addmm``, not oneDNN's ``_linear_pointwise``; both paths run the same products): the
    matrix products, forward and backward, all but a negligible share of the arithmetic.
    """
    run = toy.Run(method, "8gaussians", 0, toy.default_config(method, "8gaussians"))
    saved, toy.KERNEL = toy.KERNEL, "mkl"
    try:
        trainer = toy.StackedTrainer([run], args)
        trainer.iteration = args.warmup
        with FlopCounterMode(display=False) as counter:
            trainer.step()
    finally:
        toy.KERNEL = saved
    return counter.get_total_flops()


def kernel_rate(
    kernel: str, args: argparse.Namespace, iterations: int = 200, repeats: int = 5
) -> float:
    """FLOP/s of one hidden-layer product (batch x width @ width x width) on ``kernel``.

    The product alone, without the bias and ReLU the network fuses into it, so that the
    rate counts only the FLOPs it is credited with; the fastest of ``repeats`` blocks.
    """
    x = torch.randn(args.batch_size, args.hidden)
    w = torch.randn(args.hidden, args.hidden)
    saved, toy.KERNEL = toy.KERNEL, kernel
    try:
        t = min(time_per_iteration(lambda: toy._linear(x, w, None), iterations)
                for _ in range(repeats))  # fmt: skip
    finally:
        toy.KERNEL = saved
    return 2 * args.batch_size * args.hidden**2 / t


def table_rows_hours(seconds: dict[str, float], args: argparse.Namespace) -> float:
    """Core-hours of the 8-Gaussian rows (every method, one seed) given each method's cost.

    ``seconds`` holds the cost of one iteration per method; the introspective methods
    spend their first ``--warmup`` iterations on VAE steps, as the script trains them.
    """
    total = 0.0
    for method in toy.METHODS:
        warmup = 0 if method == "vae" else args.warmup
        total += warmup * seconds["vae"] + (args.iterations - warmup) * seconds[method]
    return total / 3600


def profile(method: str, seeds: int, iterations: int, args: argparse.Namespace) -> None:
    """Print the operators that take the time of a stacked set's iterations."""
    config = toy.default_config(method, "8gaussians")
    trainer = toy.StackedTrainer(
        [toy.Run(method, "8gaussians", s, config) for s in range(seeds)], args
    )
    for _ in range(3):  # the first steps allocate; time the steady state
        trainer.step()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(iterations):
            trainer.step()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=5, help="members of the stacked set")
    parser.add_argument(
        "--repeats", type=int, default=3, help="blocks of --iterations each; the fastest counts"
    )
    parser.add_argument("--methods", nargs="+", default=list(toy.METHODS))
    parser.add_argument(
        "--profile", choices=toy.METHODS, metavar="METHOD",
        help="instead, profile --iterations iterations of --seeds stacked runs of METHOD",
    )  # fmt: skip
    bench = parser.parse_args()
    torch.set_num_threads(1)
    args = toy.parse_args(["train", "--warmup", "0"])
    if bench.profile:
        profile(bench.profile, bench.seeds, bench.iterations, args)
        return
    kernels = ["onednn", "mkl"] if toy._onednn_available() else ["mkl"]
    print(f"torch {torch.__version__}, 1 thread, batch {args.batch_size}, width {args.hidden}")
    header = f"{'method':14s} {'GFLOP':>6s} {'eager':>9s}"
    for k in kernels:
        header += f" {'x1 ' + k:>14s} {f'x{bench.seeds} ' + k:>14s}"
    print(header + "   (ms per iteration per run)")
    flops: dict[str, int] = {}
    stacked: dict[str, float] = {}
    for method in bench.methods:
        run = toy.Run(method, "8gaussians", 0, toy.default_config(method, "8gaussians"))
        flops[method] = flops_per_iteration(method, args)
        steps = {"eager": (EagerRun(run, args).step, kernels[0])}
        for kernel in kernels:
            for n in (1, bench.seeds):
                runs = [toy.Run(method, "8gaussians", s, run.config) for s in range(n)]
                steps[f"x{n} {kernel}"] = (toy.StackedTrainer(runs, args).step, kernel)
        times = fastest_blocks(steps, bench.iterations, bench.repeats)
        eager = times["eager"]
        row = f"{method:14s} {flops[method] / 1e9:6.2f} {1e3 * eager:9.1f}"
        for kernel in kernels:
            for n in (1, bench.seeds):
                t = times[f"x{n} {kernel}"] / n
                row += f" {1e3 * t:6.1f} ({t / eager:.2f}x)"
        stacked[method] = times[f"x{bench.seeds} {kernels[0]}"] / bench.seeds
        print(row, flush=True)
    rates = {k: kernel_rate(k, args) for k in kernels}
    print("one hidden-layer product alone: "
          + ", ".join(f"{k} {r / 1e9:.0f} GFLOP/s" for k, r in rates.items()))  # fmt: skip
    if set(stacked) == set(toy.METHODS):
        table = toy.parse_args(["train"])
        measured = table_rows_hours(stacked, table) * bench.seeds
        floor = (
            table_rows_hours({m: f / rates[kernels[0]] for m, f in flops.items()}, table)
            * bench.seeds
        )
        print(
            f"8-Gaussian rows ({len(toy.METHODS)} methods x {bench.seeds} seeds x "
            f"{table.iterations} iterations, {table.warmup} VAE warm-up): "
            f"{measured:.2f} core-hours at the x{bench.seeds} {kernels[0]} times above, "
            f"{floor:.2f} with every product at the rate of the product alone"
        )


if __name__ == "__main__":
    main()
