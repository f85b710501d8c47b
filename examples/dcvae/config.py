"""Presets and the command line of the reference DC-VAE trainer.

A run is described by one :class:`Config`. A preset fills every field; command-line flags
override single fields. ``cifar10`` holds the DC-VAE authors' CIFAR-10 settings on AutoGAN-32
(DC-VAE §5.1 and the hyperparameters of github.com/mlpc-ucsd/DC-VAE ``train.py``);
``celeba-hq`` trains the ProGAN networks with progressive growing; ``digits`` (the default) is
the ProGAN networks at a fixed 16×16 with 32 channels, small enough to train on scikit-learn's
bundled digits on a CPU. The backbones are those of :data:`models.BACKBONES`; the GAN losses
those of :mod:`contradistinct.functional.adversarial`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from models import BACKBONES

from contradistinct.functional.adversarial import GAN_KINDS
from contradistinct.queue import QUEUE_INITS

MODES = ("vae", "vaegan", "vae-contrastive", "dcvae")


@dataclass
class Config:
    """Every setting of a run; ``config.json`` in the output folder is this, as JSON."""

    preset: str = "digits"
    mode: str = "dcvae"
    data: str = "digits"
    backbone: str = "autogan"
    resolution: int = 32
    latent_dim: int = 128
    #: Encoder and discriminator width (AutoGAN) or ``max_channels`` (ProGAN).
    width: int = 128
    #: Decoder width (AutoGAN only; ProGAN uses ``width`` everywhere).
    decoder_width: int = 256
    steps: int = 100_000
    batch_size: int = 64
    #: Prior samples per generator step (the official code uses 2 × batch).
    prior_batch_size: int = 128
    #: Prior samples per discriminator step; ``None``: the data batch's size, as in the authors'
    #: code (``dis_batch_size`` 64 fakes per D step, ``gen_batch_size`` 128 per G step).
    discriminator_prior_batch_size: int | None = None
    n_critic: int = 5
    lr: float = 2e-4
    betas: tuple[float, float] = (0.0, 0.9)
    gan: str = "hinge"
    #: WGAN-GP weight (0 disables) and the ProGAN drift term, for ``gan="wasserstein"``.
    gradient_penalty: float = 0.0
    drift: float = 0.0
    #: ``None``: the mode's default (``ielbo_kl_weight`` for the contrastive modes, else 1).
    kl_weight: float | None = None
    #: KL weight of the contrastive modes, on the KL summed over the batch (official: 1e-6).
    ielbo_kl_weight: float = 1e-6
    queue_size: int = 8192
    #: What the queues hold before the first keys: "random" unit vectors, as the authors'
    #: ``train.py`` (and MoCo) start, or "empty" (no negatives until keys are enqueued).
    queue_init: str = "random"
    temperature: float = 0.07
    embed_dim: int = 16
    #: Compute the discriminator's logit from its ``embed_dim`` embedding, which is also the
    #: contrasted final scale (the authors' ``DualEncoder``; AutoGAN only): the GAN loss then
    #: trains that projection too.
    shared_head: bool = False
    #: Discriminator layers contrasted; ``None``: the discriminator's ``taps().contrast``.
    layers: list[str] | None = None
    #: Add a local-patch scale on the first layer after this many steps (``None``: never).
    local_patch_after: int | None = None
    momentum: float = 0.999
    #: Decoder EMA used for evaluation; 0 evaluates the online decoder.
    ema: float = 0.999
    #: One reconstruction and one backward per generator iteration instead of the authors' two;
    #: the KL term then enters once per iteration, where the authors' order adds it twice.
    fused: bool = False
    #: Growth: first resolution (``None``: the smallest, 4 for ProGAN; ignored by a backbone
    #: with one resolution), images per fade-in and per stabilisation.
    start_resolution: int | None = None
    fade_images: int = 800_000
    stabilize_images: int = 800_000
    seed: int = 0
    #: "auto": the GPU when one is available (the local rank's under torchrun), else the CPU.
    device: str = "auto"
    amp: bool = False
    compile: bool = False
    out: str = "runs/dcvae"
    resume: bool = False
    #: Start afresh in an ``out`` that holds a run, replacing that run's files; without it (or
    #: ``resume``) such a folder is refused, so a run is never overwritten by accident.
    overwrite: bool = False
    #: FID's Inception-v3 as a local file (:func:`contradistinct.metrics.inception_from_file`);
    #: it replaces the digits classifier as the feature network, on any data.
    inception_weights: str | None = None
    checkpoint_every: int = 1000
    eval_every: int = 1000
    log_every: int = 50
    eval_samples: int = 1000
    #: Feature network of FID and perceptual distance: "auto" (``inception_weights`` when given,
    #: else the digits classifier on the digits and none on other data) or "none"; and where the
    #: digits classifier is cached.
    feature_network: str = "auto"
    feature_cache: str | None = None
    quiet: bool = False
    threads: int | None = None

    @property
    def contrastive(self) -> bool:
        """Whether the mode trains the instance loss."""
        return self.mode in ("vae-contrastive", "dcvae")

    @property
    def adversarial(self) -> bool:
        """Whether the mode trains the set-level GAN loss."""
        return self.mode in ("vaegan", "dcvae")

    @property
    def effective_kl_weight(self) -> float:
        if self.kl_weight is not None:
            return self.kl_weight
        return self.ielbo_kl_weight if self.contrastive else 1.0

    @property
    def kl_reduction(self) -> str:
        """The official DC-VAE sum for the contrastive modes, the textbook batch mean otherwise."""
        return "sum" if self.contrastive else "mean"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)


PRESETS: dict[str, dict[str, Any]] = {
    # The ProGAN networks at a fixed 16×16 (the digits are 8×8) with 32 channels: sized to give
    # recognisable digits in a few minutes on two CPU cores (see docs/tutorials/trainer.md).
    "digits": dict(
        data="digits",
        backbone="progan",
        resolution=16,
        start_resolution=16,
        latent_dim=32,
        width=32,
        steps=3000,
        batch_size=32,
        prior_batch_size=32,
        # The authors' switches: ProGAN has no shared head; one fake per real image in the D
        # step holds (batch = prior batch); the random queue start measured within the seeds'
        # spread of the empty one (docs/tutorials/ablation.md), which stays. The contrastive
        # modes' KL weight is the authors' (the Config default, 1e-6).
        queue_init="empty",
        n_critic=1,
        lr=1e-3,
        betas=(0.0, 0.99),
        fused=True,
        queue_size=1024,
        momentum=0.99,
        ema=0.99,
        checkpoint_every=500,
        eval_every=500,
        eval_samples=500,
        threads=1,
        out="runs/digits",
    ),
    # The authors' CIFAR-10 settings: the Config defaults (DC-VAE §5.1; the hyperparameters at
    # the top of github.com/mlpc-ucsd/DC-VAE train.py) and their discriminator's shared
    # embedding head (models/models_32.py).
    "cifar10": dict(data="cifar10:data/cifar-10-batches-py", shared_head=True, out="runs/cifar10"),
    # ProGAN with progressive growing to 128×128 (use --resolution 512 for the large model).
    "celeba-hq": dict(
        data="folder:data/celeba-hq",
        backbone="progan",
        resolution=128,
        latent_dim=512,
        width=512,
        batch_size=16,
        prior_batch_size=16,
        n_critic=1,
        lr=1e-3,
        betas=(0.0, 0.99),
        gan="wasserstein",
        gradient_penalty=10.0,
        drift=1e-3,
        out="runs/celeba-hq",
    ),
}


#: What an unset optional setting means, for ``--help`` (formatted with the preset's values).
UNSET = {
    "kl_weight": "the mode's: {ielbo_kl_weight} in the contrastive modes, else 1",
    "layers": "the discriminator's taps().contrast",
    "local_patch_after": "never",
    "start_resolution": "the smallest",
    "feature_cache": "OUT/feature_network",
    "threads": "torch's",
    "inception_weights": "none",
}


def _shown(dest: str, settings: dict[str, Any]) -> str:
    value = settings[dest]
    if value is None:
        return UNSET.get(dest, "none").format(**settings)
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return str(value)


def default_help(dest: str) -> str:
    """The default of a setting as ``--help`` shows it: the default preset's value, then the
    other presets' where they differ."""
    defaults = {f.name: f.default for f in dataclasses.fields(Config)}
    shown = {name: _shown(dest, {**defaults, **preset}) for name, preset in PRESETS.items()}
    others: dict[str, list[str]] = {}
    for name, value in shown.items():
        if value != shown[Config.preset]:
            others.setdefault(value, []).append(name)
    differing = "".join(f"; {', '.join(names)}: {value}" for value, names in others.items())
    return f"default: {shown[Config.preset]}{differing}"


