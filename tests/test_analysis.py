"""Consistent / inconsistent sets, Table 1 statistics, the paired bootstrap and the per-epoch
views, against small hand-built records."""
import math
import re

import numpy as np
import pandas as pd
import pytest
import torch

from aad_lib.sections.aalp import analysis
from aad_lib.validation import AadError


def _records():
    # 4 samples: consistent, inconsistent, clean error (adv correct), clean error (adv wrong)
    return pd.DataFrame({
        "index": [0, 1, 2, 3], "label": [1, 2, 3, 4],
        "confidence": [0.9, 0.5, 0.2, 0.1],
        "Clean": [True, True, False, False],
        "PGD-40": [True, False, True, False],
        "conf:PGD-40": [0.8, 0.1, 0.6, 0.05],
        "pair:PGD-40": [1.0, 9.0, 4.0, 2.0],
    })


def test_sample_sets():
    assert analysis.sample_sets(_records(), "PGD-40").tolist() == ["consistent", "inconsistent", "clean error", "clean error"]
    with pytest.raises(AadError, match="Did you mean 'PGD-40'"):
        analysis.sample_sets(_records(), "PGD-4O")


def test_set_statistics_hand_case():
    t = analysis.set_statistics(_records(), "PGD-40", alp_weight=0.5)
    assert t.index.tolist() == ["consistent", "inconsistent", "clean error"]
    assert t.loc["consistent", "n"] == 1 and t.loc["clean error", "share"] == 0.5
    assert t.loc["inconsistent", "adversarial confidence"] == pytest.approx(0.1)
    assert t.loc["inconsistent", "adversarial CE"] == pytest.approx(-math.log(0.1))
    assert t.loc["clean error", "ALP loss"] == pytest.approx(3.0)
    # ALP share: 0.5 * 1.0 / (0.5 * (-ln 0.9 - ln 0.8) + 0.5 * 1.0)
    ce_mix = 0.5 * (-math.log(0.9) - math.log(0.8))
    assert t.loc["consistent", "ALP share of loss"] == pytest.approx(0.5 / (ce_mix + 0.5))


def test_set_statistics_over_seeds_sums_counts_and_averages_means():
    a, b = _records(), _records()
    b["conf:PGD-40"] = [0.6, 0.3, 0.6, 0.05]
    t = analysis.set_statistics_over_seeds({0: a, 1: b}, "PGD-40")
    assert t[("mean over seeds", "n")]["consistent"] == 2
    assert t[("mean over seeds", "adversarial confidence")]["consistent"] == pytest.approx(0.7)
    assert t[("max-min over seeds", "adversarial confidence")]["inconsistent"] == pytest.approx(0.2)


def test_consistent_share():
    assert analysis.consistent_share(_records(), "PGD-40") == 0.25


def test_paired_difference_hand_case_and_interval():
    a = pd.DataFrame({"index": range(4), "PGD-40": [True, True, True, False]})
    b = pd.DataFrame({"index": range(4), "PGD-40": [True, False, True, False]})
    d = analysis.paired_difference([a], [b], "PGD-40", n_boot=500)
    assert d["difference"] == pytest.approx(25.0) and d["n"] == 4
    assert 0.0 <= d["ci_low"] <= 25.0 <= d["ci_high"] <= 100.0
    same = analysis.paired_difference([a], [a], "PGD-40")
    assert same["difference"] == 0 and same["ci_low"] == 0 and same["ci_high"] == 0 and same["p_value"] == 1.0
    # two seeds of b average per sample: sample 1 is (0 + 1) / 2
    b2 = b.assign(**{"PGD-40": [True, True, True, False]})
    assert analysis.paired_difference([a], [b, b2], "PGD-40")["difference"] == pytest.approx(12.5)
    with pytest.raises(AadError, match="different test samples"):
        analysis.paired_difference([a], [b.assign(index=[5, 6, 7, 8])], "PGD-40")


