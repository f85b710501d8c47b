"""FID's Inception-v3 from a local file: the TorchScript port (a tiny module scripted here, with
its calling convention) and torch-fidelity's weights (through a stand-in, and through the real
package when it is installed)."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from contradistinct.metrics import FID, inception_feature_extractor, inception_from_file

# Scripting is how the real file was made; torch 2.13 deprecates it, which is not under test.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")


class TinyInception(nn.Module):
    """The calling convention of ``inception-2015-12-05.pt``: uint8 NCHW in [0, 255], any size;
    ``return_features=True`` gives the pool features, otherwise class scores."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 4)

    def forward(self, img: Tensor, return_features: bool = False) -> Tensor:
        assert img.dtype == torch.uint8, "uint8 images in [0, 255]"
        features = img.float().flatten(1)
        return features if return_features else self.fc(features[:, :3])


class NotInception(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.float().mean(dim=(2, 3))


def _script(module: nn.Module, path: Path) -> Path:
    torch.jit.script(module).save(str(path))
    return path


def test_torchscript_inception_gets_uint8_rgb_and_is_asked_for_features(tmp_path: Path) -> None:
    extractor = inception_from_file(_script(TinyInception(), tmp_path / "inception.pt"))
    assert not extractor.training
    assert not any(p.requires_grad for p in extractor.parameters())
    gray = torch.tensor([-1.0, 0.0, 1.0, 2.0]).reshape(1, 1, 2, 2)
    # Quantised as a saved PNG would be, grayscale repeated to RGB; the pool features, not the
    # class scores (those would have 4 columns).
    assert extractor(gray).tolist() == [[0, 128, 255, 255] * 3]
    rgb = torch.rand(5, 3, 3, 3) * 2 - 1
    assert extractor(rgb).shape == (5, 27)
    fid = FID(extractor)
    fid.update(rgb, real=True)
    fid.update(rgb, real=False)
    assert fid.compute() < 1e-6


def test_a_str_path_works_and_other_types_are_refused(tmp_path: Path) -> None:
    path = _script(TinyInception(), tmp_path / "inception.pt")
    assert inception_from_file(str(path))(torch.zeros(1, 3, 1, 1)).shape == (1, 3)
    with pytest.raises(TypeError, match="path must be a str or os.PathLike, got int"):
        inception_from_file(3)  # type: ignore[arg-type]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.pt' is not a file; nothing is"):
        inception_from_file(tmp_path / "missing.pt")


@pytest.mark.parametrize(
    ("content", "found"),
    [
        (b"", "not a ZIP archive"),
        (b"not a network at all", "zip archive"),
        ("state dict", "constants.pkl"),
    ],
    ids=["empty", "garbage", "state-dict"],
)
def test_a_file_that_is_not_torchscript_says_what_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes | str, found: str
) -> None:
    monkeypatch.setitem(sys.modules, "torch_fidelity", None)
    path = tmp_path / "weights.pt"
    if isinstance(content, str):
        torch.save({"fc.weight": torch.zeros(4, 3)}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"weights\.pt' is not a TorchScript module \(.*{found}"):
        inception_from_file(path)
    with pytest.raises(ValueError, match="install torch-fidelity"):
        inception_from_file(path)


def test_torchscript_without_return_features_is_not_inception(tmp_path: Path) -> None:
    path = _script(NotInception(), tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"forward takes \(x\), not FID's Inception-v3"):
        inception_from_file(path)


def test_non_finite_images_are_refused(tmp_path: Path) -> None:
    extractor = inception_from_file(_script(TinyInception(), tmp_path / "inception.pt"))
    with pytest.raises(ValueError, match=r"shape \(1, 3, 2, 2\) contain NaN or infinite"):
        extractor(torch.full((1, 3, 2, 2), float("nan")))
    with pytest.raises(ValueError, match="1 or 3 channels"):
        extractor(torch.zeros(1, 2, 4, 4))


