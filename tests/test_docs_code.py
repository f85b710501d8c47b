"""Every python code block of the documentation runs, and every internal link resolves.

Each page of ``docs/`` (and the README) with python blocks is one test: its blocks run in
order in one namespace, the way a reader copies them, in a scratch directory with a fixed seed.
``bash`` and ``text`` blocks are shown, not run. A second test checks that every relative
Markdown link, ``{doc}`` and ``{download}`` target and figure of ``docs/`` points at a file that
exists.
"""

from __future__ import annotations

import doctest
import re
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PYTHON_LANGUAGES = {"python", "py", "python3", "pycon"}
CODE_DIRECTIVES = {"code-block", "code", "sourcecode"}
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,}|:{3,})\s*(?P<info>.*)$")
DIRECTIVE = re.compile(r"^\{(?P<name>[\w:-]+)\}\s*(?P<argument>.*)$")
# Directives whose body is not MyST text: python fences inside them are not code blocks.
VERBATIM_DIRECTIVES = {
    *CODE_DIRECTIVES,
    "eval-rst",
    "math",
    "raw",
    "literalinclude",
    "testoutput",
    "csv-table",
}


@dataclass(frozen=True)
class Block:
    """A runnable code block: where it starts (1-based line of its fence) and its source."""

    line: int
    source: str


def _is_python(info: str) -> bool:
    directive = DIRECTIVE.match(info)
    if directive is None:
        return info.split(maxsplit=1)[0].lower() in PYTHON_LANGUAGES if info else False
    name, argument = directive["name"], directive["argument"].strip().lower()
    return name == "testcode" or (name in CODE_DIRECTIVES and argument in PYTHON_LANGUAGES)


def _strip_directive_options(lines: list[str]) -> list[str]:
    """Drop the ``:option: value`` lines (or a ``---`` YAML block) that open a directive body."""
    if lines and lines[0].strip() == "---":
        end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == "---"), 0)
        return lines[end + 1 :]
    start = 0
    while start < len(lines) and re.match(r"^\s*:[\w-]+:", lines[start]):
        start += 1
    return lines[start:]


def _dedent(line: str, indent: int) -> str:
    """Remove the indentation of a fence nested in a list item (at most ``indent`` spaces)."""
    return line[min(indent, len(line) - len(line.lstrip(" "))) :]


