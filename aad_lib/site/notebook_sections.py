"""Where a notebook shows each result: the section (the nearest Markdown heading above) of the cell
that writes a table, and of every ``**Answer ...**`` the notebook states, with the heading's anchor
in the rendered page. Read from the executed notebook and its page, so a renamed heading or a moved
table is followed without any list to keep in step."""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser

from nbformat import NotebookNode

# A table a cell writes: tables.write_table(..., ctx.out / "tables" / "03_aalp_vs_alp")
TABLE_STEM = re.compile(r"""["'](\d\d_[A-Za-z0-9_]+)["']""")
ANSWER = re.compile(r"^\*\*(Answer(?: \([^)]*\))?)")
CELL_ID_PREFIX = "cell-id="


@dataclass(frozen=True)
class Section:
    """A notebook section: the notebook's name, its page, and the heading's anchor and text."""

    notebook: str
    page: str
    anchor: str
    title: str

    @property
    def href(self) -> str:
        """The link to the section from a page in the same folder: ``<page>#<anchor>``."""
        return f"{self.page}#{self.anchor}"


@dataclass(frozen=True)
class Answer:
    """An answer a notebook states (``Answer (Fig. 1)``) and the section it is in."""

    label: str
    section: Section


class _Headings(HTMLParser):
    """Collects, per notebook cell of an nbconvert page, the id and text of each heading in it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.cell = ""
        self.found: dict[str, list[tuple[str, str]]] = {}
        self._heading: tuple[str, list[str]] | None = None
        self._in_anchor_link = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        element_id = attributes.get("id") or ""
        if tag == "div" and element_id.startswith(CELL_ID_PREFIX):
            self.cell = element_id.removeprefix(CELL_ID_PREFIX)
        elif re.fullmatch(r"h[1-6]", tag) and element_id:
            self._heading = (element_id, [])
        elif tag == "a" and "anchor-link" in (attributes.get("class") or "").split():
            self._in_anchor_link = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._in_anchor_link = False
        elif re.fullmatch(r"h[1-6]", tag) and self._heading:
            element_id, text = self._heading
            self.found.setdefault(self.cell, []).append((element_id, " ".join("".join(text).split())))
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._heading and not self._in_anchor_link:
            self._heading[1].append(data)


def heading_anchors(html: str) -> dict[str, list[tuple[str, str]]]:
    """Cell id -> the (anchor, text) of each heading the cell shows, in an nbconvert page."""
    parser = _Headings()
    parser.feed(html)
    return parser.found


def _walk(nb: NotebookNode, name: str, html: str) -> Iterator[tuple[NotebookNode, Section | None]]:
    """Each code cell of ``nb`` with the section it is in (None above the first heading)."""
    anchors = heading_anchors(html)
    current: Section | None = None
    for cell in nb.cells:
        if cell.cell_type == "markdown" and anchors.get(cell.get("id", "")):
            anchor, title = anchors[cell["id"]][-1]
            current = Section(name, f"{name}.html", anchor, title)
        elif cell.cell_type == "code":
            yield cell, current


def table_sections(nb: NotebookNode, name: str, html: str) -> dict[str, Section]:
    """Table stem -> the section of the first cell of notebook ``name`` that names it (the cell
    that writes it), with ``html`` the notebook's rendered page."""
    found: dict[str, Section] = {}
    for cell, section in _walk(nb, name, html):
        for stem in TABLE_STEM.findall(cell.source):
            if section is not None:
                found.setdefault(stem, section)
    return found


def answers(nb: NotebookNode, name: str, html: str) -> list[Answer]:
    """Every ``**Answer ...**`` that notebook ``name`` displays, with its section."""
    found = []
    for cell, section in _walk(nb, name, html):
        for output in cell.get("outputs", []):
            text = str(output.get("data", {}).get("text/markdown", ""))
            if section is not None and (match := ANSWER.match(text.strip())):
                found.append(Answer(match.group(1), section))
    return found