def _bootstrap_reference(a_runs: list[np.ndarray], b_runs: list[np.ndarray], n_boot: int, seed: int) -> dict[str, float]:
    """The documented two-level algorithm written out loop by loop: rng = default_rng(seed); image
    draws idx = rng.integers(0, n, (n_boot, n)); then arm a, then arm b: each run's offset from the
    arm's mean widened by sqrt(k / (k - 1)), run draws rng.integers(0, k, (n_boot, k)), and per
    sample the mean over the drawn runs of the run's mean on the drawn images (clipped to [0, 1]);
    the 2.5% and 97.5% quantiles; p = the share of centred differences at least as far from 0 as the
    observed difference."""
    rng = np.random.default_rng(seed)
    n = len(a_runs[0])
    idx = rng.integers(0, n, size=(n_boot, n))
    estimates = []
    for runs in (a_runs, b_runs):
        values, k = np.stack(runs).astype(float), len(runs)
        if k > 1:
            means = values.mean(axis=1)
            values = values + ((math.sqrt(k / (k - 1)) - 1) * (means - means.mean()))[:, None]
        drawn = rng.integers(0, k, size=(n_boot, k))
        estimates.append(np.clip([np.mean([values[r, idx[i]].mean() for r in drawn[i]]) for i in range(n_boot)], 0, 1))
    boot = estimates[0] - estimates[1]
    observed = np.stack(a_runs).mean() - np.stack(b_runs).mean()
    lo, hi = np.quantile(boot, [0.025, 0.975])
    p = float(np.mean(np.abs(boot - boot.mean()) >= abs(observed)))
    return {"difference": 100 * observed, "ci_low": 100 * lo, "ci_high": 100 * hi, "p_value": p}


def test_paired_difference_equals_the_reference_bootstrap():
    """difference = 100 (mean of a's runs - mean of b's runs), CI = 100 x quantiles (2.5%, 97.5%) of the
    two-level resampled differences (runs, then images shared by all runs), two-sided p."""
    rng = np.random.default_rng(7)
    n = 300
    a1, a2, b = (pd.DataFrame({"index": range(n), "c": rng.random(n) < q}) for q in (0.62, 0.6, 0.5))
    runs = [r["c"].to_numpy(float) for r in (a1, a2, b)]
    for n_boot, seed in ((2000, 0), (777, 3)):
        got = analysis.paired_difference([a1, a2], [b], "c", n_boot=n_boot, seed=seed)
        ref = _bootstrap_reference(runs[:2], runs[2:], n_boot, seed)
        for key, value in ref.items():
            assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key
        assert (got["n"], got["seeds_a"], got["seeds_b"]) == (n, 2, 1)
    # Independently of the RNG, with one run per arm: the bootstrap mean has sd ~ sd(d) / sqrt(n), so the
    # 95% interval's half width is ~ 1.96 sd(d) / sqrt(n) and p ~ the two-sided normal tail of
    # mean(d) / (sd(d) / sqrt(n)).
    d = runs[0] - runs[2]
    got = analysis.paired_difference([a1], [b], "c", n_boot=4000)
    se = d.std() / math.sqrt(n)
    assert (got["ci_high"] - got["ci_low"]) / 2 == pytest.approx(100 * 1.96 * se, rel=0.1)
    z = abs(d.mean()) / se
    assert 0.01 < got["p_value"] < 0.5 and got["p_value"] == pytest.approx(math.erfc(z / math.sqrt(2)), abs=0.02)
    # Two runs of a that disagree widen the interval beyond the images-only one of their average
    wide = analysis.paired_difference([a1, a2.assign(c=~a2["c"])], [b], "c", n_boot=2000)
    assert wide["ci_high"] - wide["ci_low"] > 2 * (got["ci_high"] - got["ci_low"])


