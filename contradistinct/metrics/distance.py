"""Reconstruction distances of DC-VAE Tables 1 and 8: in pixel space and in a feature layer."""

from __future__ import annotations

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
from contradistinct.taps import FeatureTaps


def _per_sample_mse(a: Tensor, b: Tensor) -> Tensor:
    return (as_float32(a) - as_float32(b)).square().reshape(a.shape[0], -1).mean(dim=1)


def pixel_distance(input: Tensor, target: Tensor, *, reduction: str = "mean") -> Tensor:
    r"""Mean squared pixel distance of reconstructions from their inputs (DC-VAE Tables 1, 8).

    .. math::

        d_{\text{pixel}}(\hat x, x) = \frac{1}{CHW} \sum_{c,h,w} (\hat x_{chw} - x_{chw})^2

    per sample. The papers do not state the normalisation behind their numbers; this is the
    per-element mean (the scale of Table 8). Multiply by ``C·H·W`` for the summed squared
    distance. Differentiable; call it under ``torch.no_grad()`` when evaluating.

    Args:
        input: reconstructions :math:`\hat x`, shape ``(B, *)``, typically ``(B, C, H, W)`` in
            ``[-1, 1]``.
        target: the images :math:`x` they reconstruct, same shape.
        reduction: ``"mean"`` or ``"sum"`` over the batch, or ``"none"`` for shape ``(B,)``.

    Returns:
        A float32 scalar, or ``(B,)`` for ``reduction="none"``.

    Example:
        >>> import torch
        >>> from contradistinct.metrics import pixel_distance
        >>> pixel_distance(torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.5))
        tensor(0.2500)
    """
    input = check_min_rank(input, "input", 2)
    target = check_min_rank(target, "target", 2)
    check_same_shape(input, "input", target, "target")
    check_nonempty_batch(input, "input")
    check_reduction(reduction)
    return reduce(_per_sample_mse(input, target), reduction)


def _features(feature_extractor: nn.Module, images: Tensor, layer: str | None) -> Tensor:
    with evaluation_mode(feature_extractor):
        if layer is None:
            features = feature_extractor(images)
        else:
            with FeatureTaps(feature_extractor, [layer]) as taps:
                feature_extractor(images)
                try:
                    features = taps.features()[layer]
                except RuntimeError:
                    raise ValueError(
                        f"layer {layer!r} did not run in the feature extractor's forward"
                    ) from None
    if not isinstance(features, Tensor):
        where = "the feature extractor" if layer is None else f"layer {layer!r}"
        raise TypeError(f"{where} must return a Tensor, got {type(features).__name__}")
    return features


def perceptual_distance(
    input: Tensor,
    target: Tensor,
    feature_extractor: nn.Module,
    layer: str | None = None,
    *,
    reduction: str = "mean",
) -> Tensor:
    r"""Mean squared feature distance of reconstructions from their inputs (DC-VAE Tables 1, 8).

    .. math::

        d_{\text{perc}}(\hat x, x) = \frac{1}{|\phi|} \lVert \phi(\hat x) - \phi(x) \rVert_2^2

    per sample, where :math:`\phi` is the output of ``layer`` of ``feature_extractor`` (its
    final output when ``layer`` is ``None``) and :math:`|\phi|` its number of elements. The
    papers use the ``relu4_3`` activation of an ImageNet VGG-16 (appendix A.7, following
    Johnson et al. 2016); any network works, for instance the digits classifier of
    ``examples/``. Both batches go through one forward pass with the network in eval mode (its
    own mode is restored afterwards, see :func:`~contradistinct.metrics.evaluation_mode`), so
    batch-norm uses running statistics. A ``layer`` is read with
    :class:`~contradistinct.FeatureTaps`. Gradients flow to ``input`` and ``target``; call it
    under ``torch.no_grad()`` when evaluating.

    Args:
        input: reconstructions :math:`\hat x`, shape ``(B, C, H, W)``.
        target: the images :math:`x` they reconstruct, same shape.
        feature_extractor: any ``nn.Module`` taking ``(2B, C, H, W)`` images.
        layer: qualified name of the submodule whose output is compared (as in
            ``named_modules()``; an unknown name lists the closest ones), or ``None`` for the
            network's output.
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
    input = check_rank(input, "input", 4, "(B, C, H, W)")
    target = check_rank(target, "target", 4, "(B, C, H, W)")
    check_same_shape(input, "input", target, "target")
    check_nonempty_batch(input, "input")
    check_reduction(reduction)
    if not isinstance(feature_extractor, nn.Module):
        raise TypeError(
            f"feature_extractor must be an nn.Module, got {type(feature_extractor).__name__}"
        )
    batch = input.shape[0]
    features = _features(feature_extractor, torch.cat([input, target]), layer)
    if features.ndim == 0 or features.shape[0] != 2 * batch:
        raise ValueError(
            f"the features must keep the batch dimension: {2 * batch} images gave features "
            f"of shape {tuple(features.shape)}"
        )
    input_features, target_features = features.chunk(2)
    return reduce(_per_sample_mse(input_features, target_features), reduction)
