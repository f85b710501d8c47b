"""Evidence lower bounds: DC-VAE's implicit ELBO (Eq. 8) and the baselines' ELBO (Eqs. 1, 3)."""

from __future__ import annotations

from typing import Any, NamedTuple, cast

from torch import Tensor, nn

from contradistinct._checks import check_choice, check_non_negative
from contradistinct.functional.gaussian import gaussian_kl
from contradistinct.functional.reconstruction import reconstruction_loss

KL_REDUCTIONS = ("mean", "sum")


class IELBOOutput(NamedTuple):
    """What :class:`IELBO` returns; every field is a device tensor."""

    loss: Tensor
    """``instance + kl_weight * kl``, the quantity to minimise."""
    instance: Tensor
    """The instance-level contrastive term."""
    kl: Tensor
    """The KL term before weighting, reduced as ``kl_reduction`` says."""
    accuracy: Tensor
    """Top-1 contrastive accuracy of the instance loss."""


class ELBOOutput(NamedTuple):
    """What :class:`ELBO` returns; every field is a device tensor."""

    loss: Tensor
    """``reconstruction + kl_weight * kl``."""
    reconstruction: Tensor
    """The reconstruction term (batch mean of per-sample sums)."""
    kl: Tensor
    """The KL term before weighting, reduced as ``kl_reduction`` says."""


class IELBO(nn.Module):
    r"""Implicit ELBO (DC-VAE Eq. 8): the instance loss replaces the reconstruction likelihood.

    .. math::

        \mathcal L_{\text{IELBO}} = \mathcal L_{\text{instance}}(q, k)
        + \beta\,\mathrm{KL}\bigl[q_\phi(z|x)\,\Vert\,\mathcal N(0, I)\bigr]

    By Remark 1 of the paper the InfoNCE term estimates :math:`-\log p_\theta(x|z)` up to a
    constant, hence "implicit". ``instance_loss`` is an :class:`~contradistinct.InstanceLoss`
    (queries and keys are ``(B, D)`` tensors) or a multi-scale module taking dicts of features;
    any module that returns a scalar (or an object with a ``.loss`` field) and exposes an
    ``accuracy`` tensor works.

    The official DC-VAE code sums the KL over the batch and the latent dimensions and weights it
    by :math:`\beta = 10^{-6}`, the defaults here; ``kl_reduction="mean"`` averages over the batch
    instead (then a larger ``kl_weight`` gives the same balance at batch size ``B``).

    Args:
        instance_loss: the contrastive module.
        kl_weight: :math:`\beta`.
        kl_reduction: ``"sum"`` (official) or ``"mean"`` over the batch.

    Example:
        >>> import torch
        >>> from contradistinct import IELBO, InstanceLoss
        >>> ielbo = IELBO(InstanceLoss(dim=16, queue_size=64), kl_weight=1e-6)
        >>> q, k = torch.randn(8, 16), torch.randn(8, 16)
        >>> out = ielbo(q, k, torch.zeros(8, 32), torch.zeros(8, 32))
        >>> out.kl
        tensor(0.)
        >>> torch.equal(out.loss, out.instance)
        True
    """

    def __init__(
        self, instance_loss: nn.Module, kl_weight: float = 1e-6, kl_reduction: str = "sum"
    ) -> None:
        super().__init__()
        if not isinstance(instance_loss, nn.Module):
            raise TypeError(
                f"instance_loss must be an nn.Module, got {type(instance_loss).__name__}"
            )
        if not isinstance(getattr(instance_loss, "accuracy", None), Tensor):
            raise TypeError(
                "instance_loss must expose its top-1 accuracy as a tensor attribute `accuracy`, "
                f"as InstanceLoss does; {type(instance_loss).__name__} has none"
            )
        self.instance_loss = instance_loss
        self.kl_weight = check_non_negative(kl_weight, "kl_weight")
        self.kl_reduction = check_choice(kl_reduction, "kl_reduction", KL_REDUCTIONS)

    def forward(
        self, query: Any, key: Any, mu: Tensor, logvar: Tensor, **kwargs: Any
    ) -> IELBOOutput:
        """Compute the IELBO; ``kwargs`` go to the instance loss (e.g. ``enqueue``, ``step``).

        Args:
            query: ``(B, D)`` queries, or a dict of them for a multi-scale module.
            key: ``(B, D)`` keys, or a dict of them.
            mu: ``(B, Z)`` posterior means.
            logvar: ``(B, Z)`` posterior log-variances.
        """
        kl = gaussian_kl(mu, logvar, reduction=self.kl_reduction)
        out = self.instance_loss(query, key, **kwargs)
        instance = out if isinstance(out, Tensor) else out.loss
        accuracy = cast(Tensor, self.instance_loss.accuracy)
        return IELBOOutput(instance + self.kl_weight * kl, instance, kl, accuracy)

    def extra_repr(self) -> str:
        return f"kl_weight={self.kl_weight}, kl_reduction={self.kl_reduction!r}"


