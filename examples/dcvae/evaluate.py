"""Pictures and metrics of a run, from the decoder EMA and fixed inputs and noise.

Evaluation draws from its own seeded generator, never from the global one, so evaluating does
not change the course of training (and a resumed run stays bit-identical).

Metrics (one ``metrics.jsonl`` line per evaluation), on ``--eval-samples`` held images:

* ``sample_fid``: FID between prior samples and the images;
* ``reconstruction_fid``: FID between the reconstructions and the images;
* ``pixel_distance``: mean squared pixel distance of the reconstructions;
* ``perceptual_distance``: mean squared feature distance of the reconstructions;
* ``contrastive_accuracy``: the top-1 accuracy of the instance loss at the last contrastive
  step (contrastive modes, once one has run);
* ``probe_accuracy``, ``probe_interval``: the linear probe of DC-VAE Table 6 on the encoder's
  posterior means (:func:`models.linear_probe`), on the digits (whose labels are known).

FID and perceptual distance need a feature network, and nothing is downloaded:

* ``--inception-weights PATH``: FID's Inception-v3 from a local file, on any data (the
  TorchScript ``inception-2015-12-05.pt`` of StyleGAN2-ADA's metrics and clean-fid, or
  torch-fidelity's weights with torch-fidelity installed; see
  :func:`contradistinct.metrics.inception_from_file`); the perceptual distance is then measured
  in its 2048-d pool features;
* without it, on the digits: the small digits classifier of ``examples/digits_classifier.py``
  (trained once, deterministically, and cached in ``--feature-cache``, by default
  ``OUT/feature_network``); its FID is not an Inception FID and is comparable only with itself;
* without it, on other data (or with ``--feature-network none``): no FID and no perceptual
  distance; the pixel distance and the contrastive accuracy remain.

Under ``torch.distributed`` every rank evaluates its share of the images and the results are
summed across ranks; only rank 0 draws pictures.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist
from models import linear_probe, real_at
from outputs import interleave_rows, save_grid
from step import Trainer
from torch import Tensor, nn

from contradistinct.distributed import is_distributed
from contradistinct.metrics import (
    FID,
    evaluation_mode,
    inception_from_file,
    perceptual_distance,
    pixel_distance,
)

GRID = 8
BATCH = 250
#: The pictures of a run's folder: samples, inputs above reconstructions, interpolations.
PICTURES = ("samples.png", "reconstructions.png", "interpolations.png")


def digits_feature_network(cache: Path, resolution: int) -> nn.Module:
    """The digits classifier of ``examples/digits_classifier.py``, cached in ``cache``."""
    examples = str(Path(__file__).resolve().parents[1])
    if examples not in sys.path:
        sys.path.append(examples)
    from digits_classifier import load_digits_classifier

    return load_digits_classifier(cache, resolution)


class Evaluator:
    """Writes ``samples.png``, ``reconstructions.png``, ``interpolations.png``; computes metrics."""

    def __init__(self, trainer: Trainer, images: Tensor, out: Path, seed: int) -> None:
        self.trainer, self.out = trainer, out
        config = trainer.config
        generator = torch.Generator().manual_seed(seed + 1)
        device = trainer.eg_params[0].device
        count = min(config.eval_samples, len(images))
        chosen = torch.randperm(len(images), generator=generator)[:count]
        self.images = images[chosen].to(device)
        self.noise = torch.randn(count, config.latent_dim, generator=generator).to(device)
        self.labelled: tuple[Tensor, Tensor] | None = None
        if config.data == "digits":
            from sklearn.datasets import load_digits

            labels = torch.as_tensor(load_digits().target, device=device)
            self.labelled = (images.to(device), labels)
        self.features: nn.Module | None = None
        if config.feature_network == "auto" and config.inception_weights is not None:
            self.features = inception_from_file(config.inception_weights)
        elif config.feature_network == "auto" and config.data == "digits":
            cache = Path(config.feature_cache or out / "feature_network")
            self.features = digits_feature_network(cache, config.resolution)
        self.fid = None if self.features is None else FID(self.features.to(device))

    def _modules(self) -> tuple[nn.Module, ...]:
        return (self.trainer.networks.encoder, self.trainer.evaluation_decoder())

    def encode(self, x: Tensor) -> Tensor:
        mu, _ = self.trainer.networks.encode(x, self.trainer.growth())
        return mu

    def decode(self, z: Tensor) -> Tensor:
        trainer = self.trainer
        return trainer.networks.decode(z, trainer.growth(), trainer.evaluation_decoder())

    def pictures(self) -> None:
        growth = self.trainer.growth()
        samples, reconstructions, interpolations = (self.out / name for name in PICTURES)
        with evaluation_mode(*self._modules()), torch.no_grad():
            save_grid(self.decode(self.noise[: GRID * GRID]), samples, GRID)
            inputs = real_at(self.images[: GRID * GRID // 2], growth)
            grid = interleave_rows(inputs, self.decode(self.encode(inputs)), GRID)
            save_grid(grid, reconstructions, GRID)
            ends = self.encode(real_at(self.images[: 2 * GRID], growth)).view(2, GRID, -1)
            weights = torch.linspace(0, 1, GRID, device=ends.device).view(GRID, 1, 1)
            path = torch.lerp(ends[0].unsqueeze(0), ends[1].unsqueeze(0), weights)
            rows = self.decode(path.transpose(0, 1).reshape(GRID * GRID, -1))
            save_grid(rows, interpolations, GRID)

    def metrics(self) -> dict[str, float]:
        """The metrics of this rank's share of the images, summed over ranks (collective)."""
        growth = self.trainer.growth()
        rank, world = (dist.get_rank(), dist.get_world_size()) if is_distributed() else (0, 1)
        images = real_at(self.images[rank::world], growth)
        noise = self.noise[rank::world]
        with evaluation_mode(*self._modules()), torch.no_grad():
            reconstructions = torch.cat([self.decode(self.encode(b)) for b in images.split(BATCH)])
            samples = torch.cat([self.decode(z) for z in noise.split(BATCH)])
        sums = [pixel_distance(reconstructions, images, reduction="sum")]
        if self.features is not None:
            with torch.no_grad():
                sums.append(
                    perceptual_distance(reconstructions, images, self.features, reduction="sum")
                )
        totals = torch.stack([*sums, torch.tensor(float(len(images)), device=images.device)])
        if is_distributed():
            dist.all_reduce(totals)
        record = {"pixel_distance": (totals[0] / totals[-1]).item()}
        if self.features is not None and self.fid is not None:
            record["perceptual_distance"] = (totals[1] / totals[-1]).item()
            record["sample_fid"] = self._fid(images, samples)
            record["reconstruction_fid"] = self._fid(images, reconstructions)
        if self.labelled is not None:
            record.update(linear_probe(self.trainer.networks, *self.labelled, growth))
        if self.trainer.last_accuracy is not None:
            record["contrastive_accuracy"] = self.trainer.last_accuracy.item()
        return record

    def _fid(self, real: Tensor, generated: Tensor) -> float:
        assert self.fid is not None
        self.fid.reset()
        for batch in real.split(BATCH):
            self.fid.update(batch, real=True)
        for batch in generated.split(BATCH):
            self.fid.update(batch, real=False)
        return self.fid.compute().item()
