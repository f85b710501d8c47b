"""The trainer's data sources, on small files written here, and their errors."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from data import BatchStream, DataError, load_images
from train import main


def test_digits_are_resized_into_the_unit_range() -> None:
    images = load_images("digits", 16)
    assert images.shape == (1797, 1, 16, 16)
    assert images.min() >= -1 and images.max() <= 1 and images.min() < 0 < images.max()


def _cifar_batch(path: Path, n: int, rng: np.random.Generator) -> np.ndarray:
    data = rng.integers(0, 256, size=(n, 3 * 32 * 32), dtype=np.uint8)
    with path.open("wb") as file:
        pickle.dump({b"data": data, b"labels": [0] * n}, file)
    return data


def test_cifar10_pickle_batches(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    first = _cifar_batch(tmp_path / "data_batch_1", 3, rng)
    _cifar_batch(tmp_path / "data_batch_2", 2, rng)
    _cifar_batch(tmp_path / "test_batch", 7, rng)  # the test split is not training data
    images = load_images(f"cifar10:{tmp_path}", 32)
    assert images.shape == (5, 3, 32, 32)
    # Channel-major rows: the first 1024 bytes are the red plane.
    expected = torch.from_numpy(first[0, :1024].reshape(32, 32)).float() / 127.5 - 1
    assert torch.equal(images[0, 0], expected)


def test_image_folder_is_center_cropped_and_resized(tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "sub").mkdir()
    wide = np.zeros((20, 40, 3), np.uint8)
    wide[:, 10:30] = 255  # the center square is white, the sides black
    Image.fromarray(wide).save(tmp_path / "a.png")
    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(tmp_path / "sub" / "b.jpg")
    (tmp_path / "notes.txt").write_text("not an image")
    images = load_images(f"folder:{tmp_path}", 8)
    assert images.shape == (2, 3, 8, 8)
    assert torch.allclose(images, torch.ones_like(images), atol=0.05)


@pytest.mark.parametrize(
    ("array", "channels"),
    [
        (np.zeros((4, 8, 8), np.uint8), 1),
        (np.zeros((4, 8, 8, 3), np.float32), 3),
        (np.zeros((4, 3, 8, 8), np.float64) - 1, 3),
    ],
)
def test_npy_and_npz_arrays(tmp_path: Path, array: np.ndarray, channels: int) -> None:
    np.save(tmp_path / "x.npy", array)
    np.savez(tmp_path / "x.npz", images=array, labels=np.arange(4))
    for name in ("x.npy", "x.npz"):
        images = load_images(f"npz:{tmp_path / name}", 16)
        assert images.shape == (4, channels, 16, 16)
        # uint8 0 and float 0 (read as [0, 1]) are black; float -1 (read as [-1, 1]) too.
        assert torch.equal(images, torch.full_like(images, -1.0))


def test_float_images_in_0_255_are_rescaled_and_the_loader_says_so(tmp_path: Path) -> None:
    pixels = np.arange(256, dtype=np.uint8).reshape(4, 8, 8)
    np.save(tmp_path / "bytes.npy", pixels)
    np.save(tmp_path / "floats.npy", pixels.astype(np.float32))
    reported: list[str] = []
    as_floats = load_images(f"npz:{tmp_path / 'floats.npy'}", 8, reported.append)
    # The same images as the uint8 file, not every pixel above 1 clipped to white.
    assert torch.equal(as_floats, load_images(f"npz:{tmp_path / 'bytes.npy'}", 8))
    assert reported == [
        f"{tmp_path / 'floats.npy'}: float values in [0, 255] are read as 8-bit values in "
        "[0, 255] and rescaled"
    ]


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [(0.0, 1.0, (-1.0, 1.0)), (-1.0, 0.5, (-1.0, 0.5)), (0.0, 0.5, (-1.0, 0.0))],
)
def test_float_images_in_the_unit_ranges_are_read_as_such(
    tmp_path: Path, low: float, high: float, expected: tuple[float, float]
) -> None:
    np.save(tmp_path / "x.npy", np.linspace(low, high, 4 * 64, dtype=np.float32).reshape(4, 8, 8))
    reported: list[str] = []
    images = load_images(f"npz:{tmp_path / 'x.npy'}", 8, reported.append)
    assert (images.min().item(), images.max().item()) == pytest.approx(expected)
    assert reported == []


@pytest.mark.parametrize(("low", "high"), [(-5.0, 1.0), (0.0, 300.0), (-1.0, 2.0)])
def test_float_images_in_no_known_range_are_refused(
    tmp_path: Path, low: float, high: float
) -> None:
    np.save(tmp_path / "x.npy", np.linspace(low, high, 4 * 64, dtype=np.float32).reshape(4, 8, 8))
    with pytest.raises(DataError, match=rf"\[0, 255\] \(8-bit values\); got values in \[{low:g}, "):
        load_images(f"npz:{tmp_path / 'x.npy'}", 8)


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("cifar10:{tmp}/missing", "does not exist"),
        ("cifar10:{tmp}/garbage.bin", "is not a CIFAR-10 python pickle batch"),
        ("cifar10:{tmp}/wrong_shape.pkl", r"must be uint8 of shape \(N, 3072\)"),
        ("folder:{tmp}/empty", "no images"),
        ("folder:{tmp}/broken", "is not a readable image"),
        ("npz:{tmp}/garbage.bin", "is not a readable .npy/.npz file"),
        ("npz:{tmp}/bad_shape.npy", r"got shape \(4, 5, 8, 8\)"),
        ("npz:{tmp}/two.npz", "name the images array 'images'"),
        ("npz:{tmp}/nan.npy", "NaN"),
        ("mnist", "--data must be"),
    ],
)
def test_malformed_sources_raise_a_clear_error(tmp_path: Path, spec: str, message: str) -> None:
    _write(tmp_path / "garbage.bin", b"\x00not a pickle nor an array")
    with (tmp_path / "wrong_shape.pkl").open("wb") as file:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8)}, file)
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    _write(tmp_path / "broken" / "x.png", b"not a png")
    np.save(tmp_path / "bad_shape.npy", np.zeros((4, 5, 8, 8), np.uint8))
    np.savez(tmp_path / "two.npz", a=np.zeros((2, 8, 8)), b=np.zeros(2))
    np.save(tmp_path / "nan.npy", np.full((2, 8, 8), np.nan, np.float32))
    with pytest.raises(DataError, match=message):
        load_images(spec.format(tmp=tmp_path), 8)


def test_a_bad_path_stops_the_program_before_training(tiny_args: list[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="does not exist"):
        main([*tiny_args, "--data", f"npz:{tmp_path}/nothing.npz"])
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_batch_stream_shards_epochs_and_resumes() -> None:
    images = torch.arange(10.0).view(10, 1, 1, 1)
    ranks = [BatchStream(images, 2, seed=0, rank=r, world_size=2) for r in range(2)]
    epoch = [torch.cat([next(s).flatten() for _ in range(2)]) for s in ranks]
    assert sorted(torch.cat(epoch).tolist()) == sorted(set(torch.cat(epoch).tolist()))
    stream = BatchStream(images, 3, seed=1)
    seen = [next(stream) for _ in range(4)]  # crosses into the second epoch
    resumed = BatchStream(images, 3, seed=1)
    resumed.load_state_dict(BatchStream(images, 3, seed=1).state_dict())
    assert all(torch.equal(a, next(resumed)) for a in seen)
    copy = BatchStream(images, 3, seed=1)
    copy.load_state_dict(stream.state_dict())
    assert torch.equal(next(copy), next(stream))
    with pytest.raises(DataError, match="fewer than one batch"):
        BatchStream(images, 6, seed=0, world_size=2)
