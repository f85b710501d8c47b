"""Add the DC-VAE losses to a small VAE and train it on scikit-learn's bundled digits.

The networks below stand for *your* encoder, decoder and discriminator; everything that comes
from ``contradistinct`` is a loss or a small stateful helper added beside them:

* :class:`~contradistinct.InstanceLoss` contrasts each reconstruction with its input against a
  queue of other real images (DC-VAE Eq. 6), inside the implicit ELBO
  (:class:`~contradistinct.IELBO`, Eq. 8);
* :class:`~contradistinct.MomentumEncoder` is the slowly moving copy of the discriminator that
  embeds the real images (the keys);
* :class:`~contradistinct.SetLevelLoss` is the GAN loss of Eq. 4, with reconstructions and prior
  samples as fakes.

Run ``python examples/quickstart_digits.py`` (about a minute on two CPU cores); it prints the
losses as it trains. ``--steps`` and ``--seed`` change the budget and the draw.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

import contradistinct as cd


def load_digit_images(size: int = 16) -> torch.Tensor:
    """The 1,797 bundled 8×8 digits as ``(N, 1, size, size)`` images in ``[-1, 1]``."""
    images = torch.from_numpy(load_digits().images.astype(np.float32) / 16.0).unsqueeze(1)
    images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    return images.clamp(0, 1) * 2 - 1


class Encoder(nn.Module):
    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(32, 64, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(64 * 4 * 4, 2 * latent_dim),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.net(x).chunk(2, dim=1)
        return mu, logvar


class Decoder(nn.Module):
    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 64 * 4 * 4), nn.Unflatten(1, (64, 4, 4)), nn.ReLU(),
            nn.Upsample(scale_factor=2), nn.Conv2d(64, 32, 3, 1, 1), nn.ReLU(),
            nn.Upsample(scale_factor=2), nn.Conv2d(32, 1, 3, 1, 1), nn.Tanh(),
        )  # fmt: skip

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class Discriminator(nn.Module):
    """Returns the GAN logit and a 16-d embedding for the instance loss."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Conv2d(1, 32, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(32, 64, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(64 * 4 * 4, 128), nn.LeakyReLU(0.2),
        )  # fmt: skip
        self.logit = nn.Linear(128, 1)
        self.embed = nn.Linear(128, 16)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(x)
        return self.logit(h).squeeze(1), self.embed(h)


def train(steps: int = 600, batch_size: int = 64, latent_dim: int = 16, seed: int = 0) -> dict:
    """Train for ``steps`` iterations and return the last losses as floats."""
    torch.manual_seed(seed)
    data = load_digit_images()
    encoder, decoder, disc = Encoder(latent_dim), Decoder(latent_dim), Discriminator()
    key_encoder = cd.MomentumEncoder(disc, momentum=0.99)
    ielbo = cd.IELBO(cd.InstanceLoss(dim=16, queue_size=1024, temperature=0.07), kl_weight=1e-3)
    adversarial = cd.SetLevelLoss(kind="hinge")
    opt_eg = torch.optim.Adam(
        [*encoder.parameters(), *decoder.parameters()], 2e-4, betas=(0.5, 0.9)
    )
    opt_d = torch.optim.Adam(disc.parameters(), 2e-4, betas=(0.5, 0.9))
    eg_params = [*encoder.parameters(), *decoder.parameters()]
    d_params = list(disc.parameters())
    logs: dict[str, torch.Tensor] = {}
    start = time.perf_counter()
    for step in range(1, steps + 1):
        x = data[torch.randint(len(data), (batch_size,))]
        mu, logvar = encoder(x)
        x_rec = decoder(cd.functional.reparameterize(mu, logvar))
        x_gen = decoder(torch.randn(batch_size, latent_dim))

        # Encoder/decoder step. The discriminator trunk and head learn the critic of the
        # instance loss too (Remark 1), but never the generator's adversarial term.
        d_rec, query = disc(x_rec)
        d_gen, _ = disc(x_gen)
        _, key = key_encoder(x)
        ielbo_out = ielbo(query, key, mu, logvar)
        gan_g = adversarial.generator(d_rec, d_gen)
        opt_eg.zero_grad(set_to_none=True)
        opt_d.zero_grad(set_to_none=True)
        ielbo_out.loss.backward(inputs=eg_params + d_params, retain_graph=True)
        gan_g.backward(inputs=eg_params)
        opt_eg.step()
        opt_d.step()
        key_encoder.update()

        # Discriminator step on detached fakes: nothing flows back into the encoder or decoder.
        d_real, _ = disc(x)
        d_loss = adversarial.discriminator(d_real, disc(x_rec.detach())[0], disc(x_gen.detach())[0])
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()

        logs = {
            "instance": ielbo_out.instance.detach(),
            "kl": ielbo_out.kl.detach(),
            "accuracy": ielbo_out.accuracy,
            "gan_g": gan_g.detach(),
            "gan_d": d_loss.detach(),
        }
        if step % 100 == 0 or step == steps:
            # Printing is the only place a value leaves the device.
            shown = "  ".join(f"{k} {v.item():8.4f}" for k, v in logs.items())
            print(f"step {step:5d}  {shown}  ({time.perf_counter() - start:.0f} s)", flush=True)
    return {k: v.item() for k, v in logs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train(steps=args.steps, seed=args.seed)


if __name__ == "__main__":
    main()
