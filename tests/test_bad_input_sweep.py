"""Bad input swept over the public entry points (issue 14), drawn by hypothesis.

Every entry point below is called with one argument made bad in one way: another rank, a size
that does not fit, another dtype, not a tensor, an empty batch, NaN/Inf values, a tensor on
another device (``meta``), everything on ``meta``, or a non-finite/out-of-range scalar. Each
case must end in one of two ways:

* **refused clearly**: a ``ValueError`` or ``TypeError`` whose message names the caller's
  argument (the name the caller wrote: ``queries['a']``, ``fake.mu``, not an inner name);
* **a documented result**: a row of :data:`DOCUMENTED` says what happens and why, and the
  row's check holds.

Anything else (another exception, a refusal naming the wrong argument, a result nobody
documented) fails the test. The counts are printed at the end of the module (and by running
this file: ``python tests/test_bad_input_sweep.py``).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import contradistinct as cd
from contradistinct import functional as CF
from contradistinct.backbones import (
    EqualizedConv2d,
    EqualizedLinear,
    MinibatchStdDev,
    PixelNorm,
    ProGANDecoder,
    ProGANDiscriminator,
    ProGANEncoder,
    minibatch_stddev,
    pixel_norm,
)
from contradistinct.metrics import frechet_distance
from contradistinct.toy import (
    histogram2d,
    histogram_jsd,
    histogram_kl,
    soft_intro_histogram_jsd,
    soft_intro_histogram_kl,
)

C, S, LATENT = 3, 4, 4  # channels and spatial size of feature maps, ProGAN latent size

# -- the entry points -----------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One public entry point: how to build a valid call and which arguments it takes."""

    name: str
    run: Callable[[dict[str, Any], dict[str, Any]], Any]
    """Calls the entry point with the arguments (first dict) and the sizes (second dict)."""
    tensors: dict[str, tuple[str | int, ...]]
    """Tensor argument -> its shape, in size symbols (B, D, ...) or ints."""
    scalars: dict[str, tuple[str, float]] = field(default_factory=dict)
    """Float hyperparameter -> (its domain, a valid value)."""
    batch: tuple[str, ...] = ()
    """The tensor arguments whose first dimension is a batch (emptied together)."""
    init: dict[str, str] = field(default_factory=dict)
    """Tensor argument -> "eye" (a covariance), "mask" (bool) or "points" (inside [-1, 1])."""
    names: dict[str, str] = field(default_factory=dict)
    """Tensor argument -> the name its refusal must use, where the key is not that name."""


def _rb(prefix: str, a: dict[str, Any]) -> CF.ReencodedBatch:
    fields = ("decoded", "mu", "logvar", "reconstruction")
    return CF.ReencodedBatch(*(a[f"{prefix}.{name}"] for name in fields))


def _rb_shapes(prefix: str) -> dict[str, tuple[str | int, ...]]:
    return {
        f"{prefix}.decoded": ("G", "X"),
        f"{prefix}.mu": ("G", "Z"),
        f"{prefix}.logvar": ("G", "Z"),
        f"{prefix}.reconstruction": ("G", "X"),
    }


def _pair(prefix: str, a: dict[str, Any]) -> tuple[Any, Any]:
    return a[f"{prefix}[0]"], a[f"{prefix}[1]"]


def _on(module: nn.Module, z: dict[str, Any]) -> nn.Module:
    return module.to(z["device"])


def _r1(a: dict[str, Any], z: dict[str, Any]) -> Any:
    inputs = a["real_inputs"]
    if isinstance(inputs, torch.Tensor) and inputs.is_floating_point() and inputs.ndim:
        inputs = inputs.detach().requires_grad_(True)
        return CF.r1_penalty(_critic(inputs), inputs)
    return CF.r1_penalty(torch.zeros(1), inputs)


def _critic(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1).square().sum(dim=1) if x.ndim > 1 else x.square()


def _multiscale(a: dict[str, Any], z: dict[str, Any]) -> Any:
    heads = {"a": cd.ProjectionHead(C, z["D"]), "b.0": cd.LocalPatchHead(C, z["D"], locations=2)}
    weights = {"a": a["weights['a']"], "b.0": 1.0}
    contrast = cd.MultiScaleContrastive(
        heads, queue_size=8, temperature=a["temperature"], weights=weights
    )
    contrast = _on(contrast, z)
    queries = {"a": a["queries['a']"], "b.0": a["queries['b.0']"]}
    keys = {"a": a["keys['a']"], "b.0": a["keys['b.0']"]}
    return contrast(queries, keys)