def test_paired_difference_p_value_closed_forms():
    """p = 0 when every resampled difference lies closer to its centre than the observed one to 0; p = 1
    when the observed difference is 0."""
    # a is right everywhere; b's runs have means 0 and 0.4 (widened by sqrt(2): -0.08 and 0.48), b's
    # estimate clipped at 0: every resampled difference lies in [0.3, 1] around a mean near 0.8, so
    # |boot - mean(boot)| < 0.8: p = 0, and the interval lies in (0, 100].
    a = pd.DataFrame({"index": range(10), "c": [True] * 10})
    b1 = pd.DataFrame({"index": range(10), "c": [False] * 10})
    b2 = pd.DataFrame({"index": range(10), "c": [False] * 6 + [True] * 4})
    d = analysis.paired_difference([a], [b1, b2], "c", n_boot=500)
    assert d["difference"] == pytest.approx(80.0) and d["p_value"] == 0.0
    assert 0.0 < d["ci_low"] < 80.0 < d["ci_high"] <= 100.0
    # d = (1, -1, 0, 0): mean 0, so every |centred difference| >= 0 counts: p = 1; the interval straddles 0.
    a = pd.DataFrame({"index": range(4), "c": [True, False, True, False]})
    b = pd.DataFrame({"index": range(4), "c": [False, True, True, False]})
    d = analysis.paired_difference([a], [b], "c", n_boot=500)
    assert d["difference"] == 0.0 and d["p_value"] == 1.0 and d["ci_low"] < 0.0 < d["ci_high"]


def test_large_real_difference_is_significant():
    rng = np.random.default_rng(0)
    a = pd.DataFrame({"index": range(1000), "c": rng.random(1000) < 0.9})
    b = pd.DataFrame({"index": range(1000), "c": rng.random(1000) < 0.5})
    d = analysis.paired_difference([a], [b], "c", n_boot=1000)
    assert d["ci_low"] > 30 and d["p_value"] < 0.01


def test_history_views_from_a_built_history():
    rows = []
    for epoch in (1, 2, 3):
        rows.append({"epoch": epoch, "index": 0, "clean correct": True, "adversarial correct": True,
                     "ALP loss": 3.0 / epoch, "clean CE": 0.1, "adversarial CE": 0.2})
        rows.append({"epoch": epoch, "index": 1, "clean correct": True, "adversarial correct": epoch < 3,
                     "ALP loss": 1.0 * epoch, "clean CE": 0.3, "adversarial CE": 1.0})
        rows.append({"epoch": epoch, "index": 2, "clean correct": False, "adversarial correct": False,
                     "ALP loss": 100.0, "clean CE": 2.0, "adversarial CE": 3.0})
    history = pd.DataFrame(rows)
    assert analysis.final_sets(history).tolist() == ["consistent", "inconsistent", "clean error"]
    by_set = analysis.alp_loss_by_set(history)
    assert by_set["consistent"].tolist() == pytest.approx([3.0, 1.5, 1.0])
    assert by_set["inconsistent"].tolist() == pytest.approx([1.0, 2.0, 3.0])
    curves = analysis.history_curves(history)
    assert curves.loc[3, "adversarial accuracy"] == pytest.approx(1 / 3)
    assert curves.loc[1, "clean CE"] == pytest.approx(0.8)


def test_epoch_history_matches_direct_computation(tiny_model, digits):
    """Each column recomputed: PGD from generator(seed) in batch order, CE = -log p_y, ALP = ||z - z'||^2."""
    from aad_lib.attacks import pgd
    from aad_lib.runtime import generator

    x, y = digits
    h = analysis.epoch_history([(1, tiny_model), (2, tiny_model)], x, y, eps=0.3, alpha=0.05, steps=3, seed=4, batch_size=10)
    assert len(h) == 2 * len(y)
    one = h[h.epoch == 1].reset_index(drop=True)
    g = generator(4)  # one generator for the epoch, drawn batch by batch (10, 10, 10, 2 images)
    x_adv = torch.cat([pgd(tiny_model, x[i:i + 10], y[i:i + 10], 0.3, 0.05, 3, generator=g) for i in range(0, 32, 10)])
    with torch.no_grad():
        z, z_adv = tiny_model(x), tiny_model(x_adv)
    ce = torch.nn.functional.cross_entropy
    expected = {
        "clean CE": ce(z, y, reduction="none"), "adversarial CE": ce(z_adv, y, reduction="none"),
        "clean confidence": torch.softmax(z, 1)[torch.arange(32), y],
        "adversarial confidence": torch.softmax(z_adv, 1)[torch.arange(32), y],
        "ALP loss": ((z - z_adv) ** 2).sum(1),
    }
    for col, value in expected.items():
        assert one[col].to_numpy() == pytest.approx(value.numpy(), rel=1e-5, abs=1e-6), col
    assert one["adversarial correct"].tolist() == (z_adv.argmax(1) == y).tolist()
    assert one["clean correct"].tolist() == (z.argmax(1) == y).tolist()
    # the attack did something: the ALP term is not ||z - z||^2 = 0
    assert (one["ALP loss"] > 1e-3).mean() > 0.9
    # the same seed per epoch: the same model gives the same adversarial numbers at both epochs
    assert one["ALP loss"].equals(h[h.epoch == 2]["ALP loss"].reset_index(drop=True))


