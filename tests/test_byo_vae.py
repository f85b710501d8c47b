"""DC-VAE's step around VAEs written as another library writes them, untouched, with the adapters.

The two "third-party" VAEs below follow the conventions of popular VAE code bases: an MLP VAE
whose encoder and decoder return output objects (a dict read by attribute) with fields
``embedding``/``log_covariance`` and ``reconstruction``, and whose discriminator keeps its
layers in a ``ModuleList`` and ends in ``nn.Sigmoid()``; and a convolutional VAE whose encoder
returns ``(mu, std)`` and whose discriminator returns ``(logits, features)``. Nothing in them
knows about contradistinct. The tests check the parameter routing of the full step (which
parameters each backward reaches) and that the contrastive accuracy leaves chance in a short
run on the bundled 8x8 digits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import Tensor, nn

import contradistinct as cd

LATENT = 8

# --- the third-party library's code (stands for code the user did not write) ------------------


class ModelOutput(dict):
    """The library's output object: a dict whose keys also read as attributes."""

    def __getattr__(self, name: str) -> Tensor:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class MLPEncoder(nn.Module):
    def __init__(self, input_dim: int = 64, latent_dim: int = LATENT) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(input_dim, 128), nn.ReLU())
        self.embedding = nn.Linear(128, latent_dim)
        self.log_var = nn.Linear(128, latent_dim)

    def forward(self, x: Tensor) -> ModelOutput:
        h = self.layers(x.reshape(x.shape[0], -1))
        return ModelOutput(embedding=self.embedding(h), log_covariance=self.log_var(h))


class MLPDecoder(nn.Module):
    def __init__(self, input_dim: int = 64, latent_dim: int = LATENT) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(latent_dim, 128), nn.ReLU(), nn.Linear(128, input_dim), nn.Sigmoid()
        )

    def forward(self, z: Tensor) -> ModelOutput:
        return ModelOutput(reconstruction=self.layers(z).reshape(z.shape[0], 1, 8, 8))


class MLPDiscriminator(nn.Module):
    def __init__(self, input_dim: int = 64) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            [
                nn.Sequential(nn.Linear(input_dim, 128), nn.ReLU()),
                nn.Sequential(nn.Linear(128, 64), nn.ReLU()),
                nn.Sequential(nn.Linear(64, 1), nn.Sigmoid()),
            ]
        )

    def forward(self, x: Tensor) -> ModelOutput:
        out = x.reshape(x.shape[0], -1)
        for layer in self.layers:
            out = layer(out)
        return ModelOutput(embedding=out)


class ConvEncoder(nn.Module):
    def __init__(self, latent_dim: int = LATENT) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 16, 4, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 4, 2, 1), nn.ReLU()
        )
        self.fc_mu = nn.Linear(32 * 2 * 2, latent_dim)
        self.fc_std = nn.Sequential(nn.Linear(32 * 2 * 2, latent_dim), nn.Softplus())

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.conv(x).flatten(1)
        return self.fc_mu(h), self.fc_std(h) + 1e-4


