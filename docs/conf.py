"""Sphinx configuration for the contradistinct documentation."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import contradistinct  # noqa: E402

project = "contradistinct"
author = "The contradistinct developers"
copyright = "2026, The contradistinct developers"
release = contradistinct.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
exclude_patterns = ["_build"]

html_theme = "furo"
html_title = "contradistinct"
html_static_path = ["_static"]

autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": False}
autosummary_generate = False
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

# Intersphinx inventories cannot be fetched offline; references to torch render as plain text.
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(torch|numpy|np|typing_extensions|collections)(\..*)?"),
    (r"py:.*", r"(Tensor|Module|Generator|Sequence|Mapping|Callable|Iterator|Any|Path|Self)"),
    (r"py:.*", r"(optional|callable|NamedTuple|nn\.Module)"),
]