def _progan_discriminator(a: dict[str, Any], z: dict[str, Any]) -> Any:
    return _on(ProGANDiscriminator(8, channel_base=32, max_channels=4), z)(a["x"], a["alpha"])


def _progan_encoder(a: dict[str, Any], z: dict[str, Any]) -> Any:
    encoder = ProGANEncoder(LATENT, 8, channel_base=32, max_channels=4)
    return _on(encoder, z)(a["x"], a["alpha"])


def _progan_decoder(a: dict[str, Any], z: dict[str, Any]) -> Any:
    decoder = ProGANDecoder(LATENT, 8, channel_base=32, max_channels=4)
    return _on(decoder, z)(a["z"], 8, a["alpha"])


def _momentum(a: dict[str, Any], z: dict[str, Any]) -> Any:
    ema = cd.MomentumEncoder(nn.Linear(2, 2), momentum=a["momentum"])
    ema.update(momentum=a["update_momentum"])
    return ema.module.weight


ELBO_TENSORS: dict[str, tuple[str | int, ...]] = {
    "input": ("B", "X"),
    "target": ("B", "X"),
    "mu": ("B", "Z"),
    "logvar": ("B", "Z"),
}
INTRO_POSTERIORS: dict[str, tuple[str | int, ...]] = {
    "fake_posterior[0]": ("G", "Z"),
    "fake_posterior[1]": ("G", "Z"),
    "rec_posterior[0]": ("B", "Z"),
    "rec_posterior[1]": ("B", "Z"),
}
POSTERIOR_NAMES = {f"{p}[{i}]": p for p in ("fake_posterior", "rec_posterior") for i in (0, 1)}
HISTOGRAM = {"generated": ("N", 2), "real": ("M", 2)}
HISTOGRAM_INIT = {"generated": "points", "real": "points"}

