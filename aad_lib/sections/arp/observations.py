"""The ARP paper's three observations as tables (Wu et al., "Attention, Please!", Sec. 3), one row
per analysed model, from the per-image records of :mod:`aad_lib.sections.arp.study`:

1. incomplete attention predicts vulnerability (completeness of broken vs surviving images);
2. a successful attack deviates and scatters attention (IoU with the clean map; regions, entropy);
3. iterating the attack keeps moving attention after the success rate stops rising.

Each row carries its test (Mann-Whitney, Wilcoxon, McNemar) and the numbers the verdict reads.
"""
from __future__ import annotations

import pandas as pd
import torch
from torch import nn

from . import statistics, study


def completeness_table(records: dict[str, pd.DataFrame], bins: int = 4) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Observation 1 over the clean-correct images of each model's Step-LL records: completeness
    of the broken vs the surviving images (difference, bootstrap 95% CI, AUC, Mann-Whitney p) and
    the success rate per completeness quantile bin (``bins`` bins, fewer when a model classifies
    fewer images correctly). Returns (table, model -> bins)."""
    rows, by_bins = {}, {}
    for name, r in records.items():
        ok = r[r["clean_correct"]]
        c = statistics.compare_groups(ok.loc[ok["success"], "completeness"], ok.loc[~ok["success"], "completeness"])
        rows[name] = {"clean-correct n": len(ok), "broken n": c["n_a"], "survived n": c["n_b"],
                      "success %": 100 * ok["success"].mean(), "completeness broken": c["mean_a"],
                      "completeness survived": c["mean_b"], "difference": c["diff"],
                      "diff 95% CI": f"[{c['ci_low']:.3f}, {c['ci_high']:.3f}]",
                      "AUC": c["auc"], "p (Mann-Whitney)": c["p_mannwhitney"]}
        # a weak model (a tiny run, a new dataset) may classify fewer images than there are bins:
        # as many bins as images, none without images, rather than no observation at all
        usable = min(bins, len(ok))
        by_bins[name] = (statistics.success_by_bins(r, "completeness", usable) if usable else
                         pd.DataFrame(columns=["n", "rate", "ci_low", "ci_high"]).rename_axis("completeness bin"))
    return pd.DataFrame(rows).T, by_bins


def deviation_table(records: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Observation 2: the IoU of the adversarial with the clean map where the attack succeeded vs
    where it failed (Mann-Whitney), and, over the broken images, the connected regions and the
    spatial entropy of the map before and after the attack (Wilcoxon signed-rank)."""
    rows = {}
    for name, r in records.items():
        ok = r[r["clean_correct"]]
        broken = ok[ok["success"]]
        c = statistics.compare_groups(broken["deviation_iou"], ok.loc[~ok["success"], "deviation_iou"])
        regions = statistics.paired_change(broken["regions_clean"], broken["regions_adv"])
        entropy = statistics.paired_change(broken["entropy_clean"], broken["entropy_adv"])
        rows[name] = {"broken n": c["n_a"], "survived n": c["n_b"], "IoU broken": c["mean_a"], "IoU survived": c["mean_b"],
                      "IoU diff 95% CI": f"[{c['ci_low']:.3f}, {c['ci_high']:.3f}]", "p IoU (Mann-Whitney)": c["p_mannwhitney"],
                      "regions clean": regions["before"], "regions adv": regions["after"],
                      "p regions (Wilcoxon)": regions["p_wilcoxon"], "entropy clean": entropy["before"],
                      "entropy adv": entropy["after"], "p entropy (Wilcoxon)": entropy["p_wilcoxon"]}
    return pd.DataFrame(rows).T


def iteration_tables(models: dict[str, nn.Module], x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float,
                     iterations: int, fraction: float) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, pd.DataFrame]]:
    """Observation 3: iterated Step-LL (``iterations`` steps of ``alpha`` inside ``eps``) per model.
    Returns (per-iteration summary of every model, one row per model comparing iteration 2 with the
    last: success rate (McNemar) and IoU (Wilcoxon), and model -> its per-iteration summary)."""
    summaries, rows = {}, {}
    for name, model in models.items():
        records = study.iteration_records(model, x, y, eps, alpha, iterations, fraction)
        summaries[name] = statistics.iteration_summary(records)
        ok = records[records["clean_correct"]]

        def at(t: int) -> pd.DataFrame:
            return ok[ok["iteration"] == t].set_index("sample")

        first, last = at(min(2, iterations)), at(iterations)
        rate = statistics.paired_rate_change(first["success"], last["success"])
        iou = statistics.paired_change(first["deviation_iou"], last["deviation_iou"])
        rows[name] = {"n": rate["n"], "success % at 2": rate["before"], "success % at last": rate["after"],
                      "p success (McNemar)": rate["p_mcnemar"], "IoU at 2": iou["before"], "IoU at last": iou["after"],
                      "p IoU (Wilcoxon)": iou["p_wilcoxon"],
                      "iteration of max success": int(summaries[name]["success"].idxmax())}
    table = pd.concat({name: s for name, s in summaries.items()}, names=["model"])
    return table, pd.DataFrame(rows).T, summaries
