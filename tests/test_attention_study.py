"""The measurements and tests behind notebook 04: per-sample records are consistent with the
attacks they come from, and the statistics match hand cases."""
import numpy as np
import pandas as pd
import pytest
import torch

from aad_lib import attacks
from aad_lib.sections.arp import statistics, study
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


def _nan_dict_equal(got: dict, expected: dict) -> None:
    """Same keys and values, NaN equal to NaN (np.testing.assert_equal treats NaNs as equal)."""
    assert set(got) == set(expected)
    np.testing.assert_equal({k: float(v) for k, v in got.items()}, {k: float(v) for k, v in expected.items()})


def test_compare_groups_matches_a_seeded_bootstrap_replica_and_scipy():
    """Exact keys and values: means and AUC by hand, the 2.5/97.5 percentiles of 2000 seeded resamples
    (resampling with replacement via rng.integers) and the Mann-Whitney p-value from scipy directly."""
    from scipy import stats

    a, b = np.array([0.3, 1.2, 2.0, 2.9, 4.1]), np.array([0.5, 1.2, 1.7])
    rng = np.random.default_rng(0)
    boots = [a[rng.integers(0, 5, 5)].mean() - b[rng.integers(0, 3, 3)].mean() for _ in range(2000)]
    c = statistics.compare_groups(pd.Series(a), pd.Series(b))
    assert list(c) == ["n_a", "n_b", "mean_a", "mean_b", "diff", "ci_low", "ci_high", "auc", "p_mannwhitney"]
    assert (c["n_a"], c["n_b"]) == (5, 3)
    assert c["mean_a"] == pytest.approx(2.1)  # 10.5 / 5
    assert c["mean_b"] == pytest.approx(3.4 / 3)  # (0.5 + 1.2 + 1.7) / 3
    assert c["diff"] == pytest.approx(2.1 - 3.4 / 3)
    # U = 0 (0.3) + 1.5 (1.2: > 0.5, tie 1.2) + 3 + 3 + 3 = 10.5 of 5 * 3 = 15 pairs
    assert c["auc"] == pytest.approx(0.7)
    assert c["ci_low"] == pytest.approx(np.percentile(boots, 2.5), abs=1e-12)
    assert c["ci_high"] == pytest.approx(np.percentile(boots, 97.5), abs=1e-12)
    assert c["p_mannwhitney"] == pytest.approx(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue, abs=1e-12)
    # the defaults are n_boot=2000, seed=0; another seed resamples differently
    _nan_dict_equal(statistics.compare_groups(pd.Series(a), pd.Series(b), n_boot=2000, seed=0), c)
    assert statistics.compare_groups(pd.Series(a), pd.Series(b), seed=1)["ci_high"] != c["ci_high"]