def test_with_last_iterate_gives_the_never_stopping_runs_columns(tiny_model, digits):
    """The evaluation stops at the first fooling point; the paper's analyses need the last iterate:
    recomputing one attack alone reproduces exactly the columns of a never-stopping evaluation."""
    from aad_lib.evaluation import EvalConfig, evaluate

    x, y = digits
    kw = dict(eps=0.1, alpha=0.01, pgd_steps=[3, 8], cw_steps=[3, 8], batch_size=20)
    stopping = evaluate(tiny_model, x, y, EvalConfig(**kw), progress=False)
    never = evaluate(tiny_model, x, y, EvalConfig(**kw, stop_when_fooled=False), progress=False)
    for attack in ("PGD-8", "CW-3"):
        assert not stopping[f"conf:{attack}"].equals(never[f"conf:{attack}"])  # the two semantics differ here
        got = analysis.with_last_iterate(stopping, tiny_model, x, y, EvalConfig(**kw), attack)
        pd.testing.assert_series_equal(got[f"conf:{attack}"], never[f"conf:{attack}"])
        pd.testing.assert_series_equal(got[f"pair:{attack}"], never[f"pair:{attack}"])
        assert got[attack].equals(stopping[attack])  # the accuracy columns stay the evaluation's
    with pytest.raises(AadError, match="PGD-k or CW-k"):
        analysis.with_last_iterate(stopping, tiny_model, x, y, EvalConfig(**kw), "FGSM")


def _records_two_attacks():
    """4 samples with a zero clean and a zero adversarial confidence, and a second attack CW-10."""
    return pd.DataFrame({
        "index": [0, 1, 2, 3], "label": [1, 2, 3, 4],
        "confidence": [0.9, 0.5, 0.0, 0.1],
        "Clean": [True, True, False, False],
        "PGD-40": [True, False, True, False],
        "conf:PGD-40": [0.8, 0.1, 0.6, 0.0],
        "pair:PGD-40": [4.0, 9.0, 4.0, 2.0],
        "CW-10": [True, True, True, False],
        "conf:CW-10": [0.7, 0.4, 0.5, 0.2],
        "pair:CW-10": [1.0, 1.0, 1.0, 1.0],
    })


def _hand_table_pgd40_lambda2() -> pd.DataFrame:
    """set_statistics(_records_two_attacks(), "PGD-40", alp_weight=2) by hand."""
    ce0 = -math.log(1e-12)  # a zero confidence is clipped at 1e-12: CE = 27.631...
    # per set: samples {0} consistent, {1} inconsistent, {2, 3} clean error
    clean_ce = [-math.log(0.9), -math.log(0.5), (ce0 - math.log(0.1)) / 2]
    adv_ce = [-math.log(0.8), -math.log(0.1), (-math.log(0.6) + ce0) / 2]
    alp = [4.0, 9.0, (4.0 + 2.0) / 2]
    # ALP share = 2 ALP / (0.5 (clean CE + adv CE) + 2 ALP)
    share = [2 * a / (0.5 * (c + v) + 2 * a) for a, c, v in zip(alp, clean_ce, adv_ce)]
    return pd.DataFrame({
        "n": [1, 1, 2], "share": [0.25, 0.25, 0.5],
        "clean confidence": [0.9, 0.5, (0.0 + 0.1) / 2],
        "adversarial confidence": [0.8, 0.1, (0.6 + 0.0) / 2],
        "clean CE": clean_ce, "adversarial CE": adv_ce, "ALP loss": alp, "ALP share of loss": share,
    }, index=pd.Index(["consistent", "inconsistent", "clean error"], name="set"))


