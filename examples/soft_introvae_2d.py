"""VAE, IntroVAE and Soft-IntroVAE on the 2D datasets of Soft-IntroVAE Table 2, on a CPU.

The protocol is the Soft-IntroVAE authors' (paper §6.1; their repository
taldatech/soft-intro-vae-pytorch, ``soft_intro_vae_2d``): MLP encoder 2→256→256→256→256→2·z
and decoder z→…→2, z = 2, batch 512, 30,000 iterations of which the first 2,000 train a plain
VAE, Adam 2e-4 for each network with the learning rate ×0.1 at 10,000 and 15,000 iterations,
s = 0.5, γ_r = 1e-8 and per-dataset β's. It reports Table 2's three metrics (gnELBO in 1e-7
units on a 1024² grid, and the histogram KL and "JSD" with the authors' conventions).

The seeds of a method train together as one *stacked* set of networks: member ``s`` has its
own weights (a slice of ``(S, out, in)`` tensors), its own Adam state (Adam is elementwise)
and its own ``torch.Generator`` for data, prior draws and posterior draws, drawn in the same
order as a run of its own; every loss is the library's, evaluated on each member's slice and
summed over members, so each member's gradient is its own. The matrix products go through
oneDNN's inner product where PyTorch has it (about twice MKL's sgemm throughput on AVX-512
CPUs whose MKL path is AVX2), else through ``torch.baddbmm``.

Each finished run (method, dataset, seed) is appended to ``runs.jsonl`` in the output folder
(with its weights under ``weights/``); restarted with the same arguments the script skips
what is recorded. ``report`` turns the records into ``results.md``, ``results.json`` and one
figure per dataset. The commands of the documented table::

    python examples/soft_introvae_2d.py grid --method vae --out runs/toy
    python examples/soft_introvae_2d.py grid --method introvae --out runs/toy
    python examples/soft_introvae_2d.py train --method soft-introvae --datasets 8gaussians \\
        --seeds 0 1 2 3 4 --out runs/toy
    python examples/soft_introvae_2d.py report --out runs/toy --to docs/_static/soft_introvae_2d

Run from a checkout after ``pip install -e ".[examples]"`` (or with ``PYTHONPATH=.``).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from contradistinct.functional import (
    ReencodedBatch,
    gaussian_kl,
    negative_elbo,
    reconstruction_loss,
    reparameterize,
)
from contradistinct.introspective import IntroVAELoss, SoftIntroVAELoss
from contradistinct.toy import (
    DATASETS,
    eight_gaussians_means,
    grid_normalized_elbo,
    grid_points,
    histogram2d,
    plot_range,
    sample,
    soft_intro_histogram_jsd,
    soft_intro_histogram_kl,
)

METHODS = ("vae", "introvae", "soft-introvae")
LABELS = {"vae": "VAE", "introvae": "IntroVAE", "soft-introvae": "Soft-IntroVAE"}

# Soft-IntroVAE (beta_kl, beta_rec, beta_neg) per dataset, from the authors' code.
SOFT_BETAS = {
    "8gaussians": (0.3, 0.2, 0.9),
    "2spirals": (0.5, 0.2, 1.0),
    "checkerboard": (0.1, 0.2, 0.2),
    "rings": (0.2, 0.2, 1.0),
}

# The baselines' settings without --from-grid. The table uses instead the winners of the small
# grids below on 8 Gaussians (the paper's own grid is in an appendix this project does not
# have), for every dataset.
VAE_CONFIG = {"beta_rec": 1.0, "beta_kl": 0.1}
INTROVAE_CONFIG = {"margin": 3.0, "recon_weight": 1.0, "kl_weight": 0.5, "neg_weight": 1.0}

# With Adam only the ratio of the weights matters for the VAE, so its grid walks β_kl/β_rec.
GRIDS = {
    # The first grid stopped at its edge (0.02), so it reaches down to 0.005.
    "vae": [
        {"beta_rec": 1.0, "beta_kl": kl} for kl in (1.0, 0.5, 0.25, 0.1, 0.05, 0.02, 0.01, 0.005)
    ],
    # The KL weight scales IntroVAE's whole adversarial game (the encoder's hinges and the
    # decoder's KL terms) and is also the warm-up VAE's β_kl; the hinge weight sets the
    # hinges' strength on its own. Margins from 2 (barely engages after the warm-up) to 10.
    # The last points put the hinge on each sample's KL (Soft-IntroVAE's Eq. 2) instead of
    # the batch mean's (IntroVAE's code).
    "introvae": [
        {"margin": m, "recon_weight": 1.0, "kl_weight": kl, "neg_weight": neg}
        for m in (2.0, 5.0, 10.0)
        for kl in (0.05, 0.2)
        for neg in (1.0, 4.0)
    ]
    + [
        {"margin": m, "recon_weight": 1.0, "kl_weight": kl, "neg_weight": 1.0, "hinge": "sample"}
        for m in (2.0, 5.0, 10.0)
        for kl in (0.05, 0.2)
    ],
}

# Soft-IntroVAE paper, Table 2: (mean, std) over 5 seeds at 30,000 iterations.
PAPER = {
    "8gaussians": {
        "vae": {"gnELBO": (7.42, 0.07), "KL": (6.72, 0.46), "JSD": (16.04, 0.3)},
        "introvae": {"gnELBO": (1.29, 0.76), "KL": (2.53, 1.07), "JSD": (1.67, 0.46)},
        "soft-introvae": {"gnELBO": (1.25, 0.35), "KL": (1.25, 0.11), "JSD": (0.96, 0.15)},
    },
    "2spirals": {
        "vae": {"gnELBO": (6.19, 0.06), "KL": (9.8, 0.48), "JSD": (4.89, 0.05)},
        "introvae": {"gnELBO": (5.87, 0.03), "KL": (8.38, 0.45), "JSD": (3.58, 0.04)},
        "soft-introvae": {"gnELBO": (5.21, 0.04), "KL": (8.13, 0.3), "JSD": (3.37, 0.04)},
    },
    "checkerboard": {
        "vae": {"gnELBO": (8.53, 0.1), "KL": (20.91, 0.45), "JSD": (9.78, 0.04)},
        "introvae": {"gnELBO": (8.54, 0.11), "KL": (19.03, 0.34), "JSD": (9.07, 0.1)},
        "soft-introvae": {"gnELBO": (4.47, 0.29), "KL": (20.27, 0.21), "JSD": (9.06, 0.15)},
    },
    "rings": {
        "vae": {"gnELBO": (6.4, 0.04), "KL": (13.16, 0.55), "JSD": (7.26, 0.07)},
        "introvae": {"gnELBO": (7.25, 0.18), "KL": (10.21, 0.49), "JSD": (4.24, 0.11)},
        "soft-introvae": {"gnELBO": (6.3, 0.08), "KL": (9.18, 0.33), "JSD": (4.13, 0.09)},
    },
}
METRICS = ("gnELBO", "KL", "JSD")
ENERGY_COLUMNS = ("data_kl", "data_error", "plane_kl", "plane_error", "r")
TRAINING_SETTINGS = (
    "iterations", "warmup", "batch_size", "z_dim", "hidden", "depth", "lr", "decay_at",
)  # fmt: skip


# --- stacked networks ---------------------------------------------------------------------


def _onednn_available() -> bool:
    try:
        return torch.backends.mkldnn.is_available() and hasattr(
            torch.ops.mkldnn, "_linear_pointwise"
        )
    except (AttributeError, RuntimeError):
        return False


#: The kernel of every matrix product: "onednn" (its inner product primitive) or "mkl"
#: (``torch.mm``, PyTorch's BLAS). On CPUs with AVX-512 whose MKL path is AVX2 (AMD's),
#: oneDNN is about twice as fast; ``benchmarks/soft_introvae_2d.py`` measures both.
KERNEL = "onednn" if _onednn_available() else "mkl"


def _linear(x: Tensor, weight: Tensor, bias: Tensor | None, relu: bool = False) -> Tensor:
    """``act(x @ weight.T + bias)`` for one member: ``(B, K), (N, K) -> (B, N)``."""
    if KERNEL == "onednn":
        attr = "relu" if relu else "none"
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, attr, [], "")
    out = torch.nn.functional.linear(x, weight, bias)
    return out.relu_() if relu else out


def _descend(optimizer: torch.optim.Optimizer, loss: Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def _weight_grad(grad: Tensor, x: Tensor) -> Tensor:
    """``grad.T @ x``, ``(B, N), (B, K) -> (N, K)``."""
    if KERNEL == "onednn":
        # oneDNN wants the contracted (batch) axis innermost; the copies stay in cache.
        return _linear(grad.t().contiguous(), x.t().contiguous(), None)
    return torch.mm(grad.t(), x)


class _StackedMLPFunction(torch.autograd.Function):
    """A ReLU MLP per member, forward and backward written out layer by layer.

    Member by member, so each product works on cache-sized operands and no activation of
    shape ``(S, B, hidden)`` is ever stacked; the backward computes only the gradients some
    input needs (a frozen network passes detached weights: only the input gradient).
    """

    @staticmethod
    def forward(ctx, x: Tensor, *params: Tensor) -> Tensor:  # type: ignore[override]
        weights, biases = params[0::2], params[1::2]
        depth = len(weights)
        outputs, inputs = [], []
        for s in range(x.shape[0]):
            h = x[s].contiguous()
            layer_inputs = []
            for i in range(depth):
                layer_inputs.append(h)
                h = _linear(h, weights[i][s], biases[i][s], relu=i < depth - 1)
            outputs.append(h)
            inputs.append(layer_inputs)
        ctx.layer_inputs = inputs
        ctx.x_shape = x.shape
        ctx.save_for_backward(*params)
        return torch.stack(outputs)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        params = ctx.saved_tensors
        weights = params[0::2]
        depth = len(weights)
        need = ctx.needs_input_grad
        grad_x = grad.new_empty(ctx.x_shape) if need[0] else None
        grads: list[Tensor | None] = [p.new_empty(p.shape) if n else None
                                      for p, n in zip(params, need[1:], strict=True)]  # fmt: skip
        for s in range(grad.shape[0]):
            g = grad[s].contiguous()
            for i in reversed(range(depth)):
                x = ctx.layer_inputs[s][i]
                grad_w, grad_b = grads[2 * i], grads[2 * i + 1]
                if grad_w is not None:
                    grad_w[s] = _weight_grad(g, x)
                if grad_b is not None:
                    torch.sum(g, 0, out=grad_b[s])
                if i == 0 and grad_x is None:
                    break
                g = _linear(g, weights[i][s].t().contiguous(), None)
                if i > 0:
                    g = torch.ops.aten.threshold_backward(g, x, 0.0)
                else:
                    grad_x[s] = g
        del ctx.layer_inputs
        return (grad_x, *grads)


class StackedMLP(nn.Module):
    """``S`` independent ReLU MLPs whose weights are stacked as ``(S, out, in)``.

    Member ``s`` is initialised like ``nn.Linear`` (uniform in ±1/√fan_in) from
    ``generators[s]`` alone, so a stacked set and one-member sets start from equal weights.
    """

    def __init__(
        self,
        generators: Sequence[torch.Generator],
        in_features: int,
        out_features: int,
        hidden: int = 256,
        depth: int = 4,
    ) -> None:
        super().__init__()
        sizes = [in_features] + [hidden] * depth + [out_features]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in itertools.pairwise(sizes):
            bound = fan_in**-0.5
            w = [(torch.rand(fan_out, fan_in, generator=g) * 2 - 1) * bound for g in generators]
            b = [(torch.rand(fan_out, generator=g) * 2 - 1) * bound for g in generators]
            self.weights.append(nn.Parameter(torch.stack(w)))
            self.biases.append(nn.Parameter(torch.stack(b)))

    def forward(self, x: Tensor, *, frozen: bool = False) -> Tensor:
        """``(S, B, in) -> (S, B, out)``; ``frozen`` passes gradients to ``x`` only."""
        params = [t for pair in zip(self.weights, self.biases, strict=True) for t in pair]
        if frozen:
            params = [p.detach() for p in params]
        return _StackedMLPFunction.apply(x, *params)


# --- runs ---------------------------------------------------------------------------------


def _setting(value: float | str) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def _settings(config: dict) -> str:
    return ", ".join(f"{k}={_setting(v)}" for k, v in config.items())


@dataclass(frozen=True)
class Run:
    """One trained model of the table: a method on a dataset with a seed and its settings."""

    method: str
    dataset: str
    seed: int
    config: dict = field(default_factory=dict, hash=False)

    @property
    def key(self) -> str:
        settings = ",".join(f"{k}={_setting(v)}" for k, v in sorted(self.config.items()))
        return f"{self.method}/{self.dataset}/{self.seed}/{settings}"


def default_config(method: str, dataset: str) -> dict:
    if method == "vae":
        return dict(VAE_CONFIG)
    if method == "introvae":
        return dict(INTROVAE_CONFIG)
    beta_kl, beta_rec, beta_neg = SOFT_BETAS[dataset]
    return {"beta_rec": beta_rec, "beta_kl": beta_kl, "beta_neg": beta_neg}


def _vae_weights(run: Run) -> tuple[float, float]:
    """(β_rec, β_kl) of the VAE steps: the baseline itself and the introspective warm-up."""
    c = run.config
    if run.method == "introvae":
        return c["recon_weight"], c["kl_weight"]
    return c["beta_rec"], c["beta_kl"]


def _draw(mu: Tensor, logvar: Tensor, generators: Sequence[torch.Generator]) -> Tensor:
    """A posterior draw per member, each from its own generator."""
    return torch.stack(
        [reparameterize(m, v, generator=g) for m, v, g in zip(mu, logvar, generators, strict=True)]
    )


def _prior(shape: tuple[int, ...], generators: Sequence[torch.Generator]) -> Tensor:
    return torch.stack([torch.randn(shape, generator=g) for g in generators])


def _split(mu: Tensor, logvar: Tensor, n: int) -> tuple[tuple[Tensor, Tensor], ...]:
    """Posteriors of a joint ``(S, 2n, D)`` pass: prior samples' and reconstructions'."""
    return (mu[:, :n], logvar[:, :n]), (mu[:, n:], logvar[:, n:])


class StackedTrainer:
    """Trains the runs of one method together (:class:`StackedMLP` encoder and decoder)."""

    def __init__(self, runs: Sequence[Run], args: argparse.Namespace) -> None:
        if len({r.method for r in runs}) != 1:
            raise ValueError("a stacked set trains one method")
        self.runs = list(runs)
        self.method = runs[0].method
        self.generators = [torch.Generator().manual_seed(r.seed) for r in runs]
        hidden, depth = args.hidden, args.depth
        self.encoder = StackedMLP(self.generators, 2, 2 * args.z_dim, hidden, depth)
        self.decoder = StackedMLP(self.generators, args.z_dim, 2, hidden, depth)
        self.z_dim = args.z_dim
        self.batch_size = args.batch_size
        self.warmup = args.warmup
        adam = {"lr": args.lr, "fused": True}
        self.opt_e = torch.optim.Adam(self.encoder.parameters(), **adam)
        self.opt_d = torch.optim.Adam(self.decoder.parameters(), **adam)
        milestones = [round(args.iterations * f) for f in args.decay_at]
        self.schedulers = [
            torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=0.1)
            for opt in (self.opt_e, self.opt_d)
        ]
        self.vae_weights = [_vae_weights(r) for r in runs]
        if self.method == "soft-introvae":
            self.losses = [
                SoftIntroVAELoss(
                    r.config["beta_rec"],
                    r.config["beta_kl"],
                    r.config["beta_neg"],
                    gamma_r=1e-8,
                    scale=0.5,
                )
                for r in runs
            ]
        elif self.method == "introvae":
            self.losses = [IntroVAELoss(**r.config) for r in runs]
        self.iteration = 0

    def batch(self) -> Tensor:
        return torch.stack(
            [
                sample(r.dataset, self.batch_size, generator=g)
                for r, g in zip(self.runs, self.generators, strict=True)
            ]
        )

    def step(self) -> None:
        x = self.batch()
        if self.method == "vae" or self.iteration < self.warmup:
            self.vae_step(x)
        elif self.method == "soft-introvae":
            self.soft_intro_step(x)
        else:
            self.intro_vae_step(x)
        for scheduler in self.schedulers:
            scheduler.step()
        self.iteration += 1

    def vae_step(self, x: Tensor) -> None:
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        x_rec = self.decoder(_draw(mu, logvar, self.generators))
        per_sample = torch.stack(
            [
                negative_elbo(*member, recon_weight=br, kl_weight=bk, reduction="none")
                for *member, (br, bk) in zip(x_rec, x, mu, logvar, self.vae_weights, strict=True)
            ]
        )
        self.opt_e.zero_grad(set_to_none=True)
        self.opt_d.zero_grad(set_to_none=True)
        per_sample.mean(1).sum().backward()
        self.opt_e.step()
        self.opt_d.step()

    def _encoder_half(self, x: Tensor) -> tuple[Tensor, ...]:
        """Shared start of both introspective steps (Algorithm 1 lines 7–10)."""
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        z = _draw(mu, logvar, self.generators)
        z_prior = _prior((x.shape[1], self.z_dim), self.generators)
        x_rec = self.decoder(z, frozen=True)
        # The decoder does not change during the encoder step, so this pass (with its graph
        # to the decoder's weights) also serves the decoder step.
        fake = self.decoder(z_prior)
        return mu, logvar, z, x_rec, fake

    def _decoder_half(self, z: Tensor, fake: Tensor) -> tuple[Tensor, ...]:
        """Shared start of both decoder updates: reconstruct, re-encode with the encoder frozen."""
        x_rec = self.decoder(z.detach())
        post = self.encoder(torch.cat([fake, x_rec], 1), frozen=True).chunk(2, dim=-1)
        return (x_rec, *_split(*post, fake.shape[1]))

    def soft_intro_step(self, x: Tensor) -> None:
        n = x.shape[1]
        mu, logvar, z, x_rec, fake = self._encoder_half(x)
        # Encoder step: re-encode the detached prior samples and reconstructions in one pass.
        post = self.encoder(torch.cat([fake.detach(), x_rec.detach()], 1)).chunk(2, dim=-1)
        fake_post, rec_post = _split(*post, n)
        redecoded = torch.cat(
            [_draw(*fake_post, self.generators), _draw(*rec_post, self.generators)], 1
        )
        out = self.decoder(redecoded, frozen=True)
        fake_rec, rec_rec = out[:, :n], out[:, n:]
        loss_e = sum(
            loss.encoder_loss(
                x_rec[s],
                x[s],
                mu[s],
                logvar[s],
                fake=ReencodedBatch(
                    fake[s].detach(), fake_post[0][s], fake_post[1][s], fake_rec[s]
                ),
                rec=ReencodedBatch(x_rec[s], rec_post[0][s], rec_post[1][s], rec_rec[s]),
            )
            for s, loss in enumerate(self.losses)
        )
        _descend(self.opt_e, loss_e)

        # Decoder step, with the updated encoder frozen (Algorithm 1 lines 16–23).
        x_rec, fake_post, rec_post = self._decoder_half(z, fake)
        redecoded = torch.cat(
            [_draw(*fake_post, self.generators), _draw(*rec_post, self.generators)], 1
        )
        out = self.decoder(redecoded.detach())
        fake_rec, rec_rec = out[:, :n], out[:, n:]
        loss_d = sum(
            loss.decoder_loss(
                x_rec[s],
                x[s],
                fake=ReencodedBatch(fake[s], fake_post[0][s], fake_post[1][s], fake_rec[s]),
                rec=ReencodedBatch(x_rec[s], rec_post[0][s], rec_post[1][s], rec_rec[s]),
            )
            for s, loss in enumerate(self.losses)
        )
        _descend(self.opt_d, loss_d)

    def intro_vae_step(self, x: Tensor) -> None:
        n = x.shape[1]
        mu, logvar, z, x_rec, fake = self._encoder_half(x)
        post = self.encoder(torch.cat([fake.detach(), x_rec.detach()], 1)).chunk(2, dim=-1)
        fake_post, rec_post = _split(*post, n)
        # The hinge acts on batch-mean KLs (by default), so each member's loss sees its own
        # batch only.
        loss_e = sum(
            loss.encoder_loss(
                x_rec[s],
                x[s],
                mu[s],
                logvar[s],
                fake_posterior=(fake_post[0][s], fake_post[1][s]),
                rec_posterior=(rec_post[0][s], rec_post[1][s]),
            )
            for s, loss in enumerate(self.losses)
        )
        _descend(self.opt_e, loss_e)

        x_rec, fake_post, rec_post = self._decoder_half(z, fake)
        loss_d = sum(
            loss.decoder_loss(
                x_rec[s],
                x[s],
                fake_posterior=(fake_post[0][s], fake_post[1][s]),
                rec_posterior=(rec_post[0][s], rec_post[1][s]),
            )
            for s, loss in enumerate(self.losses)
        )
        _descend(self.opt_d, loss_d)

    def state_dict(self) -> dict:
        """Everything a resumed run needs to continue bit for bit."""
        return {
            "encoder": self.encoder.state_dict(),
            "decoder": self.decoder.state_dict(),
            "opt_e": self.opt_e.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "schedulers": [s.state_dict() for s in self.schedulers],
            "generators": [g.get_state() for g in self.generators],
            "iteration": self.iteration,
        }

    def load_state_dict(self, state: dict) -> None:
        self.encoder.load_state_dict(state["encoder"])
        self.decoder.load_state_dict(state["decoder"])
        self.opt_e.load_state_dict(state["opt_e"])
        self.opt_d.load_state_dict(state["opt_d"])
        for scheduler, saved in zip(self.schedulers, state["schedulers"], strict=True):
            scheduler.load_state_dict(saved)
        for g, saved in zip(self.generators, state["generators"], strict=True):
            g.set_state(saved)
        self.iteration = state["iteration"]

    def member_state(self, s: int) -> dict[str, Tensor]:
        """Weights of member ``s`` (plain tensors, ``encoder.0.weight`` etc.)."""
        state = {}
        for name, net in (("encoder", self.encoder), ("decoder", self.decoder)):
            for key, value in net.state_dict().items():
                state[f"{name}.{key}"] = value[s].clone()
        return state


# --- evaluation ---------------------------------------------------------------------------


class Member(nn.Module):
    """One trained member as a plain model for evaluation: ``encode`` and ``decode``."""

    def __init__(self, state: dict[str, Tensor]) -> None:
        super().__init__()
        self.state = state
        self.depth = sum(k.startswith("encoder.weights.") for k in state)

    def _mlp(self, name: str, x: Tensor) -> Tensor:
        for i in range(self.depth):
            w, b = self.state[f"{name}.weights.{i}"], self.state[f"{name}.biases.{i}"]
            x = torch.nn.functional.linear(x, w, b)
            if i < self.depth - 1:
                x = x.relu()
        return x

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = self._mlp("encoder", x).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: Tensor) -> Tensor:
        return self._mlp("decoder", z)


@torch.no_grad()
def energy_terms(model: Member, x: Tensor, chunk: int = 16384) -> Tensor:
    """The two terms of :func:`energy` per point, ``(N, 2) -> (N, 2)``: KL and squared error."""
    out = []
    for part in x.split(chunk):
        mu, logvar = model.encode(part)
        kl = gaussian_kl(mu, logvar, reduction="none")
        out.append(
            torch.stack([kl, reconstruction_loss(model.decode(mu), part, reduction="none")], 1)
        )
    return torch.cat(out)


def energy(model: Member, x: Tensor, chunk: int = 16384) -> Tensor:
    """-ELBO with β's of 1 decoding the posterior mean: the authors' density and gnELBO energy."""
    return energy_terms(model, x, chunk).sum(1)


def evaluation_draws(
    dataset: str, seed: int, args: argparse.Namespace
) -> tuple[Tensor, Tensor, Tensor]:
    """The points a run is evaluated on: real points, prior noise and the gnELBO's data.

    Shapes ``(eval_samples, 2)``, ``(eval_samples, z_dim)`` and ``(gnelbo_samples, 2)``, from
    one stream per seed, so the report can evaluate a trained model again on the same points.
    """
    generator = torch.Generator().manual_seed(10_000 + seed)
    real = sample(dataset, args.eval_samples, generator=generator)
    noise = torch.randn(args.eval_samples, args.z_dim, generator=generator)
    return real, noise, sample(dataset, args.gnelbo_samples, generator=generator)


@torch.no_grad()
def evaluate(run: Run, model: Member, args: argparse.Namespace) -> dict[str, float]:
    bounds = plot_range(run.dataset)
    real, noise, data = evaluation_draws(run.dataset, run.seed, args)
    fake = model.decode(noise)
    grid = grid_points(range=bounds, points_per_axis=args.grid_points)
    gn = grid_normalized_elbo(energy(model, data), energy(model, grid))
    return {
        "gnELBO": 1e7 * gn.item(),
        "KL": soft_intro_histogram_kl(fake, real, range=bounds).item(),
        "JSD": soft_intro_histogram_jsd(fake, real, range=bounds).item(),
    }


# --- records ------------------------------------------------------------------------------


def read_records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def append_record(path: Path, record: dict) -> None:
    """Append one JSON line; the line is written in one ``write`` and flushed to disk."""
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def run_key(record: dict) -> str:
    return Run(record["method"], record["dataset"], record["seed"], record["config"]).key


def schedule(method: str, iterations: int, warmup: int) -> tuple[int, int | None]:
    """What of the schedule tells two runs of one setting apart (a VAE has no warm-up)."""
    return iterations, None if method == "vae" else warmup


def record_schedule(record: dict) -> tuple[int, int | None]:
    return schedule(record["method"], record["iterations"], record["warmup"])


def train_runs(runs: list[Run], args: argparse.Namespace, phase: str) -> None:
    """Train the runs not yet recorded as one stacked set, then evaluate and record each."""
    records = args.out / "runs.jsonl"
    done = {(run_key(r), record_schedule(r)) for r in read_records(records)}
    todo = [
        r for r in runs if (r.key, schedule(r.method, args.iterations, args.warmup)) not in done
    ]
    for r in runs:
        if r not in todo:
            print(f"skip {r.key} (recorded)", flush=True)
    if not todo:
        return
    trainer = StackedTrainer(todo, args)
    # A checkpoint of the stacked set every --checkpoint-every iterations, named after the
    # runs and every setting that shapes training, lets a restart continue mid-run.
    settings = {k: getattr(args, k) for k in TRAINING_SETTINGS}
    name = json.dumps({"runs": [r.key for r in todo], **settings}, sort_keys=True)
    checkpoint = args.out / "checkpoints" / f"{hashlib.sha1(name.encode()).hexdigest()[:16]}.pt"
    seconds = 0.0
    if checkpoint.exists():
        saved = torch.load(checkpoint, weights_only=False)
        trainer.load_state_dict(saved["trainer"])
        seconds = saved["seconds"]
        print(f"resume {len(todo)} runs at iteration {trainer.iteration}", flush=True)
    start = time.perf_counter() - seconds
    while trainer.iteration < args.iterations:
        trainer.step()
        it = trainer.iteration
        if args.log_every and it % args.log_every == 0:
            rate = (time.perf_counter() - start) / it
            print(
                f"{trainer.method} x{len(todo)} it {it}/{args.iterations} "
                f"{1e3 * rate:.1f} ms/it ({1e3 * rate / len(todo):.1f} ms per run)",
                flush=True,
            )
        if args.checkpoint_every and it % args.checkpoint_every == 0 and it < args.iterations:
            checkpoint.parent.mkdir(exist_ok=True)
            partial = checkpoint.with_suffix(".tmp")
            elapsed = time.perf_counter() - start
            torch.save({"trainer": trainer.state_dict(), "seconds": elapsed}, partial)
            os.replace(partial, checkpoint)
    seconds = time.perf_counter() - start
    (args.out / "weights").mkdir(exist_ok=True)
    for s, run in enumerate(todo):
        state = trainer.member_state(s)
        # The schedule is part of the name: a grid rerun at another schedule keeps both files.
        named = f"{run.key}/{schedule(run.method, args.iterations, args.warmup)}"
        tag = hashlib.sha1(named.encode()).hexdigest()[:8]
        weights = args.out / "weights" / f"{run.method}_{run.dataset}_{run.seed}_{tag}.pt"
        torch.save({"run": asdict(run), "state": state}, weights)
        metrics = evaluate(run, Member(state), args)
        record = {
            **asdict(run),
            "phase": phase,
            "iterations": args.iterations,
            "warmup": args.warmup,
            "metrics": metrics,
            "seconds_per_iteration_per_run": seconds / args.iterations / len(todo),
            "stacked": len(todo),
            "kernel": KERNEL,
            "weights": str(weights.relative_to(args.out)),
        }
        append_record(records, record)
        print(f"done {run.key}: " + " ".join(f"{k} {v:.2f}" for k, v in metrics.items()))
    checkpoint.unlink(missing_ok=True)


# --- report -------------------------------------------------------------------------------


def summarise(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.fmean(values):.2f} ± {statistics.stdev(values):.2f}"


def grid_score(metrics: dict[str, float]) -> float:
    """What the grids minimise: KL + JSD of the histograms (the two sample metrics)."""
    return metrics["KL"] + metrics["JSD"]


def grid_runs(records: list[dict], method: str) -> tuple[list[dict], list[dict]]:
    """The method's grid records at the latest grid schedule, and those at earlier ones.

    A grid rerun with another schedule (iterations, warm-up) replaces the earlier grid: its
    scores are not comparable with the new ones, so only the latest schedule is ranked.
    """
    rows = [r for r in records if r["phase"] == "grid" and r["method"] == method]
    if not rows:
        return [], []
    latest = record_schedule(rows[-1])
    kept = [r for r in rows if record_schedule(r) == latest]
    return kept, [r for r in rows if record_schedule(r) != latest]


def _ranked_grid(records: list[dict], method: str) -> list[tuple[dict, list[dict]]]:
    """The method's grid settings (latest schedule) with their runs, best mean KL + JSD first."""
    by_config: dict[str, list[dict]] = {}
    for r in grid_runs(records, method)[0]:
        by_config.setdefault(json.dumps(r["config"], sort_keys=True), []).append(r)
    keys = sorted(
        by_config, key=lambda k: statistics.fmean(grid_score(r["metrics"]) for r in by_config[k])
    )
    return [(json.loads(k), by_config[k]) for k in keys]


