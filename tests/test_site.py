"""The report site's parts on hand-made inputs (fast): the three verdict rules, each claim reader on
small tables, the index builder (a row per verdict kind, each linked to its notebook section and its
table), the notebook pages (figures embedded, no network script), the sections and answers found in
a rendered page, and the manifest. The whole site in a real browser: tests/test_site_browser.py."""
from __future__ import annotations

import base64
import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from aad_lib.site import claims, index_page, manifest, notebook_sections, pages, verdict_rules
from aad_lib.site.claims import Claim
from aad_lib.site.manifest import Manifest, StageTime
from aad_lib.site.notebook_sections import Answer, Section
from aad_lib.site.style import CSS
from aad_lib.run_bootstrap import INTERVAL
from aad_lib.site.verdict_rules import DOES_NOT_HOLD, HOLDS, NOT_DISTINGUISHABLE, NO_VERDICT, Interval
from aad_lib.validation import AadError

# The smallest valid PNG (1x1), for the figures of the hand-made notebooks.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


# ---------------------------------------------------------------- verdict rules

def test_parse_interval_reads_every_form_the_tables_write():
    assert verdict_rules.parse_interval("[0.6, 7.0]") == Interval(0.6, 7.0)
    assert verdict_rules.parse_interval("76.0 [66.8, 83.3]") == Interval(66.8, 83.3)
    assert verdict_rules.parse_interval("[-0.295, -0.159]") == Interval(-0.295, -0.159)
    assert verdict_rules.parse_interval("1.0-8.5 (3 seeds)") == Interval(1.0, 8.5)
    assert not verdict_rules.parse_interval("[nan, nan]").known
    with pytest.raises(AadError, match="cannot read an interval from 'about 5'"):
        verdict_rules.parse_interval("about 5")


def test_a_difference_holds_only_on_the_papers_side_of_zero():
    assert verdict_rules.from_difference(0.5, 3.0, 1) == HOLDS
    assert verdict_rules.from_difference(-3.0, -0.5, 1) == DOES_NOT_HOLD
    assert verdict_rules.from_difference(-3.0, -0.5, -1) == HOLDS
    assert verdict_rules.from_difference(0.0, 3.0, 1) == NOT_DISTINGUISHABLE  # zero inside (closed interval)
    assert verdict_rules.from_difference(math.nan, 1.0, 1) == NOT_DISTINGUISHABLE
    assert verdict_rules.from_difference(-1.0, 1.0, 0) == HOLDS  # the paper reports no difference
    with pytest.raises(AadError, match="expected must be"):
        verdict_rules.from_difference(0.0, 1.0, 2)


def test_two_intervals_decide_only_when_they_do_not_overlap():
    low, high, middle = Interval(1, 5), Interval(6, 9), Interval(4, 7)
    assert verdict_rules.from_separation(low, high, 1) == HOLDS
    assert verdict_rules.from_separation(high, low, 1) == DOES_NOT_HOLD
    assert verdict_rules.from_separation(high, low, -1) == HOLDS
    assert verdict_rules.from_separation(low, middle, 1) == NOT_DISTINGUISHABLE
    assert verdict_rules.from_separation(low, Interval(math.nan, math.nan), 1) == NOT_DISTINGUISHABLE


def test_a_test_holds_when_significant_in_the_papers_direction():
    assert verdict_rules.from_test(-0.2, 0.001, -1) == HOLDS
    assert verdict_rules.from_test(0.2, 0.001, -1) == DOES_NOT_HOLD
    assert verdict_rules.from_test(-0.2, 0.2, -1) == NOT_DISTINGUISHABLE
    assert verdict_rules.from_test(math.nan, math.nan, -1) == NOT_DISTINGUISHABLE  # nothing to test


# ---------------------------------------------------------------- hand-made tables

def write_csv(folder: Path, stem: str, frame: pd.DataFrame, index: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / f"{stem}.csv", index=index)


