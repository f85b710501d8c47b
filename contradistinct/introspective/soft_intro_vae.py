"""Soft-IntroVAE's encoder and decoder losses as a module (Algorithm 1 of the paper)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from contradistinct._checks import check_choice, check_non_negative, check_positive
from contradistinct.functional.introspective import (
    ReencodedBatch,
    check_reencoded,
    soft_intro_decoder_loss,
    soft_intro_encoder_loss,
)
from contradistinct.functional.reconstruction import RECONSTRUCTION_KINDS


class SoftIntroVAELoss(nn.Module):
    r"""The two losses of Soft-IntroVAE (Eq. 4, Algorithm 1), with the authors' settings.

    :meth:`encoder_loss` is :func:`~contradistinct.functional.soft_intro_encoder_loss` and
    :meth:`decoder_loss` is :func:`~contradistinct.functional.soft_intro_decoder_loss`; the
    module holds the weights and resolves the scale :math:`s`. Each loss is meant to update its
    own network only: backpropagate the encoder loss into the encoder's parameters with the
    decoder frozen, then the decoder loss into the decoder's with the encoder frozen, as
    :func:`~contradistinct.introspective.soft_intro_step` does.

    The weights keep the paper's names (:math:`\beta_{rec}`, :math:`\beta_{kl}`,
    :math:`\beta_{neg}`, :math:`\gamma_r` of §5 and Algorithm 1): they are the published
    hyperparameters, quoted per data set by the paper and the authors' code.

    All decoder outputs passed in (``input`` and the ``decoded`` and ``reconstruction`` fields
    of each :class:`~contradistinct.functional.ReencodedBatch`) are the raw outputs: values
    for ``recon="mse"``, logits for ``recon="bce"``. :meth:`to_data` maps them to data space
    (identity or sigmoid) wherever they are used as an input or target.

    Args:
        beta_rec: :math:`\beta_{rec} \ge 0`, weight of every reconstruction term.
        beta_kl: :math:`\beta_{kl} \ge 0`, KL weight of the ELBOs outside the exponential.
        beta_neg: :math:`\beta_{neg} \ge 0`, KL weight inside the exponential.
        gamma_r: :math:`\gamma_r \ge 0`, damping of the decoder's reconstruction of generated
            data (1e-8 in every experiment of the paper).
        scale: :math:`s > 0`; ``None`` uses ``1 / input_dim`` of each batch, the paper's choice
            (0.5 for 2D points).
        recon: ``"mse"`` (sum of squared errors) or ``"bce"`` (Bernoulli, logits).
        detach_rec_target: ``False`` (default) keeps the reconstruction's graph where it is the
            target of its re-encoding's reconstruction, as the authors' code does, so the encoder
            also learns through that term; ``True`` detaches it (see
            :func:`~contradistinct.functional.soft_intro_encoder_loss`).

    Example:
        >>> import torch
        >>> from contradistinct.functional import ReencodedBatch
        >>> from contradistinct.introspective import SoftIntroVAELoss
        >>> loss = SoftIntroVAELoss(beta_rec=0.2, beta_kl=0.3, beta_neg=0.9)
        >>> x, z = torch.zeros(8, 2), torch.zeros(8, 2)
        >>> generated = ReencodedBatch(x, z, z, x)
        >>> loss.encoder_loss(x, x, z, z, fake=generated, rec=generated)
        tensor(0.5000)
        >>> loss.decoder_loss(x, x, fake=generated, rec=generated)
        tensor(0.)
    """

    def __init__(
        self,
        beta_rec: float,
        beta_kl: float,
        beta_neg: float,
        gamma_r: float = 1e-8,
        scale: float | None = None,
        recon: str = "mse",
        detach_rec_target: bool = False,
    ) -> None:
        super().__init__()
        self.beta_rec = check_non_negative(beta_rec, "beta_rec")
        self.beta_kl = check_non_negative(beta_kl, "beta_kl")
        self.beta_neg = check_non_negative(beta_neg, "beta_neg")
        self.gamma_r = check_non_negative(gamma_r, "gamma_r")
        self.scale = None if scale is None else check_positive(scale, "scale")
        self.recon = check_choice(recon, "recon", RECONSTRUCTION_KINDS)
        self.detach_rec_target = bool(detach_rec_target)

    def scale_for(self, x: Tensor) -> float:
        """The scale :math:`s`: the configured value, or ``1 / input_dim`` of ``x``."""
        if self.scale is not None:
            return self.scale
        return 1.0 / x[0].numel()

    def to_data(self, output: Tensor) -> Tensor:
        """Map a raw decoder output to data space: identity for MSE, sigmoid for BCE."""
        return torch.sigmoid(output) if self.recon == "bce" else output

    def _as_data(self, batch: object, name: str) -> ReencodedBatch:
        batch = check_reencoded(batch, name)
        return batch._replace(decoded=self.to_data(batch.decoded))

    def encoder_loss(
        self,
        input: Tensor,
        target: Tensor,
        mu: Tensor,
        logvar: Tensor,
        *,
        fake: ReencodedBatch,
        rec: ReencodedBatch,
    ) -> Tensor:
        r"""Encoder loss: :math:`s`-scaled ELBO of the data plus the expELBO of both generated sets.

        Args:
            input: the reconstruction :math:`D(z)`, :math:`z \sim q(z \mid x)`, decoder
                frozen, with its graph to the encoder, ``(B, *)``.
            target: the data :math:`x`, same shape.
            mu: posterior means of :math:`x`, ``(B, D)``.
            logvar: their log-variances.
            fake: :math:`D(z_f)`, :math:`z_f \sim \mathcal N(0, I)`, its re-encoding from a
                detached copy and the decoder output for a draw from that posterior.
            rec: ``input`` itself (its graph kept: it is also the target of
                ``rec.reconstruction``), re-encoded from a detached copy, likewise.

        Returns:
            A float32 scalar.
        """
        return soft_intro_encoder_loss(
            input,
            target,
            mu,
            logvar,
            fake=self._as_data(fake, "fake"),
            rec=self._as_data(rec, "rec"),
            beta_rec=self.beta_rec,
            beta_kl=self.beta_kl,
            beta_neg=self.beta_neg,
            scale=self.scale_for(target),
            recon=self.recon,
            detach_rec_target=self.detach_rec_target,
        )

    def decoder_loss(
        self, input: Tensor, target: Tensor, *, fake: ReencodedBatch, rec: ReencodedBatch
    ) -> Tensor:
        r"""Decoder loss: reconstruction of the data plus the ELBO of both generated sets.

        Args:
            input: the reconstruction :math:`D(\mathrm{sg}(z))`, ``(B, *)``.
            target: the data :math:`x`, same shape.
            fake: :math:`D(z_f)` with its graph to the decoder, its re-encoding (encoder
                frozen, graph kept) and the decoder output for a detached draw from it.
            rec: ``input`` with its graph, likewise.

        Returns:
            A float32 scalar.
        """
        return soft_intro_decoder_loss(
            input,
            target,
            fake=self._as_data(fake, "fake"),
            rec=self._as_data(rec, "rec"),
            beta_rec=self.beta_rec,
            beta_kl=self.beta_kl,
            gamma_r=self.gamma_r,
            scale=self.scale_for(target),
            recon=self.recon,
        )

    def extra_repr(self) -> str:
        return (
            f"beta_rec={self.beta_rec}, beta_kl={self.beta_kl}, beta_neg={self.beta_neg}, "
            f"gamma_r={self.gamma_r}, scale={self.scale}, recon={self.recon!r}, "
            f"detach_rec_target={self.detach_rec_target}"
        )
