"""The set-level adversarial loss of DC-VAE (Eq. 4): reconstructions and samples are both fakes."""

from __future__ import annotations

from torch import Tensor, nn

from contradistinct._checks import check_choice, check_non_negative, check_same_device
from contradistinct.functional.adversarial import (
    GAN_KINDS,
    _check_logits,
    _fake_per_logit,
    _generator_per_logit,
    _real_per_logit,
)


class SetLevelLoss(nn.Module):
    r"""GAN loss whose fake set holds reconstructions *and* prior samples (DC-VAE Eq. 4).

    .. math::

        \mathcal L_D &= \ell_{\text{real}}(D(x)) + w_r\,\ell_{\text{fake}}(D(f_\theta(z_q)))
                        + w_s\,\ell_{\text{fake}}(D(f_\theta(z_p))), \\
        \mathcal L_{E,G} &= w_r\,\ell_G(D(f_\theta(z_q))) + w_s\,\ell_G(D(f_\theta(z_p))),

    with :math:`z_q \sim q_\phi(z|x)`, :math:`z_p \sim \mathcal N(0, I)` and the per-kind terms of
    :func:`~contradistinct.functional.real_term`, :func:`~contradistinct.functional.fake_term` and
    :func:`~contradistinct.functional.generator_loss`, each averaged over its own logits. The
    authors' code (``train.py`` of github.com/mlpc-ucsd/DC-VAE) uses ``kind="hinge"`` with
    :math:`w_r = w_s = 0.5`. Either fake set may be left out (``None``), e.g. to train a plain
    GAN or the reconstruction-only ablation.

    Like the functional GAN terms, the methods take logits, real first, not ``input, target``.
    They have no ``reduction``: the three sets may hold different numbers of samples, so there
    is no per-sample loss to return (use the functional terms with ``reduction="none"`` for
    per-logit values).

    Args:
        kind: ``"hinge"``, ``"nonsaturating"``, ``"wasserstein"`` or ``"least_squares"``.
        recon_weight: :math:`w_r`, the weight of the reconstructions.
        sample_weight: :math:`w_s`, the weight of the prior samples.

    Shapes:
        every logits argument: ``(B,)``, ``(B, 1)`` or ``(B, *)``; batch sizes may differ (the
        authors' code decodes 128 prior samples per batch of 64 images).

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
        """The discriminator's loss; detach the fakes' inputs yourself if E and G must not train.

        Args:
            real_logits: ``(B,)`` or ``(B, *)`` logits of real data.
            recon_logits: logits of the reconstructions, or ``None``.
            sample_logits: logits of the prior samples, or ``None``.

        Returns:
            A float32 scalar.
        """
        self._require_a_fake(recon_logits, sample_logits)
        real = _check_logits(real_logits, "real_logits")
        loss = _real_per_logit(real, self.kind).mean()
        if recon_logits is not None:
            recon = _check_logits(recon_logits, "recon_logits")
            check_same_device(real, "real_logits", recon, "recon_logits")
            loss = loss + self.recon_weight * _fake_per_logit(recon, self.kind).mean()
        if sample_logits is not None:
            sample = _check_logits(sample_logits, "sample_logits")
            check_same_device(real, "real_logits", sample, "sample_logits")
            loss = loss + self.sample_weight * _fake_per_logit(sample, self.kind).mean()
        return loss

    def generator(
        self, recon_logits: Tensor | None = None, sample_logits: Tensor | None = None
    ) -> Tensor:
        """The encoder/decoder's adversarial loss on the logits of both fake sets.

        Args:
            recon_logits: logits of the reconstructions, or ``None``.
            sample_logits: logits of the prior samples, or ``None``.

        Returns:
            A float32 scalar.
        """
        self._require_a_fake(recon_logits, sample_logits)
        terms = []
        if recon_logits is not None:
            recon = _check_logits(recon_logits, "recon_logits")
            terms.append(self.recon_weight * _generator_per_logit(recon, self.kind).mean())
        if sample_logits is not None:
            sample = _check_logits(sample_logits, "sample_logits")
            if recon_logits is not None:
                check_same_device(recon, "recon_logits", sample, "sample_logits")
            terms.append(self.sample_weight * _generator_per_logit(sample, self.kind).mean())
        return sum(terms[1:], terms[0])

    def extra_repr(self) -> str:
        return (
            f"kind={self.kind!r}, recon_weight={self.recon_weight}, "
            f"sample_weight={self.sample_weight}"
        )