def aalp_tables(folder: Path) -> None:
    """Table 2 rows for three columns, chosen so that each verdict occurs once: the paper has AALP
    below ALP clean (ours too: holds), above under FGSM (ours below: does not hold), and no PGD-40
    number (ours straddles zero: not distinguishable)."""
    write_csv(folder, "03_table2", pd.DataFrame(
        {"Clean": [98.77, 98.49, 80.0, 70.0], "FGSM": [97.68, 98.19, 40.0, 30.0], "PGD-40": [None, None, 30.0, 31.0]},
        index=["Kannan ALP (paper)", "AALP (paper)", "Kannan ALP (ours)", "AALP (ours)"]))
    write_csv(folder, "03_aalp_vs_alp", pd.DataFrame(
        {"difference": [-10.0, -10.0, 1.0], "ci_low": [-14.0, -13.0, -2.0], "ci_high": [-6.0, -7.0, 4.0],
         "p_value": [0.001, 0.001, 0.6], "n": [100, 100, 100], "seeds_a": [3, 3, 3], "seeds_b": [3, 3, 3],
         "interval": INTERVAL}, index=pd.Index(["Clean", "FGSM", "PGD-40"], name="column")))


def all_tables(folder: Path) -> None:
    """A minimal version of every table a claim reads."""
    aalp_tables(folder)
    write_csv(folder, "02_ablation_gd", pd.DataFrame(
        {"Clean": [60.0, 61.0, 95.57, 94.36], "PGD-10": [5.0, 12.0, 2.23, 3.17]},
        index=["RAW (ours, MNIST-5k)", "RAW + Guided Dropout (ours, MNIST-5k)", "RAW (paper, SVHN)",
               "RAW + Guided Dropout (paper, SVHN)"]))
    write_csv(folder, "02_ablation_gd_differences", pd.DataFrame(
        {"pair": ["RAW + Guided Dropout - RAW"] * 3, "column": ["Clean", "PGD-10", "PGD-40"], "difference": [1.0, 7.0, 9.0],
         "ci_low": [-2.0, 3.0, 4.0], "ci_high": [4.0, 11.0, 14.0], "seeds_a": [3, 3, 1], "seeds_b": [3, 3, 3],
         "interval": INTERVAL}), index=False)
    write_csv(folder, "03_table4_consistent", pd.DataFrame(
        {"Kannan ALP": [40.0, 40.0, 94.91], "AALP": [60.0, 60.0, 96.03]}, index=["seed 0", "mean", "paper (MNIST)"]))
    write_csv(folder, "03_table4_consistent_difference", pd.DataFrame(
        {"difference": [20.0], "ci_low": [8.0], "ci_high": [30.0], "p_value": [0.001], "n": [100], "seeds_a": [3],
         "seeds_b": [3], "interval": INTERVAL}, index=pd.Index(["PGD-40"], name="column")))
    write_csv(folder, "03_lambda_differences", pd.DataFrame(
        {"lambda low": [0.1, 0.1], "lambda high": [2.0, 2.0], "difference": [-20.0, 1.0], "ci_low": [-28.0, -5.0],
         "ci_high": [-12.0, 7.0], "p_value": [0.001, 0.7], "n": [100, 100], "seeds_a": [3, 3], "seeds_b": [3, 3],
         "interval": INTERVAL},
        index=pd.Index(["Clean", "PGD-40"], name="column")))
    write_csv(folder, "04_completeness", pd.DataFrame(
        {"broken n": [38, 0], "survived n": [21, 10], "difference": [-0.23, None], "diff 95% CI": ["[-0.295, -0.159]", "[nan, nan]"],
         "p (Mann-Whitney)": [5.7e-07, None]}, index=["standard", "madry"]))
    write_csv(folder, "04_deviation", pd.DataFrame(
        {"broken n": [38], "survived n": [21], "IoU broken": [0.19], "IoU survived": [0.50], "IoU diff 95% CI": ["[-0.408, -0.204]"],
         "p IoU (Mann-Whitney)": [5e-06], "regions clean": [2.4], "regions adv": [2.8], "p regions (Wilcoxon)": [0.05],
         "entropy clean": [0.81], "entropy adv": [0.74], "p entropy (Wilcoxon)": [0.01]}, index=["standard"]))
    write_csv(folder, "04_iteration_tests", pd.DataFrame(
        {"n": [59.0], "success % at 2": [40.0], "success % at last": [55.0], "p success (McNemar)": [0.001],
         "IoU at 2": [0.40], "IoU at last": [0.30], "p IoU (Wilcoxon)": [0.002]}, index=["standard"]))
    write_csv(folder, "04_defense_differences", pd.DataFrame(
        {"pair": ["arp - madry", "arp - madry", "arp - standard"], "column": ["PGD-40", "CW-40", "PGD-40"],
         "difference": [20.0, 1.0, 50.0], "ci_low": [12.0, -6.0, 45.0], "ci_high": [28.0, 8.0, 55.0],
         "p_value": [0.001, 0.8, 0.001], "n": [100] * 3, "seeds_a": [3, 3, 1], "seeds_b": [3] * 3,
         "interval": INTERVAL}), index=False)
    write_csv(folder, "05_greybox_runs", pd.DataFrame(
        {"worst grey-box": [60.0, 10.0, 70.0], "no defense worst grey-box": [30.0] * 3, "difference": [30.0, -20.0, 40.0],
         "ci_low": [20.0, -28.0, 30.0], "ci_high": [40.0, -12.0, 50.0], "p_value": [0.001] * 3, "n": [100] * 3,
         "seeds_a": [3, 3, 1], "seeds_b": [3, 3, 1], "interval": INTERVAL},
        index=["flip + WebP q60", "ComDefend", "1-bit"]))


