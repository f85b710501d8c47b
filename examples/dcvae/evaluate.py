"""Pictures and metrics of a run, from the decoder EMA and fixed inputs and noise.

Evaluation draws from its own seeded generator, never from the global one, so evaluating does
not change the course of training (and a resumed run stays bit-identical).
"""

from __future__ import annotations

from pathlib import Path

import torch
from models import real_at
from outputs import interleave_rows, save_grid
from step import Trainer, evaluating
from torch import Tensor

GRID = 8


class Evaluator:
    """Writes ``samples.png``, ``reconstructions.png``, ``interpolations.png`` and metrics."""

    def __init__(self, trainer: Trainer, images: Tensor, out: Path, seed: int) -> None:
        self.trainer, self.out = trainer, out
        generator = torch.Generator().manual_seed(seed + 1)
        device = trainer.eg_params[0].device
        count = min(trainer.config.eval_samples, len(images))
        chosen = torch.randperm(len(images), generator=generator)[:count]
        self.images = images[chosen].to(device)
        self.noise = torch.randn(GRID * GRID, trainer.config.latent_dim, generator=generator)
        self.noise = self.noise.to(device)
        self.generator = generator

    def _modules(self) -> tuple[torch.nn.Module, ...]:
        nets = self.trainer.networks
        return (nets.encoder, self.trainer.evaluation_decoder())

    def encode(self, x: Tensor) -> Tensor:
        mu, _ = self.trainer.networks.encode(x, self.trainer.growth())
        return mu

    def decode(self, z: Tensor) -> Tensor:
        trainer = self.trainer
        return trainer.networks.decode(z, trainer.growth(), trainer.evaluation_decoder())

    def pictures(self) -> None:

        growth = self.trainer.growth()
        with evaluating(*self._modules()):
            save_grid(self.decode(self.noise), self.out / "samples.png", GRID)
            inputs = real_at(self.images[: GRID * GRID // 2], growth)
            reconstructions = self.decode(self.encode(inputs))
            grid = interleave_rows(inputs, reconstructions, GRID)
            save_grid(grid, self.out / "reconstructions.png", GRID)
            ends = self.encode(real_at(self.images[: 2 * GRID], growth)).view(2, GRID, -1)
            weights = torch.linspace(0, 1, GRID, device=ends.device).view(GRID, 1, 1)
            path = torch.lerp(ends[0].unsqueeze(0), ends[1].unsqueeze(0), weights)
            rows = self.decode(path.transpose(0, 1).reshape(GRID * GRID, -1))
            save_grid(rows, self.out / "interpolations.png", GRID)

    def metrics(self) -> dict[str, float]:
        """Pixel distance of the reconstructions and the last contrastive accuracy."""

        growth = self.trainer.growth()
        squared = []
        with evaluating(*self._modules()):
            for batch in self.images.split(256):
                batch = real_at(batch, growth)
                error = (self.decode(self.encode(batch)) - batch).square()
                squared.append(error.flatten(1).mean(1))
        record = {"pixel_distance": torch.cat(squared).mean().item()}
        if self.trainer.ielbo is not None:
            record["contrastive_accuracy"] = self.trainer.ielbo.instance_loss.accuracy.item()
        return record
