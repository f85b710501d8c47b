"""Introspective objectives: the β-weighted ELBO, Soft-IntroVAE's expELBO and IntroVAE's hinge.

Equation numbers refer to the Soft-IntroVAE paper (Daniel & Tamar, CVPR 2021): Eq. 1 (ELBO),
Eq. 2 (IntroVAE), Eq. 4 and Algorithm 1 (Soft-IntroVAE). Where the paper is silent the forms
follow the authors' public implementation (recorded in the project's design notes, §2.6).

Naming convention of the re-encoding branches: ``fake`` is a decoded prior sample
:math:`D(z_f)`, ``rec`` a reconstruction :math:`D(E(x))` used as an input; ``fake_mu`` /
``fake_logvar`` (``rec_mu`` / ``rec_logvar``) are what the encoder returns for it and
``fake_rec`` (``rec_rec``) is the decoder's output for a latent drawn from that posterior.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from contradistinct._checks import (
    check_choice,
    check_min_rank,
    check_non_negative,
    check_positive,
    check_same_batch,
    check_same_shape,
)
from contradistinct._precision import as_float32
from contradistinct._reduction import check_reduction, reduce
from contradistinct.functional.gaussian import gaussian_kl
from contradistinct.functional.reconstruction import RECONSTRUCTION_KINDS, reconstruction_loss


def _check_elbo_inputs(**named: Tensor) -> None:
    """Check each (reconstruction, target, mu, logvar) group under the caller's names."""
    names = list(named)
    for i in range(0, len(names), 4):
        rec_name, target_name, mu_name, logvar_name = names[i : i + 4]
        reconstruction = check_min_rank(named[rec_name], rec_name, 1)
        target = check_min_rank(named[target_name], target_name, 1)
        mu = check_min_rank(named[mu_name], mu_name, 2)
        logvar = check_min_rank(named[logvar_name], logvar_name, 2)
        check_same_shape(reconstruction, rec_name, target, target_name)
        check_same_shape(mu, mu_name, logvar, logvar_name)
        check_same_batch(reconstruction, rec_name, mu, mu_name)


