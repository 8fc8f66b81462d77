"""The sections' table builders that used to live in notebook cells, on hand-made records: the ARP
observation tables, the ARP defense gaps, and the AALP paired-difference tables."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from aad_lib import config, pipeline
from aad_lib.params import parse
from aad_lib.sections.aalp import tables as aalp_tables
from aad_lib.sections.arp import defense, observations

from .conftest import ROOT


def _records() -> pd.DataFrame:
    """Eight images: one the model gets wrong clean; of the seven clean-correct, three broken with
    low completeness and IoU, four surviving with high ones; the attack adds a region to the broken."""
    return pd.DataFrame({
        "clean_correct": [True] * 7 + [False],
        "success": [True, True, True, False, False, False, False, False],
        "completeness": [0.1, 0.2, 0.3, 0.6, 0.7, 0.8, 0.9, 0.0],
        "deviation_iou": [0.1, 0.2, 0.3, 0.7, 0.8, 0.9, 1.0, 0.0],
        "regions_clean": [1, 1, 2, 1, 1, 1, 1, 1], "regions_adv": [2, 3, 3, 1, 1, 1, 1, 1],
        "entropy_clean": [0.5] * 8, "entropy_adv": [0.6, 0.7, 0.8, 0.5, 0.5, 0.5, 0.5, 0.5],
    })


def test_completeness_table_by_hand():
    table, bins = observations.completeness_table({"m": _records()}, bins=2)
    row = table.loc["m"]
    assert (row["clean-correct n"], row["broken n"], row["survived n"]) == (7, 3, 4)
    assert row["success %"] == pytest.approx(100 * 3 / 7)
    assert row["completeness broken"] == pytest.approx(0.2) and row["completeness survived"] == pytest.approx(0.75)
    assert row["difference"] == pytest.approx(-0.55) and row["AUC"] == 0.0  # every broken image is less complete
    assert list(bins["m"]["rate"]) == pytest.approx([75.0, 0.0])  # 3 of the 4 least complete were broken


def test_completeness_bins_shrink_to_the_images_a_weak_model_classifies():
    """Three clean-correct images and four bins asked: three bins of one image each; none: an empty table."""
    records = _records().iloc[[0, 3, 4, 7]]  # clean-correct: one broken (0.1), two surviving (0.6, 0.7)
    _, bins = observations.completeness_table({"m": records}, bins=4)
    assert bins["m"]["n"].tolist() == [1, 1, 1] and bins["m"]["rate"].tolist() == [100.0, 0.0, 0.0]
    _, bins = observations.completeness_table({"m": _records().iloc[[0, 7]]}, bins=4)  # one: one bin of it
    assert bins["m"]["n"].tolist() == [1] and bins["m"]["rate"].tolist() == [100.0]
    assert list(bins["m"].index) == ["0.10-0.10"]
    _, bins = observations.completeness_table({"m": _records().iloc[[7]]}, bins=4)
    assert bins["m"].empty and bins["m"].index.name == "completeness bin"


def test_deviation_table_by_hand():
    row = observations.deviation_table({"m": _records()}).loc["m"]
    assert row["IoU broken"] == pytest.approx(0.2) and row["IoU survived"] == pytest.approx(0.85)
    assert row["regions clean"] == pytest.approx(4 / 3) and row["regions adv"] == pytest.approx(8 / 3)
    assert row["entropy clean"] == pytest.approx(0.5) and row["entropy adv"] == pytest.approx(0.7)
    assert (row["broken n"], row["survived n"]) == (3, 4)


def _write_runs(params, correct: dict[tuple[str, int], list[int]], column: str = "PGD-40") -> None:
    for (method, seed), hits in correct.items():
        out = pipeline.eval_dir(params, method, seed)
        out.mkdir(parents=True)
        pd.DataFrame({"index": range(len(hits)), "Clean": 1, column: [bool(h) for h in hits]}).to_csv(
            out / "records.csv", index=False)
        acc = sum(hits) / len(hits)
        (out / "summary.json").write_text(json.dumps({"method": method, "seed": seed, "n": len(hits), "columns": [column],
                                                      "accuracy": {column: {"accuracy": acc, "n": len(hits)}}}))


def test_defense_differences_pair_every_arp_method_with_every_baseline_over_runs(tmp_path):
    """arp (3 runs) minus madry and standard (3 runs each), on the same 40 images: the mean difference by hand,
    each arm's run count, and the two-level interval around it."""
    raw = config.resolve_profile("default", ROOT)
    raw["reports"]["dir"] = str(tmp_path / "reports")
    raw["run"].update(methods=["standard", "madry"], seeds=[0, 1, 2], attention_methods=["arp"], attention_seeds=[0, 1, 2])
    raw["attention"]["defense_methods"] = ["standard", "madry", "arp"]
    raw["analysis"]["bootstrap"] = 300
    params = parse(raw)
    hits = {"standard": [0] * 40, "madry": [1] * 24 + [0] * 16, "arp": [1] * 30 + [0] * 10}
    _write_runs(params, {(m, s): h[s:] + h[:s] for m, h in hits.items() for s in range(3)})  # rotated: other images
    table = defense.differences(params, ["PGD-40"])
    assert list(table.index) == ["arp - madry", "arp - standard"]
    assert table.loc["arp - madry", "difference"] == pytest.approx(100 * (30 - 24) / 40)
    assert table.loc["arp - standard", "difference"] == pytest.approx(75.0)
    assert set(table["seeds_a"]) == set(table["seeds_b"]) == {3}
    row = table.loc["arp - standard"]
    assert row["ci_low"] < 75.0 < row["ci_high"] and row["ci_low"] > 50.0


