"""Linear-probe classification error on frozen latents (DC-VAE Table 6)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from contradistinct._checks import (
    check_non_negative,
    check_nonempty_batch,
    check_positive,
    check_positive_int,
    check_rank,
    check_tensor,
)


class LinearProbeResult(NamedTuple):
    """Test error of a linear probe over several seeds, with a confidence interval."""

    #: Mean test classification error over the seeds, in ``[0, 1]``.
    error: float
    #: Half-width :math:`h` of the interval ``error ± h``.
    confidence_interval: float
    #: The test error of each seed.
    errors: tuple[float, ...]

    @property
    def accuracy(self) -> float:
        """Mean test accuracy, ``1 - error``."""
        return 1.0 - self.error


def _two_sided_t_probability(t: float, df: int) -> float:
    # P(|T| <= t) for Student's t with an integer number of degrees of freedom, in closed form
    # (Abramowitz & Stegun 26.7.3 and 26.7.4), so no special-function library is needed.
    theta = math.atan(t / math.sqrt(df))
    cos2 = math.cos(theta) ** 2
    term, series = 1.0, 1.0
    if df % 2 == 1:
        for k in range(1, (df - 1) // 2):
            term *= cos2 * (2 * k) / (2 * k + 1)
            series += term
        tail = math.sin(theta) * math.cos(theta) * series if df > 1 else 0.0
        return 2.0 / math.pi * (theta + tail)
    for k in range(1, df // 2):
        term *= cos2 * (2 * k - 1) / (2 * k)
        series += term
    return math.sin(theta) * series


def _student_t_quantile(confidence: float, df: int) -> float:
    """``t`` such that ``P(|T| <= t) = confidence``, by bisection on the closed-form CDF."""
    low, high = 0.0, 1.0
    while _two_sided_t_probability(high, df) < confidence:
        high *= 2.0
    for _ in range(200):
        middle = 0.5 * (low + high)
        if _two_sided_t_probability(middle, df) < confidence:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


def _check_labels(labels: object, name: str, count: int) -> Tensor:
    labels = check_tensor(labels, name)
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor of class indices, got {labels.dtype}")
    if labels.shape != (count,):
        raise ValueError(
            f"{name} must have shape ({count},) to match the latents, got {tuple(labels.shape)}"
        )
    if (labels < 0).any():
        raise ValueError(f"{name} must be non-negative class indices")
    return labels.long()


def _check_latents(latents: object, name: str) -> Tensor:
    latents = check_rank(latents, name, 2, "(N, D)")
    check_nonempty_batch(latents, name)
    if not torch.isfinite(latents).all():
        raise ValueError(
            f"{name} must be finite, got non-finite values in shape {tuple(latents.shape)}"
        )
    # The probe measures frozen latents: no gradient may reach the encoder that produced them.
    return latents.detach().float()


def _train_and_test(
    train_x: Tensor,
    train_y: Tensor,
    test_x: Tensor,
    test_y: Tensor,
    num_classes: int,
    seed: int,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
) -> float:
    generator = torch.Generator(device="cpu").manual_seed(seed)
    dim = train_x.shape[1]
    weight = (0.01 * torch.randn(dim, num_classes, generator=generator)).to(train_x.device)
    bias = torch.zeros(num_classes, device=train_x.device)
    weight.requires_grad_(True)
    bias.requires_grad_(True)
    optimizer = torch.optim.Adam([weight, bias], lr=lr, weight_decay=weight_decay)
    for _ in range(epochs):
        order = torch.randperm(len(train_x), generator=generator).to(train_x.device)
        for batch in order.split(batch_size):
            loss = F.cross_entropy(train_x[batch] @ weight + bias, train_y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        predictions = (test_x @ weight + bias).argmax(dim=1)
    return (predictions != test_y).double().mean().item()


def linear_probe_accuracy(
    train_latents: Tensor,
    train_labels: Tensor,
    test_latents: Tensor,
    test_labels: Tensor,
    seeds: int | Sequence[int] = 5,
    *,
    epochs: int = 30,
    batch_size: int = 256,
    lr: float = 1e-2,
    weight_decay: float = 0.0,
    standardize: bool = True,
    confidence: float = 0.95,
) -> LinearProbeResult:
    r"""Linear-probe test error on frozen latents: mean and confidence interval over seeds.

    The protocol of DC-VAE Table 6 (appendix: freeze the trained encoder, train a linear
    classifier on its latents, report the error with a 95% confidence interval over 5 trials).
    For each seed a multinomial logistic regression

    .. math::

        p(y \mid z) = \operatorname{softmax}(W^\top z + b)_y

    is trained with Adam on minibatch cross-entropy (seeded initialisation and shuffling) and
    its test error :math:`e_s` measured. With :math:`S` seeds, mean :math:`\bar e` and sample
    standard deviation :math:`s_e`, the interval is
    :math:`\bar e \pm t_{(1+c)/2,\,S-1}\, s_e / \sqrt S` (Student's *t*, :math:`c` the
    confidence). Latents are standardised with the training mean and standard deviation first
    unless ``standardize=False``. This runs a training loop and synchronises with the host: it is
    an evaluation, not part of a training step.

    Args:
        train_latents: training latents, shape ``(N, D)``.
        train_labels: their integer classes, shape ``(N,)``.
        test_latents: test latents, shape ``(M, D)``.
        test_labels: their integer classes, shape ``(M,)``.
        seeds: the number of trials (seeds ``0 … seeds-1``) or the seeds themselves; at least 2.
        epochs: passes over the training latents per seed.
        batch_size: minibatch size.
        lr: Adam learning rate.
        weight_decay: L2 penalty on the classifier.
        standardize: z-score the latents with the training statistics.
        confidence: level of the interval, in ``(0, 1)``.

    Returns:
        A :class:`LinearProbeResult` ``(error, confidence_interval, errors)``; ``.accuracy`` is
        ``1 - error``.

    Example:
        >>> import torch
        >>> from contradistinct.metrics import linear_probe_accuracy
        >>> labels = torch.arange(40) % 2
        >>> latents = torch.randn(40, 3) + 5 * labels[:, None]
        >>> result = linear_probe_accuracy(latents, labels, latents, labels, seeds=3, epochs=5)
        >>> result.error, result.confidence_interval
        (0.0, 0.0)
    """
    train_x = _check_latents(train_latents, "train_latents")
    test_x = _check_latents(test_latents, "test_latents")
    if train_x.shape[1] != test_x.shape[1]:
        raise ValueError(
            f"train_latents and test_latents must have the same latent size, got shapes "
            f"{tuple(train_x.shape)} and {tuple(test_x.shape)}"
        )
    train_y = _check_labels(train_labels, "train_labels", len(train_x)).to(train_x.device)
    test_y = _check_labels(test_labels, "test_labels", len(test_x)).to(test_x.device)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if isinstance(seeds, bool) or len(seed_list) < 2:
        raise ValueError(
            f"seeds must give at least 2 trials for a confidence interval, got {seeds!r}"
        )
    check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")
    check_positive(lr, "lr")
    check_non_negative(weight_decay, "weight_decay")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if standardize:
        mean = train_x.mean(dim=0)
        std = train_x.std(dim=0, unbiased=False).clamp(min=1e-8)
        train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    num_classes = int(max(train_y.max().item(), test_y.max().item())) + 1
    errors = tuple(
        _train_and_test(
            train_x,
            train_y,
            test_x,
            test_y,
            num_classes,
            seed,
            epochs,
            batch_size,
            lr,
            weight_decay,
        )
        for seed in seed_list
    )
    mean_error = math.fsum(errors) / len(errors)
    variance = math.fsum((e - mean_error) ** 2 for e in errors) / (len(errors) - 1)
    half_width = _student_t_quantile(confidence, len(errors) - 1) * math.sqrt(
        variance / len(errors)
    )
    return LinearProbeResult(mean_error, half_width, errors)