def negative_elbo(
    reconstruction: Tensor,
    target: Tensor,
    mu: Tensor,
    logvar: Tensor,
    *,
    beta_rec: float = 1.0,
    beta_kl: float = 1.0,
    kind: str = "mse",
    reduction: str = "mean",
) -> Tensor:
    r"""The β-weighted negative ELBO of Soft-IntroVAE §5 (Eq. 1 with β-VAE weights).

    .. math::

        -\mathrm{ELBO}_i = \beta_{rec}\, \ell_{rec}(\hat x_i, x_i)
            + \beta_{kl}\, \mathrm{KL}\bigl(\mathcal N(\mu_i, e^{v_i})
            \,\Vert\, \mathcal N(0, I)\bigr),

    with :math:`\ell_{rec}` the reconstruction error summed over data dimensions
    (:func:`~contradistinct.functional.reconstruction_loss`) and the KL summed over latent
    dimensions (:func:`~contradistinct.functional.gaussian_kl`). It is never negative.

    Args:
        reconstruction: decoder outputs :math:`\hat x` (logits for ``kind="bce"``), ``(B, *)``.
        target: inputs :math:`x`, same shape as ``reconstruction``.
        mu: posterior means, ``(B, D)``.
        logvar: posterior log-variances, ``(B, D)``.
        beta_rec: weight :math:`\beta_{rec} \ge 0` of the reconstruction term.
        beta_kl: weight :math:`\beta_{kl} \ge 0` of the KL term.
        kind: ``"mse"`` or ``"bce"``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (shape ``(B,)``).

    Example:
        >>> import torch
        >>> from contradistinct.functional import negative_elbo
        >>> x = torch.zeros(2, 3)
        >>> negative_elbo(x + 1, x, torch.ones(2, 4), torch.zeros(2, 4), beta_rec=0.5,
        ...               reduction="none")
        tensor([3.5000, 3.5000])
    """
    beta_rec = check_non_negative(beta_rec, "beta_rec")
    beta_kl = check_non_negative(beta_kl, "beta_kl")
    check_reduction(reduction)
    reconstruction = check_min_rank(reconstruction, "reconstruction", 1)
    mu = check_min_rank(mu, "mu", 2)
    check_same_batch(reconstruction, "reconstruction", mu, "mu")
    rec = reconstruction_loss(reconstruction, target, kind=kind, reduction="none")
    kl = gaussian_kl(mu, logvar, reduction="none")
    return reduce(beta_rec * rec + beta_kl * kl, reduction)


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
    x: Tensor,
    x_rec: Tensor,
    mu: Tensor,
    logvar: Tensor,
    *,
    fake: Tensor,
    fake_rec: Tensor,
    fake_mu: Tensor,
    fake_logvar: Tensor,
    rec: Tensor,
    rec_rec: Tensor,
    rec_mu: Tensor,
    rec_logvar: Tensor,
    beta_rec: float,
    beta_kl: float,
    beta_neg: float,
    scale: float,
    kind: str = "mse",
    detach_rec_target: bool = False,
) -> Tensor:
    r"""Soft-IntroVAE encoder loss (Eq. 4 with α = 2, Algorithm 1 lines 7–14).

    .. math::

        \mathcal L_E = s\,\overline{n_{\beta_{rec},\beta_{kl}}(x)}
            + \tfrac12\Bigl[\tfrac12\,\overline{e^{-2s\,n_{\beta_{rec},\beta_{neg}}(x_f)}}
            + \tfrac12\,\overline{e^{-2s\,n_{\beta_{rec},\beta_{neg}}(x_r)}}\Bigr],

    where :math:`n` is :func:`negative_elbo`, bars are batch means and the expELBO is applied to
    decoded prior samples :math:`x_f` *and* to reconstructions :math:`x_r`, averaged (0.25 each
    overall), as in the authors' implementation. ``fake`` is detached where it serves as a
    reconstruction target. ``rec`` keeps its graph there by default: the authors' code
    (github.com/taldatech/soft-intro-vae-pytorch, ``soft_intro_vae_2d/train_soft_intro_vae_2d.py``
    and ``soft_intro_vae/train_soft_intro_vae.py``) compares the re-encoded reconstruction with
    the reconstruction itself, so with the decoder frozen the expELBO of reconstructions also
    reaches the encoder through the posterior draw :math:`z` that produced ``rec``. Algorithm 1
    of the paper re-encodes only prior samples and is silent on this term;
    ``detach_rec_target=True`` cuts that path (the target becomes :math:`\mathrm{sg}(x_r)`).

    Stop-gradients the caller provides (:func:`~contradistinct.introspective.soft_intro_step`
    does): the decoder is frozen (its parameters are not updated by this loss) and ``fake``
    / ``rec`` are detached before they are re-encoded.

    Args:
        x: data, ``(B, *)``.
        x_rec: its reconstruction :math:`D(z)`, :math:`z \sim q(z \mid x)`, same shape.
        mu: posterior means of ``x``, ``(B, D)``.
        logvar: their log-variances, ``(B, D)``.
        fake: decoded prior samples as data (probabilities for ``"bce"``), ``(B_f, *)``.
        fake_rec: decoder output for a latent drawn from :math:`q(z \mid \text{fake})`.
        fake_mu: posterior means of ``fake``, ``(B_f, D)``.
        fake_logvar: their log-variances.
        rec: reconstructions as data (probabilities for ``"bce"``), ``(B, *)``.
        rec_rec: decoder output for a latent drawn from :math:`q(z \mid \text{rec})`.
        rec_mu: posterior means of ``rec``, ``(B, D)``.
        rec_logvar: their log-variances.
        beta_rec: :math:`\beta_{rec} \ge 0`.
        beta_kl: :math:`\beta_{kl} \ge 0`, the KL weight of the real data's ELBO.
        beta_neg: :math:`\beta_{neg} \ge 0`, the KL weight inside the exponential.
        scale: :math:`s`, ``1 / input_dim`` in the paper (0.5 for 2D data).
        kind: ``"mse"`` or ``"bce"``.
        detach_rec_target: detach ``rec`` where it is the target of ``rec_rec`` (default
            ``False``, the authors' gradient).

    Returns:
        A float32 scalar.

    Example:
        >>> import torch
        >>> from contradistinct.functional import soft_intro_encoder_loss
        >>> x, z = torch.zeros(4, 2), torch.zeros(4, 2)
        >>> soft_intro_encoder_loss(x, x, z, z, fake=x, fake_rec=x, fake_mu=z, fake_logvar=z,
        ...     rec=x, rec_rec=x, rec_mu=z, rec_logvar=z, beta_rec=1.0, beta_kl=1.0,
        ...     beta_neg=1.0, scale=0.5)
        tensor(0.5000)
    """
    beta_neg = check_non_negative(beta_neg, "beta_neg")
    scale = check_positive(scale, "scale")
    check_choice(kind, "kind", RECONSTRUCTION_KINDS)
    _check_elbo_inputs(
        x_rec=x_rec, x=x, mu=mu, logvar=logvar,
        fake_rec=fake_rec, fake=fake, fake_mu=fake_mu, fake_logvar=fake_logvar,
        rec_rec=rec_rec, rec=rec, rec_mu=rec_mu, rec_logvar=rec_logvar,
    )  # fmt: skip
    real = negative_elbo(x_rec, x, mu, logvar, beta_rec=beta_rec, beta_kl=beta_kl, kind=kind)
    # A prior sample is decoded without a graph (decoder frozen, z_f independent of the
    # encoder), so detaching it changes nothing but guards against a caller's stray graph.
    fake_n = negative_elbo(
        fake_rec, fake.detach(), fake_mu, fake_logvar,
        beta_rec=beta_rec, beta_kl=beta_neg, kind=kind, reduction="none",
    )  # fmt: skip
    # The authors keep rec's graph here: the target moves with the encoder through z.
    rec_target = rec.detach() if detach_rec_target else rec
    rec_n = negative_elbo(
        rec_rec, rec_target, rec_mu, rec_logvar,
        beta_rec=beta_rec, beta_kl=beta_neg, kind=kind, reduction="none",
    )  # fmt: skip
    exp_terms = exp_elbo(fake_n, scale=scale) + exp_elbo(rec_n, scale=scale)
    return scale * real + 0.5 * exp_terms