class StandIn(nn.Module):
    """Records how it was built and what it receives, like torch-fidelity's extractor."""

    def __init__(self, name: str, features_list: list[str], **kwargs: object) -> None:
        super().__init__()
        weights = Path(str(kwargs["feature_extractor_weights_path"]))
        if weights.read_bytes() != b"stand-in":
            raise RuntimeError("Error(s) in loading state_dict: Missing key(s) Conv2d_1a_3x3")
        self.name, self.features_list, self.kwargs = name, features_list, kwargs
        self.scale = nn.Parameter(torch.ones(()))
        self.received: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        self.received = x
        return (x.float().mean(dim=(2, 3)) * self.scale,)


@pytest.fixture
def fake_torch_fidelity(monkeypatch: pytest.MonkeyPatch) -> None:
    package = types.ModuleType("torch_fidelity")
    submodule = types.ModuleType("torch_fidelity.feature_extractor_inceptionv3")
    submodule.FeatureExtractorInceptionV3 = StandIn  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch_fidelity", package)
    monkeypatch.setitem(sys.modules, "torch_fidelity.feature_extractor_inceptionv3", submodule)


@pytest.mark.usefixtures("fake_torch_fidelity")
def test_inception_builder_passes_the_local_weights(tmp_path: Path) -> None:
    weights = tmp_path / "inception.pth"
    weights.write_bytes(b"stand-in")
    extractor = inception_feature_extractor(str(weights))
    network = extractor.network
    assert isinstance(network, StandIn)
    assert network.name == "inception-v3-compat"
    assert network.features_list == ["2048"]
    assert network.kwargs == {"feature_extractor_weights_path": str(weights)}
    assert not extractor.training
    assert not any(p.requires_grad for p in extractor.parameters())
    gray = torch.tensor([-1.0, 0.0, 1.0, 2.0]).reshape(1, 1, 2, 2)
    features = extractor(gray)
    assert features.shape == (1, 3)
    assert network.received is not None and network.received.dtype == torch.uint8
    assert network.received.shape == (1, 3, 2, 2)
    assert network.received[0, :, 0, 0].tolist() == [0, 0, 0]
    assert network.received[0, :, 1, 1].tolist() == [255, 255, 255]
    assert network.received[0, 0].flatten().tolist() == [0, 128, 255, 255]
    fid = FID(extractor)
    fid.update(torch.rand(4, 3, 5, 5) * 2 - 1, real=True)
    assert fid.num_features == 3
    with pytest.raises(ValueError, match="1 or 3 channels"):
        extractor(torch.zeros(1, 2, 4, 4))


@pytest.mark.usefixtures("fake_torch_fidelity")
def test_inception_builder_missing_weights(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.pth.*nothing is downloaded"):
        inception_feature_extractor(str(tmp_path / "missing.pth"))


def test_inception_builder_without_torch_fidelity(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "torch_fidelity", None)
    with pytest.raises(ImportError, match=r"pip install torch-fidelity"):
        inception_feature_extractor(str(tmp_path / "inception.pth"))


@pytest.mark.usefixtures("fake_torch_fidelity")
def test_from_file_reads_torch_fidelity_weights_through_its_extractor(tmp_path: Path) -> None:
    weights = tmp_path / "weights-inception-2015-12-05-6726825d.pth"
    weights.write_bytes(b"stand-in")
    extractor = inception_from_file(weights)
    assert isinstance(extractor.network, StandIn)
    assert extractor(torch.zeros(2, 1, 4, 4)).shape == (2, 3)
    weights.write_bytes(b"another file")
    with pytest.raises(
        ValueError, match=r"neither a TorchScript module .* nor torch-fidelity's .*Missing key"
    ):
        inception_from_file(weights)


def test_from_file_with_the_real_torch_fidelity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3")
    network_class = module.FeatureExtractorInceptionV3
    # Random weights in torch-fidelity's layout: build the network once without loading any.
    monkeypatch.setattr(module, "load_state_dict_from_url", lambda *args, **kwargs: {})
    monkeypatch.setattr(network_class, "load_state_dict", lambda self, state: None)
    weights = tmp_path / "weights-inception-2015-12-05-6726825d.pth"
    torch.save(network_class("inception-v3-compat", ["2048"]).state_dict(), weights)
    monkeypatch.undo()
    extractor = inception_from_file(weights)
    assert extractor(torch.rand(2, 3, 16, 16) * 2 - 1).shape == (2, 2048)
