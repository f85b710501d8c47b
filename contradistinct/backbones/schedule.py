"""When to grow: the ProGAN schedule of fade-in and stabilisation phases, in images shown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from contradistinct._checks import check_positive_int
from contradistinct.backbones._inputs import check_resolution, powers_of_two


class GrowthState(NamedTuple):
    """The resolution to train at and the fade-in weight of its newest block.

    Example:
        >>> from contradistinct.backbones import GrowthState
        >>> resolution, alpha = GrowthState(resolution=8, alpha=0.25)
        >>> resolution, alpha
        (8, 0.25)
    """

    resolution: int
    alpha: float


@dataclass(frozen=True)
class ProgressiveSchedule:
    r"""ProGAN's growth schedule: which resolution and fade-in ``alpha`` after ``n`` images.

    Training starts at ``start_resolution`` with ``alpha = 1`` for ``stabilize_images`` images.
    Every following resolution :math:`R_k = 2^k R_0` then has a fade-in phase of
    ``fade_images`` images, during which :math:`\alpha` rises linearly from 0 to 1, and a
    stabilisation phase of ``stabilize_images`` images at :math:`\alpha = 1` (ProGAN Appendix
    A: 800k images per phase). With :math:`P = F + S` and :math:`m = n - S`,

    .. math::

        k = \min\bigl(K,\ 1 + \lfloor m / P \rfloor\bigr), \qquad
        \alpha = \min\bigl(1,\ (m - (k - 1) P) / F\bigr)

    for :math:`n \ge S` (else :math:`k = 0, \alpha = 1`), where :math:`K` is the index of
    ``max_resolution``. After the last stabilisation phase the state stays at
    ``(max_resolution, 1.0)``. Calling the schedule with the number of images shown so far
    (an ``int``) returns a :class:`GrowthState`. Pure Python: no tensors, safe to call every
    step.

    Args:
        max_resolution: the final resolution, a power of two up to 1024.
        start_resolution: the first resolution (4 in ProGAN).
        fade_images: images shown during each fade-in.
        stabilize_images: images shown during each stabilisation.

    Example:
        >>> from contradistinct.backbones import ProgressiveSchedule
        >>> schedule = ProgressiveSchedule(16, fade_images=100, stabilize_images=100)
        >>> for images in (0, 150, 250, 350, 10_000):
        ...     print(schedule(images))
        GrowthState(resolution=4, alpha=1.0)
        GrowthState(resolution=8, alpha=0.5)
        GrowthState(resolution=8, alpha=1.0)
        GrowthState(resolution=16, alpha=0.5)
        GrowthState(resolution=16, alpha=1.0)
        >>> schedule.total_images
        500
    """

    max_resolution: int
    start_resolution: int = 4
    fade_images: int = 800_000
    stabilize_images: int = 800_000

    def __post_init__(self) -> None:
        check_resolution(self.start_resolution, "start_resolution", 4, 1024)
        check_resolution(self.max_resolution, "max_resolution", self.start_resolution, 1024)
        check_positive_int(self.fade_images, "fade_images")
        check_positive_int(self.stabilize_images, "stabilize_images")

    @property
    def resolutions(self) -> tuple[int, ...]:
        """The resolutions visited, from ``start_resolution`` to ``max_resolution``."""
        return powers_of_two(self.start_resolution, self.max_resolution)

    @property
    def total_images(self) -> int:
        """Images shown by the end of the last stabilisation phase."""
        steps = len(self.resolutions) - 1
        return self.stabilize_images + steps * (self.fade_images + self.stabilize_images)

    def __call__(self, images_seen: int) -> GrowthState:
        if isinstance(images_seen, bool) or not isinstance(images_seen, int):
            raise TypeError(f"images_seen must be an int, got {type(images_seen).__name__}")
        if images_seen < 0:
            raise ValueError(f"images_seen must be non-negative, got {images_seen}")
        after_start = images_seen - self.stabilize_images
        if after_start < 0:
            return GrowthState(self.start_resolution, 1.0)
        period = self.fade_images + self.stabilize_images
        index = min(len(self.resolutions) - 1, 1 + after_start // period)
        into_phase = after_start - (index - 1) * period
        alpha = min(1.0, into_phase / self.fade_images)
        return GrowthState(self.resolutions[index], alpha)
