"""Sphinx extension: the built site loads nothing from another host.

After an HTML build, every page and stylesheet of the output is read; a script, stylesheet,
font, image or frame that would be fetched from another host (``https://…``, ``//host/…``) is
reported as a warning naming the file and the address, so ``sphinx -W`` fails. Links a reader
clicks (``<a href>``) are not loads and are allowed. Run it alone on a built site with
``python docs/_ext/offline_check.py docs/_build/html``.
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

_EXTERNAL = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//", re.I)
# The attributes through which a browser fetches something when it shows the page.
_LOADS = {
    "script": ("src",),
    "img": ("src", "srcset"),
    "iframe": ("src",),
    "source": ("src", "srcset"),
    "audio": ("src",),
    "video": ("src", "poster"),
    "embed": ("src",),
    "object": ("data",),
}
_LINK_LOADS = {"stylesheet", "preload", "modulepreload", "icon", "prefetch", "manifest"}
_CSS_URL = re.compile(r"""(?:@import\s+(?:url\()?|url\()\s*["']?(?P<url>[^"')\s;]+)""", re.I)


class _Loads(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        names = _LOADS.get(tag, ())
        if tag == "link" and _LINK_LOADS & set(values.get("rel", "").lower().split()):
            names = ("href",)
        for name in names:
            for url in re.split(r",\s*", values.get(name, "")):
                if url.strip():
                    self.urls.append(url.strip().split()[0])
        if "style" in values:
            self.urls += [m["url"] for m in _CSS_URL.finditer(values["style"])]
        self._style = tag == "style"

    def handle_data(self, data: str) -> None:
        if self._style:
            self.urls += [m["url"] for m in _CSS_URL.finditer(data)]

    def handle_endtag(self, tag: str) -> None:
        self._style = False


def external_loads(text: str, *, css: bool = False) -> list[str]:
    """The addresses on other hosts that a page (or a stylesheet, ``css=True``) loads."""
    if css:
        urls = [m["url"] for m in _CSS_URL.finditer(text)]
    else:
        parser = _Loads()
        parser.feed(text)
        urls = parser.urls
    return [url for url in urls if _EXTERNAL.match(url)]


def check_site(outdir: Path) -> list[str]:
    """``"file: address"`` for every external load in the HTML and CSS files under ``outdir``."""
    problems = []
    for path in sorted(outdir.rglob("*")):
        if path.suffix not in (".html", ".css") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for url in external_loads(text, css=path.suffix == ".css"):
            problems.append(f"{path.relative_to(outdir)}: {url}")
    return problems


def _check_after_build(app: Any, exception: BaseException | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    for problem in check_site(Path(app.outdir)):
        logger.warning("the site loads from another host: %s", problem)


def setup(app: Any) -> dict[str, Any]:
    # Late, after extensions that copy assets into the output when the build finishes.
    app.connect("build-finished", _check_after_build, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    found = check_site(Path(sys.argv[1]))
    print("\n".join(found) or "no external loads")
    sys.exit(1 if found else 0)