def grid_ranking(records: list[dict], method: str) -> list[dict]:
    """The settings of the method's grid (latest schedule), best first by mean KL + JSD."""
    return [config for config, _ in _ranked_grid(records, method)]


def grid_table(
    records: list[dict], method: str, args: argparse.Namespace | None = None
) -> list[str]:
    """The method's grid ranked by KL + JSD, as markdown lines (none without grid runs).

    With ``args`` whose ``redraws`` > 0, a last column gives the settings' KL + JSD over that
    many fresh evaluation draws of each of its models (mean ± std over all of them; with one
    grid seed, the spread of one model's evaluation): the ranking's own noise.
    """
    redrawn = args is not None and args.redraws > 0
    ranked = _ranked_grid(records, method)
    if not ranked:
        return []
    rows = [r for _, rs in ranked for r in rs]
    lines = [
        f"{LABELS[method]} grid on 8 Gaussians ({rows[0]['iterations']} iterations, "
        f"{rows[0]['warmup']} warm-up, seeds "
        f"{', '.join(str(s) for s in sorted({r['seed'] for r in rows}))}; ranked by KL + JSD):",
        "",
        "| settings | gnELBO | KL | JSD | KL + JSD |" + (" KL + JSD redrawn |" if redrawn else ""),
        "|---|---|---|---|---|" + ("---|" if redrawn else ""),
    ]
    for config, rs in ranked:
        cells = [summarise([r["metrics"][m] for r in rs]) for m in METRICS]
        cells.append(f"{statistics.fmean(grid_score(r['metrics']) for r in rs):.2f}")
        if redrawn:
            scores: list[float] = []
            for r in rs:
                draws = redraw(r, args)
                scores += [kl + js for kl, js in zip(draws["KL"], draws["JSD"], strict=True)]
            cells.append(summarise(scores))
        lines.append(f"| {_settings(config)} | {' | '.join(cells)} |")
    return lines