ENTRIES: list[Entry] = [
    # functional: contrastive
    Entry(
        "info_nce",
        lambda a, z: CF.info_nce(
            a["query"],
            a["positive"],
            a["negatives"],
            temperature=a["temperature"],
            negative_mask=a["negative_mask"],
        ),
        {
            "query": ("B", "D"),
            "positive": ("B", "D"),
            "negatives": ("K", "D"),
            "negative_mask": ("K",),
        },
        {"temperature": ("positive", 0.1)},
        batch=("query", "positive"),
        init={"negative_mask": "mask"},
    ),
    Entry(
        "info_nce_logits",
        lambda a, z: CF.info_nce_logits(
            a["query"], a["positive"], temperature=a["temperature"], in_batch_negatives=True
        ),
        {"query": ("B", "D"), "positive": ("B", "D")},
        {"temperature": ("positive", 0.1)},
        batch=("query", "positive"),
    ),
    Entry(
        "contrastive_accuracy",
        lambda a, z: CF.contrastive_accuracy(a["logits"]),
        {"logits": ("B", "K")},
        batch=("logits",),
    ),
    # functional: Gaussian, reconstruction
    Entry(
        "gaussian_kl",
        lambda a, z: CF.gaussian_kl(a["mu"], a["logvar"]),
        {"mu": ("B", "Z"), "logvar": ("B", "Z")},
        batch=("mu", "logvar"),
    ),
    Entry(
        "reparameterize",
        lambda a, z: CF.reparameterize(a["mu"], a["logvar"]),
        {"mu": ("B", "Z"), "logvar": ("B", "Z")},
        batch=("mu", "logvar"),
    ),
    Entry(
        "reconstruction_loss",
        lambda a, z: CF.reconstruction_loss(a["input"], a["target"]),
        {"input": ("B", "X"), "target": ("B", "X")},
        batch=("input", "target"),
    ),
    # functional: adversarial and penalties
    Entry(
        "real_term",
        lambda a, z: CF.real_term(a["real_logits"]),
        {"real_logits": ("B",)},
        batch=("real_logits",),
    ),
    Entry(
        "fake_term",
        lambda a, z: CF.fake_term(a["fake_logits"]),
        {"fake_logits": ("B",)},
        batch=("fake_logits",),
    ),
    Entry(
        "generator_loss",
        lambda a, z: CF.generator_loss(a["fake_logits"], kind="nonsaturating"),
        {"fake_logits": ("B",)},
        batch=("fake_logits",),
    ),
    Entry(
        "discriminator_loss",
        lambda a, z: CF.discriminator_loss(a["real_logits"], a["fake_logits"]),
        {"real_logits": ("B",), "fake_logits": ("G",)},
        batch=("real_logits", "fake_logits"),
    ),
    Entry("r1_penalty", _r1, {"real_inputs": ("B", "X")}, batch=("real_inputs",)),
    Entry(
        "gradient_penalty",
        lambda a, z: CF.gradient_penalty(_critic, a["real"], a["fake"]),
        {"real": ("B", "X"), "fake": ("B", "X")},
        batch=("real", "fake"),
    ),
    # functional: introspective
    Entry(
        "exp_elbo",
        lambda a, z: CF.exp_elbo(a["negative_elbo"], scale=a["scale"], alpha=a["alpha"]),
        {"negative_elbo": ("B",)},
        {"scale": ("positive", 0.5), "alpha": ("positive", 2.0)},
        batch=("negative_elbo",),
    ),
    Entry(
        "negative_elbo",
        lambda a, z: CF.negative_elbo(
            a["input"],
            a["target"],
            a["mu"],
            a["logvar"],
            recon_weight=a["recon_weight"],
            kl_weight=a["kl_weight"],
        ),
        ELBO_TENSORS,
        {"recon_weight": ("non_negative", 1.0), "kl_weight": ("non_negative", 1.0)},
        batch=tuple(ELBO_TENSORS),
    ),
    Entry(
        "soft_intro_encoder_loss",
        lambda a, z: CF.soft_intro_encoder_loss(
            a["input"],
            a["target"],
            a["mu"],
            a["logvar"],
            fake=_rb("fake", a),
            rec=_rb("rec", a),
            beta_rec=a["beta_rec"],
            beta_kl=a["beta_kl"],
            beta_neg=a["beta_neg"],
            scale=a["scale"],
        ),
        ELBO_TENSORS | _rb_shapes("fake") | _rb_shapes("rec"),
        {
            "beta_rec": ("non_negative", 1.0),
            "beta_kl": ("non_negative", 1.0),
            "beta_neg": ("non_negative", 1.0),
            "scale": ("positive", 0.5),
        },
        batch=tuple(ELBO_TENSORS) + tuple(_rb_shapes("fake")) + tuple(_rb_shapes("rec")),
    ),
    Entry(
        "soft_intro_decoder_loss",
        lambda a, z: CF.soft_intro_decoder_loss(
            a["input"],
            a["target"],
            fake=_rb("fake", a),
            rec=_rb("rec", a),
            beta_rec=a["beta_rec"],
            beta_kl=a["beta_kl"],
            gamma_r=a["gamma_r"],
            scale=a["scale"],
        ),
        {"input": ("B", "X"), "target": ("B", "X")} | _rb_shapes("fake") | _rb_shapes("rec"),
        {
            "beta_rec": ("non_negative", 1.0),
            "beta_kl": ("non_negative", 1.0),
            "gamma_r": ("non_negative", 1e-8),
            "scale": ("positive", 0.5),
        },
        batch=("input", "target", *_rb_shapes("fake"), *_rb_shapes("rec")),
    ),
    Entry(
        "intro_vae_encoder_loss",
        lambda a, z: CF.intro_vae_encoder_loss(
            a["input"],
            a["target"],
            a["mu"],
            a["logvar"],
            fake_posterior=_pair("fake_posterior", a),
            rec_posterior=_pair("rec_posterior", a),
            margin=a["margin"],
            recon_weight=a["recon_weight"],
            kl_weight=a["kl_weight"],
            neg_weight=a["neg_weight"],
        ),
        ELBO_TENSORS | INTRO_POSTERIORS,
        {
            "margin": ("positive", 10.0),
            "recon_weight": ("non_negative", 1.0),
            "kl_weight": ("non_negative", 1.0),
            "neg_weight": ("non_negative", 1.0),
        },
        batch=tuple(ELBO_TENSORS) + tuple(INTRO_POSTERIORS),
        names=POSTERIOR_NAMES,
    ),
    Entry(
        "intro_vae_decoder_loss",
        lambda a, z: CF.intro_vae_decoder_loss(
            a["input"],
            a["target"],
            fake_posterior=_pair("fake_posterior", a),
            rec_posterior=_pair("rec_posterior", a),
            recon_weight=a["recon_weight"],
            kl_weight=a["kl_weight"],
        ),
        {"input": ("B", "X"), "target": ("B", "X")} | INTRO_POSTERIORS,
        {"recon_weight": ("non_negative", 1.0), "kl_weight": ("non_negative", 1.0)},
        batch=("input", "target", *INTRO_POSTERIORS),
        names=POSTERIOR_NAMES,
    ),
    # functional: PGA
    Entry(
        "latent_reconstruction_loss",
        lambda a, z: CF.latent_reconstruction_loss(a["input"], a["target"]),
        {"input": ("B", "Z"), "target": ("B", "Z")},
        batch=("input", "target"),
    ),
    Entry(
        "pga_encoder_nll", lambda a, z: CF.pga_encoder_nll(a["z"]), {"z": ("B", "Z")}, batch=("z",)
    ),
    Entry(
        "hypersphere_noise",
        lambda a, z: CF.hypersphere_noise(a["z"], a["epsilon"]),
        {"z": ("B", "Z")},
        {"epsilon": ("positive", 0.1)},
        batch=("z",),
    ),
    Entry(
        "pga_decoder_nll",
        lambda a, z: CF.pga_decoder_nll(a["h_perturbed"], a["h"], a["delta"]),
        {"h_perturbed": ("B", "Z"), "h": ("B", "Z"), "delta": ("B", "Z")},
        batch=("h_perturbed", "h", "delta"),
    ),
    Entry(
        "pga_vae_loss",
        lambda a, z: CF.pga_vae_loss(
            a["input"], a["target"], a["mu"], a["logvar"], sigma=a["sigma"]
        ),
        {"input": ("B", "Z"), "target": ("B", "Z"), "mu": ("B", "Z"), "logvar": ("B", "Z")},
        {"sigma": ("positive", 1.0)},
        batch=("input", "target", "mu", "logvar"),
    ),
    # modules: queue, instance loss, momentum, set-level, ELBOs
    Entry(
        "NegativeQueue.enqueue",
        lambda a, z: _on(cd.NegativeQueue(8, z["D"]), z).enqueue(a["keys"]),
        {"keys": ("B", "D")},
        batch=("keys",),
    ),
    Entry(
        "InstanceLoss",
        lambda a, z: _on(
            cd.InstanceLoss(
                z["D"],
                8,
                a["temperature"],
                min_temperature=a["min_temperature"],
                max_temperature=a["max_temperature"],
            ),
            z,
        )(a["query"], a["key"]),
        {"query": ("B", "D"), "key": ("B", "D")},
        {
            "temperature": ("positive", 0.1),
            "min_temperature": ("positive", 0.01),
            "max_temperature": ("positive", 1.0),
        },
        batch=("query", "key"),
    ),
    # Only the momentum: the copy's forward is the user's network, with its own checks.
    Entry(
        "MomentumEncoder",
        _momentum,
        {},
        {"momentum": ("unit", 0.9), "update_momentum": ("unit", 0.5)},
        names={"update_momentum": "momentum"},  # update(momentum=...)
    ),
    Entry(
        "SetLevelLoss.discriminator",
        lambda a, z: cd.SetLevelLoss(
            recon_weight=a["recon_weight"], sample_weight=a["sample_weight"]
        ).discriminator(a["real_logits"], a["recon_logits"], a["sample_logits"]),
        {"real_logits": ("B",), "recon_logits": ("B",), "sample_logits": ("G",)},
        {"recon_weight": ("non_negative", 0.5), "sample_weight": ("non_negative", 0.5)},
        batch=("real_logits", "recon_logits", "sample_logits"),
    ),
    Entry(
        "SetLevelLoss.generator",
        lambda a, z: cd.SetLevelLoss().generator(a["recon_logits"], a["sample_logits"]),
        {"recon_logits": ("B",), "sample_logits": ("G",)},
        batch=("recon_logits", "sample_logits"),
    ),
    Entry(
        "ELBO",
        lambda a, z: cd.ELBO(kl_weight=a["kl_weight"])(
            a["input"], a["target"], a["mu"], a["logvar"]
        ),
        ELBO_TENSORS,
        {"kl_weight": ("non_negative", 1.0)},
        batch=tuple(ELBO_TENSORS),
    ),
    Entry(
        "IELBO",
        lambda a, z: _on(cd.IELBO(cd.InstanceLoss(z["D"], 8), kl_weight=a["kl_weight"]), z)(
            a["query"], a["key"], a["mu"], a["logvar"]
        ),
        {"query": ("B", "D"), "key": ("B", "D"), "mu": ("B", "Z"), "logvar": ("B", "Z")},
        {"kl_weight": ("non_negative", 1e-6)},
        batch=("query", "key", "mu", "logvar"),
    ),
    # modules: heads and the multi-scale loss
    Entry(
        "ProjectionHead",
        lambda a, z: _on(cd.ProjectionHead(C, z["D"]), z)(a["features"]),
        {"features": ("B", C, S, S)},
        batch=("features",),
    ),
    Entry(
        "DeepSupervisionHead",
        lambda a, z: _on(cd.DeepSupervisionHead(C, z["D"], spatial_size=S), z)(a["features"]),
        {"features": ("B", C, S, S)},
        batch=("features",),
    ),
    Entry(
        "LocalPatchHead",
        lambda a, z: _on(cd.LocalPatchHead(C, z["D"], locations=2), z)(a["query"], a["key"]),
        {"query": ("B", C, S, S), "key": ("B", C, S, S)},
        batch=("query", "key"),
    ),
    Entry(
        "MultiScaleContrastive",
        _multiscale,
        {
            "queries['a']": ("B", C),
            "queries['b.0']": ("B", C, S, S),
            "keys['a']": ("B", C),
            "keys['b.0']": ("B", C, S, S),
        },
        {"temperature": ("positive", 0.1), "weights['a']": ("non_negative", 1.0)},
        batch=("queries['a']", "queries['b.0']", "keys['a']", "keys['b.0']"),
    ),
    # backbones
    Entry(
        "pixel_norm",
        lambda a, z: pixel_norm(a["x"], eps=a["eps"]),
        {"x": ("B", C, S, S)},
        {"eps": ("positive", 1e-8)},
        batch=("x",),
    ),
    Entry(
        "PixelNorm",
        lambda a, z: PixelNorm(a["eps"])(a["x"]),
        {"x": ("B", C, S, S)},
        {"eps": ("positive", 1e-8)},
        batch=("x",),
    ),
    Entry(
        "minibatch_stddev",
        lambda a, z: minibatch_stddev(a["x"], group_size=z["B"] or 1),
        {"x": ("B", C, S, S)},
        batch=("x",),
    ),
    Entry(
        "MinibatchStdDev",
        lambda a, z: MinibatchStdDev(group_size=1)(a["x"]),
        {"x": ("B", C, S, S)},
        batch=("x",),
    ),
    Entry(
        "EqualizedConv2d",
        lambda a, z: _on(EqualizedConv2d(C, 2, 3, gain=a["gain"]), z)(a["x"]),
        {"x": ("B", C, S, S)},
        {"gain": ("positive", 1.0)},
        batch=("x",),
    ),
    Entry(
        "EqualizedLinear",
        lambda a, z: _on(EqualizedLinear(C, 2, gain=a["gain"]), z)(a["x"]),
        {"x": ("B", C)},
        {"gain": ("positive", 1.0)},
        batch=("x",),
    ),
    Entry(
        "ProGANDiscriminator",
        _progan_discriminator,
        {"x": ("B", 3, 8, 8)},
        {"alpha": ("unit", 0.5)},
        batch=("x",),
    ),
    Entry(
        "ProGANEncoder",
        _progan_encoder,
        {"x": ("B", 3, 8, 8)},
        {"alpha": ("unit", 0.5)},
        batch=("x",),
    ),
    Entry(
        "ProGANDecoder",
        _progan_decoder,
        {"z": ("B", LATENT)},
        {"alpha": ("unit", 0.5)},
        batch=("z",),
    ),
    # toy metrics
    Entry(
        "histogram2d",
        lambda a, z: histogram2d(a["points"], bins=4, range=(-1, 1)),
        {"points": ("N", 2)},
        batch=("points",),
        init={"points": "points"},
    ),
    Entry(
        "histogram_kl",
        lambda a, z: histogram_kl(
            a["generated"], a["real"], bins=4, range=(-1, 1), floor=a["floor"]
        ),
        HISTOGRAM,
        {"floor": ("non_negative", 0.0)},
        batch=("generated", "real"),
        init=HISTOGRAM_INIT,
    ),
    *(
        Entry(
            divergence.__name__,
            lambda a, z, divergence=divergence: divergence(
                a["generated"], a["real"], bins=4, range=(-1, 1)
            ),
            HISTOGRAM,
            batch=("generated", "real"),
            init=HISTOGRAM_INIT,
        )
        for divergence in (histogram_jsd, soft_intro_histogram_kl, soft_intro_histogram_jsd)
    ),
    # metrics
    Entry(
        "frechet_distance",
        lambda a, z: frechet_distance(a["mu1"], a["sigma1"], a["mu2"], a["sigma2"]),
        {"mu1": ("F",), "sigma1": ("F", "F"), "mu2": ("F",), "sigma2": ("F", "F")},
        init={"sigma1": "eye", "sigma2": "eye"},
    ),
]
BY_NAME = {entry.name: entry for entry in ENTRIES}

