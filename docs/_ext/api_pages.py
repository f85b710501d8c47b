"""Sphinx extension for the API reference: summary tables on its index, no nn.Module boilerplate.

* The index page (``api/index``) ends with one table per reference page, listing every object
  that page documents with the first line of its docstring. The tables are generated from the
  ``auto*`` and ``py:*`` directives of the pages at build time, so a name added to a page
  appears in the index without anyone editing it.
* Methods a class overrides from :class:`torch.nn.Module` without a docstring of their own
  (``extra_repr``, a bare ``forward``) would otherwise be listed with PyTorch's docstring
  ("Return the extra representation of the module..."); they are left out.
"""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the page parsing needs no Sphinx (tests import it without)
    from sphinx.application import Sphinx

INDEX = "api/index"
_DIRECTIVE = re.compile(
    r"^\.\.\s+(?P<kind>autoclass|autofunction|autodata|autoexception|automodule|module|"
    r"currentmodule|py:class|py:function|py:data)::\s*(?P<target>\S+)"
)
_OPTION = re.compile(r"^\s+:(?P<name>[\w-]+):\s*(?P<value>.*)$")


@dataclass(frozen=True)
class ReferencePage:
    """One page of the API reference: its document name, its title and what it documents."""

    docname: str
    title: str
    #: The module unqualified names in the page's docstrings resolve against (its first
    #: ``module``/``currentmodule``), or ``""``.
    module: str
    names: tuple[str, ...]
    #: Module-level data (autosummary would show the docstring of the value's type).
    data: tuple[str, ...] = ()


def documented_names(text: str) -> tuple[str, list[str], list[str]]:
    """What a reference page documents: ``(first module, objects, data)``, in page order.

    Follows ``.. module::`` and ``.. currentmodule::`` for bare names, expands
    ``.. automodule:: M`` with an explicit ``:members:`` list (or ``M.__all__`` when the list is
    empty), and skips entries marked ``:no-index:`` (documented elsewhere).
    """
    names: list[str] = []
    data: list[str] = []
    first_module = module = ""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = _DIRECTIVE.match(line.strip())
        if match is None:
            continue
        kind, target = match["kind"], match["target"]
        options: dict[str, str] = {}
        for following in lines[i + 1 :]:
            option = _OPTION.match(following)
            if option is None:
                break
            options[option["name"]] = option["value"].strip()
        if kind in ("module", "currentmodule"):
            module = target
            first_module = first_module or target
            continue
        if "no-index" in options or "noindex" in options:
            continue
        if kind == "automodule":
            if "members" not in options:
                continue
            listed = [m.strip() for m in options["members"].split(",") if m.strip()]
            if not listed:
                listed = list(importlib.import_module(target).__all__)
            names.extend(f"{target}.{member}" for member in listed)
            continue
        # As autodoc reads them: a dotted name is absolute, a bare one is in the current module.
        full = target if "." in target or not module else f"{module}.{target}"
        (data if kind in ("autodata", "py:data") else names).append(full)
    return first_module, names, data


def reference_pages(api_dir: Path) -> list[ReferencePage]:
    """The pages listed in the toctree of ``api/index.md``, in toctree order."""
    index = (api_dir / "index.md").read_text(encoding="utf-8")
    toctree = re.search(r"```\{toctree\}\n(?P<body>.*?)```", index, flags=re.S)
    if toctree is None:
        raise ValueError(f"{api_dir / 'index.md'} has no toctree listing the reference pages")
    pages = []
    for entry in toctree["body"].splitlines():
        entry = entry.strip()
        if not entry or entry.startswith(":"):
            continue
        text = (api_dir / f"{entry}.md").read_text(encoding="utf-8")
        title = next(
            (line[2:].strip() for line in text.splitlines() if line.startswith("# ")), entry
        )
        module, names, data = documented_names(text)
        pages.append(ReferencePage(f"api/{entry}", title, module, tuple(names), tuple(data)))
    return pages


def summary_tables(pages: list[ReferencePage]) -> str:
    """MyST source of one autosummary table per page, each under a heading linking the page."""
    parts = ["## Everything on one page", ""]
    for page in pages:
        if not page.names and not page.data:
            continue
        parts += [f"### {{doc}}`{page.title} </{page.docname}>`", ""]
        if page.names:
            parts += ["```{eval-rst}"]
            if page.module:
                parts += [f".. currentmodule:: {page.module}", ""]
            parts += [".. autosummary::", "   :nosignatures:", ""]
            # autosummary wants names relative to the current module.
            prefix = f"{page.module}." if page.module else ""
            parts += [f"   ~{name.removeprefix(prefix)}" for name in page.names]
            parts += ["```", ""]
        if page.data:
            links = ", ".join(f"{{py:data}}`~{name}`" for name in page.data)
            parts += [f"Data: {links}.", ""]
    return "\n".join(parts)


def _add_summary_tables(app: Sphinx, docname: str, source: list[str]) -> None:
    if docname != INDEX:
        return
    pages = reference_pages(Path(app.srcdir) / "api")
    source[0] = source[0].rstrip("\n") + "\n\n" + summary_tables(pages)


def is_module_boilerplate(name: str, obj: Any) -> bool:
    """Whether ``obj`` overrides an ``nn.Module`` method without a docstring of its own."""
    from torch import nn

    base = getattr(nn.Module, name, None)
    if base is None or not callable(obj) or name.startswith("__"):
        return False
    own = getattr(obj, "__doc__", None)
    return own is None or inspect.cleandoc(own) == inspect.cleandoc(base.__doc__ or "")


def _skip_module_boilerplate(
    app: Sphinx, what: str, name: str, obj: Any, skip: bool, options: Any
) -> bool | None:
    if what == "class" and is_module_boilerplate(name, obj):
        return True
    return None


# autosummary cuts a summary at the first ". " unless it follows an abbreviation it knows; the
# docstrings cite "DC-VAE Eq. 6", "ProGAN Sec. 4.1" and so on.
_CITATION_ABBREVIATIONS = ("Eq.", "Eqs.", "Sec.", "Fig.", "Alg.", "cf.")


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("sphinx.ext.autosummary")
    from sphinx.ext import autosummary

    known = autosummary.WELL_KNOWN_ABBREVIATIONS
    autosummary.WELL_KNOWN_ABBREVIATIONS = (
        *known,
        *(a for a in _CITATION_ABBREVIATIONS if a not in known),
    )
    app.connect("source-read", _add_summary_tables)
    app.connect("autodoc-skip-member", _skip_module_boilerplate)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
