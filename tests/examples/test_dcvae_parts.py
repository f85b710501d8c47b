"""The trainer's extension points: any logged term, a backbone added in models.py alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from config import parse_config
from models import BACKBONES, Backbone
from outputs import LossLog, NonFiniteLoss
from step import Trainer
from torch import Tensor, nn
from train import run

from contradistinct.backbones import DiscriminatorTaps


def test_the_log_averages_any_term_and_checks_every_one() -> None:
    log = LossLog(torch.device("cpu"))
    log.add({"d_loss": torch.tensor(1.0), "new_term": torch.tensor(2.0)}, step=1)
    log.add({"new_term": torch.tensor(4.0), "other": torch.tensor(0.5)}, step=2)
    assert log.flush() == {"d_loss": 1.0, "new_term": 3.0, "other": 0.5}
    log.add({"d_loss": torch.tensor(1.0), "other": torch.tensor(float("inf"))}, step=3)
    log.add({"new_term": torch.tensor(float("nan"))}, step=4)
    # The first non-finite term is reported, whatever its name and position.
    with pytest.raises(NonFiniteLoss, match=r"'other' was not finite at step 3"):
        log.check()


class TinyEncoder(nn.Module):
    def __init__(self, latent_dim: int, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, 4, 3, 2, 1), nn.ReLU(), nn.Flatten())
        self.latent = nn.Linear(4 * 4 * 4, 2 * latent_dim)

    def forward(self, x: Tensor, alpha: float = 1.0) -> tuple[Tensor, Tensor]:
        mu, logvar = self.latent(self.body(x)).chunk(2, dim=1)
        return mu, logvar


class TinyDecoder(nn.Module):
    def __init__(self, latent_dim: int, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(latent_dim, channels * 64), nn.Tanh())
        self.channels = channels

    def forward(self, z: Tensor, resolution: int | None = None, alpha: float = 1.0) -> Tensor:
        return self.body(z).view(-1, self.channels, 8, 8)


class TinyDiscriminator(nn.Module):
    resolutions = (8,)

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 4, 3, 2, 1)
        self.pool = nn.Flatten()
        self.logit = nn.Linear(64, 1)

    def taps(self, resolution: int | None = None) -> DiscriminatorTaps:
        return DiscriminatorTaps(("conv", "pool"), contrast=("conv", "pool"), feature="conv")

    def forward(self, x: Tensor, alpha: float = 1.0) -> Tensor:
        return self.logit(self.pool(torch.relu(self.conv(x))))


def tiny(config: object, channels: int) -> Backbone:
    latent_dim = config.latent_dim  # type: ignore[attr-defined]
    return Backbone(
        TinyEncoder(latent_dim, channels),
        TinyDecoder(latent_dim, channels),
        TinyDiscriminator(channels),
    )


@pytest.mark.parametrize("mode", ["vaegan", "dcvae"])
def test_a_backbone_added_to_models_trains_with_its_own_taps(
    tiny_args: list[str], monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setitem(BACKBONES, "tiny", tiny)
    config = parse_config([*tiny_args, "--backbone", "tiny", "--resolution", "8", "--mode", mode,
                           "--steps", "2", "--eval-every", "2"])  # fmt: skip
    summary = run(config)
    assert summary and all(torch.isfinite(torch.tensor(v)) for v in summary.values())
    state = torch.load(Path(config.out) / "checkpoint.pt", weights_only=False)["trainer"]
    if mode == "dcvae":
        # One queue per default contrasted layer of the new discriminator.
        assert sum(name.endswith("queue.count") for name in state) == 2
        record = json.loads((Path(config.out) / "metrics.jsonl").read_text().splitlines()[-1])
        assert 0 <= record["contrastive_accuracy"] <= 1


def test_layers_must_run_at_the_first_resolution_of_the_growth(tiny_args: list[str]) -> None:
    progan = ["--backbone", "progan", "--resolution", "8", "--start-resolution", "4"]
    config = parse_config([*tiny_args, *progan, "--layers", "blocks.8x8", "features"])
    with pytest.raises(ValueError, match=r"--layers \['blocks.8x8'\] do not run at the first"):
        Trainer(config, channels=1)
    # Once grown from 8x8 on, the same layers are fine.
    config = parse_config([*tiny_args, *progan[:5], "8", "--layers", "blocks.8x8", "features"])
    assert Trainer(config, channels=1).layers == ["blocks.8x8", "features"]


def test_backbone_settings_are_checked_against_its_networks(tiny_args: list[str]) -> None:
    with pytest.raises(ValueError, match="AutoGAN-32 backbone trains at --resolution 32, got 16"):
        Trainer(parse_config([*tiny_args, "--resolution", "16"]), channels=1)
    config = parse_config([*tiny_args, "--backbone", "progan", "--resolution", "8",
                           "--start-resolution", "16"])  # fmt: skip
    with pytest.raises(ValueError, match=r"--start-resolution must be one of .*\(4, 8\)"):
        Trainer(config, channels=1)
