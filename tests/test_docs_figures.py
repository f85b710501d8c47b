"""The scripts that draw the pictures of the docs still run; their pictures are committed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from PIL import Image

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, DOCS / "_scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_training_step_diagram_draws(tmp_path: Path) -> None:
    output = tmp_path / "step.png"
    _load("draw_training_step").draw(output)
    with (
        Image.open(output) as drawn,
        Image.open(DOCS / "_static" / "dcvae_training_step.png") as shown,
    ):
        assert drawn.format == shown.format == "PNG"
        assert drawn.size == shown.size
