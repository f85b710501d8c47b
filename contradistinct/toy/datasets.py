"""Seeded samplers of the four 2D distributions of Soft-IntroVAE §6.1.

The constants are those of the Soft-IntroVAE authors' code,
github.com/taldatech/soft-intro-vae-pytorch, ``soft_intro_vae_2d/train_soft_intro_vae_2d.py``:
8 Gaussians at radius 2 on the compass directions with σ = 0.02, divided by 1.414
(``ToyDataset.next_batch``); two spirals, a checkerboard and four rings as in the
normalising-flow benchmark they take them from (``sample_2d_data``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from contradistinct._checks import check_choice, check_positive_int


def _uniform(n: int, generator: torch.Generator | None) -> Tensor:
    return torch.rand(n, generator=generator)


def _normal(shape: tuple[int, ...], generator: torch.Generator | None) -> Tensor:
    return torch.randn(shape, generator=generator)


def _compass_points() -> Tensor:
    angles = torch.arange(8) * (math.pi / 4)
    return 2.0 * torch.stack([angles.cos(), angles.sin()], dim=1)


def eight_gaussians_means() -> Tensor:
    r"""The means of :func:`eight_gaussians` (Soft-IntroVAE §6.1, the authors' constants).

    .. math::

        \mu_k = \frac{2}{1.414} \bigl(\cos\tfrac{k\pi}{4}, \sin\tfrac{k\pi}{4}\bigr),
        \quad k = 0, \dots, 7.

    Returns:
        float32 tensor of shape ``(8, 2)``, a fresh copy on every call; row ``k`` lies at
        angle ``k·π/4``.

    Example:
        >>> from contradistinct.toy import eight_gaussians_means
        >>> eight_gaussians_means()[0]
        tensor([1.4144, 0.0000])
    """
    return _compass_points() / 1.414


def eight_gaussians(n: int, *, generator: torch.Generator | None = None) -> Tensor:
    """``n`` points from eight Gaussians (σ = 0.02) at radius 2, scaled by 1/1.414.

    Args:
        n: number of points.
        generator: optional ``torch.Generator``; the same seed gives the same points.

    Returns:
        float32 tensor of shape ``(n, 2)``, inside ``[-2, 2]²``.

    Example:
        >>> import torch
        >>> from contradistinct.toy import eight_gaussians
        >>> eight_gaussians(4, generator=torch.Generator().manual_seed(0)).shape
        torch.Size([4, 2])
    """
    n = check_positive_int(n, "n")
    which = torch.randint(8, (n,), generator=generator)
    # Noise before the division, as in the authors' code: the points match theirs bit for bit.
    return (_compass_points()[which] + 0.02 * _normal((n, 2), generator)) / 1.414


def two_spirals(n: int, *, generator: torch.Generator | None = None) -> Tensor:
    """``n`` points from two interleaved spirals (1.5 turns) with Gaussian noise 0.1.

    Example:
        >>> from contradistinct.toy import two_spirals
        >>> two_spirals(5).shape
        torch.Size([5, 2])
    """
    n = check_positive_int(n, "n")
    t = _uniform(n, generator).sqrt() * (540 * 2 * math.pi / 360)
    arm = torch.stack(
        [-t.cos() * t + 0.5 * _uniform(n, generator), t.sin() * t + 0.5 * _uniform(n, generator)],
        dim=1,
    )
    sign = torch.where(torch.arange(n) < n // 2, 1.0, -1.0)[:, None]
    return sign * arm / 3 + 0.1 * _normal((n, 2), generator)


def checkerboard(n: int, *, generator: torch.Generator | None = None) -> Tensor:
    """``n`` points uniform on the dark squares of a 4×4 checkerboard over ``[-4, 4]²``.

    Example:
        >>> from contradistinct.toy import checkerboard
        >>> bool(checkerboard(100).abs().max() <= 4)
        True
    """
    n = check_positive_int(n, "n")
    x1 = 4 * _uniform(n, generator) - 2
    row = torch.randint(2, (n,), generator=generator).float()
    x2 = _uniform(n, generator) - 2 * row + torch.remainder(x1.floor(), 2)
    return 2 * torch.stack([x1, x2], dim=1)


def rings(n: int, *, generator: torch.Generator | None = None) -> Tensor:
    """``n`` points on four concentric rings (radii 0.75, 1.5, 2.25, 3), noise σ = 0.08.

    The authors place the points of each ring on an even angular grid and then resample
    them; here the ring is chosen uniformly and the angle uniformly, the same distribution up
    to that discretisation.

    Example:
        >>> from contradistinct.toy import rings
        >>> rings(5).shape
        torch.Size([5, 2])
    """
    n = check_positive_int(n, "n")
    radius = 0.75 * (1 + torch.randint(4, (n,), generator=generator).float())
    angle = 2 * math.pi * _uniform(n, generator)
    points = radius[:, None] * torch.stack([angle.cos(), angle.sin()], dim=1)
    return points + 0.08 * _normal((n, 2), generator)


DATASETS: dict[str, Callable[..., Tensor]] = {
    "8gaussians": eight_gaussians,
    "2spirals": two_spirals,
    "checkerboard": checkerboard,
    "rings": rings,
}
"""The four samplers by name."""


def sample(name: str, n: int, *, generator: torch.Generator | None = None) -> Tensor:
    """Draw ``n`` points of the dataset ``name`` (one of :data:`DATASETS`).

    Example:
        >>> import torch
        >>> from contradistinct.toy import sample
        >>> a = sample("rings", 3, generator=torch.Generator().manual_seed(1))
        >>> b = sample("rings", 3, generator=torch.Generator().manual_seed(1))
        >>> torch.equal(a, b)
        True
    """
    check_choice(name, "name", tuple(DATASETS))
    return DATASETS[name](n, generator=generator)


def plot_range(name: str) -> tuple[float, float]:
    """The square ``(low, high)`` used for the metrics and plots: ±2 for 8 Gaussians, else ±4.

    Example:
        >>> from contradistinct.toy import plot_range
        >>> plot_range("8gaussians"), plot_range("rings")
        ((-2.0, 2.0), (-4.0, 4.0))
    """
    check_choice(name, "name", tuple(DATASETS))
    return (-2.0, 2.0) if name == "8gaussians" else (-4.0, 4.0)
