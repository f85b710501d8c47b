"""Streaming Fréchet Inception Distance with any feature network, mergeable across ranks."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn

from contradistinct._checks import check_nonempty_batch, check_positive_int, check_rank
from contradistinct.distributed import is_distributed
from contradistinct.metrics._modes import evaluation_mode
from contradistinct.metrics.frechet import frechet_distance

MIN_SAMPLES = 2


class FID(nn.Module):
    r"""Fréchet distance between feature statistics of real and generated images (FID).

    .. math::

        \mathrm{FID} = d^2\bigl(\mathcal N(\hat\mu_r, \hat\Sigma_r),
                               \mathcal N(\hat\mu_g, \hat\Sigma_g)\bigr),
        \qquad
        \hat\mu = \frac{1}{n}\sum_i f_i, \quad
        \hat\Sigma = \frac{1}{n-1}\Bigl(\sum_i f_i f_i^\top - n\,\hat\mu\hat\mu^\top\Bigr),

    with :math:`d^2` from :func:`~contradistinct.metrics.frechet_distance` and :math:`f_i` the
    features of image :math:`i` (Heusel et al. 2017; DC-VAE Tables 1–5). Only the count, the sum
    and the sum of outer products are kept, in float64, so the result does not depend on how the
    images were split into batches, memory stays :math:`O(F^2)`, and under
    ``torch.distributed`` the ranks' sums are added with one ``all_reduce`` when statistics are
    read (the local sums are left untouched).

    ``update(images, real)`` / ``compute()`` / ``reset()`` follow torchmetrics. The feature
    network is a submodule (``.to(device)`` moves it) and always runs in eval mode under
    ``torch.no_grad()``; its own mode is restored afterwards. The statistics are non-persistent
    buffers: they move with the module but are not saved in ``state_dict``.

    Args:
        feature_extractor: any ``nn.Module`` mapping images ``(B, C, H, W)`` to ``(B, F)``,
            e.g. :func:`inception_from_file` or the digits classifier of ``examples/``.
        num_features: ``F``. Inferred from the first batch when omitted; give it under
            ``torch.distributed`` when some rank may see no images.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from contradistinct.metrics import FID
        >>> fid = FID(nn.Flatten())
        >>> images = torch.randn(64, 1, 2, 2)
        >>> fid.update(images, real=True)
        >>> fid.update(images, real=False)
        >>> fid.compute() < 1e-8
        tensor(True)
    """

    real_count: Tensor | None
    real_sum: Tensor | None
    real_outer: Tensor | None
    fake_count: Tensor | None
    fake_sum: Tensor | None
    fake_outer: Tensor | None

    def __init__(self, feature_extractor: nn.Module, *, num_features: int | None = None) -> None:
        super().__init__()
        if not isinstance(feature_extractor, nn.Module):
            raise TypeError(
                f"feature_extractor must be an nn.Module, got {type(feature_extractor).__name__}"
            )
        if num_features is not None:
            check_positive_int(num_features, "num_features")
        self.feature_extractor = feature_extractor
        self.num_features = num_features
        self.reset()

    def _allocate(self, prefix: str, num_features: int, device: torch.device) -> None:
        shapes = {"count": (), "sum": (num_features,), "outer": (num_features, num_features)}
        for suffix, shape in shapes.items():
            zeros = torch.zeros(shape, dtype=torch.float64, device=device)
            self.register_buffer(f"{prefix}_{suffix}", zeros, persistent=False)

    def reset(self) -> None:
        """Forget every image seen so far (both the real and the generated statistics)."""
        for prefix in ("real", "fake"):
            if self.num_features is None:
                for suffix in ("count", "sum", "outer"):
                    self.register_buffer(f"{prefix}_{suffix}", None, persistent=False)
            else:
                self._allocate(prefix, self.num_features, self._device())

    def _device(self) -> torch.device:
        for tensor in (*self.feature_extractor.parameters(), *self.buffers()):
            return tensor.device
        return torch.device("cpu")

    @torch.no_grad()
    def update(self, images: Tensor, real: bool) -> None:
        """Add a batch of images to the real (``real=True``) or generated statistics.

        Args:
            images: shape ``(B, C, H, W)``, in the range the feature network expects.
            real: whether the images are real data or model output.
        """
        if not isinstance(real, bool):
            raise TypeError(f"real must be a bool, got {type(real).__name__}")
        images = check_rank(images, "images", 4, "(B, C, H, W)")
        check_nonempty_batch(images, "images")
        with evaluation_mode(self.feature_extractor):
            features = self.feature_extractor(images)
        if (
            not isinstance(features, Tensor)
            or features.ndim != 2
            or features.shape[0] != len(images)
        ):
            shape = (
                tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__
            )
            raise ValueError(
                f"the feature extractor must map images of shape {tuple(images.shape)} to "
                f"features of shape ({len(images)}, F), got {shape}"
            )
        if self.num_features is None:
            self.num_features = features.shape[1]
            for prefix in ("real", "fake"):
                self._allocate(prefix, self.num_features, features.device)
        if features.shape[1] != self.num_features:
            raise ValueError(
                f"features must have {self.num_features} columns (num_features), got shape "
                f"{tuple(features.shape)}"
            )
        if not torch.isfinite(features).all():
            raise ValueError(
                f"the feature extractor returned non-finite features for images of shape "
                f"{tuple(images.shape)}; check the images' range and the network's weights"
            )
        features = features.to(torch.float64)
        prefix = "real" if real else "fake"
        getattr(self, f"{prefix}_count").add_(features.shape[0])
        getattr(self, f"{prefix}_sum").add_(features.sum(dim=0))
        getattr(self, f"{prefix}_outer").addmm_(features.mT, features)

    def _merged(self, prefix: str) -> tuple[Tensor, Tensor, Tensor]:
        count = getattr(self, f"{prefix}_count")
        if count is None:
            raise RuntimeError(
                f"FID has no {prefix} statistics yet: call update(images, real={prefix == 'real'}) "
                "first, or pass num_features so that ranks without images can still merge"
            )
        total, outer = getattr(self, f"{prefix}_sum"), getattr(self, f"{prefix}_outer")
        if is_distributed():
            flat = torch.cat([count.reshape(1), total, outer.reshape(-1)])
            dist.all_reduce(flat)
            features = total.shape[0]
            return flat[0], flat[1 : features + 1], flat[features + 1 :].reshape(features, features)
        return count, total, outer

    def statistics(self, real: bool) -> tuple[Tensor, Tensor]:
        """Mean ``(F,)`` and unbiased covariance ``(F, F)``, float64, merged over all ranks.

        Args:
            real: read the real (``True``) or the generated (``False``) statistics.

        Raises:
            ValueError: when fewer than two images were seen, since a covariance needs two.
        """
        if not isinstance(real, bool):
            raise TypeError(f"real must be a bool, got {type(real).__name__}")
        prefix = "real" if real else "fake"
        count, total, outer = self._merged(prefix)
        n = int(count.item())
        if n < MIN_SAMPLES:
            raise ValueError(
                f"a covariance needs at least {MIN_SAMPLES} samples, got {n} "
                f"{'real' if real else 'generated'} image(s); FID is biased upwards below several "
                "thousand (50,000 is the standard)"
            )
        mean = total / n
        covariance = (outer - n * torch.outer(mean, mean)) / (n - 1)
        return mean, covariance

    def compute(self) -> Tensor:
        """FID between all images seen with ``real=True`` and with ``real=False`` (float64)."""
        mu_real, sigma_real = self.statistics(real=True)
        mu_fake, sigma_fake = self.statistics(real=False)
        return frechet_distance(mu_real, sigma_real, mu_fake, sigma_fake)