def runs_of(final: list[dict], dataset: str, method: str) -> list[dict]:
    """The final records of one method on one dataset, in seed order."""
    rs = (r for r in final if r["dataset"] == dataset and r["method"] == method)
    return sorted(rs, key=lambda r: r["seed"])


def current_settings(
    final: list[dict], rankings: dict[str, list[dict]] | None = None
) -> tuple[list[dict], list[dict]]:
    """Split final records into those of each (method, dataset)'s current settings and the rest.

    A grid that grows or is rerun can crown a new winner; the runs of the settings it
    replaced stay in the records (nothing is deleted) but must not be pooled with the new
    ones. A method with a grid (``rankings``: its settings, best first) shows on each dataset
    the best-ranked settings that have runs there, so a winner crowned again brings its
    earlier runs back and a new winner's runs replace the others as they arrive. Otherwise,
    or where no ranked settings have runs, the settings of the last record appended count,
    so a later run at other settings (a ``train`` without ``--from-grid``, say) moves the
    earlier ones to the second list.
    """
    current = {(r["method"], r["dataset"]): r["config"] for r in final}
    for method, dataset in current:
        trained = [r["config"] for r in final if (r["method"], r["dataset"]) == (method, dataset)]
        ranked = [c for c in (rankings or {}).get(method, []) if c in trained]
        if ranked:
            current[(method, dataset)] = ranked[0]
    kept: list[dict] = []
    superseded: list[dict] = []
    for r in final:
        is_current = r["config"] == current[(r["method"], r["dataset"])]
        (kept if is_current else superseded).append(r)
    return kept, superseded


