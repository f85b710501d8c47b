"""Fréchet distance between two Gaussians, the closed form behind FID."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from contradistinct._checks import check_rank


def _as_float64(value: Tensor | np.ndarray, name: str, ndim: int, layout: str) -> Tensor:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    tensor = check_rank(value, name, ndim, layout).to(torch.float64)
    if not torch.isfinite(tensor).all():
        raise ValueError(
            f"{name} must be finite, got non-finite values in shape {tuple(tensor.shape)}"
        )
    return tensor


def _psd_sqrt(matrix: Tensor) -> Tensor:
    eigenvalues, eigenvectors = torch.linalg.eigh(matrix)
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
    than features) are handled. Eigenvalues that rounding pushes below zero are clamped, and so
    is the result: it is never negative.

    Args:
        mu1: mean of the first Gaussian, shape ``(F,)`` (tensor or NumPy array).
        sigma1: its covariance, shape ``(F, F)``, symmetric positive semi-definite.
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
    sqrt_sigma1 = _psd_sqrt(sigma1)
    product = sqrt_sigma1 @ sigma2 @ sqrt_sigma1
    product = 0.5 * (product + product.mT)
    trace_sqrt = torch.linalg.eigvalsh(product).clamp(min=0).sqrt().sum()
    mean_term = (mu1 - mu2).square().sum()
    distance = mean_term + sigma1.trace() + sigma2.trace() - 2 * trace_sqrt
    return distance.clamp(min=0)