def soft_intro_decoder_loss(
    x: Tensor,
    x_rec: Tensor,
    *,
    fake: Tensor,
    fake_rec: Tensor,
    fake_mu: Tensor,
    fake_logvar: Tensor,
    rec: Tensor,
    rec_rec: Tensor,
    rec_mu: Tensor,
    rec_logvar: Tensor,
    beta_rec: float,
    beta_kl: float,
    gamma_r: float,
    scale: float,
    kind: str = "mse",
) -> Tensor:
    r"""Soft-IntroVAE decoder loss (Eq. 4 with γ = 1, Algorithm 1 lines 16–23).

    .. math::

        \mathcal L_D = s\Bigl[\beta_{rec}\,\overline{\ell_{rec}(x_r, x)}
            + \tfrac12\beta_{kl}\bigl(\overline{\mathrm{KL}_f} + \overline{\mathrm{KL}_r}\bigr)
            + \tfrac12\gamma_r\beta_{rec}\bigl(\overline{\ell_{rec}(x_{rr}, x_r)}
            + \overline{\ell_{rec}(x_{ff}, x_f)}\bigr)\Bigr].

    The KL of real data is absent (it does not depend on the decoder); the reconstruction of
    generated data is damped by :math:`\gamma_r` (§5). ``fake`` and ``rec`` are detached where
    they serve as reconstruction targets; ``fake_mu`` etc. must keep their graph to the decoder.

    Stop-gradients the caller provides (:func:`~contradistinct.introspective.soft_intro_step`
    does): the encoder is frozen (its parameters are not updated by this loss), ``x_rec`` is
    decoded from a detached latent and the re-encoded latents are detached before decoding
    ``fake_rec`` / ``rec_rec``.

    Args:
        x: data, ``(B, *)``.
        x_rec: :math:`D(\mathrm{sg}(z))`, same shape.
        fake: decoded prior samples, ``(B_f, *)``; ``fake_mu`` / ``fake_logvar`` are the
            encoder's output for it and ``fake_rec`` the decoder output for a detached
            latent drawn from that posterior (as in :func:`soft_intro_encoder_loss`).
        fake_rec: see ``fake``.
        fake_mu: see ``fake``.
        fake_logvar: see ``fake``.
        rec: reconstructions as data, ``(B, *)``, with ``rec_rec``, ``rec_mu``,
            ``rec_logvar`` defined as for ``fake``.
        rec_rec: see ``rec``.
        rec_mu: see ``rec``.
        rec_logvar: see ``rec``.
        beta_rec: :math:`\beta_{rec} \ge 0`.
        beta_kl: :math:`\beta_{kl} \ge 0`.
        gamma_r: :math:`\gamma_r` (1e-8 in all of the paper's experiments).
        scale: :math:`s`.
        kind: ``"mse"`` or ``"bce"``.

    Returns:
        A float32 scalar.

    Example:
        >>> import torch
        >>> from contradistinct.functional import soft_intro_decoder_loss
        >>> x, z = torch.zeros(4, 2), torch.ones(4, 2)
        >>> soft_intro_decoder_loss(x, x + 1, fake=x, fake_rec=x, fake_mu=z, fake_logvar=0 * z,
        ...     rec=x, rec_rec=x, rec_mu=z, rec_logvar=0 * z, beta_rec=1.0, beta_kl=1.0,
        ...     gamma_r=1e-8, scale=0.5)
        tensor(1.5000)
    """
    beta_rec = check_non_negative(beta_rec, "beta_rec")
    beta_kl = check_non_negative(beta_kl, "beta_kl")
    gamma_r = check_non_negative(gamma_r, "gamma_r")
    scale = check_positive(scale, "scale")
    check_choice(kind, "kind", RECONSTRUCTION_KINDS)
    x_rec = check_min_rank(x_rec, "x_rec", 1)
    check_same_shape(x_rec, "x_rec", check_min_rank(x, "x", 1), "x")
    _check_elbo_inputs(
        fake_rec=fake_rec, fake=fake, fake_mu=fake_mu, fake_logvar=fake_logvar,
        rec_rec=rec_rec, rec=rec, rec_mu=rec_mu, rec_logvar=rec_logvar,
    )  # fmt: skip
    real_rec = reconstruction_loss(x_rec, x, kind=kind)
    generated_rec = reconstruction_loss(rec_rec, rec.detach(), kind=kind) + reconstruction_loss(
        fake_rec, fake.detach(), kind=kind
    )
    kls = gaussian_kl(fake_mu, fake_logvar) + gaussian_kl(rec_mu, rec_logvar)
    damped = 0.5 * gamma_r * beta_rec * generated_rec
    return scale * (beta_rec * real_rec + 0.5 * beta_kl * kls + damped)