# -- what a case may end in besides a clear refusal -----------------------------------------

MODULES_WITH_WEIGHTS = (
    "ProjectionHead|DeepSupervisionHead|LocalPatchHead|MultiScaleContrastive|EqualizedConv2d|"
    "EqualizedLinear|ProGANDiscriminator|ProGANEncoder|ProGANDecoder|MomentumEncoder"
)
GAN_LOGITS = (
    "real_term|fake_term|generator_loss|discriminator_loss|SetLevelLoss.discriminator|"
    "SetLevelLoss.generator"
)


def _returns(result: Any) -> bool:
    return True


def _on_meta(result: Any) -> bool:
    return all(t.device.type == "meta" for t in _tensors(result))


def _empty(result: Any) -> bool:
    return all(t.shape[0] == 0 for t in _tensors(result))


def _tensors(result: Any) -> list[torch.Tensor]:
    if isinstance(result, torch.Tensor):
        return [result]
    if isinstance(result, dict):
        return [t for value in result.values() for t in _tensors(value)]
    if isinstance(result, tuple):
        return [t for value in result for t in _tensors(value)]
    return []


@dataclass(frozen=True)
class Documented:
    """A documented outcome: ``entries``/``arguments`` are ``|``-separated fnmatch patterns."""

    entries: str
    category: str
    arguments: str
    reason: str
    check: Callable[[Any], bool] = _returns
    raises: type[Exception] | None = None
    """The outcome may also be this exception (PyTorch's own, as torch.nn raises it)."""


