"""Fréchet distance between two Gaussians, the closed form behind FID."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from contradistinct._checks import check_rank, check_same_device


def _as_float64(value: Tensor | np.ndarray, name: str, ndim: int, layout: str) -> Tensor:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    tensor = check_rank(value, name, ndim, layout)
    if tensor.is_meta:
        raise ValueError(
            f"{name} is on the meta device, which holds no values: the distance is computed "
            "from the statistics' values"
        )
    tensor = tensor.to(torch.float64)
    if not torch.isfinite(tensor).all():
        raise ValueError(
            f"{name} must be finite, got non-finite values in shape {tuple(tensor.shape)}"
        )
    return tensor


# Relative rounding a covariance may carry: asymmetry up to this fraction of its largest entry,
# negative eigenvalues down to this fraction of its largest eigenvalue (float32 sums of
# features reach about 1e-6).
_TOLERANCE = 1e-5


def _check_covariance(matrix: Tensor, name: str) -> tuple[Tensor, Tensor]:
    """The eigendecomposition of a covariance, refusing one that is not symmetric PSD.

    Clamping a clearly negative eigenvalue to zero would silently drop its share of the trace
    term (a negative definite ``sigma1`` lost the term entirely), so only rounding is clamped.
    """
    scale = matrix.abs().max()
    asymmetry = (matrix - matrix.mT).abs().max()
    if bool(asymmetry > _TOLERANCE * scale):
        raise ValueError(
            f"{name} must be a symmetric covariance, but it differs from its transpose by up to "
            f"{asymmetry.item():.3g} (largest entry {scale.item():.3g})"
        )
    eigenvalues, eigenvectors = torch.linalg.eigh(matrix)
    smallest, largest = eigenvalues[0], eigenvalues.abs().max()
    if bool(smallest < -_TOLERANCE * largest):
        raise ValueError(
            f"{name} must be positive semi-definite, but its smallest eigenvalue is "
            f"{smallest.item():.3g} (largest magnitude {largest.item():.3g}); its square root "
            "would leave out part of the trace term"
        )
    return eigenvalues, eigenvectors


def _psd_sqrt(eigenvalues: Tensor, eigenvectors: Tensor) -> Tensor:
    # Rounding can push eigenvalues of a positive semi-definite matrix slightly below zero.
    roots = eigenvalues.clamp(min=0).sqrt()
    return (eigenvectors * roots) @ eigenvectors.mT


def frechet_distance(
    mu1: Tensor | np.ndarray,
    sigma1: Tensor | np.ndarray,
    mu2: Tensor | np.ndarray,
    sigma2: Tensor | np.ndarray,
) -> Tensor:
    r"""Squared Fréchet (2-Wasserstein) distance between two Gaussians.

    The distance between :math:`\mathcal N(\mu_1, \Sigma_1)` and :math:`\mathcal N(\mu_2, \Sigma_2)`
    that FID reports (Heusel et al. 2017; DC-VAE Tables 1–5):

    .. math::

        d^2 = \lVert \mu_1 - \mu_2 \rVert_2^2 + \operatorname{tr}\Sigma_1
              + \operatorname{tr}\Sigma_2
              - 2 \operatorname{tr}\bigl(\Sigma_1^{1/2}\,\Sigma_2\,\Sigma_1^{1/2}\bigr)^{1/2}.

    :math:`\operatorname{tr}(\Sigma_1\Sigma_2)^{1/2}` equals the trace of the symmetric matrix
    above, so both square roots come from symmetric eigendecompositions (``torch.linalg.eigh``)
    in float64: no ``scipy``, no complex parts to discard, and singular covariances (fewer samples
    than features) are handled. Eigenvalues that rounding pushes below zero (down to
    :math:`10^{-5}` of the largest) are clamped, and so is the result: it is never
    negative. A covariance that is not symmetric, or has a clearly negative eigenvalue, is
    refused with a ``ValueError`` naming it: its square root does not exist, and clamping would
    silently drop part of the trace term.

    Args:
        mu1: mean of the first Gaussian, shape ``(F,)`` (tensor or NumPy array).
        sigma1: its covariance, shape ``(F, F)``, symmetric positive semi-definite (up to
            rounding).
        mu2: mean of the second Gaussian, shape ``(F,)``.
        sigma2: its covariance, shape ``(F, F)``.

    Returns:
        A float64 scalar tensor on the device of ``mu1``.

    Example:
        >>> import torch
        >>> from contradistinct.metrics import frechet_distance
        >>> frechet_distance(torch.zeros(2), torch.eye(2), torch.ones(2), 4 * torch.eye(2))
        tensor(4., dtype=torch.float64)
    """
    mu1 = _as_float64(mu1, "mu1", 1, "(F,)")
    mu2 = _as_float64(mu2, "mu2", 1, "(F,)")
    sigma1 = _as_float64(sigma1, "sigma1", 2, "(F, F)")
    sigma2 = _as_float64(sigma2, "sigma2", 2, "(F, F)")
    for name, tensor in (("sigma1", sigma1), ("mu2", mu2), ("sigma2", sigma2)):
        check_same_device(mu1, "mu1", tensor, name)
    features = mu1.shape[0]
    for name, tensor, expected in (
        ("mu2", mu2, (features,)),
        ("sigma1", sigma1, (features, features)),
        ("sigma2", sigma2, (features, features)),
    ):
        if tuple(tensor.shape) != expected:
            raise ValueError(
                f"{name} must have shape {expected} to match mu1 of shape {(features,)}, "
                f"got {tuple(tensor.shape)}"
            )
    sqrt_sigma1 = _psd_sqrt(*_check_covariance(sigma1, "sigma1"))
    _check_covariance(sigma2, "sigma2")
    product = sqrt_sigma1 @ sigma2 @ sqrt_sigma1
    product = 0.5 * (product + product.mT)
    trace_sqrt = torch.linalg.eigvalsh(product).clamp(min=0).sqrt().sum()
    mean_term = (mu1 - mu2).square().sum()
    distance = mean_term + sigma1.trace() + sigma2.trace() - 2 * trace_sqrt
    return distance.clamp(min=0)