def test_compare_groups_empty_and_singleton_groups():
    """An empty group gives sizes, the other group's mean and NaN for the rest, without a warning;
    a group of one element is still compared (diff and AUC defined)."""
    import warnings

    nan = float("nan")
    empty, two = pd.Series([], dtype=float), pd.Series([1.0, 3.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # np.mean of an empty group would warn "Mean of empty slice"
        got_b_empty = statistics.compare_groups(two, empty)
        got_a_empty = statistics.compare_groups(empty, two)
    rest = {"diff": nan, "ci_low": nan, "ci_high": nan, "auc": nan, "p_mannwhitney": nan}
    _nan_dict_equal(got_b_empty, {"n_a": 2, "n_b": 0, "mean_a": 2.0, "mean_b": nan, **rest})  # (1 + 3) / 2
    _nan_dict_equal(got_a_empty, {"n_a": 0, "n_b": 2, "mean_a": nan, "mean_b": 2.0, **rest})
    for a, b in [(pd.Series([2.0]), two), (two, pd.Series([2.0]))]:
        c = statistics.compare_groups(a, b)
        assert c["diff"] == 0.0 and c["auc"] == 0.5  # 2 - (1 + 3) / 2; 2 beats 1, loses to 3: U = 1 of 2
        assert c["ci_low"] <= 0.0 <= c["ci_high"] and not np.isnan(c["p_mannwhitney"])


def test_statistics_coerce_text_values():
    """Numbers read as text are converted (to float, to bool) before the tests, giving the same results."""
    a, b = ["0.3", "1.2", "2.0", "2.9"], ["0.5", "1.2", "1.7"]
    _nan_dict_equal(statistics.compare_groups(pd.Series(a), pd.Series(b)),
                    statistics.compare_groups(pd.Series(a).astype(float), pd.Series(b).astype(float)))
    before, after = ["1", "2", "3"], ["2", "4", "7"]
    _nan_dict_equal(statistics.paired_change(pd.Series(before), pd.Series(after)),
                    statistics.paired_change(pd.Series(before).astype(float), pd.Series(after).astype(float)))
    # 0.0/1.0 flags (e.g. after a merge) mean False/True
    fb, fa = [1.0, 0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0, 1.0]
    assert statistics.paired_rate_change(pd.Series(fb), pd.Series(fa)) == \
        statistics.paired_rate_change(pd.Series(fb).astype(bool), pd.Series(fa).astype(bool))


def test_paired_change_exact_dict():
    """Means, mean change and the exact Wilcoxon p-value of three positive differences."""
    from scipy import stats

    p = statistics.paired_change(pd.Series([1.0, 2.0, 3.0]), pd.Series([2.0, 4.0, 7.0]))
    # diffs 1, 2, 4: all ranks positive, exact two-sided p = 2 * (1 / 2**3) = 0.25
    assert p == pytest.approx({"n": 3, "before": 2.0, "after": 13 / 3, "change": 7 / 3, "p_wilcoxon": 0.25})
    assert p["p_wilcoxon"] == pytest.approx(stats.wilcoxon([1.0, 2.0, 4.0]).pvalue)


def test_paired_rate_change_exact_dicts():
    """Gained/lost count only discordant pairs; McNemar is the exact binomial test, 1.0 with none."""
    r = statistics.paired_rate_change(pd.Series([True, False, False, True, True]), pd.Series([True, True, True, False, True]))
    # gained: pairs 1, 2; lost: pair 3; pairs 0 and 4 stay True; binomtest(2, 3) = 1.0
    assert r == pytest.approx({"n": 5, "before": 60.0, "after": 80.0, "gained": 2, "lost": 1, "p_mcnemar": 1.0})
    r = statistics.paired_rate_change(pd.Series([False] * 5), pd.Series([True] * 5))
    assert r == pytest.approx({"n": 5, "before": 0.0, "after": 100.0, "gained": 5, "lost": 0,
                               "p_mcnemar": 0.0625})  # 2 * (1/2)**5
    r = statistics.paired_rate_change(pd.Series([True, False]), pd.Series([True, False]))
    assert r == {"n": 2, "before": 50.0, "after": 50.0, "gained": 0, "lost": 0, "p_mcnemar": 1.0}


# Wilson 95% (z = 1.959964, z^2 = 3.841459) of 1 in 2: denom = 1 + z^2/2 = 2.920730, centre = 0.5,
# half = z * sqrt(0.25/2 + z^2/16) / denom = 1.959964 * 0.604227 / 2.920730 = 0.405469
WILSON_1_OF_2 = (0.094531, 0.905469)
# 2 in 2: centre = (1 + z^2/4) / denom = 0.671190, half = z * sqrt(z^2/16) / denom = 0.328810 -> (0.342380, 1.0)
WILSON_2_OF_2 = (0.342380, 1.0)


def test_rate_table_exact_and_skips_unused_categories():
    """Per group n, rate and Wilson bounds in percent; an unused category gives no row."""
    groups = pd.Series(pd.Categorical(["x", "x", "y", "y"], categories=["x", "y", "z"]))
    t = statistics.rate_table(pd.Series([True, False, True, True]), groups)
    assert list(t.index) == ["x", "y"] and list(t.columns) == ["n", "rate", "ci_low", "ci_high"]
    assert t["n"].tolist() == [2, 2] and t["rate"].tolist() == [50.0, 100.0]
    assert t["ci_low"].tolist() == pytest.approx([100 * WILSON_1_OF_2[0], 100 * WILSON_2_OF_2[0]], abs=1e-4)
    assert t["ci_high"].tolist() == pytest.approx([100 * WILSON_1_OF_2[1], 100 * WILSON_2_OF_2[1]], abs=1e-4)


def test_success_by_bins_defaults_labels_and_ties():
    """Defaults are column 'completeness' and 4 bins (4 clean-correct images suffice); bins are named
    by their range (the lowest clamped at 0) and tied quantiles merge bins."""
    r = pd.DataFrame({"clean_correct": [True, True, True, True, False], "success": [True, False, True, True, False],
                      "completeness": [0.1, 0.5, 0.7, 0.9, 0.3]})
    t = statistics.success_by_bins(r)
    # quartiles of 0.1, 0.5, 0.7, 0.9: 0.1 + 0.75 * 0.4 = 0.4, 0.6, 0.7 + 0.25 * 0.2 = 0.75
    assert list(t.index) == ["0.10-0.40", "0.40-0.60", "0.60-0.75", "0.75-0.90"]
    assert t.index.name == "completeness bin" and t["rate"].tolist() == [100.0, 0.0, 100.0, 100.0]
    assert t.equals(statistics.success_by_bins(r, "completeness", 4))
    with pytest.raises(AadError, match="3 clean-correct images cannot fill 4 bins"):
        statistics.success_by_bins(r.iloc[1:])
    ties = pd.DataFrame({"clean_correct": [True] * 8, "success": [True] * 5 + [False, False, True],
                         "completeness": [0.0] * 5 + [0.6, 0.8, 1.0]})
    t = statistics.success_by_bins(ties, "completeness", 4)
    # quartile edges 0, 0, 0, 0.6 + 0.25 * 0.2 = 0.65, 1 -> two bins; the lowest edge (below 0) shown as 0
    assert list(t.index) == ["0.00-0.65", "0.65-1.00"] and t["n"].tolist() == [6, 2]
    assert t["rate"].tolist() == pytest.approx([500 / 6, 50.0])


def test_iteration_summary_exact_frame():
    """Every column of every iteration: Wilson success bounds and the normal interval of the mean IoU
    (NaN for a single image); images not clean-correct are left out."""
    it = pd.DataFrame({"iteration": [1, 1, 1, 2], "clean_correct": [True, True, False, True],
                       "success": [False, True, True, True], "deviation_iou": [1.0, 0.5, 0.0, 0.4],
                       "regions": [1, 2, 9, 3], "entropy": [0.2, 0.6, 0.0, 0.3]})
    s = statistics.iteration_summary(it)
    assert list(s.columns) == ["n", "success", "success_low", "success_high", "iou", "iou_low", "iou_high",
                               "regions", "entropy"]
    assert s.index.name == "iteration" and list(s.index) == [1, 2]
    one = s.loc[1]
    # iteration 1: 1 of 2; IoU 1.0, 0.5: mean 0.75, sd sqrt(0.125), half = 1.96 * sqrt(0.125) / sqrt(2) = 0.49
    assert one["n"] == 2 and one["success"] == 50.0
    assert (one["success_low"], one["success_high"]) == pytest.approx((100 * WILSON_1_OF_2[0], 100 * WILSON_1_OF_2[1]), abs=1e-4)
    assert (one["iou"], one["iou_low"], one["iou_high"]) == pytest.approx((0.75, 0.26, 1.24))
    assert (one["regions"], one["entropy"]) == pytest.approx((1.5, 0.4))
    two = s.loc[2]
    assert two["n"] == 1 and two["success"] == 100.0 and two["iou"] == pytest.approx(0.4)
    assert np.isnan(two["iou_low"]) and np.isnan(two["iou_high"])