# The one table of documented results: the first row that matches a case applies.
# fmt: off
DOCUMENTED: list[Documented] = [
    Documented("*", "nonfinite", "*",
               "NaN/Inf in, NaN/Inf out: the PyTorch convention (docs/concepts.md); no host "
               "sync is spent looking for them (the queue masks such keys, frechet_distance and "
               "the histograms refuse or drop them)"),
    Documented("*", "meta", "*",
               "shape inference on the meta device, as torch.nn supports it", _on_meta),
    Documented("*", "device", "*",
               "a call whose only tensor is on meta is shape inference", _on_meta),
    Documented(MODULES_WITH_WEIGHTS, "float_dtype", "*",
               "the torch.nn convention: a module computes in its parameters' dtype (PyTorch "
               "raises for another); use torch.autocast or module.to(dtype)",
               raises=RuntimeError),
    Documented("*", "float_dtype", "*",
               "half, bfloat16 and float64 inputs are accepted; the loss math runs in float32 "
               "(float64 kept)"),
    Documented("reparameterize|hypersphere_noise|pixel_norm|PixelNorm|EqualizedConv2d|"
               "EqualizedLinear|ProGANEncoder|ProGANDecoder", "empty", "*",
               "a batch of nothing maps to a batch of nothing, as torch.nn layers do", _empty),
    Documented("NegativeQueue.enqueue", "empty", "*", "enqueueing nothing changes nothing"),
    Documented("histogram2d", "empty", "*",
               "the histogram of no point is all zeros (the divergences refuse it)"),
    Documented(GAN_LOGITS, "rank_up|size", "*",
               "GAN logits may have any shape (B, *), and each set its own batch size"),
    Documented("contrastive_accuracy|exp_elbo|pga_encoder_nll|hypersphere_noise|"
               "NegativeQueue.enqueue|MinibatchStdDev|minibatch_stddev|pixel_norm|PixelNorm|"
               "EqualizedConv2d|EqualizedLinear|ProGANDiscriminator|ProGANEncoder|ProGANDecoder|"
               "ProjectionHead|DeepSupervisionHead|r1_penalty|histogram*|soft_intro_histogram*",
               "size", "*",
               "a lone batch (or point set, or candidate list) of any size is valid"),
    Documented("r1_penalty|ProjectionHead|pixel_norm|PixelNorm|EqualizedLinear",
               "rank_up|rank_down", "*", "these take (B, *) inputs of any rank"),
    Documented("MultiScaleContrastive", "rank_up", "queries['a']|keys['a']",
               "the ProjectionHead of layer 'a' takes (B, C, *spatial) features"),
]
# fmt: on


