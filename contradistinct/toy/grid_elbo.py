"""Grid-normalised ELBO (gnELBO) of Soft-IntroVAE §6.1 and Table 2."""

from __future__ import annotations

import torch
from torch import Tensor

from contradistinct._checks import check_positive_int, check_rank
from contradistinct.toy.histogram import _check_range


def grid_points(*, range: tuple[float, float] = (-2.0, 2.0), points_per_axis: int = 1024) -> Tensor:
    """A square grid of ``points_per_axis²`` points over ``range × range``, edges included.

    The paper's gnELBO uses 1024 points per axis over the metric range of each dataset.

    Returns:
        float32 tensor of shape ``(points_per_axis**2, 2)``.

    Example:
        >>> from contradistinct.toy import grid_points
        >>> grid_points(range=(-1, 1), points_per_axis=2)
        tensor([[-1., -1.],
                [-1.,  1.],
                [ 1., -1.],
                [ 1.,  1.]])
    """
    low, high = _check_range(range)
    n = check_positive_int(points_per_axis, "points_per_axis")
    axis = torch.linspace(low, high, n)
    xx, yy = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([xx.flatten(), yy.flatten()], dim=1)


def grid_normalized_elbo(data_energy: Tensor, grid_energy: Tensor) -> Tensor:
    r"""Grid-normalised ELBO: the mean data energy over the total energy of grid and data.

    .. math::

        \mathrm{gnELBO} = \frac{1}{N}\sum_{n} \frac{E(x_n)}
            {\sum_{g} E(x_g) + \sum_{n'} E(x_{n'})},
        \qquad E(x) = \mathrm{KL}(q(z \mid x) \Vert p(z)) + \lVert x - D(\mu(x)) \rVert^2,

    where :math:`E = -\mathrm{ELBO}` (β's of 1, decoding the posterior mean) is evaluated on
    :math:`N` real samples :math:`x_n` and on the grid :math:`x_g` of :func:`grid_points`, as
    in the authors' code (12,800 real samples, a 1024² grid; Table 2 reports it in units of
    :math:`10^{-7}`). Lower is better: real data gets a low energy relative to the plane. The
    value scales like one over the number of grid points, so compare only equal grids.

    Args:
        data_energy: :math:`E(x_n) \ge 0`, shape ``(N,)``.
        grid_energy: :math:`E(x_g) \ge 0`, shape ``(G,)``.

    Example:
        >>> import torch
        >>> from contradistinct.toy import grid_normalized_elbo
        >>> grid_normalized_elbo(torch.tensor([1.0, 3.0]), torch.tensor([4.0, 4.0, 4.0, 4.0]))
        tensor(0.1000)
    """
    data_energy = check_rank(data_energy, "data_energy", 1, "(N,)")
    grid_energy = check_rank(grid_energy, "grid_energy", 1, "(G,)")
    if data_energy.shape[0] == 0 or grid_energy.shape[0] == 0:
        raise ValueError(
            "data_energy and grid_energy must be non-empty, got shapes "
            f"{tuple(data_energy.shape)} and {tuple(grid_energy.shape)}"
        )
    data_energy = data_energy.double()
    total = grid_energy.double().sum() + data_energy.sum()
    return (data_energy / total).mean().to(torch.float32)
