"""Check an installed wheel from outside the repository: every public name imports, the README runs.

Run by ``.ci/run`` in a fresh virtual environment that has only torch and the built wheel, from a
temporary directory, so a module or a package-data file left out of the wheel fails here instead of
on a user's machine.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

SUBPACKAGES = ("backbones", "functional", "introspective", "metrics", "pga", "toy")


def main(readme: Path, repository: Path) -> None:
    import contradistinct

    installed = Path(contradistinct.__file__).resolve().parent
    if repository.resolve() in installed.parents:
        raise SystemExit(f"contradistinct came from the repository ({installed}), not the wheel")
    if not (installed / "py.typed").is_file():
        raise SystemExit(f"the wheel has no py.typed marker in {installed}")
    names = 0
    for module_name in ("contradistinct", *(f"contradistinct.{p}" for p in SUBPACKAGES)):
        module = importlib.import_module(module_name)
        for name in module.__all__:
            getattr(module, name)
            names += 1
    blocks = re.findall(r"```python\n(.*?)```", readme.read_text(), flags=re.S)
    if not blocks:
        raise SystemExit(f"{readme} has no python block")
    for block in blocks:
        exec(compile(block, str(readme), "exec"), {"__name__": "readme"})
    print(f"wheel OK: {names} public names from {installed}, {len(blocks)} README block(s) ran")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