def build_parser() -> argparse.ArgumentParser:
    """The command line; ``--help`` shows every flag's default (per preset where they differ)."""
    parser = argparse.ArgumentParser(
        prog="train.py",
        description="Train DC-VAE (or an ablation baseline of its Table 1) end to end.",
        epilog="Without --inception-weights there is no Inception FID: FID and perceptual "
        "distance use the digits classifier on the digits data and are left out on other data.",
    )

    def add(*flags: str, help: str | None = None, **kwargs: Any) -> None:
        # Flags default to None so that only the ones given override the preset; the help shows
        # the value the run gets.
        dest = flags[0].removeprefix("--").replace("-", "_")
        default = default_help(dest) if dest in Config.__dataclass_fields__ else None
        text = "; ".join(filter(None, [help, default]))
        parser.add_argument(*flags, help=text or None, **kwargs)

    add("--preset", choices=sorted(PRESETS), default=Config.preset, help="settings to start from")
    add("--mode", choices=MODES, help="Table 1 row: vae | vaegan | vae-contrastive | dcvae")
    add("--data", help="digits | cifar10:PATH | folder:PATH | npz:PATH (.npz or .npy)")
    add("--backbone", choices=sorted(BACKBONES))
    add("--resolution", type=int, help="image size (32 for AutoGAN; final size for ProGAN)")
    add("--latent-dim", type=int)
    add("--width", type=int, help="encoder/discriminator width (ProGAN: max channels)")
    add("--decoder-width", type=int, help="decoder width (AutoGAN)")
    add("--steps", type=int, help="training iterations (discriminator steps)")
    add("--batch-size", type=int, help="batch per process")
    add("--prior-batch-size", type=int)
    add("--discriminator-prior-batch-size", type=int,
        help="prior samples per discriminator step (none: the batch size)")  # fmt: skip
    add("--n-critic", type=int, help="discriminator steps per generator step")
    add("--lr", type=float)
    add("--gan", choices=GAN_KINDS)
    add("--gradient-penalty", type=float, help="WGAN-GP weight (0: off)")
    add("--drift", type=float, help="weight of the ProGAN drift term E[D(x)^2]")
    add("--queue-size", type=int)
    add("--queue-init", choices=QUEUE_INITS, help="what the queues hold at step 0")
    add("--shared-head", action=argparse.BooleanOptionalAction,
        help="discriminator logit from the contrasted embedding (autogan)")  # fmt: skip
    add("--temperature", type=float)
    add("--kl-weight", type=float)
    add("--layers", nargs="+", help="discriminator layers to contrast (multi-scale)")
    add("--local-patch-after", type=int, help="add local patches after this many steps")
    add("--momentum", type=float, help="momentum of the discriminator's key copy")
    add("--ema", type=float, help="decoder EMA for evaluation (0: off)")
    add("--fused", action="store_true", default=None, help="one backward per generator step")
    add("--start-resolution", type=int, help="ProGAN: first resolution of the growth")
    add("--betas", type=float, nargs=2)
    add("--fade-images", type=int)
    add("--stabilize-images", type=int)
    add("--seed", type=int)
    add(
        "--device",
        help="auto (cuda when a GPU is available, else cpu) | cpu | cuda | cuda:N; under "
        "torchrun a GPU run uses the local rank's GPU",
    )
    add("--amp", action="store_true", default=None, help="bfloat16 autocast")
    add("--compile", action="store_true", default=None, help="torch.compile encoder/decoder")
    add("--out", help="output folder")
    add("--resume", action="store_true", default=None, help="continue from OUT/checkpoint.pt")
    add(
        "--overwrite",
        action="store_true",
        default=None,
        help="replace the run already in OUT (without it, --resume or a new --out is needed)",
    )
    add(
        "--inception-weights",
        metavar="PATH",
        help="FID's Inception-v3: the TorchScript inception-2015-12-05.pt, or torch-fidelity's "
        "weights file with torch-fidelity installed; FID on any data",
    )
    add("--checkpoint-every", type=int)
    add("--eval-every", type=int)
    add("--log-every", type=int)
    add("--eval-samples", type=int, help="images per FID evaluation")
    add(
        "--feature-network",
        choices=("auto", "none"),
        help="network of FID and perceptual distance; auto: --inception-weights if given, else "
        "the digits classifier on the digits and none on other data",
    )
    add("--feature-cache", help="folder caching the digits classifier")
    add("--quiet", action="store_true", default=None, help="log lines instead of a progress bar")
    add("--threads", type=int, help="torch intra-op threads")
    return parser


