"""scripts/compare_reports.py: two fake reports folders, identical numbers pass, changed numbers fail,
wall-clock time and figures never do."""
from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compare_reports.py"

TABLE_CSV = "method,Clean,PGD-40,eval_seconds\nalp,98.0000,71.0000,12.5\naalp,97.0000,80.0000,13.1\n"
TABLE_MD = ("|      |   Clean |   PGD-40 |   eval_seconds |\n|:-----|--------:|---------:|---------------:|\n"
            "| alp  |   98.00 |    71.00 |          12.50 |\n| aalp |   97.00 |    80.00 |          13.10 |\n")
BUDGET_MD = ("Budget\n\n| method | epochs | train minutes |\n|---|---|---|\n| alp | 2 | 0.4 |\n")
TRAIN_CSV = "epoch,loss,test_adv_acc,seconds\n1,2.3401,0.16,0.635119\n2,2.25659,0.28,0.516522\n"
SUMMARY = {"method": "alp", "seed": 0, "n": 100, "accuracy": {"Clean": {"accuracy": 0.98, "n": 100}}}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
NOTEBOOK = {"cells": [{"cell_type": "code", "source": "print(1)", "metadata": {}, "execution_count": 1,
                       "outputs": [{"output_type": "stream", "name": "stdout", "text": ["took 1.2 s\n"]}]}],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


@pytest.fixture(scope="module")
def compare() -> ModuleType:
    """The script, imported as a module."""
    spec = importlib.util.spec_from_file_location("compare_reports", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def write_reports(root: Path) -> Path:
    """A small reports folder: a table (CSV + MD twin), a lone MD, a training log, an evaluation,
    a data summary, a figure and a notebook."""
    files = {"tables/03_table2.csv": TABLE_CSV, "tables/03_table2.md": TABLE_MD, "tables/budget.md": BUDGET_MD,
             "train/alp-seed0.csv": TRAIN_CSV, "eval/alp-seed0/summary.json": json.dumps(SUMMARY),
             "eval/alp-seed0/timing.json": json.dumps({"seconds": 3.2, "device": "cpu"}),
             "data/mnist5k.json": json.dumps({"dataset": "mnist5k", "test": {"n": 100}}),
             "notebooks/03.ipynb": json.dumps(NOTEBOOK)}
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "figures").mkdir()
    (root / "figures/fig.png").write_bytes(PNG)
    return root


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """Two identical fake reports folders."""
    before = write_reports(tmp_path / "before")
    after = tmp_path / "after"
    shutil.copytree(before, after)
    return before, after


def edit(path: Path, old: str, new: str) -> None:
    """Replace ``old`` (which must be there) by ``new`` in a text file."""
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def by_path(compare: ModuleType, before: Path, after: Path) -> dict[str, object]:
    return {r.path: r for r in compare.compare_folders(before, after)}


def test_identical_folders_pass_and_markdown_report_is_written(compare, folders, tmp_path, capsys):
    before, after = folders
    out = tmp_path / "report.md"
    assert compare.main([str(before), str(after), "--markdown", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "6 tables identical, 0 differ, 0 only before, 0 only after" in printed
    assert "1 markdown tables covered by their CSV" in printed and printed.rstrip().endswith("PASS")
    report = out.read_text()
    assert "| tables/03_table2.csv | csv | identical |" in report and "6 tables identical" in report


def test_changed_accuracy_fails_and_names_row_and_column(compare, folders, capsys):
    before, after = folders
    edit(after / "tables/03_table2.csv", "aalp,97.0000,80.0000", "aalp,97.0000,80.5000")
    result = by_path(compare, before, after)["tables/03_table2.csv"]
    assert result.severity == "FAIL" and result.status == "differs"
    assert "row 1 [aalp] column 'PGD-40': before '80.0000' after '80.5000'" in result.detail
    assert compare.main([str(before), str(after)]) == 1
    assert "5 tables identical, 1 differ" in capsys.readouterr().out


def test_changed_json_number_fails(compare, folders):
    before, after = folders
    (after / "eval/alp-seed0/summary.json").write_text(
        json.dumps({**SUMMARY, "accuracy": {"Clean": {"accuracy": 0.97, "n": 100}}}))
    result = by_path(compare, before, after)["eval/alp-seed0/summary.json"]
    assert result.severity == "FAIL" and "$.accuracy.Clean.accuracy: before 0.98 after 0.97" in result.detail


def test_changed_timing_values_pass(compare, folders):
    before, after = folders
    edit(after / "train/alp-seed0.csv", "0.635119", "0.9")
    edit(after / "tables/03_table2.csv", "12.5", "99.0")
    edit(after / "tables/budget.md", "| 0.4 |", "| 7.5 |")
    (after / "eval/alp-seed0/timing.json").write_text(json.dumps({"seconds": 9.9, "device": "cpu"}))
    (after / "eval/alp-seed0/summary.json").write_text(json.dumps({**SUMMARY, "eval_seconds": 1.0}))
    assert not compare.failed(compare.compare_folders(before, after))


def test_dropped_timing_column_fails(compare, folders):
    before, after = folders
    (after / "train/alp-seed0.csv").write_text("epoch,loss,test_adv_acc\n1,2.3401,0.16\n2,2.25659,0.28\n")
    result = by_path(compare, before, after)["train/alp-seed0.csv"]
    assert result.severity == "FAIL" and "only before ['seconds']" in result.detail


def test_lone_markdown_is_compared_as_text(compare, folders):
    before, after = folders
    edit(after / "tables/budget.md", "| alp | 2 |", "| alp | 3 |")
    result = by_path(compare, before, after)["tables/budget.md"]
    assert result.severity == "FAIL" and "line 5" in result.detail


def test_missing_table_fails_missing_figure_is_information(compare, folders, capsys):
    before, after = folders
    (after / "tables/03_table2.csv").unlink()
    (after / "figures/fig.png").unlink()
    results = by_path(compare, before, after)
    assert results["tables/03_table2.csv"].status == "only before" and results["tables/03_table2.csv"].severity == "FAIL"
    assert results["figures/fig.png"].severity == "info"
    assert results["tables/03_table2.md"].kind == "markdown"  # no twin left: compared as text (and identical)
    assert results["tables/03_table2.md"].status == "identical"
    assert compare.main([str(before), str(after)]) == 1
    assert "0 differ, 1 only before, 0 only after" in capsys.readouterr().out


def test_changed_png_and_notebook_are_only_information(compare, folders):
    before, after = folders
    (after / "figures/fig.png").write_bytes(PNG + b"meta")
    notebook = json.loads(json.dumps(NOTEBOOK))
    notebook["cells"][0]["outputs"][0]["text"] = ["took 3.4 s\n"]
    (after / "notebooks/03.ipynb").write_text(json.dumps(notebook))
    results = by_path(compare, before, after)
    assert results["figures/fig.png"].status == "differs" and results["figures/fig.png"].severity == "info"
    assert results["notebooks/03.ipynb"].severity == "info" and "took 3.4 s" in results["notebooks/03.ipynb"].detail
    assert compare.main([str(before), str(after)]) == 0


@pytest.mark.parametrize("name, timing", [("seconds", True), ("train minutes", True), ("eval_seconds", True),
                                          ("Time", True), ("PGD-40", False), ("test_adv_acc", False)])
def test_timing_names(compare, name, timing):
    assert compare.is_timing_name(name) is timing


def test_numbers_compare_exactly(compare):
    assert compare.cells_equal("nan", "NaN") and compare.cells_equal("1", "1.0")
    assert not compare.cells_equal("0.1000", "0.1001") and not compare.cells_equal("alp", "aalp")
