"""Sphinx configuration for the contradistinct documentation."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))
# The Jupyter kernels that execute the pages import the same package as autodoc.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
)

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
    "sphinx_copybutton",
    "sphinx-mathjax-offline",  # MathJax 3 served from _static/mathjax: math renders offline
    "executable_pages",  # MyST-NB: pages show their output and download as notebooks
    "api_pages",
    "offline_check",  # a warning (an error under -W) for anything loaded from another host
]

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
exclude_patterns = ["_build", "_ext", "_scripts"]

# Every page with python blocks runs in a kernel at each build (under a minute in all), in a
# scratch folder as the tests do; an exception fails the build.
nb_execution_mode = "force"
nb_execution_in_temp = True
nb_execution_timeout = 300
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
nb_ipywidgets_js: dict[str, dict[str, str]] = {}  # no widgets; their loader is on a CDN

copybutton_exclude = ".linenos, .gp, .go"

html_theme = "furo"
html_title = "contradistinct"
html_static_path = ["_static"]
html_css_files = ["contradistinct.css"]

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
