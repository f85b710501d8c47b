"""Reconstruction distances of DC-VAE Tables 1 and 8: in pixel space and in a feature layer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from contradistinct._checks import (
    check_min_rank,
    check_nonempty_batch,
    check_rank,
    check_same_shape,
)
from contradistinct._precision import as_float32
from contradistinct._reduction import check_reduction, reduce
from contradistinct.metrics._modes import evaluation_mode


def _per_sample_mse(a: Tensor, b: Tensor) -> Tensor:
    return (as_float32(a) - as_float32(b)).square().reshape(a.shape[0], -1).mean(dim=1)


def pixel_distance(x: Tensor, y: Tensor, *, reduction: str = "mean") -> Tensor:
    r"""Mean squared pixel distance between images and their reconstructions (DC-VAE Tables 1, 8).

    .. math::

        d_{\text{pixel}}(x, y) = \frac{1}{CHW} \sum_{c,h,w} (x_{chw} - y_{chw})^2

    per sample. The papers do not state the normalisation behind their numbers; this is the
    per-element mean (the scale of Table 8). Multiply by ``C·H·W`` for the summed squared
    distance. Differentiable; call it under ``torch.no_grad()`` when evaluating.

    Args:
        x: images, shape ``(B, *)``, typically ``(B, C, H, W)`` in ``[-1, 1]``.
        y: images of the same shape.
        reduction: ``"mean"`` or ``"sum"`` over the batch, or ``"none"`` for shape ``(B,)``.

    Returns:
        A float32 scalar, or ``(B,)`` for ``reduction="none"``.

    Example:
        >>> import torch
        >>> from contradistinct.metrics import pixel_distance
        >>> pixel_distance(torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.5))
        tensor(0.2500)
    """
    x = check_min_rank(x, "x", 2)
    y = check_min_rank(y, "y", 2)
    check_same_shape(x, "x", y, "y")
    check_nonempty_batch(x, "x")
    check_reduction(reduction)
    return reduce(_per_sample_mse(x, y), reduction)


@contextmanager
def _capture(module: nn.Module, layer: str) -> Iterator[list[Tensor]]:
    named = dict(module.named_modules())
    if not layer or layer not in named:
        available = ", ".join(repr(name) for name in named if name)
        raise ValueError(
            f"layer {layer!r} is not a submodule of the feature extractor; available: {available}"
        )
    outputs: list[Tensor] = []
    handle = named[layer].register_forward_hook(lambda _m, _i, output: outputs.append(output))
    try:
        yield outputs
    finally:
        handle.remove()


def _features(feature_extractor: nn.Module, images: Tensor, layer: str | None) -> Tensor:
    with evaluation_mode(feature_extractor):
        if layer is None:
            features = feature_extractor(images)
        else:
            with _capture(feature_extractor, layer) as outputs:
                feature_extractor(images)
            if not outputs:
                raise ValueError(f"layer {layer!r} did not run in the feature extractor's forward")
            features = outputs[-1]
    if not isinstance(features, Tensor):
        where = "the feature extractor" if layer is None else f"layer {layer!r}"
        raise TypeError(f"{where} must return a Tensor, got {type(features).__name__}")
    return features


def perceptual_distance(
    x: Tensor,
    y: Tensor,
    feature_extractor: nn.Module,
    layer: str | None = None,
    *,
    reduction: str = "mean",
) -> Tensor:
    r"""Mean squared distance between features of two image batches (DC-VAE Tables 1, 8).

    .. math::

        d_{\text{perc}}(x, y) = \frac{1}{|\phi|} \lVert \phi(x) - \phi(y) \rVert_2^2

    per sample, where :math:`\phi` is the output of ``layer`` of ``feature_extractor`` (its
    final output when ``layer`` is ``None``) and :math:`|\phi|` its number of elements. The
    papers use the ``relu4_3`` activation of an ImageNet VGG-16 (appendix A.7, following
    Johnson et al. 2016); any network works, for instance the digits classifier of
    ``examples/``. Both batches go through one forward pass with the network in eval mode (its
    own mode is restored afterwards), so batch-norm uses running statistics. Gradients flow to
    ``x`` and ``y``; call it under ``torch.no_grad()`` when evaluating.

    Args:
        x: images, shape ``(B, C, H, W)``.
        y: images of the same shape.
        feature_extractor: any ``nn.Module`` taking ``(2B, C, H, W)`` images.
        layer: qualified name of the submodule whose output is compared (as in
            ``named_modules()``), or ``None`` for the network's output.
        reduction: ``"mean"`` or ``"sum"`` over the batch, or ``"none"`` for shape ``(B,)``.

    Returns:
        A float32 scalar, or ``(B,)`` for ``reduction="none"``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from contradistinct.metrics import perceptual_distance
        >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten())
        >>> x = torch.randn(2, 3, 8, 8)
        >>> with torch.no_grad():
        ...     perceptual_distance(x, x, net, layer="1")
        tensor(0.)
    """
    x = check_rank(x, "x", 4, "(B, C, H, W)")
    y = check_rank(y, "y", 4, "(B, C, H, W)")
    check_same_shape(x, "x", y, "y")
    check_nonempty_batch(x, "x")
    check_reduction(reduction)
    if not isinstance(feature_extractor, nn.Module):
        raise TypeError(
            f"feature_extractor must be an nn.Module, got {type(feature_extractor).__name__}"
        )
    features = _features(feature_extractor, torch.cat([x, y]), layer)
    if features.ndim == 0 or features.shape[0] != 2 * x.shape[0]:
        raise ValueError(
            f"the features must keep the batch dimension: {2 * x.shape[0]} images gave features "
            f"of shape {tuple(features.shape)}"
        )
    features_x, features_y = features.chunk(2)
    return reduce(_per_sample_mse(features_x, features_y), reduction)
