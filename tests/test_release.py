"""One version in the package, pyproject.toml, CITATION.cff and the changelog."""

from __future__ import annotations

import re
from pathlib import Path

import contradistinct

ROOT = Path(__file__).resolve().parent.parent


def _field(path: str, pattern: str) -> str:
    match = re.search(pattern, (ROOT / path).read_text(), flags=re.M)
    assert match, f"no version in {path}"
    return match.group(1)


def test_one_version_everywhere():
    version = contradistinct.__version__
    assert _field("pyproject.toml", r'^version = "([^"]+)"$') == version
    assert _field("CITATION.cff", r'^version: "([^"]+)"$') == version
    heading = rf"^## \[{re.escape(version)}\] - \d{{4}}-\d{{2}}-\d{{2}}$"
    assert re.search(heading, (ROOT / "CHANGELOG.md").read_text(), flags=re.M), "no entry"
