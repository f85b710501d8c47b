"""The trainer in examples/dcvae is a program, not a package: put its folder on sys.path."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TRAINER = Path(__file__).resolve().parents[2] / "examples" / "dcvae"
if str(TRAINER) not in sys.path:
    sys.path.insert(0, str(TRAINER))

#: Networks, batches and queues small enough for a step to take milliseconds.
TINY = [
    "--backbone", "autogan", "--resolution", "32", "--latent-dim", "8", "--width", "8",
    "--decoder-width", "8", "--batch-size", "8", "--prior-batch-size", "8",
    "--queue-size", "32", "--eval-samples", "32", "--threads", "1", "--quiet",
    "--feature-network", "none", "--device", "cpu",  # CPU-deterministic on a GPU machine too
]  # fmt: skip


@pytest.fixture
def tiny_args(tmp_path: Path) -> list[str]:
    return [*TINY, "--out", str(tmp_path / "run")]


@pytest.fixture(scope="session")
def feature_cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One folder for the digits classifier, trained once per session and resolution."""
    return str(tmp_path_factory.mktemp("feature_network"))
