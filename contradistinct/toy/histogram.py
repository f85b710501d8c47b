"""Histogram divergences between real and generated 2D samples (Soft-IntroVAE Table 2).

Two families, named apart on purpose:

* :func:`~contradistinct.toy.histogram_kl` and :func:`~contradistinct.toy.histogram_jsd` are
  the textbook divergences between the bin *probabilities* (masses summing to one over the
  range).
* :func:`~contradistinct.toy.soft_intro_histogram_kl` and
  :func:`~contradistinct.toy.soft_intro_histogram_jsd` reproduce the numbers of Table 2:
  computed on *densities* (masses / bin area), summed and divided by the number
  of bins per axis, with a floor of 1e-14 added inside the logarithm of :math:`Q` (of
  :math:`P` and :math:`Q` for the JSD), and a
  "JSD" that is :math:`\\tfrac12[\\mathrm{KL}(M \\Vert P) + \\mathrm{KL}(M \\Vert Q)]`
  (the divergences *from* the mixture, not the Jensen–Shannon divergence).

Conventions shared by all four: 100 bins per axis over ``range × range`` (``[-2, 2]`` for
8 Gaussians, ``[-4, 4]`` otherwise in the paper), points outside the range are dropped
before normalising (as ``numpy.histogram2d(density=True)`` does), the right edge belongs to
the last bin, :math:`P` is the real and :math:`Q` the generated distribution. A point set with
no point inside the range (or no point at all) has no histogram to compare, so the four
divergences refuse it with a ``ValueError`` naming ``generated`` or ``real`` (they used to
return 0, ``inf`` or 0.3466 for it). Like every
comparison in the library they take the prediction first, ``(generated, real)``, as
``torch.nn.functional.kl_div(input, target)`` does for :math:`\\mathrm{KL}(target \\Vert input)`
and as the authors' metric code calls it (github.com/taldatech/soft-intro-vae-pytorch,
``soft_intro_vae_2d/train_soft_intro_vae_2d.py``, ``calculate_sample_kl``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from contradistinct._checks import (
    check_non_negative,
    check_positive_int,
    check_rank,
    check_same_device,
)

SOFT_INTRO_FLOOR = 1e-14
"""The floor added inside the logarithm by the Soft-IntroVAE authors' metric code."""


def _check_range(range: tuple[float, float]) -> tuple[float, float]:
    try:
        low, high = (float(value) for value in range)
    except (TypeError, ValueError):
        raise TypeError(f"range must be a (low, high) pair of numbers, got {range!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"range must be a finite (low, high) with low < high, got {range}")
    return low, high


def histogram2d(
    points: Tensor, *, bins: int = 100, range: tuple[float, float] = (-2.0, 2.0)
) -> Tensor:
    """Normalised 2D histogram of ``points`` over the square ``range × range``.

    Args:
        points: shape ``(N, 2)``.
        bins: bins per axis.
        range: ``(low, high)`` of both axes.

    Returns:
        float64 bin probabilities of shape ``(bins, bins)`` indexed ``[x, y]`` that sum to one
        over the points inside the range (all zeros if none is).

    Example:
        >>> import torch
        >>> from contradistinct.toy import histogram2d
        >>> histogram2d(torch.tensor([[0.1, 0.1], [-1.0, 1.0]]), bins=2, range=(-2, 2))
        tensor([[0.0000, 0.5000],
                [0.0000, 0.5000]], dtype=torch.float64)
    """
    return _histogram(points, "points", bins, range)


def _histogram(points: Tensor, name: str, bins: int, range: tuple[float, float]) -> Tensor:
    points = check_rank(points, name, 2, "(N, 2)")
    if points.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2), got {tuple(points.shape)}")
    if points.is_meta:
        raise ValueError(f"{name} is on the meta device, which holds no values to count")
    bins = check_positive_int(bins, "bins")
    low, high = _check_range(range)
    points = points.detach().to(torch.float64)
    inside = ((points >= low) & (points <= high)).all(dim=1)
    cells = ((points[inside] - low) / (high - low) * bins).long().clamp(max=bins - 1)
    counts = torch.bincount(cells[:, 0] * bins + cells[:, 1], minlength=bins * bins)
    counts = counts.to(torch.float64).reshape(bins, bins)
    return counts / counts.sum().clamp_min(1.0)


def _occupied(points: Tensor, name: str, bins: int, range: tuple[float, float]) -> Tensor:
    """The histogram of a point set the divergences can compare: not empty inside the range."""
    histogram = _histogram(points, name, bins, range)
    if points.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one point, got shape {tuple(points.shape)}")
    # A metric, not a training step: reading the total back costs nothing that matters.
    if not bool(histogram.sum() > 0):
        raise ValueError(
            f"{name} has no point inside range={tuple(range)} (all {points.shape[0]} points lie "
            "outside), so it has no histogram to compare"
        )
    return histogram


def _occupied_pair(
    generated: Tensor, real: Tensor, bins: int, range: tuple[float, float]
) -> tuple[Tensor, Tensor]:
    """The histograms :math:`P` of ``real`` and :math:`Q` of ``generated``, checked."""
    p = _occupied(real, "real", bins, range)
    q = _occupied(generated, "generated", bins, range)
    check_same_device(generated, "generated", real, "real")
    return p, q