def test_sample_sets_exact_series_default_attack_and_index():
    """The returned series is named "set", keeps the records' index, and defaults to PGD-40."""
    r = _records_two_attacks().set_axis([10, 11, 12, 13])
    expected = pd.Series(["consistent", "inconsistent", "clean error", "clean error"], index=[10, 11, 12, 13], name="set")
    pd.testing.assert_series_equal(analysis.sample_sets(r), expected)
    pd.testing.assert_series_equal(analysis.sample_sets(r, "PGD-40"), expected)
    # CW-10 = (T, T, T, F) with Clean = (T, T, F, F): consistent, consistent, clean error, clean error
    assert analysis.sample_sets(r, "CW-10").tolist() == ["consistent", "consistent", "clean error", "clean error"]


def test_sample_sets_counts_a_missing_adversarial_result_as_not_correct():
    """An object column with None: bool(None) is False, so the sample is inconsistent, not consistent."""
    r = _records_two_attacks()
    r["PGD-40"] = pd.Series([True, None, None, None], dtype=object)
    assert analysis.sample_sets(r).tolist() == ["consistent", "inconsistent", "clean error", "clean error"]


def test_unknown_attack_message_lists_only_the_attack_columns():
    """The error names what is looked up and lists the attack columns only (no index/label/confidence/x:y)."""
    # attack columns, sorted: "CW-10" < "Clean" ('W' < 'l') < "PGD-40"
    msg = ("unknown attack column of the evaluation records 'PGD-4O'. Did you mean 'PGD-40'? "
           "Valid choices: CW-10, Clean, PGD-40.")
    for call in (analysis.sample_sets, analysis.set_statistics, analysis.consistent_share):
        with pytest.raises(AadError, match="^" + re.escape(msg) + "$"):
            call(_records_two_attacks(), "PGD-4O")


def test_consistent_share_default_and_named_attack():
    """PGD-40 (the default): 1 of 4 consistent; CW-10: samples 0 and 1, 2 of 4."""
    r = _records_two_attacks()
    assert analysis.consistent_share(r) == 0.25
    assert analysis.consistent_share(r, "CW-10") == 0.5


def test_set_statistics_exact_frame():
    """The whole Table-1 frame for lambda = 2, column order, dtypes and the 1e-12 clip of zero confidences."""
    r = _records_two_attacks()
    expected = _hand_table_pgd40_lambda2()
    pd.testing.assert_frame_equal(analysis.set_statistics(r, "PGD-40", alp_weight=2.0), expected)
    # the default attack is PGD-40, the default lambda none (no share column)
    pd.testing.assert_frame_equal(analysis.set_statistics(r), expected.drop(columns="ALP share of loss"))
    # CW-10 decides the sets of its own table: consistent {0, 1}, clean error {2, 3}, no inconsistent row
    t = analysis.set_statistics(r, "CW-10")
    assert t.index.tolist() == ["consistent", "clean error"] and t["n"].tolist() == [2, 2]
    assert t["adversarial confidence"].tolist() == pytest.approx([(0.7 + 0.4) / 2, (0.5 + 0.2) / 2])


def test_set_statistics_over_seeds_exact_frame_with_defaults_and_lambda():
    """Two identical seeds: the means are the one-seed table with n summed (1 + 1, 2 + 2), the spreads 0."""
    r = _records_two_attacks()
    one = _hand_table_pgd40_lambda2()
    mean = one.assign(n=2 * one["n"])
    spread = one.drop(columns="n") * 0.0
    expected = pd.concat({"mean over seeds": mean, "max-min over seeds": spread}, axis=1)
    pd.testing.assert_frame_equal(analysis.set_statistics_over_seeds({0: r, 1: r}, alp_weight=2.0), expected)
    pd.testing.assert_frame_equal(analysis.set_statistics_over_seeds({0: r, 1: r}, "PGD-40", 2.0), expected)
    got = analysis.set_statistics_over_seeds({0: r, 1: r}, "CW-10")
    assert got[("mean over seeds", "n")].tolist() == [4, 4]


