"""Run the ```python blocks of docs/tutorials/evaluating.md in order, in one namespace.

The Inception snippet is a ``{code-block}`` (not run): it needs torch-fidelity and a weights
file the tests cannot have.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TUTORIAL = Path(__file__).resolve().parents[2] / "docs" / "tutorials" / "evaluating.md"


def test_tutorial_code_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"^```python\n(.*?)^```", TUTORIAL.read_text(), flags=re.S | re.M)
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, str(TUTORIAL), "exec"), namespace)
    assert (tmp_path / "runs" / "metrics").is_dir()
    assert float(namespace["ppl"]) >= 0  # type: ignore[arg-type]