def uncovered(generated: Tensor, real: Tensor, bounds: tuple[float, float]) -> float:
    r"""Share of the ``real`` points in the range whose bin holds no ``generated`` point.

    Table 2's KL floors an empty generated bin at 1e-14 inside the logarithm, so a real point
    alone in such a bin adds :math:`\frac{1}{100} \cdot \frac{1}{N a}(\log\frac{1}{N a} +
    32.2)` to it (bin area :math:`a`, :math:`N` real points), whatever the rest of the
    histogram: 0.038 on 8 Gaussians at 5,000 points. This share says how much of a KL
    comes from there.
    """
    empty = histogram2d(generated, range=bounds) == 0
    return histogram2d(real, range=bounds)[empty].sum().item()


def trained(record: dict, args: argparse.Namespace) -> Member:
    """The trained model a record's weights file holds."""
    return Member(torch.load(args.out / record["weights"])["state"])


@torch.no_grad()
def redraw_points(
    dataset: str,
    generate: Callable[[int, torch.Generator], Tensor],
    seed: int,
    args: argparse.Namespace,
) -> dict[str, list[float]]:
    """KL, JSD and :func:`uncovered` of ``generate``'s points over ``--redraws`` fresh draws.

    Each draw is a new set of ``--eval-samples`` real and generated points, as in
    :func:`evaluate`: how far a recorded figure would move had the evaluation drawn other
    points from the same two distributions. The report's ``--eval-samples`` must be the one
    the runs were evaluated with (both default to 5,000) for the two to compare.
    """
    bounds = plot_range(dataset)
    metrics: dict[str, list[float]] = {"KL": [], "JSD": [], "uncovered": []}
    # One stream per seed, apart from evaluate's (10_000 + seed) and the figures' (20_000).
    generator = torch.Generator().manual_seed(50_000 + seed)
    for _ in range(args.redraws):
        real = sample(dataset, args.eval_samples, generator=generator)
        fake = generate(args.eval_samples, generator)
        metrics["KL"].append(soft_intro_histogram_kl(fake, real, range=bounds).item())
        metrics["JSD"].append(soft_intro_histogram_jsd(fake, real, range=bounds).item())
        metrics["uncovered"].append(uncovered(fake, real, bounds))
    return metrics


