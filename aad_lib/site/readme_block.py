"""Copy the run's generated results section (``reports/results.md``,
:mod:`aad_lib.site.results_summary`) into the README, between its markers: ``aad readme``
(``--check`` only compares), which ``make readme`` and ``make all`` (after ``dvc repro``) run.
Everything outside the markers is left as it is.
"""
from __future__ import annotations

from pathlib import Path

from ..files import atomic_write_text
from ..validation import AadError
from .results_summary import BEGIN, END


def readme_block(readme: str) -> str:
    """The generated section of ``readme``, markers included; an error when the markers are missing
    or out of order."""
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        raise AadError(f"the README has no results block: put the lines\n{BEGIN}\n{END}\nwhere it should go.")
    return readme[start:end + len(END)] + "\n"


def replace_block(readme: str, block: str) -> str:
    """``readme`` with its results block replaced by ``block`` (which carries its own markers)."""
    old = readme_block(readme)
    if not (block.startswith(BEGIN) and block.rstrip("\n").endswith(END)):
        raise AadError("the generated results section lacks its markers: rebuild it with `aad site`.")
    start = readme.find(BEGIN)
    return readme[:start] + block + readme[start + len(old):]


def sync_readme(readme: Path, results: Path, *, check: bool = False) -> bool:
    """Copy ``results`` (the generated section) into ``readme``'s block; with ``check``, only compare.
    Returns whether the README holds the section (after the copy, unless ``check``)."""
    if not results.is_file():
        raise AadError(f"{results} not found: build it with `dvc repro` (the site stage) or `aad site`.")
    text = readme.read_text()
    updated = replace_block(text, results.read_text())
    if updated == text:
        return True
    if check:
        return False
    atomic_write_text(readme, updated)
    return True