def test_aalp_versus_alp_reads_the_papers_gap_and_our_interval(tmp_path):
    aalp_tables(tmp_path)
    rows = {c.claim: c for c in claims.aalp_versus_alp(tmp_path)}
    clean, fgsm, pgd = (rows[f"AALP {side} ALP, {col} accuracy (Table 2)"]
                        for side, col in (("below", "Clean"), ("above", "FGSM"), ("above", "PGD-40")))
    assert (clean.verdict, fgsm.verdict, pgd.verdict) == (HOLDS, DOES_NOT_HOLD, NOT_DISTINGUISHABLE)
    assert clean.paper == "-0.28 points" and fgsm.paper == "+0.51 points"  # 98.49 - 98.77, 98.19 - 97.68
    assert pgd.paper == "not in the paper's table" and pgd.ours == "+1.0 [-2.0, +4.0] points (3 vs 3 runs)"
    assert {c.table for c in rows.values()} == {"03_aalp_vs_alp"}


def test_a_run_that_predates_the_two_level_intervals_gets_no_verdict(tmp_path):
    """Tables written before the intervals over training runs (no ``interval`` mark, the old tables of
    Fig. 6, Table 4, the ARP defense and notebook 05): their numbers are shown, no verdict is read."""
    aalp_tables(tmp_path)
    versus = pd.read_csv(tmp_path / "03_aalp_vs_alp.csv", index_col=0).drop(columns="interval")
    versus.to_csv(tmp_path / "03_aalp_vs_alp.csv")
    found = claims.aalp_versus_alp(tmp_path)
    assert {c.verdict for c in found} == {NO_VERDICT}
    assert found[0].ours == "-10.0 [-14.0, -6.0] points (3 vs 3 runs), interval over test images only"
    write_csv(tmp_path, "03_lambda_sweep", pd.DataFrame(
        {"Clean: mean": [80.0, 60.0], "Clean: uncertainty": ["[75.0, 85.0]", "[55.0, 65.0]"]},
        index=pd.Index([0.5, 2.0], name="lambda")))
    (lam,) = claims.lambda_tradeoff(tmp_path)
    assert lam.verdict == NO_VERDICT and lam.ours == "lambda 0.5: 80.0% [75.0, 85.0] -> lambda 2: 60.0% [55.0, 65.0]"
    write_csv(tmp_path, "05_verdicts", pd.DataFrame(
        {"worst grey-box": ["60.0 [50.0, 69.0]"], "no defense worst grey-box": ["30.0 [22.0, 40.0]"]}, index=["1-bit"]))
    (bits,) = claims.compression_defenses(tmp_path)
    assert bits.verdict == NO_VERDICT and "predate" in bits.basis


