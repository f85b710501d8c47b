"""FID's Inception-v3 from a local file, as a feature extractor for FID.

Published FIDs use one network: the Inception-v3 graph of the original TensorFlow FID code
(``inception-2015-12-05``). Two PyTorch ports of it are distributed as files, and both load here
without a download:

* the TorchScript module of StyleGAN2-ADA's metrics, also used by clean-fid
  (``inception-2015-12-05.pt``): ``module(images, return_features=True)`` takes ``uint8`` images
  ``(B, 3, H, W)`` in ``[0, 255]`` at any size (it resizes to 299×299 itself) and returns the
  ``(B, 2048)`` pool features (github.com/NVlabs/stylegan2-ada-pytorch ``metrics/metric_utils.py``
  and ``metrics/frechet_inception_distance.py``; github.com/GaParmar/clean-fid
  ``cleanfid/inception_torchscript.py``);
* the state dict of torch-fidelity (``weights-inception-2015-12-05-6726825d.pth``), which needs
  the optional package torch-fidelity to build the network around it.

Both take 8-bit images; the extractors returned here take the ``[-1, 1]`` floats of the library's
decoders and quantise them as a saved PNG would be, so a score is that of the saved images.
"""

from __future__ import annotations

import importlib
import os
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from contradistinct._checks import check_rank

TORCHSCRIPT_FILE = "inception-2015-12-05.pt"
TORCH_FIDELITY_FILE = "weights-inception-2015-12-05-6726825d.pth"


def _uint8_rgb(images: Tensor) -> Tensor:
    """``(B, C, H, W)`` floats in ``[-1, 1]``, ``C`` in ``{1, 3}``, as ``uint8`` RGB."""
    images = check_rank(images, "images", 4, "(B, C, H, W)")
    if images.shape[1] not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels, got shape {tuple(images.shape)}")
    # A NaN would quantise to an arbitrary byte and give a plausible, wrong score.
    if not torch.isfinite(images).all():
        raise ValueError(
            f"images of shape {tuple(images.shape)} contain NaN or infinite values; FID of "
            "non-finite images is undefined"
        )
    images = images.expand(-1, 3, -1, -1)
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


class _UInt8Inception(nn.Module):
    """An Inception-v3 port on ``uint8`` RGB, called on the library's ``[-1, 1]`` images."""

    def __init__(self, network: nn.Module, *, torchscript: bool) -> None:
        super().__init__()
        self.network = network
        # The TorchScript port returns its features when asked; torch-fidelity's a tuple of the
        # features it was built for.
        self.torchscript = torchscript

    def forward(self, images: Tensor) -> Tensor:
        pixels = _uint8_rgb(images)
        if self.torchscript:
            return self.network(pixels, return_features=True)
        (features,) = self.network(pixels)
        return features


def _frozen(network: nn.Module, *, torchscript: bool) -> nn.Module:
    return _UInt8Inception(network, torchscript=torchscript).requires_grad_(False).eval()


def _first_line(error: BaseException) -> str:
    # torch's archive errors run to several sentences of advice about corrupted checkpoints.
    return f"{type(error).__name__}: {str(error).split('. ')[0].strip()}"


def inception_feature_extractor(weights_path: str, *, feature: str = "2048") -> nn.Module:
    """The standard FID Inception-v3, built by torch-fidelity from a local weights file.

    Nothing is downloaded: ``weights_path`` must be the PyTorch state dict torch-fidelity uses
    (``weights-inception-2015-12-05-6726825d.pth``, converted from the TensorFlow graph of the
    original FID code), obtained by you once. The returned module takes images ``(B, C, H, W)``
    with ``C`` in ``{1, 3}`` and values in ``[-1, 1]`` at any resolution, quantises them to
    ``uint8`` as saved images would be (grayscale repeated to RGB), and returns ``(B, 2048)``
    pool features (or the ``feature`` torch-fidelity names: ``"64"``, ``"192"``, ``"768"``,
    ``"2048"``, ``"logits_unbiased"``, ``"logits"``). torch-fidelity resizes to 299×299
    internally the way TensorFlow did, so scores are comparable with published ones.
    :func:`inception_from_file` also reads the TorchScript port, without torch-fidelity.

    Args:
        weights_path: path to the Inception-v3 weights file (a ``pathlib.Path`` works too).
        feature: which torch-fidelity feature to return.

    Raises:
        ImportError: when torch-fidelity is not installed (``pip install torch-fidelity``).
        FileNotFoundError: when ``weights_path`` is not a file.
    """
    try:
        module = importlib.import_module("torch_fidelity.feature_extractor_inceptionv3")
    except ImportError as error:
        raise ImportError(
            "inception_feature_extractor needs the optional package torch-fidelity "
            "(pip install torch-fidelity); inception_from_file reads the TorchScript "
            f"{TORCHSCRIPT_FILE} without it, and FID takes any nn.Module mapping images to "
            "(B, F) features"
        ) from error
    path = Path(weights_path)
    if not path.is_file():
        raise FileNotFoundError(
            f"weights_path {str(path)!r} is not a file; nothing is downloaded (torch-fidelity's "
            f"{TORCH_FIDELITY_FILE} is obtained once, by you)"
        )
    network = module.FeatureExtractorInceptionV3(
        "inception-v3-compat", [feature], feature_extractor_weights_path=str(path)
    )
    return _frozen(network, torchscript=False)


