"""Introspective objectives: the β-weighted ELBO, Soft-IntroVAE's expELBO and IntroVAE's hinge.

Equation numbers refer to the Soft-IntroVAE paper (Daniel & Tamar, CVPR 2021): Eq. 1 (ELBO),
Eq. 2 (IntroVAE), Eq. 4 and Algorithm 1 (Soft-IntroVAE). Where the paper is silent the forms
follow the authors' code, github.com/taldatech/soft-intro-vae-pytorch
(``soft_intro_vae_2d/train_soft_intro_vae_2d.py`` and ``soft_intro_vae/train_soft_intro_vae.py``),
and for IntroVAE the code of its authors, github.com/hhb072/IntroVAE (``main.py``).

Every loss takes the prediction before the target (``input, target``, as in
:mod:`torch.nn.functional`). A generated batch that the
encoder scores, a decoded prior sample :math:`x_f = D(z_f)` (``fake``) or a reconstruction
:math:`x_r = D(z)` (``rec``), comes as one :class:`ReencodedBatch`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from contradistinct._checks import (
    check_choice,
    check_min_rank,
    check_non_negative,
    check_nonempty_batch,
    check_positive,
    check_same_batch,
    check_same_device,
    check_same_shape,
)
from contradistinct._precision import as_float32
from contradistinct._reduction import check_reduction, reduce
from contradistinct.functional.gaussian import gaussian_kl
from contradistinct.functional.reconstruction import RECONSTRUCTION_KINDS, reconstruction_loss
from contradistinct.posterior import as_posterior, describe


class ReencodedBatch(NamedTuple):
    r"""A decoded batch passed through the encoder again and decoded once more.

    Soft-IntroVAE scores what the decoder produced, a decoded prior sample
    :math:`x_f = D(z_f)` or a reconstruction :math:`x_r`, by its ELBO: the encoder re-encodes
    it to :math:`q(z \mid x_f)` and the decoder reconstructs it from a draw
    :math:`z' \sim q(z \mid x_f)` (Algorithm 1, lines 9–10 and 18–19). These four tensors are
    that branch.

    For the functions of :mod:`contradistinct.functional` ``decoded`` is in data space
    (probabilities for ``recon="bce"``); the methods of
    :class:`~contradistinct.introspective.SoftIntroVAELoss` take the raw decoder output and
    map it themselves. ``reconstruction`` is always the raw decoder output (logits for
    ``"bce"``). Which of them keep their graph depends on the step (see
    :func:`~contradistinct.introspective.soft_intro_step`).

    Example:
        >>> import torch
        >>> from contradistinct.functional import ReencodedBatch
        >>> fake = ReencodedBatch(torch.zeros(4, 2), torch.zeros(4, 3), torch.zeros(4, 3),
        ...                       torch.ones(4, 2))
        >>> fake.mu.shape, fake.reconstruction.shape
        (torch.Size([4, 3]), torch.Size([4, 2]))
    """

    decoded: Tensor
    r"""The decoded batch :math:`x_f` (or :math:`x_r`), ``(B', *)``."""
    mu: Tensor
    r"""Posterior means of its re-encoding :math:`q(z \mid x_f)`, ``(B', D)``."""
    logvar: Tensor
    """Their log-variances, ``(B', D)``."""
    reconstruction: Tensor
    r"""The decoder's output :math:`D(z')` for :math:`z' \sim q(z \mid x_f)`, like ``decoded``."""


def check_reencoded(batch: object, name: str) -> ReencodedBatch:
    """Refuse anything but a :class:`ReencodedBatch` of consistent shapes, naming its fields."""
    if not isinstance(batch, ReencodedBatch):
        raise TypeError(
            f"{name} must be a ReencodedBatch(decoded, mu, logvar, reconstruction), got "
            f"{describe(batch)}"
        )
    _check_autoencoded(
        batch.reconstruction, batch.decoded, batch.mu, batch.logvar,
        names=(f"{name}.reconstruction", f"{name}.decoded", f"{name}.mu", f"{name}.logvar"),
    )  # fmt: skip
    return batch


def _check_autoencoded(
    prediction: Tensor, target: Tensor, mu: Tensor, logvar: Tensor, *, names: tuple[str, ...]
) -> None:
    """Check one (prediction, target, mu, logvar) group under the caller's names."""
    prediction_name, target_name, mu_name, logvar_name = names
    prediction = check_min_rank(prediction, prediction_name, 1)
    target = check_min_rank(target, target_name, 1)
    mu = check_min_rank(mu, mu_name, 2)
    logvar = check_min_rank(logvar, logvar_name, 2)
    check_same_shape(prediction, prediction_name, target, target_name)
    check_same_shape(mu, mu_name, logvar, logvar_name)
    check_same_batch(prediction, prediction_name, mu, mu_name)


def _check_real(input: Tensor, target: Tensor) -> None:
    input = check_min_rank(input, "input", 1)
    check_same_shape(input, "input", check_min_rank(target, "target", 1), "target")


def negative_elbo(
    input: Tensor,
    target: Tensor,
    mu: Tensor,
    logvar: Tensor,
    *,
    recon_weight: float = 1.0,
    kl_weight: float = 1.0,
    recon: str = "mse",
    reduction: str = "mean",
) -> Tensor:
    r"""The weighted negative ELBO of Soft-IntroVAE §5 (Eq. 1 with β-VAE weights).

    .. math::

        -\mathrm{ELBO}_i = \beta_{rec}\, \ell_{rec}(\hat x_i, x_i)
            + \beta_{kl}\, \mathrm{KL}\bigl(\mathcal N(\mu_i, e^{v_i})
            \,\Vert\, \mathcal N(0, I)\bigr),

    with :math:`\ell_{rec}` the reconstruction error summed over data dimensions
    (:func:`~contradistinct.functional.reconstruction_loss`) and the KL summed over latent
    dimensions (:func:`~contradistinct.functional.gaussian_kl`). It is never negative.
    ``recon_weight`` and ``kl_weight`` are the paper's :math:`\beta_{rec}` and
    :math:`\beta_{kl}`.

    Args:
        input: decoder outputs :math:`\hat x` (logits for ``recon="bce"``), ``(B, *)``.
        target: inputs :math:`x`, same shape as ``input``.
        mu: posterior means, ``(B, D)``.
        logvar: posterior log-variances, ``(B, D)``.
        recon_weight: :math:`\beta_{rec} \ge 0`, weight of the reconstruction term.
        kl_weight: :math:`\beta_{kl} \ge 0`, weight of the KL term.
        recon: ``"mse"`` or ``"bce"``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (shape ``(B,)``).

    Example:
        >>> import torch
        >>> from contradistinct.functional import negative_elbo
        >>> x = torch.zeros(2, 3)
        >>> negative_elbo(x + 1, x, torch.ones(2, 4), torch.zeros(2, 4), recon_weight=0.5,
        ...               reduction="none")
        tensor([3.5000, 3.5000])
    """
    recon_weight = check_non_negative(recon_weight, "recon_weight")
    kl_weight = check_non_negative(kl_weight, "kl_weight")
    check_reduction(reduction)
    input = check_min_rank(input, "input", 1)
    mu = check_min_rank(mu, "mu", 2)
    check_same_batch(input, "input", mu, "mu")
    rec = reconstruction_loss(input, target, recon=recon, reduction="none")
    kl = gaussian_kl(mu, logvar, reduction="none")
    return reduce(recon_weight * rec + kl_weight * kl, reduction)


def exp_elbo(
    negative_elbo: Tensor, *, scale: float, alpha: float = 2.0, reduction: str = "mean"
) -> Tensor:
    r"""Soft-IntroVAE's soft threshold on the ELBO of generated data (Eq. 4, Algorithm 1 l. 12).

    .. math::

        \mathrm{expELBO}_i = \tfrac{1}{\alpha} \exp\bigl(\alpha\, s\, \mathrm{ELBO}_i\bigr)
            = \tfrac{1}{\alpha} \exp\bigl(-\alpha\, s\, n_i\bigr),

    where :math:`n_i` is the negative ELBO, :math:`s` the scale (``1 / input_dim`` in the paper)
    and :math:`\alpha = 2` in all of the paper's experiments.

    Numerics: for :math:`n_i \ge 0` (every ELBO built from MSE/BCE and a KL) the exponent is
    :math:`\le 0`, so the result can underflow to zero but never overflow. Negative ``n``
    (e.g. from a learned-variance likelihood) could overflow; the mean and sum are therefore
    taken in log space (``logsumexp``) and the exponent is capped just below the log of the
    largest finite value of the dtype, so the result stays finite (with zero gradient where
    the cap is active). Exponents far below the underflow threshold are floored there, which
    changes neither the value (0) nor the gradient (0) but keeps both free of ``nan`` when
    :math:`\alpha s n` itself overflows.

    Args:
        negative_elbo: per-sample negative ELBO :math:`n`, shape ``(B,)``.
        scale: :math:`s > 0`.
        alpha: :math:`\alpha > 0`.
        reduction: ``"mean"`` (the expectation of Eq. 5), ``"sum"`` or ``"none"``.

    Returns:
        A float32 (or float64) scalar, or ``(B,)`` for ``reduction="none"``.

    Example:
        >>> import torch
        >>> from contradistinct.functional import exp_elbo
        >>> exp_elbo(torch.tensor([0.0, 1e9]), scale=0.5)
        tensor(0.2500)
        >>> exp_elbo(torch.tensor([-1e9]), scale=0.5).isfinite()
        tensor(True)
    """
    negative_elbo = check_min_rank(negative_elbo, "negative_elbo", 1)
    if negative_elbo.ndim != 1 or negative_elbo.shape[0] == 0:
        raise ValueError(
            f"negative_elbo must have shape (B,) with B >= 1, got {tuple(negative_elbo.shape)}"
        )
    scale = check_positive(scale, "scale")
    alpha = check_positive(alpha, "alpha")
    check_reduction(reduction)
    exponent = -alpha * scale * as_float32(negative_elbo)
    finfo = torch.finfo(exponent.dtype)
    log_max = math.log(finfo.max) - 1.0
    # Below log(tiny) - 32 exp is exactly 0 with an exactly-0 gradient anyway; bounding the
    # exponent there also turns a product that overflowed to -inf into a finite value, so
    # log-sum-exp never differentiates through infinities.
    exponent = exponent.clamp(min=math.log(finfo.tiny) - 32.0, max=log_max)
    if reduction == "mean":
        exponent = torch.logsumexp(exponent, dim=0) - math.log(exponent.shape[0])
    elif reduction == "sum":
        exponent = torch.logsumexp(exponent, dim=0)
    return torch.exp(exponent.clamp(max=log_max)) / alpha


def soft_intro_encoder_loss(
    input: Tensor,
    target: Tensor,
    mu: Tensor,
    logvar: Tensor,
    *,
    fake: ReencodedBatch,
    rec: ReencodedBatch,
    beta_rec: float,
    beta_kl: float,
    beta_neg: float,
    scale: float,
    recon: str = "mse",
    detach_rec_target: bool = False,
) -> Tensor:
    r"""Soft-IntroVAE encoder loss (Eq. 4 with α = 2, Algorithm 1 lines 7–14).

    .. math::

        \mathcal L_E = s\,\overline{n_{\beta_{rec},\beta_{kl}}(x)}
            + \tfrac12\Bigl[\tfrac12\,\overline{e^{-2s\,n_{\beta_{rec},\beta_{neg}}(x_f)}}
            + \tfrac12\,\overline{e^{-2s\,n_{\beta_{rec},\beta_{neg}}(x_r)}}\Bigr],

    where :math:`n` is :func:`negative_elbo`, bars are batch means and the expELBO is applied to
    decoded prior samples :math:`x_f` *and* to reconstructions :math:`x_r`, averaged (0.25 each
    overall), as in the authors' code. The weights keep the paper's names (:math:`\beta_{rec}`,
    :math:`\beta_{kl}`, :math:`\beta_{neg}` of §5 and Algorithm 1): they are the published
    hyperparameters, quoted per data set.

    ``fake.decoded`` is detached where it serves as a reconstruction target. ``rec.decoded``
    keeps its graph there by default: the authors' code compares the re-encoded
    reconstruction with the reconstruction itself, so with the decoder frozen the expELBO of
    reconstructions also reaches the encoder through the posterior draw :math:`z` that produced
    :math:`x_r`. Algorithm 1 re-encodes only prior samples and is silent on this term;
    ``detach_rec_target=True`` cuts that path (the target becomes :math:`\mathrm{sg}(x_r)`).

    Stop-gradients the caller provides (:func:`~contradistinct.introspective.soft_intro_step`
    does): the decoder is frozen (its parameters are not updated by this loss) and the
    decoded batches are detached before they are re-encoded.

    Not a per-sample loss, so there is no ``reduction``: it adds a mean over the data batch
    to means over the generated batches, which are separate draws (their sizes may differ and
    their samples pair with no data sample). Use :func:`negative_elbo` and :func:`exp_elbo`
    for per-sample values.

    Args:
        input: the reconstruction :math:`D(z)`, :math:`z \sim q(z \mid x)`, ``(B, *)``.
        target: the data :math:`x`, same shape.
        mu: posterior means of :math:`x`, ``(B, D)``.
        logvar: their log-variances, ``(B, D)``.
        fake: decoded prior samples :math:`x_f` as data (probabilities for ``"bce"``),
            re-encoded from a detached copy, and their reconstruction.
        rec: the reconstructions :math:`x_r` as data, re-encoded from a detached copy, and
            their reconstruction.
        beta_rec: :math:`\beta_{rec} \ge 0`, weight of every reconstruction term.
        beta_kl: :math:`\beta_{kl} \ge 0`, the KL weight of the real data's ELBO.
        beta_neg: :math:`\beta_{neg} \ge 0`, the KL weight inside the exponential.
        scale: :math:`s`, ``1 / input_dim`` in the paper (0.5 for 2D data).
        recon: ``"mse"`` or ``"bce"``.
        detach_rec_target: detach ``rec.decoded`` where it is the target of
            ``rec.reconstruction`` (default ``False``, the authors' gradient).

    Returns:
        A float32 scalar.

    Example:
        >>> import torch
        >>> from contradistinct.functional import ReencodedBatch, soft_intro_encoder_loss
        >>> x, z = torch.zeros(4, 2), torch.zeros(4, 2)
        >>> generated = ReencodedBatch(x, z, z, x)
        >>> soft_intro_encoder_loss(x, x, z, z, fake=generated, rec=generated, beta_rec=1.0,
        ...     beta_kl=1.0, beta_neg=1.0, scale=0.5)
        tensor(0.5000)
    """
    beta_rec = check_non_negative(beta_rec, "beta_rec")
    beta_kl = check_non_negative(beta_kl, "beta_kl")
    beta_neg = check_non_negative(beta_neg, "beta_neg")
    scale = check_positive(scale, "scale")
    check_choice(recon, "recon", RECONSTRUCTION_KINDS)
    _check_autoencoded(input, target, mu, logvar, names=("input", "target", "mu", "logvar"))
    fake, rec = check_reencoded(fake, "fake"), check_reencoded(rec, "rec")
    real = negative_elbo(
        input, target, mu, logvar, recon_weight=beta_rec, kl_weight=beta_kl, recon=recon
    )
    # A prior sample is decoded without a graph (decoder frozen, z_f independent of the
    # encoder), so detaching it changes nothing but guards against a caller's stray graph.
    # The authors keep rec's graph: that target moves with the encoder through z.
    fake_target = fake.decoded.detach()
    rec_target = rec.decoded.detach() if detach_rec_target else rec.decoded

    def exp_elbo_of(batch: ReencodedBatch, decoded: Tensor) -> Tensor:
        n = negative_elbo(
            batch.reconstruction, decoded, batch.mu, batch.logvar,
            recon_weight=beta_rec, kl_weight=beta_neg, recon=recon, reduction="none",
        )  # fmt: skip
        return exp_elbo(n, scale=scale)

    return scale * real + 0.5 * (exp_elbo_of(fake, fake_target) + exp_elbo_of(rec, rec_target))


def soft_intro_decoder_loss(
    input: Tensor,
    target: Tensor,
    *,
    fake: ReencodedBatch,
    rec: ReencodedBatch,
    beta_rec: float,
    beta_kl: float,
    gamma_r: float,
    scale: float,
    recon: str = "mse",
) -> Tensor:
    r"""Soft-IntroVAE decoder loss (Eq. 4 with γ = 1, Algorithm 1 lines 16–23).

    .. math::

        \mathcal L_D = s\Bigl[\beta_{rec}\,\overline{\ell_{rec}(x_r, x)}
            + \tfrac12\beta_{kl}\bigl(\overline{\mathrm{KL}_f} + \overline{\mathrm{KL}_r}\bigr)
            + \tfrac12\gamma_r\beta_{rec}\bigl(\overline{\ell_{rec}(x_{rr}, x_r)}
            + \overline{\ell_{rec}(x_{ff}, x_f)}\bigr)\Bigr].

    The KL of real data is absent (it does not depend on the decoder); the reconstruction of
    generated data is damped by :math:`\gamma_r` (§5). The weights keep the paper's names
    (:math:`\beta_{rec}`, :math:`\beta_{kl}`, :math:`\gamma_r`), its published
    hyperparameters. ``fake.decoded`` and ``rec.decoded`` are detached where they serve as
    reconstruction targets; ``fake.mu`` etc. must keep their graph to the decoder.

    Stop-gradients the caller provides (:func:`~contradistinct.introspective.soft_intro_step`
    does): the encoder is frozen (its parameters are not updated by this loss), ``input`` is
    decoded from a detached latent and the re-encoded latents are detached before decoding
    ``fake.reconstruction`` / ``rec.reconstruction``.

    Not a per-sample loss, so there is no ``reduction``: it adds a mean over the data batch
    to means over the generated batches, which are separate draws (their sizes may differ and
    their samples pair with no data sample). Use :func:`negative_elbo` and :func:`exp_elbo`
    for per-sample values.

    Args:
        input: the reconstruction :math:`D(\mathrm{sg}(z))`, ``(B, *)``.
        target: the data :math:`x`, same shape.
        fake: decoded prior samples :math:`x_f` as data with their graph, their re-encoding
            (encoder frozen, graph kept) and the decoder output for a detached draw from it.
        rec: the reconstructions :math:`x_r` as data, likewise.
        beta_rec: :math:`\beta_{rec} \ge 0`.
        beta_kl: :math:`\beta_{kl} \ge 0`.
        gamma_r: :math:`\gamma_r` (1e-8 in all of the paper's experiments).
        scale: :math:`s`.
        recon: ``"mse"`` or ``"bce"``.

    Returns:
        A float32 scalar.

    Example:
        >>> import torch
        >>> from contradistinct.functional import ReencodedBatch, soft_intro_decoder_loss
        >>> x, z = torch.zeros(4, 2), torch.ones(4, 2)
        >>> generated = ReencodedBatch(x, z, 0 * z, x)
        >>> soft_intro_decoder_loss(x + 1, x, fake=generated, rec=generated, beta_rec=1.0,
        ...     beta_kl=1.0, gamma_r=1e-8, scale=0.5)
        tensor(1.5000)
    """
    beta_rec = check_non_negative(beta_rec, "beta_rec")
    beta_kl = check_non_negative(beta_kl, "beta_kl")
    gamma_r = check_non_negative(gamma_r, "gamma_r")
    scale = check_positive(scale, "scale")
    check_choice(recon, "recon", RECONSTRUCTION_KINDS)
    _check_real(input, target)
    fake, rec = check_reencoded(fake, "fake"), check_reencoded(rec, "rec")
    real_rec = reconstruction_loss(input, target, recon=recon)
    generated_rec = reconstruction_loss(
        rec.reconstruction, rec.decoded.detach(), recon=recon
    ) + reconstruction_loss(fake.reconstruction, fake.decoded.detach(), recon=recon)
    kls = gaussian_kl(fake.mu, fake.logvar) + gaussian_kl(rec.mu, rec.logvar)
    damped = 0.5 * gamma_r * beta_rec * generated_rec
    return scale * (beta_rec * real_rec + 0.5 * beta_kl * kls + damped)


def _hinge_inputs(
    input: Tensor,
    fake_posterior: tuple[Tensor, Tensor],
    rec_posterior: tuple[Tensor, Tensor],
    reduction: str = "mean",
) -> tuple[Tensor, Tensor]:
    """KLs of the two generated batches' posteriors (batch means, or ``(B,)`` for ``"none"``)."""
    kls = []
    for name, posterior in (("fake_posterior", fake_posterior), ("rec_posterior", rec_posterior)):
        mu, logvar = as_posterior(posterior, name)
        # Checked here under the caller's name: gaussian_kl would call them mu and logvar,
        # which are other arguments of the caller.
        check_same_device(mu, f"{name}'s mu", logvar, f"{name}'s logvar")
        check_same_device(input, "input", mu, name)
        check_nonempty_batch(mu, name)
        kls.append(gaussian_kl(mu, logvar, reduction=reduction))
    return kls[0], kls[1]


#: Where IntroVAE's hinge sits: on the batch-mean KL or on each sample's KL.
HINGE_KINDS = ("batch", "sample")


def intro_vae_encoder_loss(
    input: Tensor,
    target: Tensor,
    mu: Tensor,
    logvar: Tensor,
    *,
    fake_posterior: tuple[Tensor, Tensor],
    rec_posterior: tuple[Tensor, Tensor],
    margin: float,
    recon_weight: float = 1.0,
    kl_weight: float = 1.0,
    neg_weight: float = 1.0,
    recon: str = "mse",
    hinge: str = "batch",
) -> Tensor:
    r"""IntroVAE encoder loss: the hinge of Soft-IntroVAE Eq. 2, on batch-mean KLs by default.

    .. math::

        \mathcal L_E = w_{rec}\,\overline{\ell_{rec}(x_r, x)}
            + w_{kl}\Bigl(\overline{\mathrm{KL}(x)} + \tfrac12 w_{neg}\bigl(
            [m - \overline{\mathrm{KL}_r}]^+ + [m - \overline{\mathrm{KL}_f}]^+\bigr)\Bigr),

    the negative of Eq. 2's encoder objective with the hinge applied to the reconstructions
    and the decoded prior samples (re-encoded from detached inputs), as in IntroVAE's code
    (github.com/hhb072/IntroVAE, ``main.py``: ``weight_rec``, ``weight_kl``, ``weight_neg``
    and ``m_plus`` there are ``recon_weight``, ``kl_weight``, ``neg_weight`` and ``margin``).

    Not a per-sample loss, so there is no ``reduction``: by default the hinge acts on
    batch-mean KLs (:math:`[m - \overline{\mathrm{KL}}]^+` is not the mean of per-sample
    hinges), as in IntroVAE's code, and either way the generated batches are separate draws,
    of their own sizes. ``hinge="sample"`` puts the hinge inside the mean instead, as Eq. 2's
    expectation over generated samples has it:
    :math:`\overline{[m - \mathrm{KL}_r]^+} + \overline{[m - \mathrm{KL}_f]^+}`. Then a
    generated sample stops counting once its own KL passes :math:`m`, not once the batch's
    mean does. The per-sample form is never the smaller (the hinge is convex); the two agree
    when all of a batch's KLs lie on one side of :math:`m`.

    Args:
        input: the reconstruction :math:`D(z)`, :math:`z \sim q(z \mid x)`, ``(B, *)``.
        target: the data :math:`x`, same shape.
        mu: posterior means of :math:`x`, ``(B, D)``.
        logvar: their log-variances.
        fake_posterior: ``(mu, logvar)`` of detached decoded prior samples, each ``(B_f, D)``,
            e.g. ``encoder(fake.detach())``.
        rec_posterior: ``(mu, logvar)`` of detached reconstructions, each ``(B, D)``.
        margin: the hard threshold :math:`m > 0`.
        recon_weight: :math:`w_{rec} \ge 0`.
        kl_weight: :math:`w_{kl} \ge 0`.
        neg_weight: :math:`w_{neg} \ge 0`, weight of the hinge on generated data.
        recon: ``"mse"`` or ``"bce"``.
        hinge: ``"batch"`` (the hinge of the batch-mean KL, IntroVAE's code) or ``"sample"``
            (the mean of each sample's hinge, Eq. 2).

    Returns:
        A float32 scalar.

    Example:
        >>> import torch
        >>> from contradistinct.functional import intro_vae_encoder_loss
        >>> x, z = torch.zeros(2, 3), torch.zeros(2, 4)
        >>> intro_vae_encoder_loss(x, x, z, z, fake_posterior=(z, z), rec_posterior=(z + 2, z),
        ...     margin=10.0)
        tensor(6.)
    """
    margin = check_positive(margin, "margin")
    recon_weight = check_non_negative(recon_weight, "recon_weight")
    kl_weight = check_non_negative(kl_weight, "kl_weight")
    neg_weight = check_non_negative(neg_weight, "neg_weight")
    per_sample = check_choice(hinge, "hinge", HINGE_KINDS) == "sample"
    _check_autoencoded(input, target, mu, logvar, names=("input", "target", "mu", "logvar"))
    kls = _hinge_inputs(input, fake_posterior, rec_posterior, "none" if per_sample else "mean")
    hinges = sum(F.relu(margin - kl).mean() for kl in kls)
    rec = reconstruction_loss(input, target, recon=recon)
    return recon_weight * rec + kl_weight * (gaussian_kl(mu, logvar) + 0.5 * neg_weight * hinges)


def intro_vae_decoder_loss(
    input: Tensor,
    target: Tensor,
    *,
    fake_posterior: tuple[Tensor, Tensor],
    rec_posterior: tuple[Tensor, Tensor],
    recon_weight: float = 1.0,
    kl_weight: float = 1.0,
    recon: str = "mse",
) -> Tensor:
    r"""IntroVAE decoder loss: the negative of Soft-IntroVAE Eq. 2's decoder objective.

    .. math::

        \mathcal L_D = w_{rec}\,\overline{\ell_{rec}(x_r, x)}
            + \tfrac12 w_{kl}\bigl(\overline{\mathrm{KL}_r} + \overline{\mathrm{KL}_f}\bigr),

    with the KLs of the reconstructions and decoded prior samples computed *without* detaching
    them (the encoder is frozen), so the decoder learns to fool the encoder. IntroVAE's code
    (github.com/hhb072/IntroVAE, ``main.py``) obtains the reconstruction term by letting the
    encoder step's backward accumulate into the decoder's gradients; here it is written out.

    Not a per-sample loss, so there is no ``reduction``: it adds a mean over the data batch to
    means over the generated batches, which are separate draws.

    Args:
        input: the reconstruction :math:`D(z)`, ``(B, *)``.
        target: the data :math:`x`, same shape.
        fake_posterior: ``(mu, logvar)`` of decoded prior samples with their graph, each
            ``(B_f, D)``.
        rec_posterior: ``(mu, logvar)`` of the reconstructions with their graph, ``(B, D)``.
        recon_weight: :math:`w_{rec} \ge 0`.
        kl_weight: :math:`w_{kl} \ge 0`.
        recon: ``"mse"`` or ``"bce"``.

    Returns:
        A float32 scalar.

    Example:
        >>> import torch
        >>> from contradistinct.functional import intro_vae_decoder_loss
        >>> x, z = torch.zeros(2, 3), torch.zeros(2, 4)
        >>> intro_vae_decoder_loss(x + 1, x, fake_posterior=(z + 1, z), rec_posterior=(z, z))
        tensor(4.)
    """
    recon_weight = check_non_negative(recon_weight, "recon_weight")
    kl_weight = check_non_negative(kl_weight, "kl_weight")
    _check_real(input, target)
    fake_kl, rec_kl = _hinge_inputs(input, fake_posterior, rec_posterior)
    rec = reconstruction_loss(input, target, recon=recon)
    return recon_weight * rec + 0.5 * kl_weight * (rec_kl + fake_kl)