def parse_config(argv: list[str] | None = None) -> Config:
    """Build the :class:`Config` of a command line: the preset, then the flags given."""
    args = vars(build_parser().parse_args(argv))
    preset = args.pop("preset")
    values: dict[str, Any] = {"preset": preset, **PRESETS[preset]}
    values.update({k: v for k, v in args.items() if v is not None})
    config = Config(**values)
    validate(config)
    return config


class ConfigError(ValueError):
    """Settings that cannot train; the message names every offending flag and its value."""


#: Integer settings that must be positive; the second group may also be left unset.
POSITIVE_INTS = (
    "steps", "batch_size", "prior_batch_size", "n_critic", "queue_size", "latent_dim", "width",
    "decoder_width", "resolution", "embed_dim", "fade_images", "stabilize_images",
    "checkpoint_every", "eval_every", "log_every", "eval_samples",
)  # fmt: skip
OPTIONAL_POSITIVE_INTS = ("start_resolution", "threads")
#: Float settings: the interval each must lie in ("(" and ")" exclude the bound). NaN and the
#: infinities lie in none of them.
FLOAT_RANGES: dict[str, tuple[str, float, float, str]] = {
    "lr": ("(", 0.0, math.inf, ")"),
    "temperature": ("(", 0.0, math.inf, ")"),
    "kl_weight": ("[", 0.0, math.inf, ")"),
    "ielbo_kl_weight": ("[", 0.0, math.inf, ")"),
    "gradient_penalty": ("[", 0.0, math.inf, ")"),
    "drift": ("[", 0.0, math.inf, ")"),
    "momentum": ("[", 0.0, 1.0, "]"),
    "ema": ("[", 0.0, 1.0, ")"),
    "betas": ("[", 0.0, 1.0, ")"),
}
DEVICE_TYPES = ("cpu", "cuda", "mps")


