"""Evidence lower bounds: DC-VAE's implicit ELBO (Eq. 8) and the baselines' ELBO (Eqs. 1, 3)."""

from __future__ import annotations

from typing import Any, NamedTuple

from torch import Tensor, nn

from contradistinct._chance import chance_level
from contradistinct._checks import check_choice, check_non_negative, check_same_batch
from contradistinct._reduction import check_reduction
from contradistinct.functional.gaussian import gaussian_kl
from contradistinct.functional.reconstruction import RECONSTRUCTION_KINDS, reconstruction_loss
from contradistinct.instance import InstanceLoss


class IELBOOutput(NamedTuple):
    """What :class:`IELBO` returns; every field is a device tensor."""

    loss: Tensor
    """``instance + kl_weight * kl``, the quantity to minimise."""
    instance: Tensor
    """The instance-level contrastive term, as the contrastive module returned it."""
    kl: Tensor
    """The KL term before weighting, reduced over the batch as ``kl_reduction`` says."""
    accuracy: Tensor
    """Top-1 contrastive accuracy, as the contrastive module returned it."""
    losses: dict[str, Tensor]
    """Per-scale instance losses of a :class:`~contradistinct.MultiScaleContrastive`, unweighted;
    empty for a single :class:`~contradistinct.InstanceLoss` (its loss is ``instance``)."""
    accuracies: dict[str, Tensor]
    """Per-scale top-1 accuracies, like ``losses``."""
    chance_levels: dict[str, Tensor]
    """Per-scale chance levels ``1 / (1 + valid negatives)``, like ``losses``."""
    chance_level: Tensor | None
    r"""The top-1 accuracy of guessing, :math:`1 / (1 + N)` with :math:`N` the valid negatives a
    query met (averaged over the active scales): read ``accuracy`` against it. 1 on an empty
    queue, where the loss is :math:`\log 1 = 0` and the accuracy a trivial 1. ``None`` when
    the contrastive module is neither an ``InstanceLoss`` nor reports a ``chance_level``."""


class ELBOOutput(NamedTuple):
    """What :class:`ELBO` returns; every field is a device tensor."""

    loss: Tensor
    """``reconstruction + kl_weight * kl``."""
    reconstruction: Tensor
    """The reconstruction term (per-sample sums over the data dimensions, then reduced)."""
    kl: Tensor
    """The KL term before weighting, reduced like ``reconstruction``."""