def intro_vae_encoder_loss(
    x: Tensor,
    x_rec: Tensor,
    mu: Tensor,
    logvar: Tensor,
    *,
    fake_mu: Tensor,
    fake_logvar: Tensor,
    rec_mu: Tensor,
    rec_logvar: Tensor,
    margin: float,
    weight_rec: float = 1.0,
    weight_kl: float = 1.0,
    weight_neg: float = 1.0,
    kind: str = "mse",
) -> Tensor:
    r"""IntroVAE encoder loss: the hinge of Soft-IntroVAE Eq. 2 on batch-mean KLs.

    .. math::

        \mathcal L_E = w_{rec}\,\overline{\ell_{rec}(\hat x, x)}
            + w_{kl}\Bigl(\overline{\mathrm{KL}(x)} + \tfrac12 w_{neg}\bigl(
            [m - \overline{\mathrm{KL}_r}]^+ + [m - \overline{\mathrm{KL}_f}]^+\bigr)\Bigr),

    the negative of Eq. 2's encoder objective with the hinge applied to the reconstructions
    and the decoded prior samples (re-encoded from detached inputs), as in IntroVAE's code.

    Args:
        x: data, ``(B, *)``.
        x_rec: its reconstruction, same shape.
        mu: posterior means of ``x``, ``(B, D)``.
        logvar: their log-variances.
        fake_mu: posterior means of detached decoded prior samples, ``(B_f, D)``.
        fake_logvar: their log-variances.
        rec_mu: posterior means of detached reconstructions, ``(B, D)``.
        rec_logvar: their log-variances.
        margin: the hard threshold :math:`m > 0`.
        weight_rec: :math:`w_{rec} \ge 0`.
        weight_kl: :math:`w_{kl} \ge 0`.
        weight_neg: :math:`w_{neg} \ge 0`.
        kind: ``"mse"`` or ``"bce"``.

    Returns:
        A float32 scalar.

    Example:
        >>> import torch
        >>> from contradistinct.functional import intro_vae_encoder_loss
        >>> x, z = torch.zeros(2, 3), torch.zeros(2, 4)
        >>> intro_vae_encoder_loss(x, x, z, z, fake_mu=z, fake_logvar=z, rec_mu=z + 2,
        ...     rec_logvar=z, margin=10.0)
        tensor(6.)
    """
    margin = check_positive(margin, "margin")
    weight_rec = check_non_negative(weight_rec, "weight_rec")
    weight_kl = check_non_negative(weight_kl, "weight_kl")
    weight_neg = check_non_negative(weight_neg, "weight_neg")
    _check_elbo_inputs(x_rec=x_rec, x=x, mu=mu, logvar=logvar)
    check_same_shape(fake_mu, "fake_mu", fake_logvar, "fake_logvar")
    check_same_shape(rec_mu, "rec_mu", rec_logvar, "rec_logvar")
    rec = reconstruction_loss(x_rec, x, kind=kind)
    hinge = F.relu(margin - gaussian_kl(rec_mu, rec_logvar)) + F.relu(
        margin - gaussian_kl(fake_mu, fake_logvar)
    )
    return weight_rec * rec + weight_kl * (gaussian_kl(mu, logvar) + 0.5 * weight_neg * hinge)


