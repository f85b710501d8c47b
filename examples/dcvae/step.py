"""One training iteration of each row of DC-VAE's Table 1, as the authors' code orders it.

Modes (``--mode``):

* ``vae``: pixel ELBO (Eq. 1), one encoder/decoder step per iteration; no discriminator.
* ``vaegan``: feature-space reconstruction in a discriminator layer (Eq. 3) + the set-level GAN
  loss (Eq. 4).
* ``vae-contrastive``: the implicit ELBO (Eq. 8) alone; the discriminator trunk and heads learn
  the contrastive critic only (Remark 1), one step per iteration.
* ``dcvae``: instance + set-level losses (Eq. 9).

With a GAN term, every iteration is a discriminator step and every ``n_critic``-th iteration
also a generator iteration::

    D step: hinge(D(x), real) + ½ hinge(D(G(z_prior)), fake) + ½ hinge(D(x_rec), fake)
        with as many prior samples as real images (--discriminator-prior-batch-size)
    E,G adversarial step: −(½ D(G(z_prior)) + ½ D(x_rec)).mean() + β KL
        with --prior-batch-size prior samples (the authors: 64 per D step, 128 per G step)
    E,G,D,heads contrastive step on a fresh x_rec (dcvae): update the momentum copy of D,
        InfoNCE(D(x_rec)[layers], D_momentum(x)[layers], queues) + β KL, enqueue the keys
    decoder EMA update

Unlike the authors' code, the D step computes its fakes without a graph (nothing it does not
train is backpropagated). ``--fused`` makes a ``dcvae`` generator iteration compute one
reconstruction and one discriminator pass: the IELBO's gradient reaches E, G, D and the heads,
the adversarial term's only E and G. It does so in one backward pass through E and G: the
adversarial term is first differentiated with respect to the fakes only (through D, without
D's weight gradients), and those gradients enter the IELBO's backward pass at the fakes, which
gives the same gradients as two backward passes and saves one pass through E and G.

Every step returns its logs: a dict of term name → 0-dim device tensor. Nothing here reads a
tensor on the host; :class:`~outputs.LossLog` averages every term it is given and checks each one
for finiteness, so a new loss term is logged and checked by returning it from its step.
"""

from __future__ import annotations

import contextlib

import torch
import torch.distributed as dist
from config import Config
from models import Networks, build_contrastive, real_at
from torch import Tensor, nn

from contradistinct import ELBO, IELBO, MomentumEncoder, MultiScaleContrastive, SetLevelLoss
from contradistinct.backbones import GrowthState
from contradistinct.distributed import is_distributed
from contradistinct.functional import gaussian_kl, gradient_penalty, reparameterize