def redraw(record: dict, args: argparse.Namespace) -> dict[str, list[float]]:
    """:func:`redraw_points` for the trained model of one record."""
    model = trained(record, args)

    def generate(n: int, generator: torch.Generator) -> Tensor:
        return model.decode(torch.randn(n, args.z_dim, generator=generator))

    return redraw_points(record["dataset"], generate, record["seed"], args)


def percent(draws: list[list[float]]) -> str:
    """Mean over models of each model's mean share over draws, in percent."""
    return f"{100 * statistics.fmean(statistics.fmean(d) for d in draws):.2f} %"


def noise_table(
    final: list[dict], args: argparse.Namespace
) -> tuple[list[str], dict[str, dict[str, list[dict]]]]:
    """The evaluation's own noise next to the recorded figures, per dataset and method."""
    draws: dict[str, dict[str, list[dict]]] = {}
    lines = [
        f"Evaluation noise: each final model re-evaluated on {args.redraws} fresh draws of "
        f"{args.eval_samples:,} real and {args.eval_samples:,} generated points. *recorded*: the "
        "table's mean ± std over seeds; *redrawn*: mean ± std over seeds of each model's mean "
        "over draws; *within a model*: the mean over seeds of each model's std over draws. "
        "*the data itself*: a perfect model, whose generated points are a second draw of the "
        "data: the lowest figure the metric can give at this number of points. *uncovered*: "
        "the share of real points in a bin that holds no generated point (mean over seeds of "
        "each model's mean over draws); each such point adds a fixed amount to the KL.",
        "",
        "| dataset | method | n | KL recorded | KL redrawn | KL within a model "
        "| JSD recorded | JSD redrawn | JSD within a model | uncovered |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in DATASETS:
        if not any(r["dataset"] == name for r in final):
            continue
        floor = redraw_points(name, lambda n, g, name=name: sample(name, n, generator=g), 0, args)
        draws[name] = {"data": [floor]}
        cells = []
        for metric in ("KL", "JSD"):
            spread = f"{statistics.stdev(floor[metric]):.2f}" if args.redraws > 1 else "—"
            cells += ["—", f"{statistics.fmean(floor[metric]):.2f}", spread]
        cells.append(percent([floor["uncovered"]]))
        lines.append(f"| {name} | the data itself | — | {' | '.join(cells)} |")
        for method in METHODS:
            rs = runs_of(final, name, method)
            if not rs:
                continue
            per = [{"seed": r["seed"], **redraw(r, args)} for r in rs]
            draws[name][method] = per
            cells = []
            for metric in ("KL", "JSD"):
                cells.append(summarise([r["metrics"][metric] for r in rs]))
                cells.append(summarise([statistics.fmean(p[metric]) for p in per]))
                spread = [statistics.stdev(p[metric]) for p in per] if args.redraws > 1 else []
                cells.append(f"{statistics.fmean(spread):.2f}" if spread else "—")
            cells.append(percent([p["uncovered"] for p in per]))
            lines.append(f"| {name} | {LABELS[method]} | {len(rs)} | {' | '.join(cells)} |")
    return lines, draws


def mode_shares(points: Tensor, radius: float = 0.1) -> dict[str, float]:
    """Where points of 8 Gaussians fall, as shares of ``points`` of shape ``(N, 2)``.

    Returns the share off every mode, the least and the most any mode holds, and the
    points' standard deviation per axis around their mode's centre. A point is on a mode
    when it lies within ``radius`` of its centre: seven of the data's standard deviations
    (0.02 / 1.414), so the data itself has no point off the modes. The standard deviation is
    NaN when fewer than two points lie on the modes.
    """
    centres = eight_gaussians_means()
    distance, nearest = torch.cdist(points, centres).min(dim=1)
    on = distance < radius
    shares = torch.bincount(nearest[on], minlength=8) / points.shape[0]
    spread = (points[on] - centres[nearest[on]]).std(dim=0).mean()
    return {"off": 1 - on.float().mean().item(), "least": shares.min().item(),
            "most": shares.max().item(), "std": spread.item()}  # fmt: skip


@torch.no_grad()
def modes_table(final: list[dict], args: argparse.Namespace) -> tuple[list[str], list[dict]]:
    """:func:`mode_shares` of 20,000 samples of every final 8-Gaussian model, seed by seed."""
    lines = [
        "Where the 8-Gaussian samples fall (20,000 samples per model): the share farther than "
        "0.1 from every mode, the least and the most any of the eight modes holds, and the "
        "standard deviation per axis around the mode's centre.",
        "",
        "| method | seed | off the modes | least mode | most mode | std around the centre |",
        "|---|---|---|---|---|---|",
    ]
    data = sample("8gaussians", 20_000, generator=torch.Generator().manual_seed(60_000))
    rows = [{"method": "data", "seed": None, **mode_shares(data)}]
    for method in METHODS:
        for r in runs_of(final, "8gaussians", method):
            generator = torch.Generator().manual_seed(60_000 + r["seed"])
            points = trained(r, args).decode(torch.randn(20_000, args.z_dim, generator=generator))
            rows.append({"method": method, "seed": r["seed"], **mode_shares(points)})
    for row in rows:
        label = "the data itself" if row["method"] == "data" else LABELS[row["method"]]
        seed = "—" if row["seed"] is None else row["seed"]
        lines.append(
            f"| {label} | {seed} | {100 * row['off']:.1f} % | {100 * row['least']:.1f} % "
            f"| {100 * row['most']:.1f} % | {row['std']:.4f} |"
        )
    return lines, rows


@torch.no_grad()
def energy_table(final: list[dict], args: argparse.Namespace) -> tuple[list[str], list[dict]]:
    """Where each final model puts its energy: on the data and over the gnELBO's grid.

    gnELBO is the mean over the ``N`` data points of each one's energy divided by the total
    energy of the ``G`` grid points and the data, so it is ``1 / (G · r + N)`` with ``r`` the
    mean energy over the plane divided by the mean energy on the data. A flat energy
    (``r = 1``) gives ``1 / (G + N)``, 9.4 in the table's 1e-7 units on a 1024² grid; the
    higher the plane stands above the data, the lower the gnELBO. Each model is evaluated
    again on the points of its recorded gnELBO (:func:`evaluation_draws`), so with the
    training's ``--eval-samples`` and ``--gnelbo-samples`` its ``r`` gives that gnELBO back.
    The table splits both means into their KL and squared-error terms; every column is a
    mean over the seeds.
    """
    lines = [
        f"Energy (-ELBO, β's of 1) on the gnELBO's {args.gnelbo_samples:,} data points and "
        f"{args.grid_points}² grid points, mean per point; r = plane ÷ data, and gnELBO = "
        "1e7 / (r · grid points + data points) for each model. Mean over the seeds.",
        "",
        "| dataset | method | n | data KL | data error | plane KL | plane error | r | gnELBO |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    rows = []
    for dataset in DATASETS:
        grid = grid_points(range=plot_range(dataset), points_per_axis=args.grid_points)
        for method in METHODS:
            runs = runs_of(final, dataset, method)
            if not runs:
                continue
            terms = []
            for r in runs:
                model = trained(r, args)
                data = evaluation_draws(dataset, r["seed"], args)[2]
                data_terms, grid_terms = energy_terms(model, data), energy_terms(model, grid)
                ratio = grid_terms.sum(1).mean() / data_terms.sum(1).mean()
                terms.append(torch.cat([data_terms.mean(0), grid_terms.mean(0), ratio[None]]))
            mean = dict(zip(ENERGY_COLUMNS, torch.stack(terms).mean(0).tolist(), strict=True))
            row = {"dataset": dataset, "method": method, "n": len(runs), **mean,
                   "gnELBO": statistics.fmean(r["metrics"]["gnELBO"] for r in runs)}  # fmt: skip
            rows.append(row)
            lines.append(
                f"| {dataset} | {LABELS[method]} | {row['n']} | {row['data_kl']:.2f} "
                f"| {row['data_error']:.4f} | {row['plane_kl']:.2f} | {row['plane_error']:.3f} "
                f"| {row['r']:.2f} | {row['gnELBO']:.2f} |"
            )
    return lines, rows


def report(args: argparse.Namespace) -> None:
    records = read_records(args.out / "runs.jsonl")
    rankings = {m: grid_ranking(records, m) for m in GRIDS}
    final, superseded = current_settings([r for r in records if r["phase"] == "final"], rankings)
    results: dict = {}
    for r in final:
        per = results.setdefault(r["dataset"], {}).setdefault(r["method"], [])
        per.append({"seed": r["seed"], **r["metrics"], "config": r["config"]})
    args.to.mkdir(parents=True, exist_ok=True)
    lines = [
        "Mean ± sample std over seeds (n = number of seeds), lower is better; gnELBO in 1e-7 "
        "units. Paper: Soft-IntroVAE Table 2 (5 seeds).",
        "",
        "| dataset | metric | " + " | ".join(f"{LABELS[m]} (ours)" for m in METHODS) + " | "
        + " | ".join(f"{LABELS[m]} (paper)" for m in METHODS) + " |",
        "|---|---|" + "---|" * 2 * len(METHODS),
    ]  # fmt: skip
    for name in DATASETS:
        if name not in results:
            continue
        for metric in METRICS:
            ours = []
            for m in METHODS:
                rs = results[name].get(m, [])
                ours.append(f"{summarise([r[metric] for r in rs])} (n={len(rs)})" if rs else "—")
            paper = [f"{PAPER[name][m][metric][0]} ± {PAPER[name][m][metric][1]}" for m in METHODS]
            lines.append(f"| {name} | {metric} | {' | '.join(ours)} | {' | '.join(paper)} |")
    for method, ranking in rankings.items():
        shown = {r["dataset"]: r["config"] for r in final if r["method"] == method}
        behind: dict[str, list[str]] = {}
        for dataset, config in shown.items():
            if ranking and config != ranking[0]:
                place = (f"ranked {ranking.index(config) + 1} in the grid" if config in ranking
                         else "not in the grid, the last trained")  # fmt: skip
                behind.setdefault(f"{_settings(config)} ({place})", []).append(dataset)
        winner = _settings(ranking[0]) if ranking else ""
        for settings, datasets in behind.items():
            lines += ["", f"{LABELS[method]}: the grid's winner ({winner}) has no final runs "
                      f"yet on {', '.join(datasets)}; shown there: {settings}."]  # fmt: skip
    timing = {}
    for r in final:
        timing.setdefault(r["method"], []).append(r["seconds_per_iteration_per_run"])
    lines += ["", "Wall time per training iteration per run (one thread, on a shared machine):", ""]
    lines += [f"- {LABELS[m]}: {1e3 * statistics.fmean(t):.1f} ms" for m, t in timing.items()]
    grids = {}
    for method in ("vae", "introvae"):
        table = grid_table(records, method, args)
        if not table:
            continue
        lines += ["", *table]
        ranked, earlier = grid_runs(records, method)
        grids[method] = {"winner": rankings[method][0], "runs": [
            {"config": r["config"], "seed": r["seed"], **r["metrics"]} for r in ranked
        ]}  # fmt: skip
        if earlier:
            lines += ["", f"Earlier {LABELS[method]} grid runs at another schedule (not ranked):",
                      ""]  # fmt: skip
            lines += [f"- {run_key(r)} ({r['iterations']} iterations, {r['warmup']} warm-up): "
                      f"KL {r['metrics']['KL']:.2f}, JSD {r['metrics']['JSD']:.2f}"
                      for r in earlier]  # fmt: skip
            grids[method]["earlier"] = [
                {"config": r["config"], "seed": r["seed"], "iterations": r["iterations"],
                 "warmup": r["warmup"], **r["metrics"]} for r in earlier
            ]  # fmt: skip
    redrawn: dict = {}
    if args.redraws:
        table, redrawn = noise_table(final, args)
        lines += ["", *table]
    modes: list[dict] = []
    if any(r["dataset"] == "8gaussians" for r in final):
        table, modes = modes_table(final, args)
        lines += ["", *table]
    table, energies = energy_table(final, args)
    lines += ["", *table]
    if superseded:
        lines += ["", "Final runs of settings since replaced by a new grid winner (not above):", ""]
        lines += [f"- {run_key(r)}: KL {r['metrics']['KL']:.2f}, JSD {r['metrics']['JSD']:.2f}"
                  for r in superseded]  # fmt: skip
    (args.to / "results.md").write_text("\n".join(lines) + "\n")
    summary = {"paper": PAPER, "results": results, "grids": grids, "redrawn": redrawn,
               "modes": modes, "energy": energies}  # fmt: skip
    (args.to / "results.json").write_text(json.dumps(summary, indent=1) + "\n")
    print("\n".join(lines))
    for name in results:
        plot(name, final, args)


@torch.no_grad()
def plot(name: str, final: list[dict], args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    low, high = plot_range(name)
    n = 256
    generator = torch.Generator().manual_seed(20_000)
    grid = grid_points(range=(low, high), points_per_axis=n)
    panels = [("data", sample(name, 2048, generator=generator), None)]
    for method in METHODS:
        rs = runs_of(final, name, method)
        if not rs:
            continue
        model = trained(rs[0], args)
        points = model.decode(torch.randn(2048, args.z_dim, generator=generator))
        density = torch.exp(-energy(model, grid)).reshape(n, n)
        label = f"{LABELS[method]} (seed {rs[0]['seed']})"
        panels += [(f"{label}\nsamples", points, None), (f"{label}\ndensity", None, density)]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 2.9))
    for ax, (title, points, density) in zip(axes, panels, strict=True):
        if points is not None:
            ax.scatter(points[:, 0], points[:, 1], s=1, c="tab:blue" if title == "data" else "g")
        else:
            ax.imshow(density.T, origin="lower", extent=(low, high, low, high), cmap="jet")
        ax.set_xlim(low, high)
        ax.set_ylim(low, high)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize=8)
    fig.suptitle(name, fontsize=10)
    fig.tight_layout()
    fig.savefig(args.to / f"{name}.png", dpi=72)
    plt.close(fig)


