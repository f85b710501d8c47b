"""The documentation site's own machinery (docs/_ext): executed pages, API index, offline check.

The Sphinx build itself runs in CI (``.ci/run``, with ``-W``); these tests pin the pieces it
relies on, each on small inputs that would show a regression.
"""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

import contradistinct

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_pages import documented_names, is_module_boilerplate, reference_pages  # noqa: E402
from executable_pages import _ADDRESS_REPR, to_text_notebook  # noqa: E402
from offline_check import check_site, external_loads  # noqa: E402
from test_docs_code import python_blocks  # noqa: E402

DOC_PAGES = [p for p in sorted(DOCS.rglob("*.md")) if not {"_build", "_ext"} & set(p.parts)]


# --- executed pages -------------------------------------------------------------------------


@pytest.mark.parametrize("page", DOC_PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_build_executes_exactly_the_blocks_the_tests_run(page: Path) -> None:
    """MyST-NB reads each converted page as cells equal to test_docs_code's python blocks."""
    reader = pytest.importorskip("myst_nb.core.read")
    text = page.read_text(encoding="utf-8")
    expected = [block.source.rstrip("\n") for block in python_blocks(text)]
    converted = to_text_notebook(text)
    if converted is None:
        assert expected == [], f"{page.name}: python blocks the build would not execute"
        return
    notebook = reader.read_myst_markdown_notebook(converted)
    cells = [
        cell.source.rstrip("\n")
        for cell in notebook.cells
        if cell.cell_type == "code" and "remove-cell" not in cell.metadata.get("tags", [])
    ]
    assert cells == expected


def test_conversion_turns_top_level_python_fences_into_cells_only() -> None:
    page = "\n".join(
        [
            "# Title",
            "```python",
            "a = 1",
            "```",
            "````text",
            "```python",
            "shown = True",
            "```",
            "````",
            "```bash",
            "echo hi",
            "```",
            "~~~py",
            "b = 2",
            "~~~",
            "",
        ]
    )
    converted = to_text_notebook(page)
    assert converted is not None
    assert converted.startswith("---\nfile_format: mystnb\n")
    assert converted.count("{code-cell} ipython3") == 3  # the hidden seed cell, a, b
    assert "```python\nshown = True" in converted and "```bash\necho hi" in converted
    assert to_text_notebook("# Only prose\n\n```bash\nls\n```\n") is None


def test_only_memory_address_results_are_hidden() -> None:
    assert _ADDRESS_REPR.match("<torch._C.Generator object at 0x7f3a2c1d4e50>")
    assert _ADDRESS_REPR.match("<torch._C.Generator at 0x7FEA80B1D450>")
    assert not _ADDRESS_REPR.match("tensor(512)")
    assert not _ADDRESS_REPR.match("<queue at 0x1>\ntensor(1.)")


def test_a_page_with_front_matter_and_code_is_refused() -> None:
    with pytest.raises(ValueError, match="front matter"):
        to_text_notebook("---\ntitle: x\n---\n# T\n```python\na = 1\n```\n")


# --- API index ------------------------------------------------------------------------------


def _public_names() -> set[str]:
    names = set()
    modules = [contradistinct] + [
        value
        for name in contradistinct.__all__
        if isinstance(value := getattr(contradistinct, name), types.ModuleType)
    ]
    for module in modules:
        for name in module.__all__:
            if not name.startswith("__") and not isinstance(
                getattr(module, name), types.ModuleType
            ):
                names.add(name)
    return names


def test_api_index_tables_list_every_public_name() -> None:
    listed = {
        name.rsplit(".", 1)[-1]
        for page in reference_pages(DOCS / "api")
        for name in (*page.names, *page.data)
    }
    missing = sorted(_public_names() - listed)
    assert not missing, f"not in any API page's autodoc entries: {missing}"


def test_documented_names_follow_modules_and_skip_no_index_entries() -> None:
    page = "\n".join(
        [
            "```{eval-rst}",
            ".. module:: pkg.sub",
            ".. autoclass:: Thing",
            "   :members: forward",
            ".. automethod:: Thing.forward",
            ".. autofunction:: other.helper",
            ".. autoclass:: pkg.elsewhere.Other",
            ".. autofunction:: shown_elsewhere",
            "   :no-index:",
            ".. currentmodule:: pkg",
            ".. automodule:: pkg.dist",
            "   :members: a, b",
            ".. py:data:: TABLE",
            "```",
        ]
    )
    module, names, data = documented_names(page)
    assert module == "pkg.sub"
    assert names == [
        "pkg.sub.Thing",
        "other.helper",
        "pkg.elsewhere.Other",
        "pkg.dist.a",
        "pkg.dist.b",
    ]
    assert data == ["pkg.TABLE"]


def test_module_boilerplate_is_recognised() -> None:
    assert is_module_boilerplate("extra_repr", contradistinct.NegativeQueue.extra_repr)
    assert not is_module_boilerplate("forward", contradistinct.InstanceLoss.forward)
    assert not is_module_boilerplate("enqueue", contradistinct.NegativeQueue.enqueue)


# --- nothing loaded from another host -------------------------------------------------------


def test_external_loads_are_found_and_links_are_not() -> None:
    page = """<html><head>
    <script src="_static/local.js"></script>
    <script defer src="https://cdn.example.org/mathjax/tex-chtml.js"></script>
    <link rel="stylesheet" href="//fonts.example.org/font.css">
    <link rel="stylesheet" href="_static/furo.css">
    <link rel="canonical" href="https://example.org/page.html">
    <style>@import url("https://example.org/more.css"); body { color: red }</style>
    </head><body>
    <a href="https://github.com/example/project">a link</a>
    <img src="http://example.org/picture.png" alt="">
    <img src="_static/local.png" alt="">
    <div style="background: url('https://example.org/bg.png')"></div>
    </body></html>"""
    assert external_loads(page) == [
        "https://cdn.example.org/mathjax/tex-chtml.js",
        "//fonts.example.org/font.css",
        "https://example.org/more.css",
        "http://example.org/picture.png",
        "https://example.org/bg.png",
    ]
    css = '@import "https://example.org/a.css"; .x { background: url(data:image/png;base64,AA) }'
    assert external_loads(css, css=True) == ["https://example.org/a.css"]


def test_check_site_names_each_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "index.html").write_text('<script src="_static/x.js"></script>')
    (tmp_path / "sub" / "page.html").write_text('<script src="https://cdn.example.org/a.js">')
    (tmp_path / "style.css").write_text("@import url(//cdn.example.org/b.css);")
    assert check_site(tmp_path) == [
        "style.css: //cdn.example.org/b.css",
        "sub/page.html: https://cdn.example.org/a.js",
    ]


# --- citation -------------------------------------------------------------------------------


def _normalise(title: str) -> str:
    return re.sub(r"\s+", " ", title).strip()


@pytest.mark.parametrize("where", ["README.md", "docs/citing.md"])
def test_bibtex_blocks_cite_what_citation_cff_cites(where: str) -> None:
    cff = (ROOT / "CITATION.cff").read_text(encoding="utf-8")
    cff_titles = {_normalise(t) for t in re.findall(r'^\s*title: "(.*)"', cff, re.M)}
    text = (ROOT / where).read_text(encoding="utf-8")
    blocks = re.findall(r"```bibtex\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1
    entries = re.findall(r"\btitle\s*=\s*\{(.*?)\},\n", blocks[0], re.S)
    bib_titles = {_normalise(t) for t in entries}
    assert bib_titles == cff_titles
