"""A tiny DC-VAE on sklearn digits: two contrastive scales learn to match reconstructions."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from contradistinct import (
    DeepSupervisionHead,
    FeatureTaps,
    MomentumEncoder,
    MultiScaleContrastive,
    ProjectionHead,
    SetLevelLoss,
)
from contradistinct.functional import gaussian_kl, reparameterize

datasets = pytest.importorskip("sklearn.datasets")

LATENT, BATCH, QUEUE, STEPS, LR = 8, 64, 256, 80, 1e-3
# A light adversarial game: the test checks the contrastive path, the GAN only rides along.
GENERATOR_WEIGHT, DISCRIMINATOR_WEIGHT = 0.05, 0.1


class Discriminator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.LeakyReLU(0.2))
        self.block2 = nn.Sequential(nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.LeakyReLU(0.2))
        self.logit = nn.Linear(32, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logit(self.block2(self.block1(x)).sum((2, 3)))


def test_two_scale_contrastive_accuracy_rises_above_chance() -> None:
    torch.manual_seed(0)
    digits = datasets.load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 8 - 1  # [-1, 1]
    encoder = nn.Sequential(
        nn.Conv2d(1, 16, 3, stride=2, padding=1),
        nn.LeakyReLU(0.2),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 2 * LATENT),
    )
    decoder = nn.Sequential(
        nn.Linear(LATENT, 16 * 4 * 4),
        nn.Unflatten(1, (16, 4, 4)),
        nn.LeakyReLU(0.2),
        nn.Upsample(scale_factor=2),
        nn.Conv2d(16, 1, 3, padding=1),
        nn.Tanh(),
    )
    discriminator = Discriminator()
    layers = ["block1", "block2"]
    taps = FeatureTaps(discriminator, layers)
    contrast = MultiScaleContrastive(
        {
            "block1": DeepSupervisionHead(in_channels=16, dim=16, spatial_size=8),
            "block2": ProjectionHead(in_features=32, dim=16),
        },
        queue_size=QUEUE,
        start_steps={"block1": 10},  # deep supervision joins later, as the paper schedules
    )
    momentum = MomentumEncoder(discriminator, momentum=0.9)
    adversarial = SetLevelLoss(kind="hinge", recon_weight=1.0, sample_weight=0.0)
    autoencoder = [*encoder.parameters(), *decoder.parameters()]
    opt_g = torch.optim.Adam([*autoencoder, *contrast.parameters()], lr=LR)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=LR, betas=(0.5, 0.9))
    data = torch.Generator().manual_seed(0)

    mean_accuracy, last_layer_accuracy, block1_weight = [], [], []
    for step in range(STEPS):
        x = images[torch.randint(len(images), (BATCH,), generator=data)]
        mu, logvar = encoder(x).chunk(2, dim=1)
        x_rec = decoder(reparameterize(mu, logvar))
        with taps:
            recon_logits = discriminator(x_rec)
            query = taps.features()
        with momentum.taps(layers) as key_taps:
            momentum(x)
            key = key_taps.features()
        scales = contrast(query, key, step=step)
        ielbo = scales.loss + 1e-3 * gaussian_kl(mu, logvar, reduction="sum")  # Eq. 8
        opt_g.zero_grad()
        opt_d.zero_grad()
        # As in the authors' code, the discriminator's trunk and the heads minimise the
        # contrastive term with the encoder and decoder; only the GAN term is adversarial.
        ielbo.backward(retain_graph=True)
        (GENERATOR_WEIGHT * adversarial.generator(recon_logits)).backward(inputs=autoencoder)
        d_loss = adversarial.discriminator(discriminator(x), discriminator(x_rec.detach()))
        (DISCRIMINATOR_WEIGHT * d_loss).backward()
        opt_g.step()
        opt_d.step()
        momentum.update()

        mean_accuracy.append(scales.accuracy.item())
        last_layer_accuracy.append(scales.accuracies["block2"].item())
        block1_weight.append(scales.weights["block1"].item())

    assert block1_weight[9] == 0 and block1_weight[10] == 0.5  # block1 joins at step 10
    chance = 1 / (1 + QUEUE)  # the queue is full from step QUEUE // BATCH on
    full = QUEUE // BATCH
    first = sum(last_layer_accuracy[full : full + 3]) / 3
    last = sum(last_layer_accuracy[-10:]) / 10
    assert last > 20 * chance and last > first
    # block1 (pixel-level features) learns far more slowly; the mean over both scales still
    # stands well above chance.
    assert sum(mean_accuracy[-10:]) / 10 > 10 * chance
    assert not taps.attached