def intro_vae_decoder_loss(
    x: Tensor,
    x_rec: Tensor,
    *,
    fake_mu: Tensor,
    fake_logvar: Tensor,
    rec_mu: Tensor,
    rec_logvar: Tensor,
    weight_rec: float = 1.0,
    weight_kl: float = 1.0,
    kind: str = "mse",
) -> Tensor:
    r"""IntroVAE decoder loss: the negative of Soft-IntroVAE Eq. 2's decoder objective.

    .. math::

        \mathcal L_D = w_{rec}\,\overline{\ell_{rec}(\hat x, x)}
            + \tfrac12 w_{kl}\bigl(\overline{\mathrm{KL}_r} + \overline{\mathrm{KL}_f}\bigr),

    with the KLs of the reconstructions and decoded prior samples computed *without* detaching
    them (the encoder is frozen), so the decoder learns to fool the encoder. IntroVAE's code
    obtains the reconstruction term by letting the encoder step's backward accumulate into the
    decoder's gradients; here it is written out.

    Args:
        x: data, ``(B, *)``.
        x_rec: its reconstruction, same shape.
        fake_mu: posterior means of decoded prior samples (graph kept), ``(B_f, D)``.
        fake_logvar: their log-variances.
        rec_mu: posterior means of reconstructions (graph kept), ``(B, D)``.
        rec_logvar: their log-variances.
        weight_rec: :math:`w_{rec} \ge 0`.
        weight_kl: :math:`w_{kl} \ge 0`.
        kind: ``"mse"`` or ``"bce"``.

    Returns:
        A float32 scalar.

    Example:
        >>> import torch
        >>> from contradistinct.functional import intro_vae_decoder_loss
        >>> x, z = torch.zeros(2, 3), torch.zeros(2, 4)
        >>> intro_vae_decoder_loss(x, x + 1, fake_mu=z + 1, fake_logvar=z, rec_mu=z,
        ...     rec_logvar=z)
        tensor(4.)
    """
    weight_rec = check_non_negative(weight_rec, "weight_rec")
    weight_kl = check_non_negative(weight_kl, "weight_kl")
    x_rec = check_min_rank(x_rec, "x_rec", 1)
    check_same_shape(x_rec, "x_rec", check_min_rank(x, "x", 1), "x")
    check_same_shape(fake_mu, "fake_mu", fake_logvar, "fake_logvar")
    check_same_shape(rec_mu, "rec_mu", rec_logvar, "rec_logvar")
    rec = reconstruction_loss(x_rec, x, kind=kind)
    kls = gaussian_kl(rec_mu, rec_logvar) + gaussian_kl(fake_mu, fake_logvar)
    return weight_rec * rec + 0.5 * weight_kl * kls