def _kl(p: Tensor, q: Tensor, floor: float) -> Tensor:
    # xlogy makes 0·log 0 = 0, so empty bins of p contribute nothing even where q is empty.
    return (torch.xlogy(p, p) - torch.xlogy(p, q + floor)).sum()


def histogram_kl(
    generated: Tensor,
    real: Tensor,
    *,
    bins: int = 100,
    range: tuple[float, float] = (-2.0, 2.0),
    floor: float = 0.0,
) -> Tensor:
    r"""Textbook KL divergence :math:`\mathrm{KL}(P \Vert Q) = \sum_i p_i \log(p_i / q_i)`.

    :math:`p, q` are the bin probabilities of ``real`` and ``generated``. It is ``inf`` when
    a bin holds real points but no generated ones, unless ``floor`` > 0 is added to
    :math:`q_i` inside the logarithm.

    Example:
        >>> import torch
        >>> from contradistinct.toy import histogram_kl
        >>> x = torch.rand(500, 2)
        >>> histogram_kl(x, x)
        tensor(0., dtype=torch.float64)
    """
    floor = check_non_negative(floor, "floor")
    p, q = _occupied_pair(generated, real, bins, range)
    return _kl(p, q, floor)


def histogram_jsd(
    generated: Tensor,
    real: Tensor,
    *,
    bins: int = 100,
    range: tuple[float, float] = (-2.0, 2.0),
) -> Tensor:
    r"""Textbook Jensen–Shannon divergence between the bin probabilities.

    .. math::

        \mathrm{JSD}(P, Q) = \tfrac12\mathrm{KL}(P \Vert M) + \tfrac12\mathrm{KL}(Q \Vert M),
        \qquad M = \tfrac12(P + Q);

    finite, symmetric and at most :math:`\log 2`.

    Example:
        >>> import torch
        >>> from contradistinct.toy import histogram_jsd
        >>> a, b = torch.full((10, 2), -1.0), torch.full((10, 2), 1.0)
        >>> histogram_jsd(a, b)  # disjoint supports
        tensor(0.6931, dtype=torch.float64)
    """
    p, q = _occupied_pair(generated, real, bins, range)
    m = 0.5 * (p + q)
    return 0.5 * (_kl(p, m, 0.0) + _kl(q, m, 0.0))


def _densities(
    generated: Tensor, real: Tensor, bins: int, range: tuple[float, float]
) -> tuple[Tensor, Tensor]:
    p, q = _occupied_pair(generated, real, bins, range)
    low, high = _check_range(range)
    area = ((high - low) / bins) ** 2
    return p / area, q / area


def soft_intro_histogram_kl(
    generated: Tensor,
    real: Tensor,
    *,
    bins: int = 100,
    range: tuple[float, float] = (-2.0, 2.0),
) -> Tensor:
    r"""Table 2's "KL", with the Soft-IntroVAE authors' conventions.

    .. math::

        \frac{1}{\text{bins}} \sum_i p_i \bigl(\log p_i - \log(q_i + 10^{-14})\bigr),

    with :math:`p, q` the histogram *densities* of ``real`` and ``generated`` (bin masses
    divided by the bin area). It equals :func:`histogram_kl` times
    :math:`1 / (\text{bins} \cdot \text{area})` up to the floor: ×6.25 on ``[-2, 2]²`` and
    ×1.5625 on ``[-4, 4]²`` with 100 bins. The paper uses 5,000 points of each.

    Example:
        >>> import torch
        >>> from contradistinct.toy import soft_intro_histogram_kl
        >>> x = torch.rand(500, 2)
        >>> bool(soft_intro_histogram_kl(x, x).abs() < 1e-10)  # 0 up to the floor
        True
    """
    p, q = _densities(generated, real, bins, range)
    return _kl(p, q, SOFT_INTRO_FLOOR) / bins


def soft_intro_histogram_jsd(
    generated: Tensor,
    real: Tensor,
    *,
    bins: int = 100,
    range: tuple[float, float] = (-2.0, 2.0),
) -> Tensor:
    r"""Table 2's "JSD", with the Soft-IntroVAE authors' conventions.

    .. math::

        \frac{1}{2\,\text{bins}} \sum_i \Bigl[m_i\bigl(\log m_i - \log(p_i + 10^{-14})\bigr)
            + m_i\bigl(\log m_i - \log(q_i + 10^{-14})\bigr)\Bigr],\quad m = \tfrac12(p + q),

    on densities as in :func:`soft_intro_histogram_kl`: the KL *from* the mixture to each
    histogram, which is large (not bounded by log 2) when the supports differ.

    Example:
        >>> import torch
        >>> from contradistinct.toy import soft_intro_histogram_jsd
        >>> x = torch.rand(500, 2)
        >>> bool(soft_intro_histogram_jsd(x, x).abs() < 1e-10)  # 0 up to the floor
        True
    """
    p, q = _densities(generated, real, bins, range)
    m = 0.5 * (p + q)
    return 0.5 * (_kl(m, p, SOFT_INTRO_FLOOR) + _kl(m, q, SOFT_INTRO_FLOOR)) / bins