class ConvDecoder(nn.Module):
    def __init__(self, latent_dim: int = LATENT) -> None:
        super().__init__()
        self.fc = nn.Linear(latent_dim, 32 * 2 * 2)
        self.deconv = nn.Sequential(
            nn.ReLU(),
            nn.ConvTranspose2d(32, 16, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(16, 1, 4, 2, 1),
            nn.Sigmoid(),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.deconv(self.fc(z).reshape(-1, 32, 2, 2))


class ConvDiscriminator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(16, 32, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(32 * 2 * 2, 64), nn.LeakyReLU(0.2),
        )  # fmt: skip
        self.classifier = nn.Linear(64, 1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.features(x)
        return self.classifier(h), h


# --- the user's glue ----------------------------------------------------------------------


@dataclass
class Kind:
    """One third-party VAE and the adapters' settings for it."""

    networks: Callable[[], tuple[nn.Module, nn.Module, nn.Module]]
    critic: Callable[[nn.Module], cd.Critic]
    posterior: Callable[[object], cd.Posterior]
    decode: Callable[[nn.Module, Tensor], Tensor]
    logit_layer: str  # the discriminator parameters only the GAN terms reach


KINDS = {
    "mlp": Kind(
        networks=lambda: (MLPEncoder(), MLPDecoder(), MLPDiscriminator()),
        critic=lambda d: cd.Critic(d, logit="layers.2.0", features=["layers.0", "layers.1"]),
        posterior=lambda out: cd.as_posterior(out, fields=("embedding", "log_covariance")),
        decode=lambda decoder, z: decoder(z).reconstruction,
        logit_layer="layers.2.",
    ),
    "conv": Kind(
        networks=lambda: (ConvEncoder(), ConvDecoder(), ConvDiscriminator()),
        critic=lambda d: cd.Critic(
            d, logit=lambda out: out[0], features=["features.1", "features.6"]
        ),
        posterior=lambda out: cd.as_posterior(out, scale="std"),
        decode=lambda decoder, z: decoder(z),
        logit_layer="classifier.",
    ),
}


class DCVAE:
    """The DC-VAE step a user writes around the untouched networks (the quickstart's recipe)."""

    def __init__(self, kind: Kind, example: Tensor, queue_size: int = 256) -> None:
        self.kind = kind
        self.encoder, self.decoder, self.discriminator = kind.networks()
        self.critic = kind.critic(self.discriminator)
        self.contrast = cd.MultiScaleContrastive(
            cd.build_heads(self.critic, example, dim=16),
            queue_size=queue_size,
            temperature=0.07,
            key_momentum=0.9,
        )
        self.key_critic = cd.MomentumEncoder(self.critic, momentum=0.9)
        self.ielbo = cd.IELBO(self.contrast, kl_weight=1e-3)
        self.adversarial = cd.SetLevelLoss(kind="hinge")
        self.eg_params = [*self.encoder.parameters(), *self.decoder.parameters()]
        critic_params = [*self.critic.parameters(), *self.contrast.parameters()]
        self.critic_params = [p for p in critic_params if p.requires_grad]
        self.opt_eg = torch.optim.Adam(self.eg_params, lr=2e-3, betas=(0.5, 0.9))
        self.opt_d = torch.optim.Adam(self.critic_params, lr=2e-3, betas=(0.5, 0.9))

    def generator_losses(self, x: Tensor) -> tuple[cd.IELBOOutput, Tensor, Tensor, Tensor]:
        mu, logvar = self.kind.posterior(self.encoder(x))
        x_rec = self.kind.decode(self.decoder, cd.functional.reparameterize(mu, logvar))
        z_prior = torch.randn(x.shape[0], LATENT, device=x.device)
        x_gen = self.kind.decode(self.decoder, z_prior)
        rec, gen = self.critic(x_rec), self.critic(x_gen)
        out = self.ielbo(rec.features, self.key_critic(x).features, mu, logvar)
        return out, self.adversarial.generator(rec.logits, gen.logits), x_rec, x_gen

    def generator_backward(self, out: cd.IELBOOutput, gan: Tensor) -> None:
        self.opt_eg.zero_grad(set_to_none=True)
        self.opt_d.zero_grad(set_to_none=True)
        out.loss.backward(inputs=self.eg_params + self.critic_params, retain_graph=True)
        gan.backward(inputs=self.eg_params)

    def discriminator_loss(self, x: Tensor, x_rec: Tensor, x_gen: Tensor) -> Tensor:
        return self.adversarial.discriminator(
            self.critic(x).logits,
            self.critic(x_rec.detach()).logits,
            self.critic(x_gen.detach()).logits,
        )

    def step(self, x: Tensor) -> cd.IELBOOutput:
        out, gan, x_rec, x_gen = self.generator_losses(x)
        self.generator_backward(out, gan)
        self.opt_eg.step()
        self.opt_d.step()
        d_loss = self.discriminator_loss(x, x_rec, x_gen)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        self.key_critic.update()  # once per iteration, after its last optimiser step
        self.contrast.update()
        return out


@pytest.fixture(scope="module")
def digits() -> Tensor:
    images = load_digits().images.astype(np.float32) / 16.0
    return torch.from_numpy(images).unsqueeze(1)


def _grads(params: list[nn.Parameter]) -> list[Tensor | None]:
    return [None if p.grad is None else p.grad.clone() for p in params]


@pytest.mark.parametrize("name", sorted(KINDS))
def test_each_backward_reaches_the_parameters_it_trains(name: str, digits: Tensor) -> None:
    torch.manual_seed(0)
    model = DCVAE(KINDS[name], digits[:2])
    for start in (0, 32):  # a first step fills the queue, so the instance loss has gradients
        x = digits[start : start + 32]
        out, gan, x_rec, x_gen = model.generator_losses(x)
    named_d = dict(model.discriminator.named_parameters())
    logit_layer = [p for n, p in named_d.items() if n.startswith(model.kind.logit_layer)]
    trunk = [p for n, p in named_d.items() if not n.startswith(model.kind.logit_layer)]
    heads = [p for p in model.contrast.parameters() if p.requires_grad]
    frozen = [*model.key_critic.parameters(), *model.contrast.key_heads.parameters()]
    assert logit_layer and trunk and heads and frozen
    assert not any(p.requires_grad for p in frozen)

    # What each loss reaches on its own, and what the step's backward calls deliver.
    everything = model.eg_params + model.critic_params
    from_ielbo = torch.autograd.grad(out.loss, everything, retain_graph=True, allow_unused=True)
    from_gan = torch.autograd.grad(gan, everything, retain_graph=True, allow_unused=True)
    model.generator_backward(out, gan)
    delivered = dict(zip(map(id, everything), _grads(everything), strict=True))
    for param, ielbo_grad, gan_grad in zip(everything, from_ielbo, from_gan, strict=True):
        got = delivered[id(param)]
        if any(param is p for p in model.eg_params):
            # The encoder and decoder learn from both losses.
            assert ielbo_grad is not None and gan_grad is not None
            torch.testing.assert_close(got, ielbo_grad + gan_grad)
        elif any(param is p for p in logit_layer):
            # The GAN logit is upstream of no contrasted feature: the generator step leaves it.
            assert ielbo_grad is None and got is None
        else:
            # Trunk and heads minimise the instance loss (Remark 1), not the generator's GAN term.
            assert ielbo_grad is not None and ielbo_grad.abs().sum() > 0
            torch.testing.assert_close(got, ielbo_grad)
    assert all(p.grad is None for p in frozen)

    # The discriminator step: real against detached fakes; nothing else moves.
    model.opt_eg.zero_grad(set_to_none=True)
    model.opt_d.zero_grad(set_to_none=True)
    model.discriminator_loss(x, x_rec, x_gen).backward()
    assert all(p.grad is not None for p in logit_layer + trunk)
    # (A bias right before a hinge can get exactly 0: -1 from the reals, +1/2 from each fake set.)
    assert all(p.grad.abs().sum() > 0 for p in logit_layer + trunk if p.ndim > 1)
    assert all(p.grad is None for p in [*model.eg_params, *heads, *frozen])


@pytest.mark.parametrize("name", sorted(KINDS))
def test_contrastive_accuracy_leaves_chance_in_a_short_run(name: str, digits: Tensor) -> None:
    torch.manual_seed(0)
    model = DCVAE(KINDS[name], digits[:2])
    order = torch.randperm(len(digits))
    first = model.step(digits[order[:32]])
    # An empty queue: the positive is the only candidate (loss log 1 = 0, top-1 trivially 1).
    assert first.instance.item() == 0 and first.accuracy.item() == first.chance_level.item() == 1
    second = model.step(digits[order[32:64]])
    assert second.chance_level.item() == pytest.approx(1 / 33)  # 32 negatives now
    accuracies = []
    for step in range(2, 60):
        out = model.step(digits[order[(step * 32) % 1760 :][:32]])
        accuracies.append(out.accuracy)
    assert out.chance_level.item() == pytest.approx(1 / 257)  # a full queue of 256
    late = torch.stack(accuracies[-10:]).mean().item()
    assert late > 25 / 257, f"top-1 {late:.3f} against a chance level of {1 / 257:.4f}"
