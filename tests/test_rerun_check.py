"""`aad rerun-check`: two runs' claim verdicts compared, every move named, an opposite flip refused
(aad_lib.site.rerun_check), on hand-made results sections and on the session's smoke run."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aad_lib.site.claims import Claim
from aad_lib.site.rerun_check import DECIDED_OPEN, NO_VERDICT_MOVE, ONLY_ONE, OPPOSITE, SAME, compare, move, read_verdicts, report
from aad_lib.site.results_summary import claims_table
from aad_lib.site.verdict_rules import DOES_NOT_HOLD, HOLDS, NO_VERDICT, NOT_DISTINGUISHABLE
from aad_lib.validation import AadError


def _results(folder: Path, verdicts: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    claims = [Claim("AALP", name, "+0.5 points", "+1.0 [-0.2, +2.1] points | with a bar", v, "03_aalp_vs_alp", "x")
              for name, v in verdicts.items()]
    (folder / "results.md").write_text("intro\n\n" + claims_table(claims) + "\n\nmore text\n")
    return folder


def test_moves_by_kind():
    assert move(HOLDS, DOES_NOT_HOLD) == OPPOSITE == move(DOES_NOT_HOLD, HOLDS)
    assert move(HOLDS, NOT_DISTINGUISHABLE) == DECIDED_OPEN == move(NOT_DISTINGUISHABLE, DOES_NOT_HOLD)
    assert move(NO_VERDICT, HOLDS) == NO_VERDICT_MOVE == move(NOT_DISTINGUISHABLE, NO_VERDICT)
    assert move(HOLDS, HOLDS) == SAME and move(None, HOLDS) == ONLY_ONE


def test_two_results_sections_compared_claim_by_claim(tmp_path):
    first = _results(tmp_path / "a", {"c1": HOLDS, "c2": HOLDS, "c3": NOT_DISTINGUISHABLE, "c4": NO_VERDICT, "c5": HOLDS})
    second = _results(tmp_path / "b", {"c1": HOLDS, "c2": DOES_NOT_HOLD, "c3": HOLDS, "c4": NOT_DISTINGUISHABLE, "c6": HOLDS})
    assert read_verdicts(first)[0].ours == "+1.0 [-0.2, +2.1] points | with a bar"  # an escaped bar stays in its cell
    table = compare(read_verdicts(first), read_verdicts(second / "results.md"))
    assert dict(zip(table["claim"], table["move"])) == {"c1": SAME, "c2": OPPOSITE, "c3": DECIDED_OPEN,
                                                         "c4": NO_VERDICT_MOVE, "c5": ONLY_ONE, "c6": ONLY_ONE}
    _, text = report(first, second)
    assert ("4 claims in both runs: opposite flip 1, decisive <-> not distinguishable 1, verdict <-> no verdict 1, "
            "same 1; only in one run: 2") in text
    assert "c2" in text and "| c1 " not in text  # only the moves are listed


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(AadError, match="results.md not found"):
        read_verdicts(tmp_path)
    (tmp_path / "results.md").write_text("no table here\n")
    with pytest.raises(AadError, match="no paper-claims table"):
        read_verdicts(tmp_path)
    _results(tmp_path, {"c1": HOLDS})
    (tmp_path / "results.md").write_text((tmp_path / "results.md").read_text().replace("**holds**", "**maybe**"))
    with pytest.raises(AadError, match="unknown verdict 'maybe'"):
        read_verdicts(tmp_path)


@pytest.mark.slow
def test_rerun_check_on_the_smoke_run_and_a_planted_flip(smoke_project, tmp_path):
    """The smoke run against itself moves nothing; a copy of its results with one claim's verdict set to
    holds in one and does not hold in the other is refused, the claim named."""
    reports = smoke_project / "reports"
    aad = [sys.executable, "-m", "aad_lib.cli"]
    same = subprocess.run([*aad, "rerun-check", str(reports), str(reports)], capture_output=True, text=True)
    assert same.returncode == 0, same.stderr
    assert "opposite flip 0" in same.stdout and "No claim moved." in same.stdout
    claims = read_verdicts(reports)
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, planted in ((first, HOLDS), (second, DOES_NOT_HOLD)):
        folder.mkdir()
        lines = (reports / "results.md").read_text().splitlines()
        row = next(i for i, line in enumerate(lines) if f"| {claims[0].claim} |" in line)
        lines[row] = lines[row].replace(f"**{claims[0].verdict}**", f"**{planted}**")
        (folder / "results.md").write_text("\n".join(lines) + "\n")
    flipped = subprocess.run([*aad, "rerun-check", str(first), str(second)], capture_output=True, text=True)
    assert flipped.returncode != 0
    assert "opposite flip 1" in flipped.stdout and claims[0].claim in flipped.stdout
    assert "flipped between holds and does not hold" in flipped.stderr