@pytest.fixture
def evaluated(tmp_path):
    """Two methods x two seeds with per-image records on the same four images."""
    raw = config.resolve_profile("default", ROOT)
    raw["reports"]["dir"] = str(tmp_path / "reports")
    raw["run"].update(methods=["alp", "aalp"], seeds=[0, 1])
    raw["analysis"]["bootstrap"] = 200
    params = parse(raw)
    correct = {("alp", 0): [1, 0, 0, 1], ("alp", 1): [1, 0, 1, 1], ("aalp", 0): [1, 1, 1, 1], ("aalp", 1): [1, 1, 0, 1]}
    for (method, seed), hits in correct.items():
        out = pipeline.eval_dir(params, method, seed)
        out.mkdir(parents=True)
        pd.DataFrame({"index": range(4), "PGD-40": [bool(h) for h in hits]}).to_csv(out / "records.csv", index=False)
        acc = sum(hits) / 4
        (out / "summary.json").write_text(json.dumps({"method": method, "seed": seed, "n": 4, "columns": ["PGD-40"],
                                                      "accuracy": {"PGD-40": {"accuracy": acc, "n": 4}}}))
    return params


def test_versus_table_and_paired_differences_by_hand(evaluated):
    versus = aalp_tables.versus_table(evaluated, "aalp", "alp", ["PGD-40"])
    row = versus.loc["PGD-40"]
    assert row["difference"] == pytest.approx(100 * (7 / 8 - 5 / 8))  # per-image means over seeds, then averaged
    assert (row["seeds_a"], row["seeds_b"], row["n"]) == (2, 2, 4)
    assert row["AALP per seed"] == [100.0, 75.0] and row["ALP per seed"] == [50.0, 75.0]
    diffs = aalp_tables.paired_differences(evaluated, [("alp", "aalp")], ["PGD-40"])
    assert list(diffs["pair"]) == ["AALP - Kannan ALP"]
    assert diffs.loc[0, "difference"] == pytest.approx(row["difference"])
    assert (diffs.loc[0, "ci_low"], diffs.loc[0, "ci_high"]) == (row["ci_low"], row["ci_high"])  # same bootstrap seed


def test_lambda_and_consistent_differences_by_hand(tmp_path):
    """Fig. 6: the largest lambda minus the smallest, per column; Table 4: AALP's consistent share minus ALP's
    (clean and attacked both right), each with its runs."""
    raw = config.resolve_profile("default", ROOT)
    raw["reports"]["dir"] = str(tmp_path / "reports")
    raw["run"].update(methods=["aalp"], seeds=[0, 1, 2], extra_methods=["aalp-lambda0p1", "aalp-lambda2"], extra_seeds=[0, 1, 2])
    raw["analysis"]["bootstrap"] = 200
    params = parse(raw)
    hits = {"aalp-lambda0p1": [1] * 10 + [0] * 10, "aalp": [1] * 12 + [0] * 8, "aalp-lambda2": [1] * 16 + [0] * 4}
    _write_runs(params, {(m, s): h for m, h in hits.items() for s in range(3)})
    sweep = aalp_tables.lambda_sweep(params, "aalp")
    ends = aalp_tables.lambda_differences(params, sweep, ["PGD-40"])
    assert (ends.loc["PGD-40", "lambda low"], ends.loc["PGD-40", "lambda high"]) == (0.1, 2.0)
    assert ends.loc["PGD-40", "difference"] == pytest.approx(30.0)
    assert (ends.loc["PGD-40", "seeds_a"], ends.loc["PGD-40", "seeds_b"]) == (3, 3)
    records = {m: {s: pd.DataFrame({"index": range(4), "Clean": [1, 1, 1, 0], "PGD-40": c}) for s in range(3)}
               for m, c in (("alp", [1, 0, 0, 0]), ("aalp", [1, 1, 1, 0]))}
    gap = aalp_tables.consistent_difference(records["alp"], records["aalp"], "PGD-40", n_boot=200)
    assert gap.loc["PGD-40", "difference"] == pytest.approx(50.0)  # 3/4 consistent vs 1/4
    assert (gap.loc["PGD-40", "seeds_a"], gap.loc["PGD-40", "seeds_b"]) == (3, 3)
