"""2D toy benchmark of Soft-IntroVAE (Table 2): seeded samplers and the paper's metrics."""

from contradistinct.toy.datasets import (
    DATASETS,
    checkerboard,
    eight_gaussians,
    eight_gaussians_means,
    plot_range,
    rings,
    sample,
    two_spirals,
)
from contradistinct.toy.grid_elbo import grid_normalized_elbo, grid_points
from contradistinct.toy.histogram import (
    histogram2d,
    histogram_jsd,
    histogram_kl,
    soft_intro_histogram_jsd,
    soft_intro_histogram_kl,
)

__all__ = [
    "DATASETS",
    "checkerboard",
    "eight_gaussians",
    "eight_gaussians_means",
    "grid_normalized_elbo",
    "grid_points",
    "histogram2d",
    "histogram_jsd",
    "histogram_kl",
    "plot_range",
    "rings",
    "sample",
    "soft_intro_histogram_jsd",
    "soft_intro_histogram_kl",
    "two_spirals",
]
