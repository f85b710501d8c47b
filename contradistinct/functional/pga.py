"""Perceptual generative autoencoder terms (Zhang et al., PGA): Eqs. 2, 3, 5, 6 and 10.

Here :math:`f` is the encoder, :math:`g` the decoder, :math:`h = f \\circ g` the perceptual
generative model and :math:`H` the latent dimension. The functions take the tensors those maps
produced; which parameters each term may update is arranged by
:class:`~contradistinct.pga.LPGALoss` and :class:`~contradistinct.pga.VPGALoss`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from contradistinct._checks import (
    check_nonempty_batch,
    check_positive,
    check_rank,
    check_same_shape,
)
from contradistinct._precision import as_float32
from contradistinct._reduction import check_reduction, reduce
from contradistinct.functional.gaussian import gaussian_kl
from contradistinct.functional.reconstruction import reconstruction_loss


def latent_reconstruction_loss(input: Tensor, target: Tensor, *, reduction: str = "mean") -> Tensor:
    r"""Latent reconstruction error of PGA Eqs. 2 and 3.

    .. math::

        L_{lr} = \tfrac12\, \mathbb E\bigl[\lVert h(z) - z \rVert_2^2\bigr],

    with :math:`z \sim \mathcal N(0, I)` (Eq. 2) or :math:`z \sim \mathcal H`, the encodings of
    data (Eq. 3).

    Args:
        input: the latent reconstruction :math:`h(z)`, shape ``(B, H)``.
        target: the latent code :math:`z`, shape ``(B, H)``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (shape ``(B,)``).

    Example:
        >>> import torch
        >>> from contradistinct.functional import latent_reconstruction_loss
        >>> latent_reconstruction_loss(torch.ones(2, 4), torch.zeros(2, 4))
        tensor(2.)
    """
    input = check_rank(input, "input", 2, "(B, H)")
    target = check_rank(target, "target", 2, "(B, H)")
    return 0.5 * reconstruction_loss(input, target, recon="mse", reduction=reduction)


def pga_encoder_nll(z: Tensor, *, reduction: str = "mean") -> Tensor:
    r"""Encoder likelihood term of LPGA (Eq. 5), divided by the latent dimension :math:`H`.

    .. math::

        L^{\phi}_{nll} = \frac{1}{H}\cdot\tfrac12\, \mathbb E_{x}\bigl[\lVert f(x) \rVert_2^2\bigr],

    the negative log-density of the prior at the encodings up to a constant. The division by
    :math:`H` follows the authors' code, so that the weight :math:`\gamma` does not depend on
    the latent size.

    Args:
        z: encodings :math:`f(x)`, shape ``(B, H)``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Example:
        >>> import torch
        >>> from contradistinct.functional import pga_encoder_nll
        >>> pga_encoder_nll(torch.full((3, 4), 2.0))
        tensor(2.)
    """
    z = check_rank(z, "z", 2, "(B, H)")
    check_nonempty_batch(z, "z")
    check_reduction(reduction)
    per_sample = 0.5 * as_float32(z).square().mean(dim=1)
    return reduce(per_sample, reduction)


def hypersphere_noise(
    z: Tensor, epsilon: float, *, generator: torch.Generator | None = None
) -> Tensor:
    r"""Draw :math:`\delta \sim \mathcal S(\epsilon)`, uniform on the sphere of radius ε (Eq. 6).

    A standard normal draw divided by its norm is uniform on the unit sphere.

    Args:
        z: a tensor whose shape ``(B, H)``, dtype and device the noise takes.
        epsilon: the radius :math:`\epsilon > 0` (the authors use :math:`0.01\sqrt H`).
        generator: optional ``torch.Generator`` for reproducible noise.

    Example:
        >>> import torch
        >>> from contradistinct.functional import hypersphere_noise
        >>> delta = hypersphere_noise(torch.zeros(5, 3), 0.1)
        >>> torch.allclose(delta.norm(dim=1), torch.full((5,), 0.1))
        True
    """
    z = check_rank(z, "z", 2, "(B, H)")
    epsilon = check_positive(epsilon, "epsilon")
    noise = torch.randn(z.shape, generator=generator, dtype=z.dtype, device=z.device)
    return epsilon * noise / noise.norm(dim=1, keepdim=True)


def pga_decoder_nll(
    h_perturbed: Tensor, h: Tensor, delta: Tensor, *, reduction: str = "mean"
) -> Tensor:
    r"""Decoder likelihood term of LPGA (Eq. 6), divided by the latent dimension :math:`H`.

    .. math::

        L^{\theta}_{nll} = \frac1H\cdot\frac H2\, \mathbb E\Bigl[
            \log \frac{\lVert h(z + \delta) - h(z) \rVert_2^2}{\lVert \delta \rVert_2^2}\Bigr],

    a stochastic estimate of :math:`\log\lvert\det \partial h / \partial z\rvert` that needs no
    Jacobian. The squared norms are floored at the smallest normal float before the log, so a
    locally collapsed :math:`h` gives a large finite loss instead of ``-inf``.

    Args:
        h_perturbed: :math:`h(z + \delta)`, shape ``(B, H)``.
        h: :math:`h(z)`, shape ``(B, H)``.
        delta: the perturbation :math:`\delta`, shape ``(B, H)``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Example:
        >>> import torch
        >>> from contradistinct.functional import pga_decoder_nll
        >>> z, delta = torch.zeros(2, 3), torch.full((2, 3), 0.01)
        >>> pga_decoder_nll(2 * (z + delta), 2 * z, delta)  # h = 2z: log|det| / H = log 2
        tensor(0.6931)
    """
    h_perturbed = check_rank(h_perturbed, "h_perturbed", 2, "(B, H)")
    h = check_rank(h, "h", 2, "(B, H)")
    delta = check_rank(delta, "delta", 2, "(B, H)")
    check_same_shape(h_perturbed, "h_perturbed", h, "h")
    check_same_shape(h, "h", delta, "delta")
    check_nonempty_batch(h_perturbed, "h_perturbed")
    check_reduction(reduction)
    h_perturbed, h, delta = as_float32(h_perturbed), as_float32(h), as_float32(delta)
    tiny = torch.finfo(h.dtype).tiny
    moved = (h_perturbed - h).square().sum(dim=1).clamp_min(tiny)
    step = delta.square().sum(dim=1).clamp_min(tiny)
    return reduce(0.5 * (moved.log() - step.log()), reduction)


def pga_vae_loss(
    input: Tensor,
    target: Tensor,
    mu: Tensor,
    logvar: Tensor,
    *,
    sigma: float = 1.0,
    reduction: str = "mean",
) -> Tensor:
    r"""The VAE objective of VPGA on the latent space (Eq. 10).

    .. math::

        L_{vae} = \mathbb E_x\Bigl[\frac{1}{2\sigma^2}\,\mathbb E_{z \sim q(z|x)}
            \lVert \hat z - h(z) \rVert_2^2
            + \mathrm{KL}\bigl(q(z \mid x) \,\Vert\, \mathcal N(0, I)\bigr)\Bigr],

    the negative of Eq. 9's bound with :math:`p(\hat z \mid z) = \mathcal N(h(z), \sigma^2 I)`
    up to a constant, where :math:`\hat z = f(\hat x)` is the encoding of the reconstruction.
    The prediction :math:`h(z)`, the likelihood's mean, comes first and its target
    :math:`\hat z` second.

    Args:
        input: the likelihood's mean :math:`h(z)` for one draw :math:`z \sim q(z \mid x)`,
            shape ``(B, H)``.
        target: the encoding of the reconstruction :math:`\hat z`, shape ``(B, H)``.
        mu: posterior means, ``(B, H)``.
        logvar: posterior log-variances, ``(B, H)``.
        sigma: the likelihood's standard deviation :math:`\sigma > 0`.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Example:
        >>> import torch
        >>> from contradistinct.functional import pga_vae_loss
        >>> z = torch.zeros(2, 3)
        >>> pga_vae_loss(z, z + 1, z, z, sigma=0.5)
        tensor(6.)
    """
    sigma = check_positive(sigma, "sigma")
    check_reduction(reduction)
    likelihood = latent_reconstruction_loss(input, target, reduction="none") / sigma**2
    mu = check_rank(mu, "mu", 2, "(B, H)")
    check_same_shape(mu, "mu", target, "target")
    return reduce(likelihood + gaussian_kl(mu, logvar, reduction="none"), reduction)
