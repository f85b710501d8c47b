"""The digits feature network of examples/: trained once per session, cached, frozen, usable."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from contradistinct.metrics import FID, perceptual_distance
from examples import digits_classifier
from examples.digits_classifier import (
    FEATURE_LAYERS,
    DigitsClassifier,
    cache_path,
    digits_dataset,
    load_digits_classifier,
)

# The digits are 8 x 8: the network is trained at their own resolution, the cheapest.
RESOLUTION, EPOCHS = 8, 2


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("digits")


@pytest.fixture(scope="module")
def network(cache_dir: Path) -> DigitsClassifier:
    return load_digits_classifier(cache_dir, RESOLUTION, epochs=EPOCHS)


def test_frozen_features_of_the_right_shape(network: DigitsClassifier) -> None:
    for resolution in (RESOLUTION, 16):
        images, _ = digits_dataset(resolution)
        assert images.shape == (1797, 1, resolution, resolution)
        assert images.min() >= -1 and images.max() <= 1
    images, _ = digits_dataset(RESOLUTION)
    features = network(images[:5])
    assert features.shape == (5, 64)
    assert not network.training
    assert not any(p.requires_grad for p in network.parameters())
    colour = images[:5].expand(-1, 3, -1, -1)
    torch.testing.assert_close(network(colour), features)


def test_classifies_held_out_digits(network: DigitsClassifier) -> None:
    assert network.test_accuracy > 0.8


def test_cached_and_loaded_without_training(
    network: DigitsClassifier, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cache_path(cache_dir, RESOLUTION, EPOCHS, 0).is_file()

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached weights should have been loaded")

    monkeypatch.setattr(digits_classifier, "train_digits_classifier", no_training)
    loaded = load_digits_classifier(cache_dir, RESOLUTION, epochs=EPOCHS)
    images, _ = digits_dataset(RESOLUTION)
    torch.testing.assert_close(loaded(images[:8]), network(images[:8]))
    assert loaded.test_accuracy == network.test_accuracy


def test_training_is_deterministic() -> None:
    # Two runs on the smallest budget (one epoch) must agree bit for bit.
    first, first_accuracy = digits_classifier.train_digits_classifier(RESOLUTION, epochs=1)
    again, accuracy = digits_classifier.train_digits_classifier(RESOLUTION, epochs=1)
    for (name, expected), (_, got) in zip(
        first.state_dict().items(), again.state_dict().items(), strict=True
    ):
        torch.testing.assert_close(got, expected, rtol=0, atol=0, msg=name)
    assert accuracy == first_accuracy


def test_serves_the_metrics(network: DigitsClassifier) -> None:
    images, labels = digits_dataset(RESOLUTION)
    zeros, ones = images[labels == 0][:40], images[labels == 1][:40]
    for layer in (None, *FEATURE_LAYERS):
        with torch.no_grad():
            assert perceptual_distance(zeros, zeros, network, layer).item() == 0.0
            assert perceptual_distance(zeros, ones, network, layer).item() > 0.0
    fid = FID(network)
    fid.update(zeros, real=True)
    fid.update(zeros, real=False)
    same = fid.compute()
    fid.reset()
    fid.update(zeros, real=True)
    fid.update(ones, real=False)
    assert same.item() < 1e-6 < fid.compute().item()


def test_rejects_other_resolutions(network: DigitsClassifier) -> None:
    with pytest.raises(ValueError, match=r"\(B, 1 or 3, 8, 8\), got \(2, 1, 16, 16\)"):
        network(torch.zeros(2, 1, 16, 16))
