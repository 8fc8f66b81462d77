"""Figures of the ARP section (notebook 04): completeness vs attack success, deviation and
scatter, the iterated attack, in the style of the AALP figures."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

OUTCOME = {True: "attack succeeded", False: "survived"}
OUTCOME_COLORS = {"attack succeeded": "#d55e00", "survived": "#0072b2"}


def _outcomes(records: pd.DataFrame) -> pd.DataFrame:
    part = records[records["clean_correct"]].copy()
    part["outcome"] = part["success"].map(OUTCOME)
    return part


def completeness(records: dict[str, pd.DataFrame], bins: dict[str, pd.DataFrame], title: str = "") -> plt.Figure:
    """Observation 1, per model (one column each): completeness of the clean attention for images
    the attack broke vs those that survived (top), attack success rate by completeness bin with
    95% Wilson intervals (bottom)."""
    fig, axes = plt.subplots(2, len(records), figsize=(4.6 * len(records), 6.4), squeeze=False, constrained_layout=True)
    for j, (name, frame) in enumerate(records.items()):
        part = _outcomes(frame)
        sns.histplot(part, x="completeness", hue="outcome", stat="density", common_norm=False, element="step",
                     bins=20, palette=OUTCOME_COLORS, ax=axes[0, j])
        axes[0, j].set_title(f"{name} (n = {len(part)} clean-correct)")
        table = bins[name]
        x = range(len(table))
        axes[1, j].errorbar(x, table["rate"], yerr=[table["rate"] - table["ci_low"], table["ci_high"] - table["rate"]],
                            fmt="o-", capsize=3)
        axes[1, j].set_xticks(list(x), table.index, rotation=20, fontsize="small")
        axes[1, j].set_xlabel("completeness bin (quantiles)")
        axes[1, j].set_ylabel("attack success (%)")
    if title:
        fig.suptitle(title)
    return fig


def deviation(records: dict[str, pd.DataFrame], title: str = "") -> plt.Figure:
    """Observation 2, per model (one row each): clean-vs-adversarial attention IoU by outcome, and
    the scatter of the map (8-connected regions of its top cells; spatial entropy) clean vs
    adversarial, by outcome."""
    fig, axes = plt.subplots(len(records), 3, figsize=(13, 3.4 * len(records)), squeeze=False, constrained_layout=True)
    for i, (name, frame) in enumerate(records.items()):
        part = _outcomes(frame)
        sns.boxplot(part, x="outcome", y="deviation_iou", hue="outcome", palette=OUTCOME_COLORS, ax=axes[i, 0],
                    order=list(OUTCOME_COLORS))
        axes[i, 0].set_title(f"{name}: attention IoU clean vs adversarial")
        for ax, metric in ((axes[i, 1], "regions"), (axes[i, 2], "entropy")):
            long = part.melt(id_vars="outcome", value_vars=[f"{metric}_clean", f"{metric}_adv"], var_name="image",
                             value_name=metric)
            long["image"] = long["image"].str.replace(f"{metric}_", "")
            sns.pointplot(long, x="outcome", y=metric, hue="image", order=list(OUTCOME_COLORS), dodge=0.3,
                          errorbar=("ci", 95), seed=0, ax=ax, linestyle="none")  # a seeded bootstrap: the same figure every run
            ax.set_title(f"{name}: {metric} of the map (mean, 95% CI)")
    if title:
        fig.suptitle(title)
    return fig


def iterations(summaries: dict[str, pd.DataFrame], title: str = "") -> plt.Figure:
    """Observation 3: attack success rate and clean-vs-adversarial attention IoU against the
    number of iterated Step-LL steps, per model, with 95% intervals."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), constrained_layout=True)
    for name, table in summaries.items():
        left.errorbar(table.index, table["success"], yerr=[table["success"] - table["success_low"],
                                                           table["success_high"] - table["success"]],
                      fmt="o-", capsize=3, label=name)
        right.errorbar(table.index, table["iou"], yerr=[table["iou"] - table["iou_low"], table["iou_high"] - table["iou"]],
                       fmt="o-", capsize=3, label=name)
    left.set(xlabel="iteration", ylabel="attack success (%)", title="success rate")
    right.set(xlabel="iteration", ylabel="IoU(top cells clean, adversarial)", title="attention deviation")
    left.legend()
    if title:
        fig.suptitle(title)
    return fig