def test_paired_difference_defaults_are_2000_resamples_from_seed_0():
    """Called without n_boot and seed: the reference bootstrap at n_boot = 2000, seed = 0."""
    rng = np.random.default_rng(11)
    a, b = (pd.DataFrame({"index": range(50), "c": rng.random(50) < q}) for q in (0.7, 0.5))
    runs = [a["c"].to_numpy(float)], [b["c"].to_numpy(float)]
    got = analysis.paired_difference([a], [b], "c")
    ref = _bootstrap_reference(*runs, 2000, 0)
    for key, value in ref.items():
        assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
    # and the reference does tell those defaults apart from neighbouring ones
    assert _bootstrap_reference(*runs, 2001, 0) != ref and _bootstrap_reference(*runs, 2000, 1) != ref


def test_paired_difference_needs_records_for_each_method():
    """An empty list for either method is an error, not only both empty."""
    a = pd.DataFrame({"index": range(2), "c": [True, False]})
    for args in (([], [a]), ([a], []), ([], [])):
        with pytest.raises(AadError, match="needs at least one records table per method"):
            analysis.paired_difference(*args, "c")


def test_paired_difference_p_value_counts_ties():
    """A centred difference equal to the observed one counts (>=): for d = (1, -1) (mean 0, spread > 0)
    every |centred| >= 0, p = 1; for a constant d = (1, 1) no draw differs, p = 0 (it is not 0)."""
    a = pd.DataFrame({"index": range(2), "c": [True, False]})
    b = pd.DataFrame({"index": range(2), "c": [False, True]})
    assert analysis.paired_difference([a], [b], "c", n_boot=100)["p_value"] == 1.0
    b0 = pd.DataFrame({"index": range(2), "c": [False, False]})
    assert analysis.paired_difference([a.assign(c=True)], [b0], "c", n_boot=100)["p_value"] == 0.0


def test_history_views_exact_frames():
    """final_sets is indexed by the sample index; history_curves' exact columns, index and values."""
    rows = []
    for epoch in (1, 2, 3):
        rows += [{"epoch": epoch, "index": 7, "clean correct": True, "adversarial correct": True,
                  "ALP loss": 1.0, "clean CE": 0.1, "adversarial CE": 0.2},
                 {"epoch": epoch, "index": 5, "clean correct": True, "adversarial correct": epoch < 3,
                  "ALP loss": 2.0, "clean CE": 0.3, "adversarial CE": 1.0},
                 {"epoch": epoch, "index": 9, "clean correct": False, "adversarial correct": False,
                  "ALP loss": 3.0, "clean CE": 2.0, "adversarial CE": 3.0}]
    history = pd.DataFrame(rows)
    pd.testing.assert_series_equal(analysis.final_sets(history), pd.Series(
        ["consistent", "inconsistent", "clean error"], index=pd.Index([7, 5, 9], name="index"), name="set"))
    expected = pd.DataFrame({
        "clean CE": [0.8] * 3,                        # (0.1 + 0.3 + 2.0) / 3
        "adversarial CE": [1.4] * 3,                  # (0.2 + 1.0 + 3.0) / 3
        "clean accuracy": [2 / 3] * 3,                # samples 7 and 5
        "adversarial accuracy": [2 / 3, 2 / 3, 1 / 3],  # sample 5 fooled at epoch 3
    }, index=pd.Index([1, 2, 3], name="epoch"))
    pd.testing.assert_frame_equal(analysis.history_curves(history), expected)


