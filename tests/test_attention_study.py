"""The measurements and tests behind notebook 04: per-sample records are consistent with the
attacks they come from, and the statistics match hand cases."""
import numpy as np
import pandas as pd
import pytest
import torch

from aad_lib import attacks
from aad_lib.attention import statistics, study
from aad_lib.validation import AadError


def test_stroke_masks(digits):
    x, _ = digits
    masks = study.stroke_masks(x)
    assert masks.shape == (x.shape[0], 28, 28) and masks.dtype == torch.bool
    assert torch.equal(masks, x[:, 0] > 0.5)
    with pytest.raises(AadError, match="stroke_threshold"):
        study.stroke_masks(torch.zeros(2, 1, 4, 4))


def test_attack_records_count_success_only_on_clean_correct_images(tiny_model, digits):
    x, y = digits
    r = study.attack_records(tiny_model, x, y, study.stroke_masks(x), lambda m, xb, yb: attacks.step_ll(m, xb, yb, 0.3))
    assert len(r) == len(y)
    with torch.no_grad():
        correct = (tiny_model(x).argmax(1) == y).numpy()
        broken = (tiny_model(attacks.step_ll(tiny_model, x, y, 0.3)).argmax(1) != y).numpy()
    assert (r["clean_correct"].to_numpy() == correct).all()
    assert (r["success"].to_numpy() == (correct & broken)).all()
    assert r[["completeness", "deviation_iou", "entropy_clean", "entropy_adv"]].apply(lambda c: c.between(0, 1).all()).all()
    assert (r["regions_clean"] >= 1).all()


def test_iteration_records_follow_the_iterated_attack(tiny_model, digits):
    x, y = digits
    it = study.iteration_records(tiny_model, x, y, 0.3, 0.1, 3)
    assert sorted(it["iteration"].unique()) == [1, 2, 3]
    x3 = attacks.iterated_step_ll(tiny_model, x, y, 0.3, 0.1, 3)
    with torch.no_grad():
        wrong = (tiny_model(x3).argmax(1) != y).numpy()
    last = it[it["iteration"] == 3]
    assert (last["success"].to_numpy() == (last["clean_correct"].to_numpy() & wrong)).all()


def test_defense_records_never_exceed_clean(tiny_model, digits):
    x, y = digits
    d = study.defense_records(tiny_model, x, y, study.defense_attacks(0.3, 0.05, 3, 2))
    assert list(d.columns) == ["Clean", "Step-LL", "R+Step-LL", "Iter-LL-3", "Attention-2"]
    for column in d.columns[1:]:
        assert (d[column] <= d["Clean"]).all()
    rec = pd.DataFrame({"PGD-5": np.zeros(len(y), dtype=bool)})
    summary = study.defense_summary(tiny_model, x, y, {}, rec, ["PGD-5"])
    assert summary["PGD-5"]["accuracy"] == 0 and summary["Clean"]["n"] == len(y)
    with pytest.raises(AadError, match="evaluation records hold"):
        study.defense_summary(tiny_model, x, y, {}, rec.iloc[:3], ["PGD-5"])


def test_compare_groups_hand_case():
    c = statistics.compare_groups(pd.Series([1.0, 2.0, 3.0]), pd.Series([4.0, 5.0]))
    assert c["mean_a"] == 2.0 and c["mean_b"] == 4.5 and c["diff"] == -2.5
    assert c["auc"] == 0.0  # every a below every b
    assert c["ci_low"] <= -2.5 <= c["ci_high"]
    assert statistics.compare_groups(pd.Series([1.0, 2.0]), pd.Series([1.0, 2.0]))["auc"] == 0.5


def test_paired_tests_hand_cases():
    before = pd.Series([True, False, False, True])
    after = pd.Series([True, True, True, False])
    r = statistics.paired_rate_change(before, after)
    assert (r["gained"], r["lost"], r["before"], r["after"]) == (2, 1, 50.0, 75.0)
    assert r["p_mcnemar"] == pytest.approx(1.0)  # binomial test of 2 of 3 at 1/2
    p = statistics.paired_change(pd.Series([1.0, 2.0, 3.0]), pd.Series([1.0, 2.0, 3.0]))
    assert p["change"] == 0 and np.isnan(p["p_wilcoxon"])


def test_success_by_bins_and_iteration_summary():
    r = pd.DataFrame({"clean_correct": [True] * 8 + [False], "success": [True, True, False, False, False, False, True, False, True],
                      "completeness": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.0]})
    bins = statistics.success_by_bins(r, "completeness", 2)
    assert bins["n"].tolist() == [4, 4] and bins["rate"].tolist() == [50.0, 25.0]
    it = pd.DataFrame({"iteration": [1, 1, 2, 2], "sample": [0, 1, 0, 1], "clean_correct": [True] * 4,
                       "success": [False, True, True, True], "deviation_iou": [1.0, 0.5, 0.5, 0.5],
                       "regions": [1, 2, 2, 2], "entropy": [0.5] * 4})
    s = statistics.iteration_summary(it)
    assert s.loc[1, "success"] == 50.0 and s.loc[2, "success"] == 100.0 and s.loc[1, "iou"] == 0.75
