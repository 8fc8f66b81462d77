"""The AALP paper's reading of feature contributions (Figs. 1, 7, 9): how concentrated they are,
how many features exceed a threshold pooled over models, and one summary row per model."""
from __future__ import annotations

import pandas as pd
import torch

from ...validation import AadError


def top_share(contribution: torch.Tensor, fraction: float = 0.1) -> float:
    """Share of the total contribution carried by the top ``fraction`` of features: one number for
    "how concentrated" (the paper's "fewer high-contribution features" predicts a lower share)."""
    c = contribution.flatten().sort(descending=True).values
    k = max(1, int(round(fraction * c.numel())))
    total = float(c.sum())
    return float(c[:k].sum()) / total if total > 0 else float("nan")


def high_contribution_counts(contributions: dict[str, torch.Tensor], quantile: float = 0.9) -> dict[str, int]:
    """For each model, how many features exceed one common threshold: the ``quantile`` of all
    models' contributions pooled. The paper's Fig. 1 claim ("as robustness increases, the model
    shows fewer high-contribution features") predicts smaller counts for more robust models."""
    if not 0 < quantile < 1:
        raise AadError(f"quantile must be in (0, 1), got {quantile!r}.")
    pooled = torch.cat([c.flatten().float() for c in contributions.values()])
    threshold = torch.quantile(pooled, quantile)
    return {name: int((c > threshold).sum()) for name, c in contributions.items()}


def high_count_column(quantile: float = 0.9) -> str:
    """The name of :func:`summary_table`'s high-contribution count column: the percentile in
    shortest form (0.9 -> q90, 0.29 -> q29, 0.999 -> q99.9; ``%g`` of the product, because
    ``int(0.29 * 100)`` truncates 28.999999999999996 to 28)."""
    return f"features above pooled q{quantile * 100:g}"


def summary_table(contributions: dict[tuple[str, int], torch.Tensor], quantile: float = 0.9) -> pd.DataFrame:
    """One row per (method, seed): median, 90th percentile and maximum contribution, the top-10%
    share (:func:`top_share`), the features that never contribute (exactly 0, e.g. dead ReLUs) and
    the count above the pooled ``quantile`` threshold of all rows
    (:func:`high_contribution_counts`)."""
    labels = {f"{m}|{s}": c for (m, s), c in contributions.items()}
    counts = high_contribution_counts(labels, quantile)
    rows = []
    for (method, seed), c in contributions.items():
        rows.append({"method": method, "seed": seed, "median": float(c.median()),
                     "p90": float(torch.quantile(c.float(), 0.9)), "max": float(c.max()),
                     "top-10% share": top_share(c, 0.1), "zero features": int((c == 0).sum()),
                     high_count_column(quantile): counts[f"{method}|{seed}"]})
    return pd.DataFrame(rows)
