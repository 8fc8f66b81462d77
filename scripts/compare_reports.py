#!/usr/bin/env python
"""Compare two ``reports/`` folders file by file, to check that a refactor left every number identical.

Usage::

    python scripts/compare_reports.py BEFORE_DIR AFTER_DIR [--markdown OUT.md]

Exit status 0 when everything that must be identical is identical, 1 otherwise.

What must be identical (a difference is a failure):

* every ``.csv`` (tables, training logs, evaluation records): same columns in the same order, same
  number of rows, and every cell identical (the same text, or the same number exactly, NaN equal to
  NaN; no tolerance: the CPU path is deterministic). Timing columns (:func:`is_timing_name`) are
  compared for presence only;
* every ``.json``: equal once timing keys are removed at every depth; ``timing.json`` is all timing,
  so only its presence counts;
* every ``.md`` without a ``.csv`` twin (same stem, same folder): the same text once the cells of
  timing columns are masked. A ``.md`` with a twin is the same table rendered, covered by the CSV;
* any other file: identical bytes;
* a file in only one folder.

What is information only (reported, never a failure): ``.png`` figures (identical bytes or not:
matplotlib may write nondeterministic metadata), executed notebooks (``.ipynb``: the text/plain and
text/markdown outputs and the printed stdout of each cell, timings and paths not masked), and a
figure or notebook in only one folder.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

# a column or key whose name contains one of these (any case) holds wall-clock time
TIMING_PATTERN = re.compile(r"seconds|minutes|time", re.IGNORECASE)
TIMING_FILES = frozenset({"timing.json"})      # whole files of wall-clock time: presence only
INFO_SUFFIXES = frozenset({".png", ".ipynb"})  # information only, never a failure
MASK = "<timing>"
MAX_DETAILS = 3                                # differing cells / keys / lines named per file

OK, FAIL, INFO = "ok", "FAIL", "info"


@dataclass(frozen=True)
class FileResult:
    """The comparison of one relative path: its kind, status, a short detail and its severity."""

    path: str
    kind: str
    status: str
    detail: str = ""
    severity: str = OK   # OK, FAIL or INFO


def is_timing_name(name: object) -> bool:
    """True for a column or key name that holds wall-clock time (``seconds``, ``train minutes``,
    ``eval_seconds``...)."""
    return bool(TIMING_PATTERN.search(str(name)))


def kind_of(path: str) -> str:
    """The kind of a report file, from its name."""
    p = Path(path)
    if p.name in TIMING_FILES:
        return "timing"
    return {".csv": "csv", ".md": "markdown", ".json": "json", ".png": "figure",
            ".ipynb": "notebook"}.get(p.suffix.lower(), "other")


def list_files(root: Path) -> set[str]:
    """Relative POSIX paths of every file under ``root``."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def short(value: object, width: int = 40) -> str:
    """``value`` as one short line for a detail."""
    text = repr(value) if isinstance(value, str) else str(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 3] + "..."


def summarize_list(items: Sequence[str], total: int, noun: str) -> str:
    """The first details and how many there are in all."""
    more = f" (+{total - len(items)} more)" if total > len(items) else ""
    return f"{total} {noun} differ: " + "; ".join(items) + more


# ---- CSV ---------------------------------------------------------------------------------------

