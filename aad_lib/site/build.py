"""``aad site``: the report of a finished run as a static site, ``<reports>/site/``:

- ``index.html``: the verdict of every paper claim the tables answer, linked to the notebook section
  that shows it; the notebooks' other answers; the pages, figures and tables; the run's manifest;
- ``<notebook>.html``: each executed notebook (:mod:`aad_lib.site.pages`), with ``notebook.css``,
  the stylesheet they share;
- ``figures/`` and ``tables/``: copies of the run's figures and tables, and ``methods/``: the method
  notes the notebooks cite (``docs/methods/``), so that every link and image works from ``file://``
  and from a static server rooted at the site alike.

Beside the site it writes ``<reports>/results.md``, the README's generated results section
(:mod:`aad_lib.site.results_summary`).

The site is built in a temporary folder beside the target and swapped in at the end, so a failed
build leaves the previous site as it was.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

from ..files import atomic_write_bytes, atomic_write_text
from ..validation import AadError
from . import claims as claim_tables
from . import manifest as run_manifest
from .results_summary import results_markdown
from .index_page import PageEntry, index_html
from .notebook_sections import Answer, Section, answers, table_sections
from .pages import prepare, render, shared_stylesheet, title_of
from .style import CSS


# The method notes the notebooks link (``../docs/methods/<note>.md`` from notebooks/): copied into the
# site's ``methods/`` and the pages' links pointed there, so that they resolve inside the site too.
NOTES_DIR = Path("docs") / "methods"
NOTES_HREF_IN_NOTEBOOKS = "../docs/methods/"
NOTES_HREF_IN_SITE = "methods/"
# The notebook pages' shared stylesheet (nbconvert's lab CSS), one file beside them.
NOTEBOOK_CSS = "notebook.css"


def notebook_nav(pages: list[PageEntry], current: str) -> str:
    """The navigation bar above a notebook page: the index, then every notebook, ``current`` marked."""
    links = ['<a href="index.html">Report index</a>']
    for page in pages:
        attribute = ' class="current" aria-current="page"' if page.name == current else ""
        links.append(f'<a href="{page.href}"{attribute}>{page.name}</a>')
    return f'<nav class="aad-nav">{"".join(links)}</nav>'


def _copy_files(source: Path, target: Path, pattern: str) -> list[str]:
    names = []
    for path in sorted(source.glob(pattern)):
        atomic_write_bytes(target / path.name, path.read_bytes())
        names.append(path.name)
    return names


def _swap_in(built: Path, out: Path) -> None:
    """Replace ``out`` by the finished ``built`` folder (the old one removed only once the new one is
    in place)."""
    old = out.with_name(f".{out.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if out.exists():
        out.rename(old)
    built.rename(out)
    if old.exists():
        shutil.rmtree(old)


def build_site(reports: str | Path, out: str | Path, *, profile: str, arp_columns: list[str],
               root: str | Path = ".") -> Path:
    """Render the run under ``reports`` (its ``notebooks/``, ``tables/``, ``figures/``, ``eval/``
    and ``train/``) into the site ``out``; ``profile`` and ``root`` (the project, for its commit)
    go into the manifest, ``arp_columns`` are the ARP defense's PGD and CW columns; then ``results.md``
    beside it under ``reports``. Returns ``out``."""
    reports, out = Path(reports), Path(out)
    executed = sorted((reports / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not executed:
        raise AadError(f"no executed notebook under {reports / 'notebooks'}: run the pipeline first (`dvc repro`).")
    built = out.with_name(f".{out.name}.build")  # beside the target: the final rename stays on one file system
    if built.exists():
        shutil.rmtree(built)  # left by a build that was killed
    built.mkdir(parents=True)
    try:
        notebooks = {path.stem: nbformat.read(path, as_version=4) for path in executed}
        pages = [PageEntry(name, title_of(nb, name), f"{name}.html", nb.metadata.get("papermill", {}).get("duration"))
                 for name, nb in notebooks.items()]
        sections: dict[str, Section] = {}
        stated: list[Answer] = []
        stylesheets = set()
        for page in pages:
            nb = notebooks[page.name]
            body = render(prepare(nb, reports / "figures"), page.title, notebook_nav(pages, page.name), CSS)
            body, stylesheet = shared_stylesheet(body, NOTEBOOK_CSS)
            stylesheets.add(stylesheet)
            body = body.replace(f'href="{NOTES_HREF_IN_NOTEBOOKS}', f'href="{NOTES_HREF_IN_SITE}')
            atomic_write_text(built / page.href, body)
            for stem, section in table_sections(nb, page.name, body).items():
                sections.setdefault(stem, section)
            stated += answers(nb, page.name, body)
        if len(stylesheets) != 1:  # one template and theme: the pages' CSS cannot differ
            raise AadError(f"the notebook pages rendered {len(stylesheets)} different stylesheets; expected one.")
        atomic_write_text(built / NOTEBOOK_CSS, stylesheets.pop())
        figures = _copy_files(reports / "figures", built / "figures", "*.png")
        _copy_files(Path(root) / NOTES_DIR, built / NOTES_HREF_IN_SITE, "*.md")
        _copy_files(reports / "tables", built / "tables", "*.csv")
        _copy_files(reports / "tables", built / "tables", "*.md")
        tables = sorted(p.stem for p in (built / "tables").glob("*.csv"))
        claims = claim_tables.read_claims(reports / "tables", arp_columns)
        manifest = run_manifest.collect(root, reports, profile)
        atomic_write_text(built / "index.html", index_html(claims, sections, stated, pages, figures, tables, manifest))
        results = results_markdown(reports, claims, profile)  # before the swap: a failure keeps the old site
        _swap_in(built, out)
        atomic_write_text(reports / "results.md", results)
    finally:
        if built.exists():
            shutil.rmtree(built)
    return out
