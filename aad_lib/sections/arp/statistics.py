"""The tests that answer the ARP observations from per-sample records (notebook 04): group
comparisons with an effect size, rates with Wilson intervals, and paired before/after tests.
scipy.stats supplies the tests; nothing here assumes normality."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ...intervals import wilson_interval
from ...validation import AadError


def compare_groups(a: pd.Series, b: pd.Series, n_boot: int = 2000, seed: int = 0) -> dict[str, float]:
    """Two independent samples (e.g. completeness of attacked-successfully vs survived images):
    their sizes and means, the difference of means with a 95% bootstrap interval, the two-sided
    Mann-Whitney U p-value and AUC = P(a > b) + P(a = b) / 2 (0.5 = no difference)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) == 0 or len(b) == 0:
        return {"n_a": len(a), "n_b": len(b), "mean_a": float(np.mean(a)) if len(a) else np.nan,
                "mean_b": float(np.mean(b)) if len(b) else np.nan, "diff": np.nan, "ci_low": np.nan,
                "ci_high": np.nan, "auc": np.nan, "p_mannwhitney": np.nan}
    rng = np.random.default_rng(seed)
    boots = [rng.choice(a, len(a)).mean() - rng.choice(b, len(b)).mean() for _ in range(n_boot)]
    u = stats.mannwhitneyu(a, b, alternative="two-sided")
    return {"n_a": len(a), "n_b": len(b), "mean_a": a.mean(), "mean_b": b.mean(), "diff": a.mean() - b.mean(),
            "ci_low": float(np.percentile(boots, 2.5)), "ci_high": float(np.percentile(boots, 97.5)),
            "auc": float(u.statistic / (len(a) * len(b))), "p_mannwhitney": float(u.pvalue)}


def rate_table(flags: pd.Series, groups: pd.Series) -> pd.DataFrame:
    """Per group: n, the share of True ``flags`` and its 95% Wilson interval (in percent)."""
    rows = []
    for key, part in flags.groupby(groups, observed=True):
        k, n = int(part.sum()), len(part)
        lo, hi = wilson_interval(k, n)
        rows.append({"group": key, "n": n, "rate": 100 * k / n, "ci_low": 100 * lo, "ci_high": 100 * hi})
    return pd.DataFrame(rows, columns=["group", "n", "rate", "ci_low", "ci_high"]).set_index("group")


def success_by_bins(records: pd.DataFrame, column: str = "completeness", bins: int = 4) -> pd.DataFrame:
    """Attack success rate among clean-correct images by quantile bin of ``column`` (ties may
    merge bins), each bin named by its range."""
    part = records[records["clean_correct"]]
    if len(part) < bins:
        raise AadError(f"{len(part)} clean-correct images cannot fill {bins} bins.")
    if part[column].nunique() == 1:  # one value (e.g. one image): qcut has no edges; one closed bin holds it
        value = float(part[column].iloc[0])
        binned = pd.Series([pd.Interval(value, value, closed="both")] * len(part), index=part.index)
    else:
        binned = pd.qcut(part[column], bins, duplicates="drop")
    table = rate_table(part["success"], binned)
    table.index = [f"{max(iv.left, 0.0):.2f}-{iv.right:.2f}" for iv in table.index]  # qcut opens below the minimum
    table.index.name = f"{column} bin"
    return table


def paired_change(before: pd.Series, after: pd.Series) -> dict[str, float]:
    """A paired numeric change (the same images at two points): mean before/after, mean change
    and the two-sided Wilcoxon signed-rank p-value (NaN when nothing changed)."""
    before, after = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    diff = after - before
    p = float(stats.wilcoxon(diff).pvalue) if np.any(diff != 0) else float("nan")
    return {"n": len(diff), "before": before.mean(), "after": after.mean(), "change": diff.mean(), "p_wilcoxon": p}


def paired_rate_change(before: pd.Series, after: pd.Series) -> dict[str, float]:
    """A paired change of a yes/no outcome (success at iteration 2 vs at the last): rates before and
    after (percent) and the exact McNemar p-value on the discordant pairs."""
    before, after = np.asarray(before, dtype=bool), np.asarray(after, dtype=bool)
    gained, lost = int((~before & after).sum()), int((before & ~after).sum())
    p = float(stats.binomtest(gained, gained + lost).pvalue) if gained + lost else 1.0
    return {"n": len(before), "before": 100 * before.mean(), "after": 100 * after.mean(), "gained": gained,
            "lost": lost, "p_mcnemar": p}


def iteration_summary(records: pd.DataFrame) -> pd.DataFrame:
    """Per iteration of :func:`aad_lib.attention.study.iteration_records`, over clean-correct images:
    success rate with its Wilson interval, mean deviation IoU (with a normal 95% interval), mean
    regions and entropy of the map."""
    part = records[records["clean_correct"]]
    rows = []
    for t, g in part.groupby("iteration"):
        k, n = int(g["success"].sum()), len(g)
        lo, hi = wilson_interval(k, n)
        half = 1.96 * g["deviation_iou"].std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
        rows.append({"iteration": t, "n": n, "success": 100 * k / n, "success_low": 100 * lo, "success_high": 100 * hi,
                     "iou": g["deviation_iou"].mean(), "iou_low": g["deviation_iou"].mean() - half,
                     "iou_high": g["deviation_iou"].mean() + half, "regions": g["regions"].mean(),
                     "entropy": g["entropy"].mean()})
    return pd.DataFrame(rows).set_index("iteration")
