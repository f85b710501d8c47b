r"""Contrastive heads: map a tapped feature of the discriminator to a contrastive embedding.

DC-VAE §4.2 contrasts, besides the last layer of the discriminator, a function :math:`f_l` of an
intermediate layer :math:`l`, built in one of two ways: *deep supervision* (a :math:`1\times1`
convolution reducing the channels, then a linear layer) and *local patch* (the
:math:`1\times1\times d` vector at a random location, the same for the reconstruction and its
real image). :class:`ProjectionHead` is the head of the last layer (sum pooling, then linear, as
in the authors' code: ``DualEncoder`` in ``models/models_32.py`` of github.com/mlpc-ucsd/DC-VAE).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from contradistinct._checks import (
    check_choice,
    check_floating,
    check_module_device,
    check_nonempty_batch,
    check_positive_int,
    check_same_shape,
)

POOLS = ("sum", "mean", "flatten")


def _shape(tensor: Tensor) -> tuple[int, ...]:
    return tuple(tensor.shape)


class ProjectionHead(nn.Module):
    r"""Pool a feature map (or take a vector), then project it linearly to ``dim``.

    .. math::

        f(F) = W\,\mathrm{pool}(F), \qquad
        \mathrm{pool}(F)_c = \sum_{s} F_{c,s}\ \text{(sum)},\ \
        \tfrac{1}{|S|}\sum_{s} F_{c,s}\ \text{(mean)}\ \text{or}\ \mathrm{vec}(F)\ \text{(flatten)},

    where :math:`s` runs over the spatial positions. Sum pooling followed by a bias-free linear
    layer is the head of the last discriminator layer in the authors' DC-VAE code; the InfoNCE
    critic (DC-VAE Eq. 6) then compares embeddings by cosine similarity.

    Args:
        in_features: channels ``C`` of the input for ``"sum"``/``"mean"``; the flattened size
            ``C * H * W ...`` for ``"flatten"``.
        dim: embedding size ``D``.
        pool: ``"sum"`` (the authors'), ``"mean"`` or ``"flatten"``.
        bias: add a bias to the linear layer (the authors' head has none).

    Shapes:
        - features: ``(B, C)`` or ``(B, C, *spatial)``.
        - output: ``(B, D)``.

    Example:
        >>> import torch
        >>> from contradistinct import ProjectionHead
        >>> head = ProjectionHead(in_features=32, dim=16)
        >>> head(torch.randn(4, 32, 8, 8)).shape
        torch.Size([4, 16])
        >>> head(torch.randn(4, 32)).shape
        torch.Size([4, 16])
    """

    def __init__(
        self, in_features: int, dim: int = 16, pool: str = "sum", *, bias: bool = False
    ) -> None:
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features")
        self.dim = check_positive_int(dim, "dim")
        self.pool = check_choice(pool, "pool", POOLS)
        self.linear = nn.Linear(in_features, dim, bias=bias)

    def forward(self, features: Tensor) -> Tensor:
        """Embed ``(B, C)`` or ``(B, C, *spatial)`` features as ``(B, D)``."""
        features = check_floating(features, "features")
        check_nonempty_batch(features, "features")
        check_module_device(features, "features", self.linear.weight, "ProjectionHead")
        if self.pool == "flatten":
            received = math.prod(features.shape[1:])
            if features.ndim < 2 or received != self.in_features:
                raise ValueError(
                    f"features must have shape (B, *) with {self.in_features} values per sample "
                    f"(in_features={self.in_features}, pool='flatten'), got "
                    f"{_shape(features)} with {received}"
                )
            return self.linear(features.flatten(1))
        if features.ndim < 2 or features.shape[1] != self.in_features:
            raise ValueError(
                f"features must have shape (B, {self.in_features}) or "
                f"(B, {self.in_features}, *spatial) (in_features={self.in_features}, "
                f"pool={self.pool!r}), got {_shape(features)}"
            )
        spatial = tuple(range(2, features.ndim))
        if spatial:
            features = features.sum(spatial) if self.pool == "sum" else features.mean(spatial)
        return self.linear(features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, dim={self.dim}, pool={self.pool!r}"


class DeepSupervisionHead(nn.Module):
    r"""Deep supervision head of DC-VAE §4.2: :math:`1\times1` convolution, flatten, linear.

    .. math::

        f_l(F) = W\,\mathrm{vec}(V * F + b), \qquad
        V \in \mathbb{R}^{r \times C \times 1 \times 1},\ W \in \mathbb{R}^{D \times rHW},

    i.e. the channels of the ``(C, H, W)`` map are reduced to ``r`` (the authors' code:
    ``r = 1``), the result is flattened and projected to ``D`` (the authors' code: bias-free,
    ``D = 16``; ``head_b1`` in ``models/models_32.py`` of github.com/mlpc-ucsd/DC-VAE).

    Args:
        in_channels: channels ``C`` of the tapped map.
        dim: embedding size ``D``.
        reduced_channels: channels ``r`` after the :math:`1\times1` convolution.
        spatial_size: ``(H, W)`` (or ``H`` for a square map) of the tapped map. ``None`` makes
            the linear layer lazy: its input size is fixed by the first batch, so create the
            optimizer after one forward pass (or pass ``spatial_size``).
        bias: add a bias to the linear layer (the authors' head has none).

    Shapes:
        - features: ``(B, C, H, W)``.
        - output: ``(B, D)``.

    Example:
        >>> import torch
        >>> from contradistinct import DeepSupervisionHead
        >>> head = DeepSupervisionHead(in_channels=32, dim=16, spatial_size=8)
        >>> head(torch.randn(4, 32, 8, 8)).shape
        torch.Size([4, 16])
    """

    def __init__(
        self,
        in_channels: int,
        dim: int = 16,
        reduced_channels: int = 1,
        spatial_size: int | tuple[int, int] | None = None,
        *,
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.dim = check_positive_int(dim, "dim")
        self.reduced_channels = check_positive_int(reduced_channels, "reduced_channels")
        self.spatial_size = _spatial_size(spatial_size)
        self.reduce = nn.Conv2d(in_channels, reduced_channels, kernel_size=1)
        self.linear: nn.Linear
        if self.spatial_size is None:
            self.linear = nn.LazyLinear(dim, bias=bias)
        else:
            height, width = self.spatial_size
            self.linear = nn.Linear(reduced_channels * height * width, dim, bias=bias)

    def forward(self, features: Tensor) -> Tensor:
        """Embed a ``(B, C, H, W)`` map as ``(B, D)``."""
        features = check_floating(features, "features")
        check_nonempty_batch(features, "features")
        check_module_device(features, "features", self.reduce.weight, "DeepSupervisionHead")
        self._check_shape(features)
        return self.linear(self.reduce(features).flatten(1))

    def _check_shape(self, features: Tensor) -> None:
        if features.ndim == 4 and features.shape[1] == self.in_channels:
            height, width = features.shape[2:]
            if self.spatial_size is not None:
                if (height, width) == self.spatial_size:
                    return
            elif isinstance(self.linear, nn.LazyLinear):
                return
            elif self.reduced_channels * height * width == self.linear.in_features:
                return
        if self.spatial_size is not None:
            height, width = self.spatial_size
            expected = f"(B, {self.in_channels}, {height}, {width})"
        elif isinstance(self.linear, nn.LazyLinear):
            expected = f"(B, {self.in_channels}, H, W)"
        else:
            positions = self.linear.in_features // self.reduced_channels
            expected = f"(B, {self.in_channels}, H, W) with H * W = {positions}"
        raise ValueError(f"features must have shape {expected}, got {_shape(features)}")

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, dim={self.dim}, "
            f"reduced_channels={self.reduced_channels}, spatial_size={self.spatial_size}"
        )


class PatchPair(NamedTuple):
    """Embeddings of the same random locations in a query map and its key map."""

    query: Tensor
    """``(B * L, D)`` query embeddings, sample-major (all locations of sample 0 first)."""
    key: Tensor
    """``(B * L, D)`` key embeddings, row ``i`` taken at the location of query row ``i``."""
    locations: Tensor
    """``(B, L)`` sampled flat positions ``h * W + w`` (int64)."""


class LocalPatchHead(nn.Module):
    r"""Local patch head of DC-VAE §4.2: contrast the :math:`1\times1\times C` vectors at a random
    location, the same in the reconstruction's map and in its real image's map.

    For each sample :math:`b` it draws ``L`` distinct positions :math:`s_{b,1..L}` uniformly
    and returns

    .. math::

        q_{b,j} = W F^{q}_{b,:,s_{b,j}}, \qquad k_{b,j} = W F^{k}_{b,:,s_{b,j}},

    so each location is one instance of the InfoNCE loss (DC-VAE Eq. 6) with its positive at the
    same place of the real image. The authors did not release this variant; the projection
    :math:`W` (``dim=None`` keeps the raw ``C``-vector, as the paper describes it) lets the scale
    share the queue width of the others.

    The query and key maps go through one call, which samples the locations once: they cannot be
    drawn independently by accident. Positions come from ``generator`` (the one given to
    ``forward``, else the one given to the constructor, else the global RNG); a CPU generator
    also serves maps on another device.

    Args:
        in_channels: channels ``C`` of the tapped map.
        dim: embedding size ``D``, or ``None`` for no projection (``D = C``).
        locations: locations ``L`` per sample (distinct; at most ``H * W``).
        bias: add a bias to the projection.
        generator: default ``torch.Generator`` for the locations.

    Shapes:
        - query, key: ``(B, C, H, W)``, same shape.
        - output: a :class:`PatchPair` of two ``(B * L, D)`` tensors and the ``(B, L)``
          locations.

    Example:
        >>> import torch
        >>> from contradistinct import LocalPatchHead
        >>> head = LocalPatchHead(in_channels=32, dim=16, locations=2)
        >>> maps = torch.randn(4, 32, 8, 8)
        >>> pair = head(maps, maps, generator=torch.Generator().manual_seed(0))
        >>> pair.query.shape, pair.locations.shape
        (torch.Size([8, 16]), torch.Size([4, 2]))
        >>> torch.equal(pair.query, pair.key)
        True
    """

    def __init__(
        self,
        in_channels: int,
        dim: int | None = 16,
        locations: int = 1,
        *,
        bias: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.locations = check_positive_int(locations, "locations")
        self.generator = generator
        self.projection: nn.Module
        if dim is None:
            self.dim = in_channels
            self.projection = nn.Identity()
        else:
            self.dim = check_positive_int(dim, "dim")
            self.projection = nn.Linear(in_channels, dim, bias=bias)

    def forward(
        self, query: Tensor, key: Tensor, *, generator: torch.Generator | None = None
    ) -> PatchPair:
        """Sample ``L`` locations per sample once and embed both maps there.

        Args:
            query: ``(B, C, H, W)`` features of the reconstructions.
            key: ``(B, C, H, W)`` features of their real inputs.
            generator: overrides the constructor's generator for this call.

        Returns:
            A :class:`PatchPair`: ``(B * L, D)`` query and key embeddings, ``(B, L)`` locations.
        """
        query = check_floating(query, "query")
        key = check_floating(key, "key")
        check_nonempty_batch(query, "query")
        if query.ndim != 4 or query.shape[1] != self.in_channels:
            raise ValueError(
                f"query must have shape (B, {self.in_channels}, H, W), got {_shape(query)}"
            )
        check_same_shape(query, "query", key, "key")
        if isinstance(self.projection, nn.Linear):
            check_module_device(query, "query", self.projection.weight, "LocalPatchHead")
        batch, _, height, width = query.shape
        if self.locations > height * width:
            raise ValueError(
                f"locations={self.locations} distinct positions do not fit a {height}x{width} "
                f"map (query shape {_shape(query)})"
            )
        positions = _sample_locations(
            batch,
            height * width,
            self.locations,
            generator if generator is not None else self.generator,
            query.device,
        )
        return PatchPair(self.embed_at(query, positions), self.embed_at(key, positions), positions)

    def embed_at(self, maps: Tensor, positions: Tensor) -> Tensor:
        """Embed the ``C``-vectors of ``maps`` ``(B, C, H, W)`` at flat ``positions`` ``(B, L)``.

        Returns ``(B * L, D)``, sample-major: the locations a :class:`PatchPair` reports can
        be read again through another head (for example a momentum copy of this one).
        """
        return self.projection(_gather_locations(maps, positions))

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, dim={self.dim}, locations={self.locations}"


def _sample_locations(
    batch: int,
    positions: int,
    locations: int,
    generator: torch.Generator | None,
    device: torch.device,
) -> Tensor:
    # Uniform without replacement: the indices of the largest uniform draws. Drawn on the
    # generator's device (a CPU generator may serve CUDA maps), moved without a host sync.
    source = generator.device if generator is not None else device
    draws = torch.rand(batch, positions, generator=generator, device=source)
    return draws.topk(locations, dim=1).indices.to(device, non_blocking=True)


def _gather_locations(maps: Tensor, positions: Tensor) -> Tensor:
    # (B, C, H, W) maps, (B, L) flat positions -> (B * L, C), sample-major.
    batch, channels = maps.shape[:2]
    index = positions.unsqueeze(1).expand(batch, channels, positions.shape[1])
    picked = maps.flatten(2).gather(2, index)
    return picked.transpose(1, 2).reshape(-1, channels)


def _spatial_size(value: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        check_positive_int(value, "spatial_size")
        return (value, value)
    if isinstance(value, tuple) and len(value) == 2:
        height = check_positive_int(value[0], "spatial_size[0]")
        width = check_positive_int(value[1], "spatial_size[1]")
        return (height, width)
    raise TypeError(f"spatial_size must be an int, an (H, W) tuple or None, got {value!r}")