def test_epoch_history_at_eps_zero_exact_columns_and_index(tiny_model, digits):
    """eps = 0 leaves x_adv = x: with the model's own predictions as labels every sample is clean and
    adversarially correct, the adversarial columns equal the clean ones, the ALP term is 0; one row
    per (epoch, sample) with a fresh 0..N-1 index."""
    x, _ = digits
    with torch.no_grad():
        y = tiny_model(x).argmax(1)
    h = analysis.epoch_history([(1, tiny_model), (2, tiny_model)], x, y, eps=0.0, alpha=0.05, steps=2, batch_size=10)
    assert h.columns.tolist() == ["epoch", "index", "clean correct", "adversarial correct", "clean confidence",
                                  "adversarial confidence", "clean CE", "adversarial CE", "ALP loss"]
    pd.testing.assert_index_equal(h.index, pd.RangeIndex(64))
    assert h["index"].tolist() == list(range(32)) * 2 and h["epoch"].tolist() == [1] * 32 + [2] * 32
    assert h["clean correct"].all() and h["adversarial correct"].all()
    assert (h["ALP loss"] == 0).all() and h["adversarial CE"].equals(h["clean CE"])


def test_epoch_history_default_seed_and_batch_size(tiny_model, digits):
    """Without seed the PGD start is generator(0)'s (equal to seed=0, not to seed=1); without
    batch_size the model sees batches of 500: 501 images run as 500 + 1."""
    x, y = digits
    kw = dict(eps=0.3, alpha=0.05, steps=1, batch_size=32)
    default = analysis.epoch_history([(1, tiny_model)], x, y, **kw)
    pd.testing.assert_frame_equal(default, analysis.epoch_history([(1, tiny_model)], x, y, seed=0, **kw))
    assert not default["ALP loss"].equals(analysis.epoch_history([(1, tiny_model)], x, y, seed=1, **kw)["ALP loss"])
    sizes = []
    hook = tiny_model.register_forward_pre_hook(lambda module, args: sizes.append(args[0].shape[0]))
    try:
        big_x, big_y = x.repeat(16, 1, 1, 1)[:501], y.repeat(16)[:501]  # 16 x 32 = 512 >= 501
        analysis.epoch_history([(1, tiny_model)], big_x, big_y, eps=0.3, alpha=0.05, steps=1)
    finally:
        hook.remove()
    assert set(sizes) == {500, 1}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_epoch_history_with_a_gpu_model_and_cpu_data(tiny_model):
    """A model on the GPU and images on the CPU: each batch moves to the model's device and the PGD
    start comes from a generator on that device, generator(seed, "cuda")."""
    from aad_lib.attacks import pgd
    from aad_lib.runtime import generator

    x = torch.rand(12, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    y = torch.arange(12) % 10
    model = tiny_model.cuda()
    h = analysis.epoch_history([(1, model)], x, y, eps=0.3, alpha=0.05, steps=2, seed=4, batch_size=5)
    g = generator(4, "cuda")  # batches of 5, 5, 2 drawn from one CUDA generator
    xc, yc = x.cuda(), y.cuda()
    x_adv = torch.cat([pgd(model, xc[i:i + 5], yc[i:i + 5], 0.3, 0.05, 2, generator=g) for i in range(0, 12, 5)])
    with torch.no_grad():
        alp = ((model(xc) - model(x_adv)) ** 2).sum(1).cpu()
    assert h["ALP loss"].to_numpy() == pytest.approx(alp.numpy(), rel=1e-4, abs=1e-6)


def test_paired_difference_p_value_of_a_constant_difference_skips_the_bootstrap():
    """No spread among the resampled differences: p = [observed == 0] directly. For d = (1e308) the
    resampled differences are all 1e308 but their mean overflows (2000 x 1e308 = inf), so a bootstrap p
    would read |1e308 - inf| >= 1e308: 1."""
    a = pd.DataFrame({"index": [0], "c": [1e308]})
    b = pd.DataFrame({"index": [0], "c": [0.0]})
    with np.errstate(over="ignore", invalid="ignore"):
        assert analysis.paired_difference([a], [b], "c")["p_value"] == 0.0
        assert analysis.paired_difference([a], [a], "c")["p_value"] == 1.0  # d = (0): p = 1
