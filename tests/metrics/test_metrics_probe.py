"""Linear probe: separable data, hand-computed confidence interval, Student t, bad input."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from contradistinct.metrics import linear_probe_accuracy
from contradistinct.metrics.probe import _student_t_quantile


def separable(count: int, dim: int, classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    # Orthogonal class centres 10 apart in a random rotation, noise within ±0.5 per axis: a
    # margin of several units, and every coordinate carries signal.
    g = torch.Generator().manual_seed(seed)
    rotation, _ = torch.linalg.qr(torch.randn(dim, dim, generator=g))
    labels = torch.arange(count) % classes
    centres = 10 * rotation[:classes]
    return centres[labels] + torch.rand(count, dim, generator=g) - 0.5, labels


@given(
    dim=st.integers(3, 8),
    classes=st.integers(2, 3),
    count=st.integers(20, 60),
    seed=st.integers(0, 2**16),
)
def test_near_zero_error_on_separable_data(dim: int, classes: int, count: int, seed: int) -> None:
    latents, labels = separable(count, dim, classes, seed)
    result = linear_probe_accuracy(
        latents, labels, latents, labels, seeds=2, epochs=5, batch_size=16
    )
    assert result.error <= 0.05
    assert result.accuracy == pytest.approx(1 - result.error)
    assert len(result.errors) == 2


def test_generalises_on_well_separated_classes() -> None:
    latents, labels = separable(390, 4, 3, 0)
    train, test = (latents[:300], labels[:300]), (latents[300:], labels[300:])
    result = linear_probe_accuracy(*train, *test, seeds=3, epochs=5, batch_size=64)
    assert result.error <= 0.02


def test_confidence_interval_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    errors = iter([0.1, 0.2, 0.3])
    monkeypatch.setattr("contradistinct.metrics.probe._train_and_test", lambda *args: next(errors))
    latents, labels = separable(10, 3, 2, 0)
    result = linear_probe_accuracy(latents, labels, latents, labels, seeds=[4, 5, 6])
    # mean 0.2, sample std 0.1, t_{0.975, 2} = 4.302653: 4.302653 * 0.1 / sqrt(3)
    assert result.error == pytest.approx(0.2)
    assert result.confidence_interval == pytest.approx(4.302653 * 0.1 / math.sqrt(3), rel=1e-6)
    assert result.errors == (0.1, 0.2, 0.3)


@pytest.mark.parametrize(
    ("confidence", "df", "expected"),
    [
        (0.95, 1, 12.706205),
        (0.95, 2, 4.302653),
        (0.95, 4, 2.776445),
        (0.95, 9, 2.262157),
        (0.95, 30, 2.042272),
        (0.99, 5, 4.032143),
        (0.9, 3, 2.353363),
    ],
)
def test_student_t_quantile_matches_tables(confidence: float, df: int, expected: float) -> None:
    assert _student_t_quantile(confidence, df) == pytest.approx(expected, abs=2e-6)


def test_deterministic_per_seed() -> None:
    latents = torch.randn(60, 4, generator=torch.Generator().manual_seed(0))
    labels = (latents[:, 0] + 0.5 * torch.randn(60) > 0).long()
    first = linear_probe_accuracy(latents, labels, latents, labels, seeds=2, epochs=3)
    second = linear_probe_accuracy(latents, labels, latents, labels, seeds=2, epochs=3)
    assert first == second


def test_bad_input() -> None:
    latents, labels = separable(10, 3, 2, 0)
    with pytest.raises(ValueError, match=r"train_latents must have 2 dimensions \(N, D\)"):
        linear_probe_accuracy(latents[0], labels, latents, labels)
    with pytest.raises(ValueError, match=r"train_labels must have shape \(10,\).*\(9,\)"):
        linear_probe_accuracy(latents, labels[:9], latents, labels)
    with pytest.raises(TypeError, match="test_labels must be an integer tensor"):
        linear_probe_accuracy(latents, labels, latents, labels.float())
    with pytest.raises(ValueError, match="same latent size"):
        linear_probe_accuracy(latents, labels, latents[:, :2], labels)
    with pytest.raises(ValueError, match="at least 2 trials"):
        linear_probe_accuracy(latents, labels, latents, labels, seeds=1)
    with pytest.raises(ValueError, match="non-negative class indices"):
        linear_probe_accuracy(latents, labels - 1, latents, labels)
    bad = latents.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="test_latents must be finite"):
        linear_probe_accuracy(latents, labels, bad, labels)
    with pytest.raises(ValueError, match=r"confidence must lie in \(0, 1\)"):
        linear_probe_accuracy(latents, labels, latents, labels, confidence=1.0)


def test_latents_are_treated_as_frozen() -> None:
    encoder = torch.nn.Linear(3, 3)
    latents, labels = separable(20, 3, 2, 0)
    encoded = encoder(latents)
    linear_probe_accuracy(encoded, labels, encoded, labels, seeds=2, epochs=1)
    assert encoder.weight.grad is None