def test_every_reader_on_hand_made_tables(tmp_path):
    all_tables(tmp_path)
    found = claims.read_claims(tmp_path, ["PGD-40", "CW-40"])
    verdict = {c.claim: c.verdict for c in found}
    assert verdict["RAW + Guided Dropout above RAW, PGD-10 accuracy (Sec. 4.4 ablation)"] == HOLDS
    assert verdict["RAW + Guided Dropout below RAW, Clean accuracy (Sec. 4.4 ablation)"] == NOT_DISTINGUISHABLE
    # one run of an arm: no verdict, however clear its interval
    assert verdict["RAW + Guided Dropout above RAW, PGD-40 accuracy (Sec. 4.4 ablation)"] == NO_VERDICT
    assert verdict["more consistent samples with AALP than with ALP (Table 4)"] == HOLDS
    assert verdict["Clean accuracy falls with lambda (Fig. 6)"] == HOLDS
    assert verdict["PGD-40 accuracy rises with lambda (Fig. 6)"] == NOT_DISTINGUISHABLE
    assert verdict["standard: images the attack breaks had less complete attention (obs. 1)"] == HOLDS
    assert verdict["madry: images the attack breaks had less complete attention (obs. 1)"] == NOT_DISTINGUISHABLE
    assert verdict["standard: attention deviates more where the attack succeeds (obs. 2)"] == HOLDS
    assert verdict["standard: a successful attack scatters attention, more regions (obs. 2)"] == NOT_DISTINGUISHABLE
    assert verdict["standard: a successful attack scatters attention, more entropy (obs. 2)"] == DOES_NOT_HOLD
    assert verdict["standard: iterating the attack keeps lowering the attention IoU (obs. 3)"] == HOLDS
    assert verdict["standard: the success rate stops rising after about two iterations (obs. 3)"] == DOES_NOT_HOLD
    assert verdict["arp more robust than madry training, PGD-40"] == HOLDS
    assert verdict["arp more robust than madry training, CW-40"] == NOT_DISTINGUISHABLE
    assert verdict["arp more robust than standard training, PGD-40"] == NO_VERDICT
    assert verdict["flip + WebP q60 raises the worst-case grey-box accuracy"] == HOLDS
    assert verdict["ComDefend raises the worst-case grey-box accuracy"] == DOES_NOT_HOLD
    assert verdict["1-bit raises the worst-case grey-box accuracy"] == NO_VERDICT
    paper = {c.claim: c.paper for c in found}
    assert paper["RAW + Guided Dropout above RAW, PGD-10 accuracy (Sec. 4.4 ablation)"] == "+0.94 points (SVHN)"
    assert paper["more consistent samples with AALP than with ALP (Table 4)"] == "94.91% -> 96.03% (MNIST)"
    assert all(c.verdict in verdict_rules.VERDICTS for c in found)
    ours = {c.claim: c.ours for c in found}  # a count read as a float (59.0) is shown as the count
    assert ours["standard: iterating the attack keeps lowering the attention IoU (obs. 3)"].endswith("; 59 images)")


def test_readers_name_a_missing_table_and_a_missing_column(tmp_path):
    with pytest.raises(AadError, match=r"03_aalp_vs_alp.csv not found.*dvc repro"):
        claims.aalp_versus_alp(tmp_path)
    all_tables(tmp_path)
    with pytest.raises(AadError, match="04_defense_differences has no rows for"):
        claims.arp_defense(tmp_path, ["PGD-1000"])
    pd.read_csv(tmp_path / "05_greybox_runs.csv", index_col=0).drop(columns="no defense worst grey-box").to_csv(
        tmp_path / "05_greybox_runs.csv")
    with pytest.raises(AadError, match="rerun it"):
        claims.compression_defenses(tmp_path)