def read_csv_text(path: Path) -> pd.DataFrame:
    """A CSV as a frame of its cell texts (no type guessing, no NA parsing); empty file -> empty frame."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def cells_equal(before: str, after: str) -> bool:
    """Exactly the same cell: the same text, or the same number (NaN equals NaN)."""
    if before == after:
        return True
    try:
        a, b = float(before), float(after)
    except ValueError:
        return False
    return a == b or (math.isnan(a) and math.isnan(b))


def row_label(frame: pd.DataFrame, row: int) -> str:
    """How a detail names row ``row`` (0-based data row): its number and its first cell (the index
    for the tables, the epoch for a training log)."""
    if frame.shape[1] and not is_timing_name(frame.columns[0]):
        return f"row {row} [{frame.iat[row, 0]}]"
    return f"row {row}"


def csv_differences(before: pd.DataFrame, after: pd.DataFrame) -> list[str]:
    """Every differing non-timing cell of two frames with the same columns and shape, as
    ``row R [label] column C: before X after Y``."""
    out = []
    for j, column in enumerate(before.columns):
        if is_timing_name(column):
            continue
        for i in range(before.shape[0]):
            b, a = before.iat[i, j], after.iat[i, j]
            if not cells_equal(b, a):
                out.append(f"{row_label(before, i)} column {column!r}: before {short(b)} after {short(a)}")
    return out


def compare_csv(path: str, before: Path, after: Path) -> FileResult:
    """Same columns, same shape, identical non-timing cells."""
    try:
        b, a = read_csv_text(before), read_csv_text(after)
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        return compare_bytes(path, before, after, kind="csv", note=f"unparsed ({type(error).__name__})")
    if list(b.columns) != list(a.columns):
        gone = [c for c in b.columns if c not in set(a.columns)]
        new = [c for c in a.columns if c not in set(b.columns)]
        detail = f"columns differ: only before {gone}, only after {new}" if gone or new else "column order differs"
        return FileResult(path, "csv", "differs", detail, FAIL)
    if b.shape != a.shape:
        return FileResult(path, "csv", "differs", f"shape before {b.shape} after {a.shape}", FAIL)
    diffs = csv_differences(b, a)
    if diffs:
        return FileResult(path, "csv", "differs", summarize_list(diffs[:MAX_DETAILS], len(diffs), "cells"), FAIL)
    timing = [c for c in b.columns if is_timing_name(c)]
    note = f"{b.shape[0]}x{b.shape[1]}" + (f", timing columns {timing} not compared" if timing else "")
    return FileResult(path, "csv", "identical", note, OK)


# ---- JSON --------------------------------------------------------------------------------------

def drop_timing(value: Any) -> Any:
    """``value`` with every dict key that names wall-clock time removed, at every depth."""
    if isinstance(value, dict):
        return {k: drop_timing(v) for k, v in value.items() if not is_timing_name(k)}
    if isinstance(value, list):
        return [drop_timing(v) for v in value]
    return value


def json_differences(before: Any, after: Any, where: str = "$") -> list[str]:
    """Every place two JSON values differ, as ``$.a.b[2]: before X after Y`` (``only before``/
    ``only after`` for a missing key)."""
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key in list(before) + [k for k in after if k not in before]:
            if key not in after:
                out.append(f"{where}.{key}: only before")
            elif key not in before:
                out.append(f"{where}.{key}: only after")
            else:
                out += json_differences(before[key], after[key], f"{where}.{key}")
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [d for i, (b, a) in enumerate(zip(before, after)) for d in json_differences(b, a, f"{where}[{i}]")]
    if type(before) is type(after) and before == after:
        return []
    if isinstance(before, float) and isinstance(after, float) and math.isnan(before) and math.isnan(after):
        return []
    return [f"{where}: before {short(before)} after {short(after)}"]


def compare_json(path: str, before: Path, after: Path) -> FileResult:
    """Equal once timing keys are removed."""
    try:
        b, a = json.loads(before.read_text()), json.loads(after.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return compare_bytes(path, before, after, kind="json", note=f"unparsed ({type(error).__name__})")
    diffs = json_differences(drop_timing(b), drop_timing(a))
    if diffs:
        return FileResult(path, "json", "differs", summarize_list(diffs[:MAX_DETAILS], len(diffs), "values"), FAIL)
    return FileResult(path, "json", "identical", "timing keys not compared" if drop_timing(b) != b else "", OK)


def compare_timing(path: str, before: Path, after: Path) -> FileResult:
    """A file of wall-clock time: present in both is all that counts."""
    return FileResult(path, "timing", "present", "wall-clock only, values not compared", OK)


# ---- Markdown ----------------------------------------------------------------------------------

def split_row(line: str) -> list[str]:
    """The cells of one Markdown pipe-table line."""
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def mask_timing_cells(text: str) -> list[str]:
    """The lines of a Markdown text with every cell of a timing column replaced by a mask; a pipe
    table's header is the first ``|`` line after a non-table line."""
    out, timing_cols, in_table = [], set(), False
    for line in text.splitlines():
        if not line.lstrip().startswith("|"):
            in_table = False
            out.append(line)
            continue
        cells = split_row(line)
        if not in_table:
            in_table, timing_cols = True, {i for i, c in enumerate(cells) if is_timing_name(c)}
            out.append(line)
            continue
        if set(line.strip()) <= set("|-: "):  # the separator row
            out.append(line)
            continue
        out.append("| " + " | ".join(MASK if i in timing_cols else c for i, c in enumerate(cells)) + " |")
    return out


