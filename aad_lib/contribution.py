"""Feature contribution at the penultimate layer and Guided Dropout (AALP paper, Eq. 5, 7, 8).

Notation: a = the penultimate activation (the layer before the logits), one row per sample;
L_i = the cross-entropy of sample i. The contribution of feature j over a set of samples is
``c_j = mean_i |a_ij * dL_i/da_ij|`` (activation times gradient, the Grad-CAM form). Guided Dropout
keeps the features whose contribution on the current batch is above the median and drops the rest,
in training only (at evaluation the network is used whole).

``dL/da`` is taken through the head alone (a detached copy of ``a``), which is exact, because the
logits depend on ``a`` only through the head, and costs one small matrix product instead of a
backward pass through the network.
"""
from __future__ import annotations

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from .attacks import model_mode
from .validation import AadError, check_count, check_images, check_labels


def contribution_scores(features: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """Eq. 5/7: ``c = mean_i |a_i * g_i|`` over the batch dimension, shape (D,)."""
    return (features * grad).abs().mean(dim=0)


def guided_dropout_mask(contribution: torch.Tensor, rescale: bool = False) -> torch.Tensor:
    """Eq. 8: ``m_j = 1 if c_j > median(c) else 0`` (strictly greater: ties at the median are
    dropped). With ``rescale`` the kept features are scaled by ``D / sum(m)`` as inverted dropout
    would (an option; the paper's text does not rescale)."""
    mask = (contribution > contribution.median()).to(contribution.dtype)
    if rescale:
        kept = mask.sum()
        if kept > 0:
            mask = mask * (mask.numel() / kept)
    return mask


def head_gradient(model: nn.Module, features: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``dL_i/da_i`` for every sample (L summed over the batch, so row i is sample i's own
    gradient), through ``model.head`` only; no parameter gradient is written."""
    a = features.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(model.head(a), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, a)
    return grad


def guided_logits(model: nn.Module, x: torch.Tensor, y: torch.Tensor, rescale: bool = False
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of ``x`` through the network trimmed by Guided Dropout (Eq. 7-8): the mask is
    computed from this batch's contributions and applied to the penultimate features before the
    head. Returns (logits, mask). Call in training only; the graph flows through the kept features."""
    a = model.penultimate(x)
    mask = guided_dropout_mask(contribution_scores(a.detach(), head_gradient(model, a, y)), rescale)
    return model.head(a * mask), mask


def dataset_contributions(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500
                          ) -> torch.Tensor:
    """Eq. 5 over a whole set: ``c_j = mean_i |a_ij * dL_i/da_ij|`` with the model in eval mode,
    shape (D,), on the CPU. Figs. 1, 7 and 9 plot the distribution of these values."""
    check_images(x)
    check_labels(y, x.shape[0], getattr(model, "num_classes", None))
    check_count(batch_size, "batch_size", 1)
    device = next(model.parameters()).device
    total = None
    with model_mode(model, "eval"), torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            xb, yb = x[start:start + batch_size].to(device), y[start:start + batch_size].to(device)
            a = model.penultimate(xb)
            part = (a * head_gradient(model, a, yb)).abs().sum(dim=0)
            total = part if total is None else total + part
    return (total / x.shape[0]).cpu()


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