class IELBO(nn.Module):
    r"""Implicit ELBO (DC-VAE Eq. 8): the instance loss replaces the reconstruction likelihood.

    .. math::

        \mathcal L_{\text{IELBO}} = \mathcal L_{\text{instance}}(q, k)
        + \beta\,\mathrm{KL}\bigl[q_\phi(z|x)\,\Vert\,\mathcal N(0, I)\bigr]

    By Remark 1 of the paper the InfoNCE term estimates :math:`-\log p_\theta(x|z)` up to a
    constant, hence "implicit". ``instance_loss`` is an :class:`~contradistinct.InstanceLoss`
    (queries and keys are ``(B, D)`` tensors) or a
    :class:`~contradistinct.MultiScaleContrastive` (dicts of features); the output is built
    from what that module returns: any module whose result has ``loss`` and ``accuracy``
    tensor fields works.

    The authors' code (``train.py`` of github.com/mlpc-ucsd/DC-VAE) sums the KL over the batch
    and the latent dimensions and weights it by :math:`\beta = 10^{-6}`, while the instance term
    is a batch mean: those are the defaults here. The instance term arrives reduced by its own
    module, so ``kl_reduction`` reduces the KL alone: ``"mean"`` averages it over the batch (a
    ``kl_weight`` :math:`B` times larger gives the same balance at batch size :math:`B`), and
    ``"none"`` gives the per-sample IELBO when the instance loss is per-sample too
    (``InstanceLoss(reduction="none")``).

    Args:
        instance_loss: the contrastive module.
        kl_weight: :math:`\beta`.
        kl_reduction: ``"sum"`` (the authors'), ``"mean"`` or ``"none"`` over the batch.

    Example:
        >>> import torch
        >>> from contradistinct import IELBO, InstanceLoss
        >>> ielbo = IELBO(InstanceLoss(dim=16, queue_size=64), kl_weight=1e-6)
        >>> q, k = torch.randn(8, 16), torch.randn(8, 16)
        >>> out = ielbo(q, k, torch.zeros(8, 32), torch.zeros(8, 32))
        >>> out.kl
        tensor(0.)
        >>> out.accuracy, out.chance_level  # an empty queue: the positive is the only candidate
        (tensor(1.), tensor(1.))
        >>> ielbo(q, k, torch.zeros(8, 32), torch.zeros(8, 32)).chance_level  # 8 negatives
        tensor(0.1111)
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
        self.instance_loss = instance_loss
        self.kl_weight = check_non_negative(kl_weight, "kl_weight")
        self.kl_reduction = check_reduction(kl_reduction, "kl_reduction")

    def forward(
        self, query: Any, key: Any, mu: Tensor, logvar: Tensor, **kwargs: Any
    ) -> IELBOOutput:
        """Compute the IELBO; ``kwargs`` go to the instance loss (e.g. ``enqueue``, ``step``).

        Args:
            query: ``(B, D)`` queries, or a dict of features for a multi-scale module.
            key: ``(B, D)`` keys, or a dict of features.
            mu: ``(B, Z)`` posterior means.
            logvar: ``(B, Z)`` posterior log-variances.
        """
        kl = gaussian_kl(mu, logvar, reduction=self.kl_reduction)
        chance = None
        if isinstance(self.instance_loss, InstanceLoss) and isinstance(query, Tensor):
            chance = chance_level(self.instance_loss, query.shape[0])  # before it enqueues
        out = self.instance_loss(query, key, **kwargs)
        instance, accuracy = _loss_and_accuracy(out, self.instance_loss)
        if self.kl_reduction == "none" and instance.shape != kl.shape:
            raise ValueError(
                "kl_reduction='none' needs a per-sample instance loss of the same shape as the "
                f"per-sample KL {tuple(kl.shape)} (e.g. InstanceLoss(reduction='none')), got "
                f"instance loss of shape {tuple(instance.shape)}"
            )
        return IELBOOutput(
            loss=instance + self.kl_weight * kl,
            instance=instance,
            kl=kl,
            accuracy=accuracy,
            losses=dict(getattr(out, "losses", {})),
            accuracies=dict(getattr(out, "accuracies", {})),
            chance_levels=dict(getattr(out, "chance_levels", {})),
            chance_level=getattr(out, "chance_level", chance),
        )

    def extra_repr(self) -> str:
        return f"kl_weight={self.kl_weight}, kl_reduction={self.kl_reduction!r}"


def _loss_and_accuracy(out: Any, module: nn.Module) -> tuple[Tensor, Tensor]:
    """The ``loss`` and ``accuracy`` fields of what the contrastive module returned."""
    try:
        return out.loss, out.accuracy
    except AttributeError:
        raise TypeError(
            f"instance_loss ({type(module).__name__}) must return a result with fields `loss` "
            "and `accuracy`, as InstanceLoss and MultiScaleContrastive do; it returned "
            f"{type(out).__name__}"
        ) from None


class ELBO(nn.Module):
    r"""Negative ELBO of the VAE and VAE/GAN baselines of DC-VAE's ablation (Table 1).

    .. math::

        \mathcal L_{\text{ELBO}}(x_i) = \ell(x_i, \hat x_i)
        + \beta\,\mathrm{KL}\bigl[q_\phi(z|x_i)\,\Vert\,\mathcal N(0, I)\bigr]

    per sample, then reduced over the batch. ``recon="mse"`` is the Gaussian likelihood of
    Eq. 1 up to a constant, :math:`\ell = \lVert x - \hat x\rVert_2^2`, summed over pixels;
    ``"bce"`` reads the decoder output as Bernoulli logits. For the VAE/GAN baseline (Eq. 3)
    pass discriminator features :math:`F_D(\hat x)` and :math:`F_D(x)` instead of images, with
    ``recon="mse"``.

    Args:
        recon: ``"mse"`` or ``"bce"``, the reconstruction term of
            :func:`~contradistinct.functional.reconstruction_loss`.
        kl_weight: :math:`\beta` (1 for the textbook VAE).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` over the batch, for both terms.

    Example:
        >>> import torch
        >>> from contradistinct import ELBO
        >>> elbo = ELBO()
        >>> out = elbo(torch.ones(2, 3), torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(2, 4))
        >>> out.reconstruction, out.kl
        (tensor(3.), tensor(0.))
    """

    def __init__(self, recon: str = "mse", kl_weight: float = 1.0, reduction: str = "mean") -> None:
        super().__init__()
        self.recon = check_choice(recon, "recon", RECONSTRUCTION_KINDS)
        self.kl_weight = check_non_negative(kl_weight, "kl_weight")
        self.reduction = check_reduction(reduction)

    def forward(self, input: Tensor, target: Tensor, mu: Tensor, logvar: Tensor) -> ELBOOutput:
        """Compute the negative ELBO.

        Args:
            input: ``(B, *)`` reconstructions (logits for ``"bce"``), or their features.
            target: ``(B, *)`` data (or the real data's features), same shape as ``input``.
            mu: ``(B, Z)`` posterior means.
            logvar: ``(B, Z)`` posterior log-variances.
        """
        rec = reconstruction_loss(input, target, recon=self.recon, reduction=self.reduction)
        kl = gaussian_kl(mu, logvar, reduction=self.reduction)
        check_same_batch(input, "input", mu, "mu")
        return ELBOOutput(rec + self.kl_weight * kl, rec, kl)

    def extra_repr(self) -> str:
        return f"recon={self.recon!r}, kl_weight={self.kl_weight}, reduction={self.reduction!r}"


__all__ = ["ELBO", "IELBO", "ELBOOutput", "IELBOOutput"]