class Trainer(nn.Module):
    """Networks, losses, momentum copies, queues and optimizers of one run; ``state_dict`` has
    every tensor, :meth:`optimizer_state` the rest."""

    def __init__(self, config: Config, channels: int) -> None:
        super().__init__()
        self.config = config
        self.networks = Networks(config, channels)
        self.images_seen = 0
        self.adversarial = SetLevelLoss(kind=config.gan)
        kl = config.effective_kl_weight
        # Squared error on pixels (Eq. 1) or on discriminator features (Eq. 3).
        self.elbo = ELBO("mse", kl, config.kl_reduction)
        self.layers = self.networks.contrast_layers(config.layers, config.local_patch_after)
        d_prior = config.discriminator_prior_batch_size
        if d_prior is not None and d_prior <= 0:
            raise ValueError(
                "--discriminator-prior-batch-size must be positive, got "
                f"{config.discriminator_prior_batch_size}"
            )
        self.momentum: MomentumEncoder | None = None
        self.ielbo: IELBO | None = None
        #: The contrastive accuracy of the last contrastive step (a device tensor).
        self.last_accuracy: Tensor | None = None
        if config.contrastive:
            contrast = build_contrastive(config, self.networks, self.layers)
            self.ielbo = IELBO(contrast, kl, config.kl_reduction)
            self.momentum = MomentumEncoder(self.networks.discriminator, config.momentum)
        self.decoder_ema = (
            MomentumEncoder(self.networks.decoder, config.ema) if config.ema > 0 else None
        )
        nets = self.networks
        self.eg_params: list[Tensor] = [*nets.encoder.parameters(), *nets.decoder.parameters()]
        self.d_params: list[Tensor] = [*nets.discriminator.parameters()]
        if self.ielbo is not None:
            self.d_params += [p for p in self.ielbo.parameters() if p.requires_grad]
        adam = dict(lr=config.lr, betas=config.betas)
        self.opt_eg = torch.optim.Adam(self.eg_params, **adam)  # type: ignore[arg-type]
        self.opt_d = torch.optim.Adam(self.d_params, **adam)  # type: ignore[arg-type]
        if config.compile:
            nets.encoder.compile()
            nets.decoder.compile()

    # -- state ---------------------------------------------------------------------------------

    def growth(self) -> GrowthState:
        return self.networks.growth(self.images_seen)

    def optimizer_state(self) -> dict[str, object]:
        return {"opt_eg": self.opt_eg.state_dict(), "opt_d": self.opt_d.state_dict()}

    def load_optimizer_state(self, state: dict[str, object]) -> None:
        self.opt_eg.load_state_dict(state["opt_eg"])  # type: ignore[arg-type]
        self.opt_d.load_state_dict(state["opt_d"])  # type: ignore[arg-type]

    def evaluation_decoder(self) -> nn.Module:
        return self.networks.decoder if self.decoder_ema is None else self.decoder_ema.module

    # -- one iteration -------------------------------------------------------------------------

    def iteration(self, x: Tensor, step: int) -> dict[str, Tensor]:
        """Train on the real batch ``x`` at iteration ``step`` (0-based); return device logs."""
        config, growth = self.config, self.growth()
        x = real_at(x, growth)
        logs: dict[str, Tensor] = {}
        if config.adversarial:
            logs.update(self.discriminator_step(x, growth))
        if not config.adversarial or step % config.n_critic == 0:
            logs.update(self.generator_iteration(x, growth, step))
        self.images_seen += x.shape[0] * (dist.get_world_size() if is_distributed() else 1)
        return logs

    def generator_iteration(
        self, x: Tensor, growth: GrowthState, step: int = 0
    ) -> dict[str, Tensor]:
        """The encoder/decoder updates of iteration ``step`` (and the decoder EMA update)."""
        config = self.config
        if config.mode == "vae":
            logs = self._vae_step(x, growth)
        elif config.mode == "vaegan":
            logs = self._vaegan_step(x, growth)
        elif config.mode == "vae-contrastive":
            logs = self._contrastive_step(x, growth, step)
        elif config.fused:
            logs = self._fused_dcvae_step(x, growth, step)
        else:
            logs = {**self._adversarial_step(x, growth), **self._contrastive_step(x, growth, step)}
        if self.decoder_ema is not None:
            self.decoder_ema.update()
        return logs

    def _autocast(self) -> contextlib.AbstractContextManager[object]:
        device = self.eg_params[0].device.type
        return torch.autocast(device, dtype=torch.bfloat16, enabled=self.config.amp)

    def _prior(self, growth: GrowthState, size: int | None = None) -> Tensor:
        """Decoded prior samples: ``size`` of them, by default ``--prior-batch-size``."""
        size = self.config.prior_batch_size if size is None else size
        z = torch.randn(size, self.config.latent_dim, device=self.eg_params[0].device)
        return self.networks.decode(z, growth)

    def _reconstruct(self, x: Tensor, growth: GrowthState) -> tuple[Tensor, Tensor, Tensor]:
        mu, logvar = self.networks.encode(x, growth)
        mu, logvar = mu.float(), logvar.float()
        return self.networks.decode(reparameterize(mu, logvar), growth), mu, logvar

    def discriminator_step(self, x: Tensor, growth: GrowthState) -> dict[str, Tensor]:
        """The set-level GAN update of the discriminator on real ``x`` and detached fakes.

        The fakes are the reconstructions of ``x`` and ``--discriminator-prior-batch-size``
        prior samples (by default as many as ``x`` has images, as the authors' code draws them).
        """
        nets, config = self.networks, self.config
        with self._autocast():
            with torch.no_grad():
                x_rec, _, _ = self._reconstruct(x, growth)
                x_gen = self._prior(growth, config.discriminator_prior_batch_size or x.shape[0])
            d_real = nets.critic(x, growth)
            loss = self.adversarial.discriminator(
                d_real, nets.critic(x_rec, growth), nets.critic(x_gen, growth)
            )
            if config.gradient_penalty > 0:
                critic = lambda t: nets.critic(t, growth)  # noqa: E731
                loss = loss + config.gradient_penalty * gradient_penalty(critic, x, x_rec)
            if config.drift > 0:
                loss = loss + config.drift * d_real.float().square().mean()
        self._step([self.opt_d], loss, self.d_params)
        return {"d_loss": loss.detach()}

    def _vae_step(self, x: Tensor, growth: GrowthState) -> dict[str, Tensor]:
        with self._autocast():
            x_rec, mu, logvar = self._reconstruct(x, growth)
            out = self.elbo(x_rec.float(), x, mu, logvar)
        self._step([self.opt_eg], out.loss, self.eg_params)
        return {"reconstruction": out.reconstruction.detach(), "kl": out.kl.detach()}

    def _vaegan_step(self, x: Tensor, growth: GrowthState) -> dict[str, Tensor]:
        nets = self.networks
        layer = nets.taps.feature
        with self._autocast():
            x_rec, mu, logvar = self._reconstruct(x, growth)
            d_rec, rec_features = nets.tapped_critic(x_rec, growth, [layer])
            d_gen = nets.critic(self._prior(growth), growth)
            with torch.no_grad():
                _, real_features = nets.tapped_critic(x, growth, [layer])
            out = self.elbo(
                rec_features[layer].float().flatten(1),
                real_features[layer].float().flatten(1),
                mu,
                logvar,
            )
            gan = self.adversarial.generator(d_rec, d_gen)
        self._step([self.opt_eg], out.loss + gan, self.eg_params)
        return {
            "g_adv": gan.detach(),
            "reconstruction": out.reconstruction.detach(),
            "kl": out.kl.detach(),
        }

    def _adversarial_step(self, x: Tensor, growth: GrowthState) -> dict[str, Tensor]:
        nets, config = self.networks, self.config
        with self._autocast():
            x_rec, mu, logvar = self._reconstruct(x, growth)
            gan = self.adversarial.generator(
                nets.critic(x_rec, growth), nets.critic(self._prior(growth), growth)
            )
            kl = gaussian_kl(mu, logvar, reduction=config.kl_reduction)
        self._step([self.opt_eg], gan + config.effective_kl_weight * kl, self.eg_params)
        return {"g_adv": gan.detach(), "kl": kl.detach()}

    def _queries_and_keys(
        self, x_rec: Tensor, x: Tensor, growth: GrowthState
    ) -> tuple[Tensor, dict[str, Tensor], dict[str, Tensor]]:
        assert self.momentum is not None and self.ielbo is not None
        # The momentum copies of D and of the key heads move together, before the keys.
        self.momentum.update()
        contrast = self.ielbo.instance_loss
        assert isinstance(contrast, MultiScaleContrastive)
        contrast.update()
        nets = self.networks
        logits, queries = nets.tapped_critic(x_rec, growth, self.layers)
        with torch.no_grad():
            _, keys = nets.tapped_critic(x, growth, self.layers, self.momentum.module)
        return logits, queries, keys

    def _contrastive_step(self, x: Tensor, growth: GrowthState, step: int) -> dict[str, Tensor]:
        assert self.ielbo is not None
        with self._autocast():
            x_rec, mu, logvar = self._reconstruct(x, growth)
            _, queries, keys = self._queries_and_keys(x_rec, x, growth)
            out = self.ielbo(queries, keys, mu, logvar, step=step)
        self._step([self.opt_eg, self.opt_d], out.loss, self.eg_params + self.d_params)
        self.last_accuracy = out.accuracy.clone()
        return {"instance": out.instance.detach(), "kl": out.kl.detach(),
                "accuracy": self.last_accuracy}  # fmt: skip

    def _fused_dcvae_step(self, x: Tensor, growth: GrowthState, step: int) -> dict[str, Tensor]:
        assert self.ielbo is not None
        with self._autocast():
            x_rec, mu, logvar = self._reconstruct(x, growth)
            d_rec, queries, keys = self._queries_and_keys(x_rec, x, growth)
            out = self.ielbo(queries, keys, mu, logvar, step=step)
            x_gen = self._prior(growth)
            gan = self.adversarial.generator(d_rec, self.networks.critic(x_gen, growth))
        for optimizer in (self.opt_eg, self.opt_d):
            optimizer.zero_grad(set_to_none=True)
        # The adversarial term trains E and G only: its gradient at the fakes (through D, no
        # weight gradients of D) joins the IELBO's at the fakes, so E and G run backward once.
        gan_at_fakes = torch.autograd.grad(gan, (x_rec, x_gen), retain_graph=True)
        torch.autograd.backward(
            (out.loss, x_rec, x_gen),
            (None, *gan_at_fakes),
            inputs=self.eg_params + self.d_params,
        )
        average_gradients(self.eg_params + self.d_params)
        self.opt_eg.step()
        self.opt_d.step()
        self.last_accuracy = out.accuracy.clone()
        return {"g_adv": gan.detach(), "instance": out.instance.detach(), "kl": out.kl.detach(),
                "accuracy": self.last_accuracy}  # fmt: skip

    def _step(
        self, optimizers: list[torch.optim.Optimizer], loss: Tensor, params: list[Tensor]
    ) -> None:
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        loss.backward(inputs=params)
        average_gradients(params)
        for optimizer in optimizers:
            optimizer.step()


def average_gradients(params: list[Tensor]) -> None:
    """Average the gradients over the ranks, as ``DistributedDataParallel`` does (one all-reduce).

    An iteration runs several forward passes and restricted backward passes
    (``backward(inputs=...)``), which ``DistributedDataParallel``'s reducer does not support, so
    the gradients are reduced here after each backward.
    """
    if not is_distributed():
        return
    grads = [p.grad for p in params if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    torch._foreach_copy_(
        grads,
        [
            part.view_as(g)
            for part, g in zip(flat.split([g.numel() for g in grads]), grads, strict=True)
        ],
    )