def test_notebook_05s_runs_table_carries_the_baseline_the_index_compares(tmp_path):
    """The writer (sections.compression.study.worst_case_differences) and the reader agree on the table:
    three training runs per defense, each run's records on the same images."""
    from aad_lib import tables
    from aad_lib.sections.compression import study

    def runs(correct: list[int]) -> list[pd.DataFrame]:
        return [pd.DataFrame({"Clean": [1.0] * 200, "A": [1.0] * k + [0.0] * (200 - k)}) for k in correct]

    records = {"no defense": runs([58, 60, 62]), "strong": runs([148, 150, 152]), "same": runs([57, 62, 63]),
               "weak": runs([0, 0, 1])}
    tables.write_table(study.worst_case_differences(records, ["A"], n_boot=500), tmp_path / "05_greybox_runs")
    verdict = {c.claim.split(" raises")[0]: c.verdict for c in claims.compression_defenses(tmp_path)}
    assert verdict == {"strong": HOLDS, "same": NOT_DISTINGUISHABLE, "weak": DOES_NOT_HOLD}
    records["strong"] = records["strong"][:1]  # one run of the defense: no verdict
    tables.write_table(study.worst_case_differences(records, ["A"], n_boot=500), tmp_path / "05_greybox_runs")
    assert {c.claim.split(" raises")[0]: c.verdict for c in claims.compression_defenses(tmp_path)}["strong"] == NO_VERDICT


# ---------------------------------------------------------------- the index

