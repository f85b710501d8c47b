"""Every public name of the package appears in the API reference."""

from __future__ import annotations

import types
from pathlib import Path

import contradistinct

API = "\n".join(p.read_text() for p in (Path(__file__).parent.parent / "docs" / "api").glob("*.md"))


def _public_modules() -> list[types.ModuleType]:
    modules = [contradistinct]
    for name in contradistinct.__all__:
        value = getattr(contradistinct, name)
        if isinstance(value, types.ModuleType):
            modules.append(value)
    return modules


def test_every_public_name_is_documented():
    missing = []
    for module in _public_modules():
        for name in module.__all__:
            value = getattr(module, name)
            if isinstance(value, types.ModuleType) or name.startswith("__"):
                continue
            if name not in API:
                missing.append(f"{module.__name__}.{name}")
    assert not missing, f"not in docs/api: {missing}"


def test_every_public_name_has_a_docstring():
    undocumented = [
        f"{module.__name__}.{name}"
        for module in _public_modules()
        for name in module.__all__
        if not name.startswith("__") and not (getattr(module, name).__doc__ or "").strip()
    ]
    assert not undocumented