def _torch_fidelity_available() -> bool:
    try:
        importlib.import_module("torch_fidelity.feature_extractor_inceptionv3")
    except ImportError:
        return False
    return True


def inception_from_file(path: str) -> nn.Module:
    """Load FID's Inception-v3 from a local file, for :class:`~contradistinct.metrics.FID`.

    Reads either distributed port of the Inception-v3 of the original TensorFlow FID code
    (Heusel et al. 2017), without downloading anything:

    * the TorchScript ``inception-2015-12-05.pt`` of StyleGAN2-ADA's metrics (also clean-fid's),
      called as ``network(uint8_images, return_features=True)``; needs nothing but PyTorch;
    * torch-fidelity's ``weights-inception-2015-12-05-6726825d.pth`` state dict, through
      :func:`inception_feature_extractor`, when torch-fidelity is installed.

    The returned module is on the CPU, in eval mode, with gradients off (``.to(device)`` moves
    it). It maps images ``(B, C, H, W)`` in ``[-1, 1]``, ``C`` in ``{1, 3}``, any size, to
    ``(B, 2048)`` pool features: the images are quantised to ``uint8`` as a saved PNG would be
    (grayscale repeated to RGB) and the network resizes them to 299×299 itself, so a score is
    comparable with published ones when computed on as many images (50,000 is the standard).

    Args:
        path: the weights file (a ``pathlib.Path`` or any ``os.PathLike`` works too).

    Raises:
        FileNotFoundError: when ``path`` is not a file.
        ValueError: when the file is neither a TorchScript module taking ``return_features``
            nor (with torch-fidelity installed) torch-fidelity's Inception-v3 weights; the
            message says what was found.

    Example:
        >>> from contradistinct.metrics import inception_from_file
        >>> inception_from_file("no/such/inception-2015-12-05.pt")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        FileNotFoundError: path 'no/such/inception-2015-12-05.pt' is not a file; nothing is ...

        With the file at hand::

            fid = FID(inception_from_file("inception-2015-12-05.pt").to("cuda"), num_features=2048)
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(
            f"path {str(file)!r} is not a file; nothing is downloaded: obtain {TORCHSCRIPT_FILE} "
            f"(StyleGAN2-ADA's metrics, clean-fid) or torch-fidelity's {TORCH_FIDELITY_FILE} once"
        )
    try:
        with warnings.catch_warnings():
            # The Inception port is distributed only as TorchScript; there is no other format
            # to switch to, so torch's advice to leave TorchScript does not apply to this file.
            warnings.filterwarnings("ignore", "`torch.jit.load` is deprecated", DeprecationWarning)
            network = torch.jit.load(str(file), map_location="cpu")
    except Exception as error:  # a foreign file fails in the archive reader or the unpickler
        not_torchscript = _first_line(error)
    else:
        schema = getattr(getattr(network, "forward", None), "schema", None)
        arguments = [argument.name for argument in schema.arguments] if schema else []
        if "return_features" not in arguments:
            raise ValueError(
                f"path {str(file)!r} holds a TorchScript module whose forward takes "
                f"({', '.join(arguments[1:])}), not FID's Inception-v3, which takes "
                "(images, return_features)"
            )
        return _frozen(network, torchscript=True)
    if not _torch_fidelity_available():
        raise ValueError(
            f"path {str(file)!r} is not a TorchScript module ({not_torchscript}); give "
            f"{TORCHSCRIPT_FILE}, or install torch-fidelity (pip install torch-fidelity) to "
            f"read its state dict {TORCH_FIDELITY_FILE}"
        )
    try:
        return inception_feature_extractor(str(file))
    except Exception as error:  # torch.load / load_state_dict inside torch-fidelity
        raise ValueError(
            f"path {str(file)!r} is neither a TorchScript module ({not_torchscript}) nor "
            f"torch-fidelity's Inception-v3 weights ({_first_line(error)})"
        ) from error