# --- command line -------------------------------------------------------------------------


def _shard(text: str) -> tuple[int, int]:
    k, _, n = text.partition("/")
    try:
        shard = int(k), int(n)
    except ValueError:
        shard = (-1, 0)
    if not 0 <= shard[0] < shard[1]:
        raise argparse.ArgumentTypeError(f"must be K/N with 0 <= K < N, got {text!r}")
    return shard


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("train", "grid", "report"))
    parser.add_argument("--method", choices=METHODS, default="soft-introvae")
    parser.add_argument("--datasets", nargs="+", default=["8gaussians"], choices=list(DATASETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument(
        "--grid-seeds", nargs="+", type=int, default=[100], help="grid: never the seeds 0-4"
    )
    parser.add_argument(
        "--from-grid",
        action="store_true",
        help="train: the settings that won this method's grid in --out (else the defaults)",
    )
    parser.add_argument("--iterations", type=int, default=None, help="30,000 (grid: 10,000)")
    parser.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="plain-VAE iterations first (default: 1/15 of --iterations, 2,000 of 30,000)",
    )
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--z-dim", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--depth", type=int, default=4, help="hidden layers per network")
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument(
        "--decay-at",
        nargs="*",
        type=float,
        default=[1 / 3, 1 / 2],
        help="fractions of training where the learning rate drops ×0.1 (none: constant)",
    )
    parser.add_argument("--eval-samples", type=int, default=5_000)
    parser.add_argument("--gnelbo-samples", type=int, default=12_800)
    parser.add_argument("--grid-points", type=int, default=1024, help="gnELBO grid per axis")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--shard",
        type=_shard,
        default=(0, 1),
        help="K/N: train only every N-th of the command's runs from the K-th (0-based), so "
        "N processes started with K = 0..N-1 share the work (one core each)",
    )
    parser.add_argument("--log-every", type=int, default=1000)
    parser.add_argument(
        "--checkpoint-every", type=int, default=1000, help="iterations between checkpoints"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/soft_introvae_2d"))
    parser.add_argument("--to", type=Path, default=None, help="report: results folder")
    parser.add_argument(
        "--redraws",
        type=int,
        default=10,
        help="report: fresh evaluation draws per final and grid model, for the noise table "
        "and the grids' last column (0: neither)",
    )
    args = parser.parse_args(argv)
    if args.iterations is None:
        args.iterations = 10_000 if args.command == "grid" else 30_000
    if args.warmup is None:
        # The warm-up keeps its share of the schedule, so a short grid run still trains the
        # introspective game before the learning rate decays.
        args.warmup = round(args.iterations / 15)
    if args.to is None:
        args.to = args.out
    if args.redraws < 0:
        parser.error(f"--redraws must be 0 or more, got {args.redraws}")
    return args


def shard(runs: list[Run], args: argparse.Namespace) -> list[Run]:
    """This process's share of ``runs`` under ``--shard K/N``: every N-th from the K-th."""
    k, n = args.shard
    return runs[k::n]


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.command == "report":
        report(args)
        return
    if args.command == "grid":
        runs = [
            Run(args.method, "8gaussians", seed, config)
            for config in GRIDS[args.method]
            for seed in args.grid_seeds
        ]
        train_runs(shard(runs, args), args, "grid")
        return
    configs = {d: default_config(args.method, d) for d in args.datasets}
    if args.from_grid:
        ranking = grid_ranking(read_records(args.out / "runs.jsonl"), args.method)
        if not ranking:
            raise SystemExit(f"--from-grid: no {args.method} grid records in {args.out}")
        winner = ranking[0]
        configs = dict.fromkeys(args.datasets, winner)
        print(f"{args.method}: grid winner {winner}", flush=True)
    runs = [
        Run(args.method, dataset, seed, configs[dataset])
        for dataset in args.datasets
        for seed in args.seeds
    ]
    train_runs(shard(runs, args), args, "final")


if __name__ == "__main__":
    main()
