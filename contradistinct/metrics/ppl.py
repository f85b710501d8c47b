"""Perceptual path length of a decoder's latent space (DC-VAE Table 7, StyleGAN's definition)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from contradistinct._checks import check_choice, check_positive, check_positive_int
from contradistinct.metrics.distance import perceptual_distance

SAMPLINGS = ("full", "end")


def _default_device(decoder: Callable[[Tensor], Tensor]) -> torch.device:
    if isinstance(decoder, nn.Module):
        for parameter in decoder.parameters():
            return parameter.device
    return torch.device("cpu")


@torch.no_grad()
def perceptual_path_length(
    decoder: Callable[[Tensor], Tensor],
    feature_extractor: nn.Module,
    latent_dim: int,
    n: int = 100_000,
    epsilon: float = 1e-4,
    *,
    layer: str | None = None,
    batch_size: int = 64,
    sampling: str = "full",
    discard_outliers: bool = True,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    r"""Perceptual path length: how fast decoded images change along latent interpolations.

    Karras et al. (2019, StyleGAN, Eq. 2) with linear interpolation, as their definition
    prescribes for a latent space that is not normalised; DC-VAE Table 7 reports it as
    "PPL Full":

    .. math::

        \mathrm{PPL} = \mathbb E\Bigl[\tfrac{1}{\epsilon^2}\,
            d\bigl(G(\operatorname{lerp}(z_1, z_2; t)),\,
                   G(\operatorname{lerp}(z_1, z_2; t + \epsilon))\bigr)\Bigr],
        \qquad z_1, z_2 \sim \mathcal N(0, I),\; t \sim U(0, 1),

    with :math:`d` the :func:`~contradistinct.metrics.perceptual_distance` in ``layer`` of
    ``feature_extractor`` (StyleGAN uses LPIPS, so absolute values differ from theirs; compare
    models under one network). ``sampling="end"`` fixes :math:`t = 0` (StyleGAN's "PPL end").
    As in StyleGAN's evaluation code, ``discard_outliers`` drops the distances below the 1st and
    above the 99th percentile before averaging. The decoder runs in the mode the caller left it
    (call ``decoder.eval()`` for batch-norm running statistics); the feature network runs in eval
    mode. Everything runs under ``torch.no_grad()``.

    Args:
        decoder: maps latents ``(B, latent_dim)`` to images ``(B, C, H, W)``.
        feature_extractor: the network defining the perceptual distance.
        latent_dim: size of the decoder's latent vector.
        n: number of interpolation samples (StyleGAN: 100,000).
        epsilon: interpolation step :math:`\epsilon`.
        layer: feature layer passed to :func:`~contradistinct.metrics.perceptual_distance`.
        batch_size: samples per decoder call (each call decodes ``2 * batch_size`` latents).
        sampling: ``"full"`` (:math:`t \sim U(0, 1)`) or ``"end"`` (:math:`t = 0`).
        discard_outliers: drop distances outside the 1st–99th percentiles.
        generator: CPU ``torch.Generator`` for the latents and :math:`t` (reproducible on any
            device).
        device: where latents are placed; by default the device of the decoder's parameters.

    Returns:
        A float32 scalar tensor.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from contradistinct.metrics import perceptual_path_length
        >>> decoder = nn.Sequential(nn.Linear(4, 12), nn.Unflatten(1, (3, 2, 2)))
        >>> g = torch.Generator().manual_seed(0)
        >>> ppl = perceptual_path_length(decoder, nn.Flatten(), 4, n=32, generator=g)
        >>> ppl.shape, bool(ppl > 0)
        (torch.Size([]), True)
    """
    if not callable(decoder):
        raise TypeError(f"decoder must be callable, got {type(decoder).__name__}")
    check_positive_int(latent_dim, "latent_dim")
    check_positive_int(n, "n")
    check_positive(epsilon, "epsilon")
    check_positive_int(batch_size, "batch_size")
    check_choice(sampling, "sampling", SAMPLINGS)
    target = torch.device(device) if device is not None else _default_device(decoder)
    distances = []
    for start in range(0, n, batch_size):
        count = min(batch_size, n - start)
        z = torch.randn(2, count, latent_dim, generator=generator)
        if sampling == "full":
            t = torch.rand(count, 1, generator=generator)
        else:
            t = torch.zeros(count, 1)
        pair = torch.cat([torch.lerp(z[0], z[1], t), torch.lerp(z[0], z[1], t + epsilon)])
        images = decoder(pair.to(target))
        if not isinstance(images, Tensor) or images.ndim != 4 or images.shape[0] != 2 * count:
            shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
            raise ValueError(
                f"decoder must map latents of shape {(2 * count, latent_dim)} to images "
                f"({2 * count}, C, H, W), got {shape}"
            )
        start_images, end_images = images.chunk(2)
        step = perceptual_distance(
            start_images, end_images, feature_extractor, layer, reduction="none"
        )
        distances.append(step / epsilon**2)
    values = torch.cat(distances)
    if discard_outliers:
        low = torch.quantile(values, 0.01, interpolation="lower")
        high = torch.quantile(values, 0.99, interpolation="higher")
        values = values[(values >= low) & (values <= high)]
    return values.mean()