def line_differences(before: list[str], after: list[str]) -> list[str]:
    """Every differing line (1-based numbers), plus a line-count difference."""
    out = [f"line {i + 1}: before {short(b, 60)} after {short(a, 60)}"
           for i, (b, a) in enumerate(zip(before, after)) if b != a]
    if len(before) != len(after):
        out.append(f"line count before {len(before)} after {len(after)}")
    return out


def compare_markdown(path: str, before: Path, after: Path) -> FileResult:
    """Text-equal once the cells of timing columns are masked (for a ``.md`` without a CSV twin)."""
    diffs = line_differences(mask_timing_cells(before.read_text()), mask_timing_cells(after.read_text()))
    if diffs:
        return FileResult(path, "markdown", "differs", summarize_list(diffs[:MAX_DETAILS], len(diffs), "lines"), FAIL)
    return FileResult(path, "markdown", "identical", "no CSV twin: text compared, timing cells masked", OK)


def has_csv_twin(path: str, files: set[str]) -> bool:
    """A ``.md`` whose table is also written as ``.csv`` beside it."""
    return path.endswith(".md") and path[: -len(".md")] + ".csv" in files


# ---- figures, notebooks, other files -----------------------------------------------------------

def compare_bytes(path: str, before: Path, after: Path, kind: str = "other", note: str = "",
                  severity_if_differs: str = FAIL) -> FileResult:
    """Identical bytes or not."""
    prefix = f"{note}: " if note else ""
    if before.read_bytes() == after.read_bytes():
        return FileResult(path, kind, "identical", f"{prefix}same bytes".strip(), OK)
    sizes = f"{before.stat().st_size} vs {after.stat().st_size} bytes"
    return FileResult(path, kind, "differs", f"{prefix}bytes differ ({sizes})", severity_if_differs)


def compare_figure(path: str, before: Path, after: Path) -> FileResult:
    """PNG bytes, as information only (matplotlib output may carry nondeterministic metadata)."""
    return compare_bytes(path, before, after, kind="figure", severity_if_differs=INFO)


def notebook_texts(path: Path) -> list[list[str]]:
    """Per code cell, its text outputs: ``text/plain`` and ``text/markdown`` of results and
    displays, and printed stdout (stderr is left out: warnings and progress bars)."""
    notebook = json.loads(path.read_text())
    cells = []
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        texts = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stdout":
                texts.append("stdout: " + join_text(output.get("text", "")))
            for mime in ("text/markdown", "text/plain"):
                if mime in output.get("data", {}):
                    texts.append(f"{mime}: " + join_text(output["data"][mime]))
        cells.append(texts)
    return cells


def join_text(text: str | list[str]) -> str:
    """A notebook text field (a string or a list of lines) as one string."""
    return text if isinstance(text, str) else "".join(text)


def first_text_difference(before: str, after: str) -> str:
    """The first differing line of two output texts."""
    b, a = before.splitlines(), after.splitlines()
    diffs = line_differences(b, a)
    return diffs[0] if diffs else "whitespace"


def compare_notebook(path: str, before: Path, after: Path) -> FileResult:
    """The text outputs of each code cell, as information only (they print timings and paths)."""
    try:
        b, a = notebook_texts(before), notebook_texts(after)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return FileResult(path, "notebook", "unreadable", type(error).__name__, INFO)
    if len(b) != len(a):
        return FileResult(path, "notebook", "differs", f"code cells before {len(b)} after {len(a)}", INFO)
    diffs = []
    for i, (cell_b, cell_a) in enumerate(zip(b, a)):
        if cell_b == cell_a:
            continue
        if len(cell_b) != len(cell_a):
            diffs.append(f"code cell {i}: outputs before {len(cell_b)} after {len(cell_a)}")
            continue
        diffs += [f"code cell {i} {ob.split(':', 1)[0]} {first_text_difference(ob, oa)}"
                  for ob, oa in zip(cell_b, cell_a) if ob != oa]
    if diffs:
        return FileResult(path, "notebook", "differs", summarize_list(diffs[:MAX_DETAILS], len(diffs), "outputs"), INFO)
    return FileResult(path, "notebook", "identical", f"{len(b)} code cells, same text outputs", OK)