def _match(value: str, patterns: str) -> bool:
    # "*" is the only wildcard: argument names hold brackets, which fnmatch would read.
    return any(re.fullmatch(re.escape(p).replace(r"\*", ".*"), value) for p in patterns.split("|"))


def _documented(entry: str, category: str, argument: str) -> Documented | None:
    for row in DOCUMENTED:
        if (
            _match(entry, row.entries)
            and _match(category, row.category)
            and _match(argument, row.arguments)
        ):
            return row
    return None


# -- building and spoiling a call -------------------------------------------------------------

CATEGORIES = (
    "not_tensor",
    "int_dtype",
    "complex_dtype",
    "float_dtype",
    "rank_up",
    "rank_down",
    "size",
    "empty",
    "nonfinite",
    "device",
    "meta",
    "scalar",
)
BAD_SCALARS = {
    "positive": [math.nan, math.inf, -math.inf, -1.0, 0.0, "0.1"],
    "non_negative": [math.nan, math.inf, -math.inf, -1.0, "1"],
    "unit": [math.nan, math.inf, -0.5, 1.5, "0.5"],
}
COUNTS: Counter[str] = Counter()


def _sizes(draw: st.DrawFn) -> dict[str, Any]:
    sizes = {symbol: draw(st.integers(1, 3)) for symbol in ("B", "G", "D", "K", "X", "Z", "F")}
    sizes |= {"N": draw(st.integers(1, 6)), "M": draw(st.integers(1, 6)), "device": "cpu"}
    return sizes


