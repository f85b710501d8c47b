"""Sphinx extension: pages show what their code printed, and download as a notebook or a script.

The pages are written with plain top-level ```` ```python ```` fences, the form
``tests/test_docs_code.py`` runs (in order, in one namespace, after ``torch.manual_seed(0)``).
When Sphinx reads a page that has such blocks, this extension hands it to MyST-NB as a MyST
text notebook: each fence becomes a ``code-cell``, and a hidden first cell seeds torch as the
test does. MyST-NB executes the cells in a Jupyter kernel and renders what each printed or drew
under it, and writes the executed notebook; the page then links that notebook and a jupytext
``py:percent`` script made from it. The files in ``docs/`` are not changed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the page transform itself needs neither (tests import it without Sphinx)
    from docutils import nodes
    from sphinx import addnodes
    from sphinx.application import Sphinx
    from sphinx.environment import BuildEnvironment

# A top-level fence of these languages is a code cell; tests/test_docs_site.py checks that the
# cells are exactly the blocks tests/test_docs_code.py runs.
_PYTHON_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})\s*(?:python|py|python3)\s*$")
_FRONT_MATTER = """---
file_format: mystnb
kernelspec:
  name: python3
  display_name: Python 3
language_info:
  name: python
  pygments_lexer: ipython3
---
"""
_SEED_CELL = """```{code-cell} ipython3
:tags: [remove-cell]
import torch

torch.manual_seed(0)  # as tests/test_docs_code.py does before running a page
```
"""
# A result shown as Python's default repr, "<torch._C.Generator object at 0x7f...>" for the
# value of a trailing torch.manual_seed(0), says nothing and changes with every build.
_ADDRESS_REPR = re.compile(r"^<[^<>]* at 0x[0-9a-fA-F]+>$")


def to_text_notebook(text: str) -> str | None:
    """The page as a MyST-NB text notebook, or ``None`` if it has no top-level python fence.

    Raises:
        ValueError: if the page has front matter of its own (merging is not supported).
    """
    lines = text.splitlines(keepends=True)
    converted: list[str] = []
    cells = 0
    closing: re.Pattern[str] | None = None
    for line in lines:
        if closing is not None:
            converted.append(line)
            if closing.match(line):
                closing = None
            continue
        fence = _PYTHON_FENCE.match(line)
        if fence is not None:
            marker = fence["fence"]
            converted.append(f"{marker}{{code-cell}} ipython3\n")
            closing = re.compile(rf"^{re.escape(marker[0])}{{{len(marker)},}}\s*$")
            cells += 1
            continue
        if re.match(r"^(`{3,}|~{3,})", line):
            # Any other top-level fence: copy it whole so a python fence inside is left alone.
            marker = re.match(r"^(`{3,}|~{3,})", line)[1]  # type: ignore[index]
            converted.append(line)
            closing = re.compile(rf"^{re.escape(marker[0])}{{{len(marker)},}}\s*$")
            continue
        converted.append(line)
    if cells == 0:
        return None
    if text.startswith("---"):
        raise ValueError("a page with python blocks cannot have front matter of its own yet")
    return _FRONT_MATTER + _SEED_CELL + "".join(converted)


def _notebook_pages(env: BuildEnvironment) -> set[str]:
    if not hasattr(env, "notebook_pages"):
        env.notebook_pages = set()  # type: ignore[attr-defined]
    return env.notebook_pages  # type: ignore[attr-defined]


def _convert(app: Sphinx, docname: str, source: list[str]) -> None:
    notebook = to_text_notebook(source[0])
    pages = _notebook_pages(app.env)
    pages.discard(docname)
    if notebook is not None:
        source[0] = notebook
        pages.add(docname)


def _purge(app: Sphinx, env: BuildEnvironment, docname: str) -> None:
    _notebook_pages(env).discard(docname)


def _merge(app: Sphinx, env: BuildEnvironment, docnames: set[str], other: Any) -> None:
    _notebook_pages(env).update(_notebook_pages(other) & docnames)


def _download(source: Path, srcdir: Path, label: str) -> addnodes.download_reference:
    from docutils import nodes
    from sphinx import addnodes

    # Sphinx reads "/path" relative to the source folder; the executed notebooks live in the
    # build folder, which may be anywhere, so the path climbs out of docs/ as needed.
    target = "/" + os.path.relpath(source, srcdir).replace(os.sep, "/")
    node = addnodes.download_reference("", "", reftarget=target, refdoc="", refexplicit=True)
    node += nodes.literal(label, label, classes=["xref", "download"])
    return node


def _drop_address_outputs(doctree: nodes.document) -> None:
    """Remove the output boxes that only show an object's memory address."""
    from docutils import nodes

    for output in list(doctree.findall(nodes.container)):
        if "cell_output" in output["classes"] and _ADDRESS_REPR.match(output.astext().strip()):
            output.parent.remove(output)


def _finish_page(app: Sphinx, doctree: nodes.document) -> None:
    """Tidy an executed page's outputs and link its notebook and script under its title."""
    docname = app.env.docname
    if docname not in _notebook_pages(app.env):
        return
    _drop_address_outputs(doctree)
    if docname == app.config.root_doc:
        return  # the landing page's snippet is not a tutorial to download
    import jupytext
    import nbformat
    from docutils import nodes

    ipynb = Path(app.env.mystnb_config.output_folder, *docname.split("/")).with_suffix(".ipynb")
    script = ipynb.with_suffix(".py")
    notebook = nbformat.read(ipynb, as_version=4)
    script.write_text(jupytext.writes(notebook, fmt="py:percent"), encoding="utf-8")
    srcdir = Path(app.srcdir)
    line = nodes.paragraph(classes=["notebook-downloads"])
    line += nodes.Text("Run this page yourself: ")
    line += _download(ipynb, srcdir, "notebook (.ipynb)")
    line += nodes.Text(" · ")
    line += _download(script, srcdir, "script (.py)")
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None:
        doctree.insert(0, line)
    else:
        section.insert(1 if isinstance(section[0], nodes.title) else 0, line)


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("myst_nb")
    app.connect("source-read", _convert)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    # Before Sphinx's download collector (priority 500) registers the files to copy.
    app.connect("doctree-read", _finish_page, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
