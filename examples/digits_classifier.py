"""A small convolutional classifier of scikit-learn's digits, used as an offline feature network.

With no Inception weights at hand, FID, perceptual distance and perceptual path length on the
embedded digits data are measured in the features of this network instead. Training takes
seconds on a CPU, is deterministic for a given seed, and is cached in an output folder, so every
evaluation of a run measures with the same network.

    python examples/digits_classifier.py --output-dir runs/digits --resolution 32
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

NUM_CLASSES = 10
FEATURE_LAYERS = ("block1", "block2", "embedding")


class DigitsClassifier(nn.Module):
    """Two convolutional blocks and an embedding layer; ``forward`` returns the embedding.

    Images ``(B, C, H, W)`` in ``[-1, 1]`` with ``H = W = resolution`` and ``C`` in ``{1, 3}``
    (colour is averaged to gray, the digits being gray) map to ``(B, features)``. The named
    layers ``block1``, ``block2`` and ``embedding`` can be passed as ``layer`` to
    ``contradistinct.metrics.perceptual_distance``; ``logits`` gives the class scores.
    ``test_accuracy`` is the held-out accuracy once trained (``nan`` before).
    """

    def __init__(self, resolution: int = 32, features: int = 64) -> None:
        super().__init__()
        self.resolution = resolution
        self.test_accuracy = float("nan")
        self.block1 = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2))
        self.block2 = nn.Sequential(
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4)
        )
        self.embedding = nn.Sequential(nn.Flatten(), nn.Linear(32 * 4 * 4, features), nn.ReLU())
        self.head = nn.Linear(features, NUM_CLASSES)

    def forward(self, images: Tensor) -> Tensor:
        expected = (self.resolution, self.resolution)
        if images.ndim != 4 or images.shape[1] not in (1, 3) or images.shape[2:] != expected:
            raise ValueError(
                f"images must have shape (B, 1 or 3, {self.resolution}, {self.resolution}), "
                f"got {tuple(images.shape)}"
            )
        gray = images.mean(dim=1, keepdim=True)
        return self.embedding(self.block2(self.block1(gray)))

    def logits(self, images: Tensor) -> Tensor:
        return self.head(self(images))


def digits_dataset(resolution: int) -> tuple[Tensor, Tensor]:
    """scikit-learn's 1,797 digits as images ``(N, 1, resolution, resolution)`` in ``[-1, 1]``."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.as_tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 8.0 - 1.0
    images = F.interpolate(images, size=(resolution, resolution), mode="bilinear")
    return images.clamp(-1.0, 1.0), torch.as_tensor(digits.target, dtype=torch.long)


def _split(count: int) -> tuple[Tensor, Tensor]:
    # A fixed split (every fifth image held out) keeps the cache valid across runs.
    index = torch.arange(count)
    return index[index % 5 != 0], index[index % 5 == 0]


def accuracy(model: DigitsClassifier, images: Tensor, labels: Tensor) -> float:
    with torch.no_grad():
        return (model.logits(images).argmax(dim=1) == labels).float().mean().item()


def train_digits_classifier(
    resolution: int = 32, *, epochs: int = 10, seed: int = 0
) -> tuple[DigitsClassifier, float]:
    """Train a classifier from scratch; returns it (trainable) and its held-out accuracy."""
    images, labels = digits_dataset(resolution)
    train, test = _split(len(images))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DigitsClassifier(resolution)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(epochs):
        for batch in train[torch.randperm(len(train), generator=generator)].split(64):
            loss = F.cross_entropy(model.logits(images[batch]), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    model.eval()
    model.test_accuracy = accuracy(model, images[test], labels[test])
    return model, model.test_accuracy


def cache_path(output_dir: str | os.PathLike[str], resolution: int, epochs: int, seed: int) -> Path:
    return Path(output_dir) / f"digits_classifier_{resolution}px_{epochs}epochs_seed{seed}.pt"


def load_digits_classifier(
    output_dir: str | os.PathLike[str], resolution: int = 32, *, epochs: int = 10, seed: int = 0
) -> DigitsClassifier:
    """The frozen digits feature network, trained once and cached in ``output_dir``.

    Returns a ``DigitsClassifier`` in eval mode with ``requires_grad=False`` everywhere, mapping
    ``(B, C, resolution, resolution)`` images in ``[-1, 1]`` to ``(B, 64)`` features. Its
    held-out accuracy is in ``model.test_accuracy``. The first call trains (seconds on a CPU) and
    writes the weights atomically; later calls with the same arguments load them.
    """
    path = cache_path(output_dir, resolution, epochs, seed)
    if path.is_file():
        state = torch.load(path, map_location="cpu", weights_only=True)
        model = DigitsClassifier(state["resolution"])
        model.load_state_dict(state["state_dict"])
        test_accuracy = state["test_accuracy"]
    else:
        model, test_accuracy = train_digits_classifier(resolution, epochs=epochs, seed=seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "resolution": resolution,
            "state_dict": model.state_dict(),
            "test_accuracy": test_accuracy,
        }
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
            torch.save(state, handle)
        os.replace(handle.name, path)
    model.test_accuracy = test_accuracy
    return model.requires_grad_(False).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=Path("runs/digits"))
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model = load_digits_classifier(
        args.output_dir, args.resolution, epochs=args.epochs, seed=args.seed
    )
    path = cache_path(args.output_dir, args.resolution, args.epochs, args.seed)
    print(f"digits classifier: held-out accuracy {model.test_accuracy:.3f}, weights in {path}")


if __name__ == "__main__":
    main()
