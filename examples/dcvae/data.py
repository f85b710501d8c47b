"""Training images from local files, held in memory as one ``(N, C, R, R)`` tensor in ``[-1, 1]``.

Sources (the ``--data`` flag):

* ``digits``: scikit-learn's bundled 1,797 8×8 digits, resized (no download);
* ``cifar10:PATH``: the CIFAR-10 python pickle batches (``PATH`` is the
  ``cifar-10-batches-py`` folder, whose ``data_batch_*`` files are read, or one batch file);
* ``folder:PATH``: every PNG/JPEG/BMP/WebP image under ``PATH``, center-cropped and resized;
* ``npz:PATH``: a ``.npy`` array, or the ``images`` (else the only) array of a ``.npz`` file,
  shaped ``(N, H, W)``, ``(N, H, W, C)`` or ``(N, C, H, W)`` with ``C`` in ``{1, 3}``; ``uint8``
  values are read as ``[0, 255]``; floats by the range they lie in: ``[0, 1]``, else ``[-1, 1]``,
  else ``[0, 255]`` (8-bit values stored as floats: rescaled, and the loader says so); floats
  outside all three are refused, with the range found. Nothing is clipped silently.

Every problem with a path or a file raises :class:`DataError` naming it, before training starts.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DistributedSampler

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
CIFAR_PIXELS = 3 * 32 * 32


class DataError(ValueError):
    """A data source that is missing or cannot be read as images."""


def load_images(spec: str, resolution: int, report: Callable[[str], None] = print) -> Tensor:
    """The images named by ``spec``: float32 ``(N, C, resolution, resolution)`` in ``[-1, 1]``.

    ``report`` receives a line for each decision about the data worth knowing (a rescaled range).
    """
    kind, _, path = spec.partition(":")
    if kind == "digits" and not path:
        return _resize(_load_digits(), resolution)
    if kind not in ("cifar10", "folder", "npz") or not path:
        raise DataError(
            f"--data must be 'digits', 'cifar10:PATH', 'folder:PATH' or 'npz:PATH', got {spec!r}"
        )
    location = Path(path).expanduser()
    if not location.exists():
        raise DataError(f"--data {spec!r}: {location} does not exist")
    if kind == "folder":
        return _load_folder(location, resolution)
    if kind == "cifar10":
        return _resize(_load_cifar10(location), resolution)
    return _resize(_load_array(location, report), resolution)


def _load_digits() -> Tensor:
    from sklearn.datasets import load_digits

    images = torch.from_numpy(load_digits().images.astype(np.float32) / 16.0).unsqueeze(1)
    return images * 2 - 1


def _load_cifar10(path: Path) -> Tensor:
    files = sorted(path.glob("data_batch_*")) if path.is_dir() else [path]
    if not files:
        raise DataError(f"no CIFAR-10 'data_batch_*' files in {path}")
    batches = []
    for file in files:
        try:
            with file.open("rb") as handle:
                batch = pickle.load(handle, encoding="bytes")
            data = np.asarray(batch[b"data"] if b"data" in batch else batch["data"])
        except Exception as error:  # a malformed file can fail in many ways inside pickle
            raise DataError(
                f"{file} is not a CIFAR-10 python pickle batch (a dict with a 'data' array): "
                f"{type(error).__name__}: {error}"
            ) from error
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != CIFAR_PIXELS:
            raise DataError(
                f"{file}: CIFAR-10 'data' must be uint8 of shape (N, {CIFAR_PIXELS}), "
                f"got {data.dtype} {data.shape}"
            )
        batches.append(data.reshape(-1, 3, 32, 32))
    return torch.from_numpy(np.concatenate(batches)).float() / 127.5 - 1


def _load_array(path: Path, report: Callable[[str], None]) -> Tensor:
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as error:
        raise DataError(f"{path} is not a readable .npy/.npz file: {error}") from error
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            names = list(loaded.files)
            if "images" in names:
                array = loaded["images"]
            elif len(names) == 1:
                array = loaded[names[0]]
            else:
                raise DataError(f"{path} holds arrays {names}; name the images array 'images'")
    else:
        array = loaded
    return _to_images(array, str(path), report)


def _to_images(array: np.ndarray, source: str, report: Callable[[str], None] = print) -> Tensor:
    if array.ndim == 3:
        array = array[:, None]
    elif array.ndim == 4 and array.shape[-1] in (1, 3) and array.shape[1] not in (1, 3):
        array = array.transpose(0, 3, 1, 2)
    if array.ndim != 4 or array.shape[1] not in (1, 3) or array.shape[0] == 0:
        raise DataError(
            f"{source}: images must be (N, H, W), (N, H, W, C) or (N, C, H, W) with C in "
            f"{{1, 3}} and N > 0, got shape {array.shape}"
        )
    if array.dtype == np.uint8:
        return torch.from_numpy(np.ascontiguousarray(array)).float() / 127.5 - 1
    if not np.issubdtype(array.dtype, np.floating):
        raise DataError(f"{source}: images must be uint8 or floating point, got {array.dtype}")
    images = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    if not torch.isfinite(images).all():
        raise DataError(f"{source}: the images contain NaN or infinite values")
    low, high = images.min().item(), images.max().item()
    if low >= 0 and high <= 1:
        return images * 2 - 1
    if low >= -1 and high <= 1:
        return images
    if low >= 0 and high <= 255:
        report(
            f"{source}: float values in [{low:g}, {high:g}] are read as 8-bit values in "
            "[0, 255] and rescaled"
        )
        return images / 127.5 - 1
    raise DataError(
        f"{source}: float images must lie in [0, 1], [-1, 1] or [0, 255] (8-bit values); got "
        f"values in [{low:g}, {high:g}]"
    )


def _load_folder(path: Path, resolution: int) -> Tensor:
    from PIL import Image, UnidentifiedImageError

    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {path}")
    images = []
    for file in files:
        try:
            with Image.open(file) as image:
                image = image.convert("RGB")
                side = min(image.size)
                left, top = (image.width - side) // 2, (image.height - side) // 2
                image = image.crop((left, top, left + side, top + side))
                image = image.resize((resolution, resolution), Image.Resampling.BICUBIC)
                images.append(np.asarray(image))
        except (OSError, UnidentifiedImageError) as error:
            raise DataError(f"{file} is not a readable image: {error}") from error
    return _to_images(np.stack(images), str(path))


def _resize(images: Tensor, resolution: int) -> Tensor:
    """Center-crop to a square and resize (antialiased bilinear) to ``resolution``."""
    height, width = images.shape[-2:]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    images = images[..., top : top + side, left : left + side]
    if side != resolution:
        images = F.interpolate(
            images, size=(resolution, resolution), mode="bilinear", antialias=side > resolution
        )
    return images.clamp(-1, 1).contiguous()


class BatchStream:
    """Endless shuffled batches of an in-memory dataset, with a resumable position.

    The order of each epoch is :class:`~torch.utils.data.DistributedSampler`'s (seeded, one
    shard per rank, incomplete batches dropped), so the position ``(epoch, batch)`` is the whole
    state of the data order.
    """

    def __init__(
        self, images: Tensor, batch_size: int, *, seed: int, rank: int = 0, world_size: int = 1
    ) -> None:
        if len(images) < batch_size * world_size:
            raise DataError(
                f"the data has {len(images)} images, fewer than one batch of {batch_size} on "
                f"each of {world_size} process(es)"
            )
        self.images = images
        self.batch_size = batch_size
        self.sampler: DistributedSampler[int] = DistributedSampler(
            range(len(images)),  # type: ignore[arg-type]
            num_replicas=world_size,
            rank=rank,
            shuffle=True,
            seed=seed,
            drop_last=True,
        )
        self.batches_per_epoch = len(self.sampler) // batch_size
        self.epoch = 0
        self.batch = 0
        self._order: Tensor | None = None

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "batch": self.batch}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.batch = int(state["epoch"]), int(state["batch"])
        self._order = None

    def __iter__(self) -> Iterator[Tensor]:
        return self

    def __next__(self) -> Tensor:
        if self.batch == self.batches_per_epoch:
            self.epoch, self.batch, self._order = self.epoch + 1, 0, None
        if self._order is None:
            self.sampler.set_epoch(self.epoch)
            self._order = torch.tensor(list(self.sampler))
        start = self.batch * self.batch_size
        self.batch += 1
        return self.images[self._order[start : start + self.batch_size]]
