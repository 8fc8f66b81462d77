"""Do two runs of the pipeline give the same verdicts? The rerun check compares the paper-claims
tables of two results sections (``reports/results.md`` of two runs: two hosts, two devices, or the
same profile with other training seeds) claim by claim and names every move:

- **opposite flip**: *holds* in one run and *does not hold* in the other, the failure this check
  exists for (a verdict that an honest interval should never give);
- **decisive <-> not distinguishable**: one run decides, the other cannot tell, expected only where
  the effect sits at the edge of its interval;
- **verdict <-> no verdict**: one run's evidence does not cover training runs (too few of them);
- **only in one run**: a claim the other run's tables do not answer.

The command: ``aad rerun-check FIRST SECOND`` (each a results folder such as ``reports/`` or a
``results.md``); it exits with status 1 when any claim flips to the opposite verdict.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..validation import AadError
from .verdict_rules import DOES_NOT_HOLD, HOLDS, NOT_DISTINGUISHABLE, VERDICTS

OPPOSITE = "opposite flip"
DECIDED_OPEN = "decisive <-> not distinguishable"
NO_VERDICT_MOVE = "verdict <-> no verdict"
SAME = "same"
ONLY_ONE = "only in one run"
MOVES = (OPPOSITE, DECIDED_OPEN, NO_VERDICT_MOVE, ONLY_ONE, SAME)

_HEADER = "| work | claim | paper | ours | verdict | table |"
_CELL = re.compile(r"(?<!\\)\|")


@dataclass(frozen=True)
class Verdict:
    """One claim of a results section: who claims it, what, our number and the verdict."""

    work: str
    claim: str
    ours: str
    verdict: str


def _results_file(path: str | Path) -> Path:
    path = Path(path)
    found = path / "results.md" if path.is_dir() else path
    if not found.is_file():
        raise AadError(f"{found} not found: give a results folder holding results.md (e.g. reports/) or a results.md "
                       "written by `aad site`.")
    return found


def read_verdicts(path: str | Path) -> list[Verdict]:
    """The paper-claims table of a results section (``results.md`` or the folder holding it), as
    written by :func:`aad_lib.site.results_summary.claims_table`."""
    found = _results_file(path)
    lines = found.read_text().splitlines()
    if _HEADER not in lines:
        raise AadError(f"{found} holds no paper-claims table (its header {_HEADER!r}): is it a results section "
                       "written by `aad site`?")
    rows = []
    for line in lines[lines.index(_HEADER) + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip().replace("\\|", "|") for c in _CELL.split(line.strip())[1:-1]]
        if len(cells) != 6:
            raise AadError(f"{found}: a claims row with {len(cells)} cells, expected 6: {line!r}")
        verdict = cells[4].strip("*")
        if verdict not in VERDICTS:
            raise AadError(f"{found}: unknown verdict {verdict!r} in {line!r}; valid: {', '.join(VERDICTS)}.")
        rows.append(Verdict(cells[0], cells[1], cells[3], verdict))
    return rows


def move(first: str | None, second: str | None) -> str:
    """The kind of move between two verdicts of one claim (None: the run does not have the claim)."""
    if first is None or second is None:
        return ONLY_ONE
    if first == second:
        return SAME
    if {first, second} == {HOLDS, DOES_NOT_HOLD}:
        return OPPOSITE
    if NOT_DISTINGUISHABLE in (first, second) and {first, second} <= {HOLDS, DOES_NOT_HOLD, NOT_DISTINGUISHABLE}:
        return DECIDED_OPEN
    return NO_VERDICT_MOVE


def compare(first: list[Verdict], second: list[Verdict]) -> pd.DataFrame:
    """One row per claim of either run (keyed by work and claim, in the first run's order): both
    verdicts, both numbers and the move (:data:`MOVES`)."""
    one = {(v.work, v.claim): v for v in first}
    two = {(v.work, v.claim): v for v in second}
    rows = []
    for key in [*one, *(k for k in two if k not in one)]:
        a, b = one.get(key), two.get(key)
        rows.append({"work": key[0], "claim": key[1], "first": a.verdict if a else "", "second": b.verdict if b else "",
                     "move": move(a.verdict if a else None, b.verdict if b else None),
                     "first ours": a.ours if a else "", "second ours": b.ours if b else ""})
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame) -> str:
    """``57 claims in both runs: opposite flip 0, decisive <-> not distinguishable 12, ...``."""
    counts = Counter(table["move"])
    both = len(table) - counts.get(ONLY_ONE, 0)
    return f"{both} claims in both runs: " + ", ".join(f"{m} {counts.get(m, 0)}" for m in MOVES if m != ONLY_ONE) + (
        f"; {ONLY_ONE}: {counts[ONLY_ONE]}" if counts.get(ONLY_ONE) else "")


def report(first: str | Path, second: str | Path) -> tuple[pd.DataFrame, str]:
    """:func:`compare` of the two results sections and the Markdown report: the summary line, then
    every claim that moved (the unchanged ones are only counted)."""
    table = compare(read_verdicts(first), read_verdicts(second))
    moved = table[table["move"] != SAME]
    text = [f"Rerun check: `{_results_file(first)}` (first) against `{_results_file(second)}` (second)", "",
            f"**{summary(table)}**", ""]
    if len(moved):
        text.append(moved.to_markdown(index=False))
    else:
        text.append("No claim moved.")
    return table, "\n".join(text) + "\n"


__all__ = ["MOVES", "OPPOSITE", "DECIDED_OPEN", "NO_VERDICT_MOVE", "SAME", "ONLY_ONE", "Verdict", "read_verdicts",
           "move", "compare", "summary", "report"]