def _blocks_in(lines: list[str], first: int) -> list[Block]:
    """Python blocks of ``lines`` (``first`` is the 0-based page line of ``lines[0]``)."""
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        fence, indent, info = opening["fence"], len(opening["indent"]), opening["info"].strip()
        closing = re.compile(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        end = next((j for j in range(i + 1, len(lines)) if closing.match(lines[j])), len(lines))
        body = lines[i + 1 : end]
        directive = DIRECTIVE.match(info)
        if _is_python(info):
            if directive:
                body = _strip_directive_options(body)
            source = "\n".join(_dedent(line, indent) for line in body) + "\n"
            blocks.append(Block(line=first + i + 1, source=source))
        elif directive and directive["name"] not in VERBATIM_DIRECTIVES:
            blocks.extend(_blocks_in(body, first + i + 1))
        i = end + 1
    return blocks


def python_blocks(text: str) -> list[Block]:
    """The python blocks of a MyST page, in order, including those inside admonitions."""
    return _blocks_in(text.splitlines(), 0)


def _pages() -> list[Path]:
    pages = [p for p in sorted(DOCS.rglob("*.md")) if "_build" not in p.parts]
    return [*pages, ROOT / "README.md"]


def _name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def _run_doctest(source: str, filename: str, namespace: dict[str, object]) -> None:
    """Run a ``>>>`` block as a doctest: its shown outputs must match."""
    test = doctest.DocTestParser().get_doctest(source, namespace, filename, filename, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    runner.run(test, out=report.append, clear_globs=False)
    namespace.update(test.globs)
    if runner.failures:
        raise AssertionError("".join(report))


def run_page(name: str, text: str) -> None:
    """Run the python blocks of one page in order in a shared namespace.

    A block whose first line starts with ``>>>`` runs as a doctest; any other block is executed
    as a script.

    Raises:
        AssertionError: naming the page, the block number and the line of its fence, with the
            traceback of the failing code (frames of the page only) or the doctest report.
    """
    namespace: dict[str, object] = {"__name__": "__docs__"}
    blocks = python_blocks(text)
    for number, block in enumerate(blocks, 1):
        where = f"block {number} of {len(blocks)} in {name} (fence at line {block.line})"
        filename = f"{name}, block {number} of {len(blocks)} (fence at line {block.line})"
        try:
            if block.source.lstrip().startswith(">>>"):
                _run_doctest(block.source, filename, namespace)
            else:
                exec(compile(block.source, filename, "exec"), namespace)
        except Exception as error:
            frames = traceback.extract_tb(error.__traceback__)
            ours = "".join(traceback.format_list([f for f in frames if f.filename == filename]))
            detail = "".join(traceback.format_exception_only(type(error), error))
            raise AssertionError(
                f"python {where} failed:\n{ours}{detail}\n--- block source ---\n{block.source}"
            ) from error


PAGES_WITH_CODE = [p for p in _pages() if python_blocks(p.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=_name)
def test_python_blocks_of_page_run(page: Path, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    torch.manual_seed(0)
    run_page(_name(page), page.read_text(encoding="utf-8"))


def test_pages_that_teach_by_code_have_runnable_code() -> None:
    names = {_name(p) for p in PAGES_WITH_CODE}
    expected = {"docs/quickstart.md", "docs/concepts.md", "docs/tutorials/distributed.md"}
    assert expected | {"README.md"} <= names


def test_extraction_finds_python_blocks_only() -> None:
    page = "\n".join(
        [
            "```python",
            "a = 1",
            "```",
            "```bash",
            "exit 1",
            "```",
            "````{note}",
            "```python",
            "nested = True",
            "```",
            "````",
            "````{eval-rst}",
            "```python",
            "not_markdown = True",
            "```",
            "````",
            "````text",
            "```python",
            "shown_as_text = True",
            "```",
            "````",
            "```{code-block} python",
            ":caption: with an option",
            "b = a + 1",
            "```",
            "1. a list item",
            "",
            "   ```{testcode}",
            "   c = b + 1",
            "   ```",
            ":::{code-block} py",
            "d = 4",
            ":::",
        ]
    )
    blocks = python_blocks(page)
    sources = ["a = 1\n", "nested = True\n", "b = a + 1\n", "c = b + 1\n", "d = 4\n"]
    assert [b.source for b in blocks] == sources
    assert [b.line for b in blocks] == [1, 8, 22, 28, 31]


def test_a_failing_block_names_the_page_and_the_block() -> None:
    page = "text\n\n```python\nx = 1\n```\n\n```python\ny = x + undefined_name\n```\n"
    with pytest.raises(AssertionError) as info:
        run_page("docs/example.md", page)
    message = str(info.value)
    assert "block 2 of 2 in docs/example.md (fence at line 7)" in message
    assert "NameError" in message and "y = x + undefined_name" in message


def test_prompt_blocks_run_as_doctests_sharing_the_namespace() -> None:
    page = "```python\nx = 2\n```\n\n```pycon\n>>> y = x * 3\n>>> y\n6\n```\n"
    run_page("docs/ok.md", page)
    wrong = page.replace("\n6\n", "\n7\n") + "```python\nassert y == 6\n```\n"
    with pytest.raises(AssertionError) as info:
        run_page("docs/wrong.md", wrong)
    assert "block 2 of 3 in docs/wrong.md" in str(info.value)
    assert "Expected:" in str(info.value) and "7" in str(info.value)


LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
DOC_ROLE = re.compile(
    r"\{(?P<role>doc|download)\}`(?:[^`<]*<(?P<angled>[^>`]+)>|(?P<plain>[^`]+))`"
)
FILE_DIRECTIVE = re.compile(
    r"^\s*(?:`{3,}|:{3,})\{(?:figure|image|literalinclude|include)\}\s*(\S+)", re.M
)
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|#)", re.I)


def _outside_code(text: str) -> str:
    """The page without the bodies of non-directive code blocks and without inline code."""
    kept: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None or DIRECTIVE.match(opening["info"].strip()):
            kept.append(lines[i])
            i += 1
            continue
        fence = opening["fence"]
        closing = re.compile(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        i = next((j for j in range(i + 1, len(lines)) if closing.match(lines[j])), len(lines)) + 1
    return "\n".join(kept)


def internal_targets(page: Path) -> list[tuple[str, Path]]:
    """``(as written, resolved path)`` for every internal reference of a page."""
    text = _outside_code(page.read_text(encoding="utf-8"))
    targets: list[tuple[str, Path]] = []
    for role in DOC_ROLE.finditer(text):
        written = (role["angled"] or role["plain"]).strip()
        base = DOCS / written.lstrip("/") if written.startswith("/") else page.parent / written
        path = base.with_name(base.name + ".md") if role["role"] == "doc" else base
        targets.append((f"{{{role['role']}}}`{written}`", path))
    for directive in FILE_DIRECTIVE.finditer(text):
        written = directive[1]
        base = DOCS / written.lstrip("/") if written.startswith("/") else page.parent / written
        targets.append((written, base))
    prose = DOC_ROLE.sub("", text)
    prose = re.sub(r"`[^`\n]*`", "", prose)
    for link in LINK.finditer(prose):
        written = link["target"]
        if EXTERNAL.match(written):
            continue
        path = written.split("#", 1)[0]
        targets.append((written, page.parent / path))
    return targets


def test_internal_links_resolve() -> None:
    pages = [p for p in _pages() if p.is_relative_to(DOCS)]
    broken = [
        f"{_name(page)}: {written} (no file {path.relative_to(ROOT)})"
        for page in pages
        for written, path in internal_targets(page)
        if not path.exists()
    ]
    assert not broken, "links to files that do not exist:\n" + "\n".join(broken)


def test_link_check_sees_broken_links(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    (tmp_path / "exists.md").write_text("# here\n")
    page.write_text(
        "[ok](exists.md#here) [web](https://example.org) [anchor](#top) {doc}`exists`\n"
        "{download}`the page <exists.md>` {download}`gone.py`\n"
        "[gone](missing.md) {doc}`Title <nowhere>` ![pic](_static/none.png)\n"
        "`[in code](not-checked.md)`\n\n```text\n[also code](not-checked.md)\n```\n"
        "```{figure} _static/missing.png\n:alt: a figure\n```\n"
    )
    resolved = {written: path.exists() for written, path in internal_targets(page)}
    assert resolved == {
        "exists.md#here": True,
        "{doc}`exists`": True,
        "{download}`exists.md`": True,
        "{download}`gone.py`": False,
        "missing.md": False,
        "{doc}`nowhere`": False,
        "_static/none.png": False,
        "_static/missing.png": False,
    }
