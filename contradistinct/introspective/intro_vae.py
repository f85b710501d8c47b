"""IntroVAE's hinge objective as a module (Eq. 2 of the Soft-IntroVAE paper)."""

from __future__ import annotations

from torch import Tensor, nn

from contradistinct._checks import check_choice, check_non_negative, check_positive
from contradistinct.functional.introspective import (
    HINGE_KINDS,
    intro_vae_decoder_loss,
    intro_vae_encoder_loss,
)
from contradistinct.functional.reconstruction import RECONSTRUCTION_KINDS


class IntroVAELoss(nn.Module):
    r"""The two losses of IntroVAE: a hinge with margin :math:`m` on the KL of generated data.

    :meth:`encoder_loss` is :func:`~contradistinct.functional.intro_vae_encoder_loss` (use
    posteriors of *detached* reconstructions and decoded prior samples) and
    :meth:`decoder_loss` is :func:`~contradistinct.functional.intro_vae_decoder_loss` (use
    posteriors of the same samples *with* their graph, the encoder frozen). Defaults are those
    of IntroVAE's public code (github.com/hhb072/IntroVAE, ``main.py``).

    Args:
        margin: :math:`m > 0`.
        recon_weight: :math:`w_{rec} \ge 0`, weight of the reconstruction term.
        kl_weight: :math:`w_{kl} \ge 0`, weight of the KL terms.
        neg_weight: :math:`w_{neg} \ge 0`, weight of the hinge on generated data.
        recon: ``"mse"`` or ``"bce"`` (logits).
        hinge: ``"batch"`` (the hinge of the batch-mean KL, IntroVAE's code) or ``"sample"``
            (the mean of each generated sample's hinge, as Eq. 2's expectation has it).

    Example:
        >>> import torch
        >>> from contradistinct.introspective import IntroVAELoss
        >>> loss = IntroVAELoss(margin=10.0)
        >>> x, z = torch.zeros(2, 3), torch.zeros(2, 4)
        >>> loss.encoder_loss(x, x, z, z, fake_posterior=(z, z), rec_posterior=(z, z))
        tensor(10.)
        >>> loss.decoder_loss(x, x, fake_posterior=(z, z), rec_posterior=(z, z))
        tensor(0.)
    """

    def __init__(
        self,
        margin: float = 100.0,
        recon_weight: float = 1.0,
        kl_weight: float = 1.0,
        neg_weight: float = 1.0,
        recon: str = "mse",
        hinge: str = "batch",
    ) -> None:
        super().__init__()
        self.margin = check_positive(margin, "margin")
        self.recon_weight = check_non_negative(recon_weight, "recon_weight")
        self.kl_weight = check_non_negative(kl_weight, "kl_weight")
        self.neg_weight = check_non_negative(neg_weight, "neg_weight")
        self.recon = check_choice(recon, "recon", RECONSTRUCTION_KINDS)
        self.hinge = check_choice(hinge, "hinge", HINGE_KINDS)

    def encoder_loss(
        self,
        input: Tensor,
        target: Tensor,
        mu: Tensor,
        logvar: Tensor,
        *,
        fake_posterior: tuple[Tensor, Tensor],
        rec_posterior: tuple[Tensor, Tensor],
    ) -> Tensor:
        """Encoder loss; the arguments are those of ``intro_vae_encoder_loss``."""
        return intro_vae_encoder_loss(
            input,
            target,
            mu,
            logvar,
            fake_posterior=fake_posterior,
            rec_posterior=rec_posterior,
            margin=self.margin,
            recon_weight=self.recon_weight,
            kl_weight=self.kl_weight,
            neg_weight=self.neg_weight,
            recon=self.recon,
            hinge=self.hinge,
        )

    def decoder_loss(
        self,
        input: Tensor,
        target: Tensor,
        *,
        fake_posterior: tuple[Tensor, Tensor],
        rec_posterior: tuple[Tensor, Tensor],
    ) -> Tensor:
        """Decoder loss; the arguments are those of ``intro_vae_decoder_loss``."""
        return intro_vae_decoder_loss(
            input,
            target,
            fake_posterior=fake_posterior,
            rec_posterior=rec_posterior,
            recon_weight=self.recon_weight,
            kl_weight=self.kl_weight,
            recon=self.recon,
        )

    def extra_repr(self) -> str:
        return (
            f"margin={self.margin}, recon_weight={self.recon_weight}, "
            f"kl_weight={self.kl_weight}, neg_weight={self.neg_weight}, recon={self.recon!r}, "
            f"hinge={self.hinge!r}"
        )