def _in_range(value: float, interval: tuple[str, float, float, str]) -> bool:
    opening, low, high, closing = interval
    above = value > low if opening == "(" else value >= low
    below = value < high if closing == ")" else value <= high
    return math.isfinite(value) and above and below


def _device_problem(spec: str) -> str | None:
    if spec == "auto":
        return None
    try:
        device = torch.device(spec)
    except RuntimeError:
        device = None
    if device is None or device.type not in DEVICE_TYPES:
        return f"--device must be auto, cpu, cuda, cuda:N or mps, got {spec!r}"
    if device.type == "cuda" and not torch.cuda.is_available():
        return f"--device {spec}: no CUDA GPU is available here (use --device cpu or auto)"
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        return f"--device {spec}: there are {torch.cuda.device_count()} CUDA GPU(s)"
    return None


def validate(config: Config) -> None:
    """Reject settings that cannot train, before anything is loaded or written.

    Raises:
        ConfigError: naming every offending flag with its value, in one line.
    """
    problems: list[str] = []
    for name in (*POSITIVE_INTS, *OPTIONAL_POSITIVE_INTS):
        value = getattr(config, name)
        if not (value is None and name in OPTIONAL_POSITIVE_INTS) and not value > 0:
            problems.append(f"--{name.replace('_', '-')} must be positive, got {value}")
    if config.local_patch_after is not None and config.local_patch_after < 0:
        problems.append(f"--local-patch-after must be >= 0, got {config.local_patch_after}")
    for name, interval in FLOAT_RANGES.items():
        value = getattr(config, name)
        several = isinstance(value, (list, tuple))
        values = value if several else (value,)
        if value is not None and not all(_in_range(v, interval) for v in values):
            opening, low, high, closing = interval
            each = " each" if several else ""
            shown = " ".join(str(v) for v in values)
            bounds = f"{opening}{low:g}, {high:g}{closing}"
            problems.append(f"--{name.replace('_', '-')} must{each} lie in {bounds}, got {shown}")
    device = _device_problem(config.device)
    if device is not None:
        problems.append(device)
    if config.resume and config.overwrite:
        problems.append("--resume continues the run in --out and --overwrite replaces it: give one")
    if config.inception_weights is not None and config.feature_network == "none":
        problems.append("--inception-weights is a feature network and --feature-network is none")
    if problems:
        raise ConfigError("; ".join(problems))


def load_config(path: Path) -> Config:
    values = json.loads(Path(path).read_text())
    values["betas"] = tuple(values["betas"])
    return Config(**values)