COMPARERS = {"csv": compare_csv, "json": compare_json, "timing": compare_timing, "markdown": compare_markdown,
             "figure": compare_figure, "notebook": compare_notebook, "other": compare_bytes}


# ---- folders -----------------------------------------------------------------------------------

def compare_one(path: str, before_root: Path, after_root: Path, before_files: set[str],
                after_files: set[str]) -> FileResult:
    """The comparison of one relative path found in either folder."""
    kind = kind_of(path)
    if kind == "markdown" and has_csv_twin(path, before_files) and has_csv_twin(path, after_files):
        return FileResult(path, kind, "covered", "same table as the CSV beside it", OK)
    lonely = FAIL if Path(path).suffix.lower() not in INFO_SUFFIXES else INFO
    if path not in after_files:
        return FileResult(path, kind, "only before", "", lonely)
    if path not in before_files:
        return FileResult(path, kind, "only after", "", lonely)
    return COMPARERS[kind](path, before_root / path, after_root / path)


def compare_folders(before: Path, after: Path) -> list[FileResult]:
    """Every file of either folder, compared, in path order."""
    before_files, after_files = list_files(before), list_files(after)
    return [compare_one(p, before, after, before_files, after_files) for p in sorted(before_files | after_files)]


def failed(results: Iterable[FileResult]) -> bool:
    """Whether anything that must be identical is not."""
    return any(r.severity == FAIL for r in results)


def count(results: Iterable[FileResult], *statuses: str) -> int:
    """How many results have one of ``statuses``."""
    return sum(r.status in statuses for r in results)


def total_line(results: Sequence[FileResult]) -> str:
    """One line: the must-be-identical files (tables, JSON, logs) by status, then the information."""
    strict = [r for r in results if r.kind not in ("figure", "notebook") and r.status != "covered"]
    figures = [r for r in results if r.kind == "figure"]
    notebooks = [r for r in results if r.kind == "notebook"]
    covered = count(results, "covered")
    return (f"{count(strict, 'identical', 'present')} tables identical, {count(strict, 'differs')} differ, "
            f"{count(strict, 'only before')} only before, {count(strict, 'only after')} only after"
            f" ({covered} markdown tables covered by their CSV; information: figures "
            f"{count(figures, 'identical')} identical / {len(figures) - count(figures, 'identical')} not, "
            f"notebooks {count(notebooks, 'identical')} identical / {len(notebooks) - count(notebooks, 'identical')} not)"
            f" -> {'FAIL' if failed(results) else 'PASS'}")


HEADER = ("file", "kind", "status", "severity", "detail")


def rows_of(results: Iterable[FileResult]) -> list[tuple[str, ...]]:
    """The report table's rows."""
    return [(r.path, r.kind, r.status, r.severity, r.detail) for r in results]


def plain_report(results: Sequence[FileResult]) -> str:
    """The per-file table as aligned text, and the total."""
    rows = [HEADER, *rows_of(results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1] for row in rows]
    return "\n".join(line.rstrip() for line in lines) + "\n\n" + total_line(results) + "\n"


def markdown_report(results: Sequence[FileResult], before: Path, after: Path) -> str:
    """The per-file table as a Markdown report, and the total."""
    lines = ["# Reports comparison", "", f"- before: `{before}`", f"- after: `{after}`", "",
             "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows_of(results)]
    return "\n".join(lines) + "\n\n**" + total_line(results) + "**\n"


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI: compare BEFORE_DIR and AFTER_DIR, print the table, exit 1 on any failure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path, help="reports folder before the change")
    parser.add_argument("after", type=Path, help="reports folder after the change")
    parser.add_argument("--markdown", type=Path, metavar="OUT.md", help="also write the report as Markdown")
    args = parser.parse_args(argv)
    for folder in (args.before, args.after):
        if not folder.is_dir():
            parser.error(f"not a folder: {folder}")
    results = compare_folders(args.before, args.after)
    sys.stdout.write(plain_report(results))
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown_report(results, args.before, args.after))
    return 1 if failed(results) else 0


if __name__ == "__main__":
    sys.exit(main())