def _tensor(shape: tuple[int, ...], kind: str | None) -> torch.Tensor:
    if kind == "mask":
        return torch.ones(shape, dtype=torch.bool)
    if kind == "eye":
        return torch.eye(*shape)
    if kind == "points":
        return torch.rand(shape) * 1.6 - 0.8
    return torch.randn(shape)


def _build(entry: Entry, sizes: dict[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for name, template in entry.tensors.items():
        shape = tuple(sizes[s] if isinstance(s, str) else s for s in template)
        args[name] = _tensor(shape, entry.init.get(name))
    args |= {name: value for name, (_, value) in entry.scalars.items()}
    return args


def _spoil(
    entry: Entry, category: str, draw: st.DrawFn
) -> tuple[dict[str, Any], dict[str, Any], str, tuple[str, ...]]:
    """A call with one thing made bad: (arguments, sizes, the argument spoiled, names to expect)."""
    sizes = _sizes(draw)
    if category == "empty":
        for symbol in {str(entry.tensors[name][0]) for name in entry.batch}:
            sizes[symbol] = 0
        return _build(entry, sizes), sizes, "*", tuple(entry.names.get(n, n) for n in entry.batch)
    args = _build(entry, sizes)
    if category == "meta":
        sizes["device"] = "meta"
        return (
            {k: v.to("meta") if isinstance(v, torch.Tensor) else v for k, v in args.items()},
            sizes,
            "*",
            tuple(entry.tensors),
        )
    if category == "scalar":
        name = draw(st.sampled_from(sorted(entry.scalars)))
        args[name] = draw(st.sampled_from(BAD_SCALARS[entry.scalars[name][0]]))
        return args, sizes, name, (entry.names.get(name, name),)
    candidates = sorted(entry.tensors)
    if category == "nonfinite":
        candidates = [name for name in candidates if args[name].is_floating_point()]
    name = draw(st.sampled_from(candidates))
    value: torch.Tensor = args[name]
    if category == "not_tensor":
        args[name] = value.tolist()
    elif category == "int_dtype":
        args[name] = value.float() if value.dtype == torch.bool else value.long()
    elif category == "complex_dtype":
        args[name] = value.to(torch.complex64)
    elif category == "float_dtype":
        dtype = draw(st.sampled_from([torch.float16, torch.bfloat16, torch.float64]))
        args[name] = value.to(dtype) if value.is_floating_point() else value.float()
    elif category == "rank_up":
        args[name] = value.unsqueeze(-1).expand(*value.shape, 2).contiguous()
    elif category == "rank_down":
        args[name] = value[..., 0] if value.ndim else value.unsqueeze(0)
    elif category == "size":
        dim = draw(st.integers(0, value.ndim - 1))
        grown = list(value.shape)
        grown[dim] += 1
        args[name] = _tensor(tuple(grown), entry.init.get(name))
    elif category == "nonfinite":
        bad = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
        spoiled = value.clone().flatten()
        spoiled[draw(st.integers(0, spoiled.numel() - 1))] = bad
        args[name] = spoiled.reshape(value.shape)
    elif category == "device":
        args[name] = value.to("meta")
    return args, sizes, name, (entry.names.get(name, name),)


def _names_one_of(message: str, names: tuple[str, ...]) -> bool:
    return any(re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", message) for name in names)


def _classify(entry: Entry, category: str, draw: st.DrawFn) -> tuple[str, str]:
    """Run one case: ("refused" | "documented" | "other", what happened)."""
    args, sizes, spoiled, names = _spoil(entry, category, draw)
    row = _documented(entry.name, category, spoiled)
    try:
        result = entry.run(args, sizes)
    except (ValueError, TypeError) as error:
        if _names_one_of(str(error), names):
            return "refused", str(error)
        if row is not None and row.raises is not None and isinstance(error, row.raises):
            return "documented", str(error)
        return "other", f"{type(error).__name__} not naming {names}: {error}"
    except Exception as error:  # anything else must be documented to pass
        if row is not None and row.raises is not None and isinstance(error, row.raises):
            return "documented", str(error)
        return "other", f"{type(error).__name__} ({spoiled}): {error}"
    if row is not None and row.check(result):
        return "documented", row.reason
    return "other", f"returned without a documented reason ({spoiled}): {result!r:.200}"


def _applies(entry: Entry, category: str) -> bool:
    if category == "scalar":
        return bool(entry.scalars)
    if category == "empty":
        return bool(entry.batch)
    return bool(entry.tensors)


CASES = [(e.name, c) for e in ENTRIES for c in CATEGORIES if _applies(e, c)]


@pytest.mark.parametrize(("entry", "category"), CASES)
@settings(max_examples=4, deadline=None, derandomize=True, database=None)
@given(data=st.data())
def test_bad_input_is_refused_naming_the_argument_or_documented(
    entry: str, category: str, data: st.DataObject
) -> None:
    outcome, detail = _classify(BY_NAME[entry], category, data.draw)
    COUNTS["cases"] += 1
    COUNTS[outcome] += 1
    assert outcome != "other", f"{entry}, {category}: {detail}"


def summary() -> str:
    """The sweep's counts (the closing note of issue 14 quotes them)."""
    return (
        f"bad-input sweep: {COUNTS['cases']} cases over {len(ENTRIES)} entry points, "
        f"{COUNTS['refused']} refused clearly, {COUNTS['documented']} documented results, "
        f"{COUNTS['other']} anything else"
    )


@pytest.fixture(scope="module", autouse=True)
def _report_the_counts(request: pytest.FixtureRequest) -> Any:
    yield
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if capture is None or reporter is None:
        print(summary())
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line(summary())


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
