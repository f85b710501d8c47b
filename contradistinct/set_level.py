"""The set-level adversarial loss of DC-VAE (Eq. 4): reconstructions and samples are both fakes."""

from __future__ import annotations

from torch import Tensor, nn

from contradistinct._checks import check_choice, check_non_negative
from contradistinct.functional.adversarial import GAN_KINDS, fake_term, generator_loss, real_term


class SetLevelLoss(nn.Module):
    r"""GAN loss whose fake set holds reconstructions *and* prior samples (DC-VAE Eq. 4).

    .. math::

        \mathcal L_D &= \ell_{\text{real}}(D(x)) + w_r\,\ell_{\text{fake}}(D(f_\theta(z_q)))
                        + w_s\,\ell_{\text{fake}}(D(f_\theta(z_p))), \\
        \mathcal L_{E,G} &= w_r\,\ell_G(D(f_\theta(z_q))) + w_s\,\ell_G(D(f_\theta(z_p))),

    with :math:`z_q \sim q_\phi(z|x)`, :math:`z_p \sim \mathcal N(0, I)` and the per-kind terms of
    :func:`~contradistinct.functional.real_term`, :func:`~contradistinct.functional.fake_term` and
    :func:`~contradistinct.functional.generator_loss`. The official code uses ``kind="hinge"``
    with :math:`w_r = w_s = 0.5`. Either fake set may be left out (``None``), e.g. to train a
    plain GAN or the reconstruction-only ablation.

    Args:
        kind: ``"hinge"``, ``"nonsaturating"``, ``"wasserstein"`` or ``"least_squares"``.
        recon_weight: :math:`w_r`, the weight of the reconstructions.
        sample_weight: :math:`w_s`, the weight of the prior samples.

    Shapes:
        every logits argument: ``(B,)``, ``(B, 1)`` or ``(B, *)``; batch sizes may differ (the
        official prior batch is 128 for a data batch of 64).

    Example:
        >>> import torch
        >>> from contradistinct import SetLevelLoss
        >>> adv = SetLevelLoss(kind="hinge")
        >>> adv.discriminator(torch.tensor([2.0]), torch.tensor([-2.0]), torch.tensor([0.0]))
        tensor(0.5000)
        >>> adv.generator(torch.tensor([1.0]), torch.tensor([3.0]))
        tensor(-2.)
    """

    def __init__(
        self, kind: str = "hinge", recon_weight: float = 0.5, sample_weight: float = 0.5
    ) -> None:
        super().__init__()
        self.kind = check_choice(kind, "kind", GAN_KINDS)
        self.recon_weight = check_non_negative(recon_weight, "recon_weight")
        self.sample_weight = check_non_negative(sample_weight, "sample_weight")

    def _require_a_fake(self, recon_logits: Tensor | None, sample_logits: Tensor | None) -> None:
        if recon_logits is None and sample_logits is None:
            raise ValueError("pass recon_logits, sample_logits or both; got neither")

    def discriminator(
        self,
        real_logits: Tensor,
        recon_logits: Tensor | None = None,
        sample_logits: Tensor | None = None,
    ) -> Tensor:
        """The discriminator's loss; detach the fakes' inputs yourself if E and G must not train."""
        self._require_a_fake(recon_logits, sample_logits)
        loss = real_term(real_logits, kind=self.kind)
        if recon_logits is not None:
            loss = loss + self.recon_weight * fake_term(recon_logits, kind=self.kind)
        if sample_logits is not None:
            loss = loss + self.sample_weight * fake_term(sample_logits, kind=self.kind)
        return loss

    def generator(
        self, recon_logits: Tensor | None = None, sample_logits: Tensor | None = None
    ) -> Tensor:
        """The encoder/decoder's adversarial loss on the logits of both fake sets."""
        self._require_a_fake(recon_logits, sample_logits)
        terms = []
        if recon_logits is not None:
            terms.append(self.recon_weight * generator_loss(recon_logits, kind=self.kind))
        if sample_logits is not None:
            terms.append(self.sample_weight * generator_loss(sample_logits, kind=self.kind))
        return sum(terms[1:], terms[0])

    def extra_repr(self) -> str:
        return (
            f"kind={self.kind!r}, recon_weight={self.recon_weight}, "
            f"sample_weight={self.sample_weight}"
        )