class ELBO(nn.Module):
    r"""Negative ELBO of the VAE and VAE/GAN baselines of DC-VAE's ablation (Table 1).

    .. math::

        \mathcal L_{\text{ELBO}} = \tfrac1B \sum_i \ell(x_i, \hat x_i)
        + \beta\,\mathrm{KL}\bigl[q_\phi(z|x)\,\Vert\,\mathcal N(0, I)\bigr]

    ``reconstruction="mse"`` is the Gaussian likelihood of Eq. 1 up to a constant,
    :math:`\ell = \lVert x - \hat x\rVert_2^2`, summed over pixels; ``"bce"`` reads the decoder
    output as Bernoulli logits. For the VAE/GAN baseline (Eq. 3) pass discriminator features
    :math:`F_D(\hat x)` and :math:`F_D(x)` instead of images, with ``reconstruction="mse"``
    (``"feature"`` is accepted as a synonym, for readability).

    Args:
        reconstruction: ``"mse"``, ``"bce"`` or ``"feature"``.
        kl_weight: :math:`\beta` (1 for the textbook VAE).
        kl_reduction: ``"mean"`` (default) or ``"sum"`` over the batch.

    Example:
        >>> import torch
        >>> from contradistinct import ELBO
        >>> elbo = ELBO()
        >>> out = elbo(torch.ones(2, 3), torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(2, 4))
        >>> out.reconstruction, out.kl
        (tensor(3.), tensor(0.))
    """

    def __init__(
        self, reconstruction: str = "mse", kl_weight: float = 1.0, kl_reduction: str = "mean"
    ) -> None:
        super().__init__()
        choice = check_choice(reconstruction, "reconstruction", ("mse", "bce", "feature"))
        self.reconstruction = choice
        self._kind = "mse" if choice == "feature" else choice
        self.kl_weight = check_non_negative(kl_weight, "kl_weight")
        self.kl_reduction = check_choice(kl_reduction, "kl_reduction", KL_REDUCTIONS)

    def forward(self, input: Tensor, target: Tensor, mu: Tensor, logvar: Tensor) -> ELBOOutput:
        """Compute the negative ELBO.

        Args:
            input: ``(B, *)`` reconstructions (logits for ``"bce"``, features for ``"feature"``).
            target: ``(B, *)`` data (or the real data's features), same shape as ``input``.
            mu: ``(B, Z)`` posterior means.
            logvar: ``(B, Z)`` posterior log-variances.
        """
        rec = reconstruction_loss(input, target, recon=self._kind, reduction="mean")
        kl = gaussian_kl(mu, logvar, reduction=self.kl_reduction)
        return ELBOOutput(rec + self.kl_weight * kl, rec, kl)

    def extra_repr(self) -> str:
        return (
            f"reconstruction={self.reconstruction!r}, kl_weight={self.kl_weight}, "
            f"kl_reduction={self.kl_reduction!r}"
        )


__all__ = ["ELBO", "IELBO", "ELBOOutput", "IELBOOutput"]