class _Rows(HTMLParser):
    """The verdict table's body rows (cell texts and links) of an index page."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict] = []
        self.ids: set[str] = set()
        self.images: list[str] = []
        self._table = self._row = self._cell = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "img":
            self.images.append(a["src"])
        if tag == "table" and a.get("class") == "verdicts":
            self._table = True
        elif self._table and tag == "tr" and a.get("class") != "group":
            self._row = {"cells": [], "links": [], "classes": []}
        elif self._row is not None and tag == "td":
            self._cell = []
            self._row["classes"].append(a.get("class") or "")
        elif self._row is not None and tag == "a":
            self._row["links"].append(a["href"])

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        elif tag == "td" and self._cell is not None:
            self._row["cells"].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row["cells"]:
                self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def a_manifest(stages: list[StageTime] | None = None) -> Manifest:
    return Manifest("0123abc (main)", "smoke", "3.11.9", {"torch": "2.15.0", "torchattacks": "not installed"}, ["cpu"],
                    "Some CPU, 2 logical cores", "none (torch sees no CUDA device)", "2026-01-01 00:00 UTC",
                    stages or [StageTime("train", "alp-seed0", 61.0, "train/alp-seed0.csv", "2 epochs")])


def test_the_index_has_a_row_per_verdict_kind_each_linked_to_its_section_and_table(tmp_path):
    aalp_tables(tmp_path)
    found = claims.aalp_versus_alp(tmp_path)
    section = Section("03_adaptive_weighting", "03_adaptive_weighting.html", "Does-AALP-beat-ALP?", "Does AALP beat ALP?")
    other = Section("03_adaptive_weighting", "03_adaptive_weighting.html", "ALP-vs-AALP-during-training-(Fig.-12)",
                    "ALP vs AALP during training (Fig. 12)")
    answers = [Answer("Answer", section), Answer("Answer (Fig. 12)", other)]
    pages_ = [index_page.PageEntry("03_adaptive_weighting", "03 · Adaptive weighting", "03_adaptive_weighting.html", 75.0)]
    text = index_page.index_html(found, {"03_aalp_vs_alp": section}, answers, pages_, ["03_fig6.png"], ["03_aalp_vs_alp"],
                                 a_manifest())
    parsed = _Rows()
    parsed.feed(text)
    assert len(parsed.rows) == 3
    by_claim = {r["cells"][1]: r for r in parsed.rows}
    for claim, verdict in (("AALP below ALP, Clean accuracy (Table 2)", HOLDS),
                           ("AALP above ALP, FGSM accuracy (Table 2)", DOES_NOT_HOLD),
                           ("AALP above ALP, PGD-40 accuracy (Table 2)", NOT_DISTINGUISHABLE)):
        row = by_claim[claim]
        assert row["cells"][4] == verdict and "verdict" in row["classes"][4]
        assert row["links"] == ["03_adaptive_weighting.html#Does-AALP-beat-ALP?", "tables/03_aalp_vs_alp.csv"]
    assert by_claim["AALP below ALP, Clean accuracy (Table 2)"]["cells"][2] == "-0.28 points"
    assert "3 claims:" in text and "1 holds" in text and "1 does not hold" in text and "1 not distinguishable" in text
    # the Fig. 12 answer has no row: listed apart, linked; the answer in a section with rows is not
    assert 'href="03_adaptive_weighting.html#ALP-vs-AALP-during-training-(Fig.-12)"' in text and "Answer (Fig. 12)" in text
    assert ">03_adaptive_weighting · Does AALP beat ALP?</a>: Answer<" not in text
    assert {"verdicts", "notebooks", "figures", "tables", "manifest"} <= parsed.ids
    assert parsed.images == ["figures/03_fig6.png"]
    assert "0123abc (main)" in text and "1 min 1 s" in text and "torchattacks" in text and "<script" not in text


def test_the_index_refuses_a_claim_it_cannot_link(tmp_path):
    aalp_tables(tmp_path)
    with pytest.raises(AadError, match="no notebook section writes table '03_aalp_vs_alp'"):
        index_page.index_html(claims.aalp_versus_alp(tmp_path), {}, [], [], [], [], a_manifest())
    bad = Claim("AALP", "x", "y", "z", "mostly", "03_aalp_vs_alp", "b")
    section = Section("03", "03.html", "a", "A")
    with pytest.raises(AadError, match="unknown verdict 'mostly'"):
        index_page.verdict_table([bad], {"03_aalp_vs_alp": section})


# ---------------------------------------------------------------- notebook pages and sections

def hand_made_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    plot = nbformat.v4.new_code_cell('tables.write_table(t, ctx.out / "tables" / "09_demo")\n'
                                     'plots.save(fig, ctx.out / "figures" / "09_demo.png")\nfig')
    plot.outputs = [nbformat.v4.new_output("display_data", data={
                        "application/vnd.jupyter.widget-view+json": {"model_id": "x"}, "text/plain": "  0%|  | 0/3"}),
                    nbformat.v4.new_output("execute_result", data={"text/plain": "<Figure size 640x480 with 1 Axes>"},
                                           execution_count=1)]
    answer = nbformat.v4.new_code_cell("display(Markdown(...))")
    answer.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": "**Answer (Fig. 9):** it holds."})]
    nb.cells = [nbformat.v4.new_markdown_cell("# 09 · A demo notebook"), nbformat.v4.new_markdown_cell("## 1 · The demo (Fig. 9)"),
                plot, answer]
    return nb


def test_a_notebook_page_shows_its_saved_figures_and_loads_nothing_from_the_network(tmp_path):
    (tmp_path / "09_demo.png").write_bytes(PNG)
    nb = hand_made_notebook()
    page = pages.prepare(nb, tmp_path)
    outputs = page.cells[2].outputs
    assert [sorted(o.get("data", {})) for o in outputs] == [["text/plain"], ["text/html", "text/plain"]]
    assert outputs[1].data["text/html"].startswith('<img src="figures/09_demo.png" alt="09_demo.png"')
    assert "widgets" not in page.metadata
    assert nb.cells[2].outputs[1].data["text/plain"].startswith("<Figure")  # the executed notebook is untouched
    assert pages.prepare(nb, tmp_path / "elsewhere").cells[2].outputs[1].data["text/plain"].startswith("<Figure")
    html = pages.render(page, pages.title_of(nb, "09_demo"), '<nav class="aad-nav"><a href="index.html">Report index</a></nav>', CSS)
    assert re.search(r'<img [^>]*src="figures/09_demo.png"', html) and '<a href="index.html">Report index</a>' in html
    assert "<script src" not in html and "cdnjs" not in html and "unpkg" not in html
    assert "<title>09 · A demo notebook</title>" in html
    sections = notebook_sections.table_sections(nb, "09_demo", html)
    assert set(sections) == {"09_demo"}
    section = sections["09_demo"]
    assert section.title == "1 · The demo (Fig. 9)" and f'id="{section.anchor}"' in html
    assert section.href == f"09_demo.html#{section.anchor}"
    assert notebook_sections.answers(nb, "09_demo", html) == [Answer("Answer (Fig. 9)", section)]


def test_the_lab_stylesheet_is_split_out_of_a_page_into_one_shared_file():
    """The ~260 KB lab CSS leaves the page for a linked file; the page keeps its own styles (the site's
    CSS, its highlighting) and everything else byte for byte."""
    nb = hand_made_notebook()
    html = pages.render(pages.prepare(nb, "."), "09 · A demo notebook", "<nav></nav>", CSS)
    page, css = pages.shared_stylesheet(html, "notebook.css")
    assert '<link rel="stylesheet" type="text/css" href="notebook.css">' in page
    assert ".jp-InputArea {" in css and "--jp-content-font-color1" in css and "<style" not in css
    assert ".jp-InputArea {" not in page and "aad:notebook-css" not in page and CSS.strip()[:40] in page
    assert len(page) < len(html) - 200_000 and len(page) + len(css) < len(html)
    start, end = html.index("<!-- aad:notebook-css -->"), html.index("<!-- /aad:notebook-css -->")
    assert page == html[:start] + '<link rel="stylesheet" type="text/css" href="notebook.css">' + html[end + 26:]
    with pytest.raises(AadError, match="no notebook stylesheet block"):
        pages.shared_stylesheet("<html><head></head></html>", "notebook.css")


# ---------------------------------------------------------------- manifest

def test_the_manifest_reads_every_stage_time_and_names_a_missing_repository(tmp_path):
    reports = tmp_path / "reports"
    (reports / "train").mkdir(parents=True)
    pd.DataFrame({"epoch": [1, 2], "seconds": [10.5, 9.5]}).to_csv(reports / "train" / "alp-seed0.csv", index=False)
    pd.DataFrame({"epoch": [1], "seconds": [3.0]}).to_csv(reports / "train" / "comdefend-plain-seed0.csv", index=False)
    (reports / "eval" / "alp-seed0").mkdir(parents=True)
    (reports / "eval" / "alp-seed0" / "timing.json").write_text(json.dumps({"seconds": 5.0, "autoattack_seconds": 2.5,
                                                                             "device": "cuda:0"}))
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"duration": 42.0, "start_time": "2026-01-01T00:00:00"}
    (reports / "notebooks").mkdir()
    nbformat.write(nb, reports / "notebooks" / "01_data_analysis.ipynb")
    found = manifest.collect(tmp_path, reports, "smoke")
    assert [(s.kind, s.name, s.seconds) for s in found.stages] == [
        ("train", "alp-seed0", 20.0), ("train-purifier", "comdefend-plain-seed0", 3.0), ("evaluate", "alp-seed0", 7.5),
        ("notebook", "01_data_analysis", 42.0)]
    assert found.totals() == {"train": 20.0, "train-purifier": 3.0, "evaluate": 7.5, "notebook": 42.0}
    assert found.devices == ["cuda:0"] and found.profile == "smoke" and found.commit == "not a git repository"
    assert set(found.packages) == set(manifest.PACKAGES) and found.packages["torch"][0].isdigit()
    assert "logical cores" in found.cpu
    pd.DataFrame({"epoch": [1]}).to_csv(reports / "train" / "alp-seed0.csv", index=False)
    with pytest.raises(AadError, match="has no 'seconds' column"):
        manifest.stage_times(reports)


# ---------------------------------------------------------------- the whole build

def hand_made_run(reports: Path) -> None:
    """A finished run in miniature: every claim table, one executed notebook whose cells write them
    under two headings, one saved figure."""
    all_tables(reports / "tables")
    (reports / "figures").mkdir(parents=True)
    (reports / "figures" / "09_demo.png").write_bytes(PNG)
    nb = hand_made_notebook()
    stems = sorted(p.stem for p in (reports / "tables").glob("*.csv"))
    nb.cells += [nbformat.v4.new_markdown_cell("## 2 · Every table"),
                 nbformat.v4.new_code_cell("\n".join(f'tables.write_table(t, ctx.out / "tables" / "{s}")' for s in stems))]
    nb.cells.insert(0, nbformat.v4.new_markdown_cell("Method note: [`docs/methods/demo.md`](../docs/methods/demo.md)."))
    nb.metadata["papermill"] = {"duration": 12.5, "start_time": "2026-01-01T00:00:00"}
    (reports / "notebooks").mkdir()
    nbformat.write(nb, reports / "notebooks" / "09_demo.ipynb")
    (reports / "data").mkdir()
    (reports / "data" / "dataset.json").write_text(json.dumps({"dataset": "mnist5k", "classes": list("0123456789"),
                                                               "train": {"n": 40}, "test": {"n": 10}}))
    (reports / "eval" / "alp-seed0").mkdir(parents=True)
    (reports / "eval" / "alp-seed0" / "summary.json").write_text(json.dumps(
        {"method": "alp", "seed": 0, "model": "lenet_small", "n": 10, "eps": 0.3, "alpha": 0.01, "eval_seed": 0,
         "columns": ["Clean"], "accuracy": {"Clean": {"accuracy": 0.9, "n": 10, "ci_low": 0.6, "ci_high": 1.0}}}))
    notes = reports.parent / "docs" / "methods"
    notes.mkdir(parents=True)
    (notes / "demo.md").write_text("# Demo method note\n")


def test_build_site_writes_every_page_and_a_failed_build_keeps_the_old_site(tmp_path):
    from aad_lib.site.build import build_site

    reports = tmp_path / "reports"
    with pytest.raises(AadError, match="no executed notebook.*dvc repro"):
        build_site(reports, reports / "site", profile="smoke", arp_columns=["PGD-40", "CW-40"], root=tmp_path)
    hand_made_run(reports)
    site = build_site(reports, reports / "site", profile="smoke", arp_columns=["PGD-40", "CW-40"], root=tmp_path)
    assert sorted(p.name for p in site.iterdir()) == ["09_demo.html", "figures", "index.html", "methods", "notebook.css",
                                                      "tables"]
    assert '<link rel="stylesheet" type="text/css" href="notebook.css">' in (site / "09_demo.html").read_text()
    assert ".jp-InputArea {" in (site / "notebook.css").read_text()
    assert (site / "methods" / "demo.md").read_text() == "# Demo method note\n"
    assert 'href="methods/demo.md"' in (site / "09_demo.html").read_text()  # the notebook's link, pointed inside
    results = (reports / "results.md").read_text()
    assert "1 trained classifier (training seeds 0), each evaluated on the first 10 test images" in results
    assert (site / "figures" / "09_demo.png").read_bytes() == PNG and (site / "tables" / "05_greybox_runs.csv").is_file()
    index = (site / "index.html").read_text()
    parsed = _Rows()
    parsed.feed(index)
    assert len(parsed.rows) == len(claims.read_claims(reports / "tables", ["PGD-40", "CW-40"]))
    assert all(r["links"][0].startswith("09_demo.html#") for r in parsed.rows)
    page = (site / "09_demo.html").read_text()
    anchors = {r["links"][0].partition("#")[2] for r in parsed.rows}
    assert anchors and all(f'id="{a}"' in page for a in anchors)
    assert re.search(r'<a (?=[^>]*href="09_demo.html")(?=[^>]*aria-current="page")[^>]*>09_demo</a>', page)
    assert re.search(r'<a [^>]*href="index.html"[^>]*>Report index</a>', page)
    assert "12.5 s" in index and ": Answer (Fig. 9)</li>" in index  # its section (1) has no row: listed apart

    (reports / "tables" / "05_greybox_runs.csv").unlink()
    with pytest.raises(AadError, match="05_greybox_runs.csv not found"):
        build_site(reports, reports / "site", profile="smoke", arp_columns=["PGD-40", "CW-40"], root=tmp_path)
    assert (site / "index.html").read_text() == index  # the old site stays whole
    assert (reports / "results.md").read_text() == results  # and so does its results section
    assert sorted(p.name for p in reports.iterdir()) == ["data", "eval", "figures", "notebooks", "results.md", "site",
                                                          "tables"]  # no build left
