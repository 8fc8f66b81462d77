"""The AALP paper's figures (notebooks 01-03): contributions, Grad-CAM grids, consistent and
inconsistent samples, the lambda sweep and the per-epoch comparisons."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.ticker import MaxNLocator

from ...plots import style  # noqa: F401  (the theme)


SET_COLORS = {"consistent": "#1f77b4", "inconsistent": "#d62728", "clean error": "#7f7f7f"}


def contribution_distributions(contributions: dict[str, torch.Tensor], title: str = "",
                               colors: list | None = None) -> plt.Figure:
    """Figs. 1/7/9: the distribution of the penultimate features' contributions (Eq. 5) per model
    (or per epoch): a histogram of the non-zero ones on a log scale (left; the legend counts the
    features that never fire, contribution exactly 0) and all contributions sorted by rank (right).
    ``colors``: one per entry (default: the theme's palette)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), constrained_layout=True)
    positive = np.concatenate([c.numpy()[c.numpy() > 0] for c in contributions.values()])
    bins = np.logspace(np.log10(positive.min()), np.log10(positive.max()), 40) if positive.size else 40
    for i, (label, c) in enumerate(contributions.items()):
        values = c.numpy()
        colour = colors[i] if colors else None
        left.hist(values[values > 0], bins=bins, histtype="step", density=False, linewidth=1.6, color=colour,
                  label=f"{label} ({int((values == 0).sum())} zero)")
        right.plot(np.arange(1, values.size + 1), np.sort(values)[::-1], color=colour, label=label)
    left.set_xscale("log")
    left.set_xlabel("contribution (non-zero features)")
    left.set_ylabel("features")
    left.set_title("distribution of feature contributions")
    left.legend(fontsize="x-small" if len(contributions) > 4 else "small")
    right.set_yscale("log")
    right.set_xlabel("feature rank")
    right.set_ylabel("contribution")
    right.set_title("contributions sorted (fewer high ones = a steeper fall)")
    right.legend(fontsize="x-small" if len(contributions) > 4 else "small")
    if title:
        fig.suptitle(title)
    return fig


def contribution_evolution(per_epoch: dict[int, torch.Tensor], title: str = "") -> plt.Figure:
    """Fig. 9: :func:`contribution_distributions` at each saved epoch (colour = epoch, viridis)."""
    epochs = sorted(per_epoch)
    cmap = plt.get_cmap("viridis")
    colors = [cmap(i / max(1, len(epochs) - 1)) for i in range(len(epochs))]
    return contribution_distributions({f"epoch {e}": per_epoch[e] for e in epochs}, title, colors)


def set_examples(images: torch.Tensor, records: pd.DataFrame, sets: pd.Series, attack: str, n: int = 6,
                 title: str = "") -> plt.Figure:
    """Fig. 3: examples of consistent and inconsistent samples with their clean and adversarial
    true-class confidence (left), and the confidence distributions of each set (right)."""
    fig = plt.figure(figsize=(1.5 * n + 5, 3.6), constrained_layout=True)
    grid = fig.add_gridspec(2, n + 3)
    for r, name in enumerate(("consistent", "inconsistent")):
        chosen = records.index[sets == name][:n]
        for j, i in enumerate(chosen):
            ax = fig.add_subplot(grid[r, j])
            ax.imshow(images[records.loc[i, "index"]].permute(1, 2, 0).numpy().squeeze(), cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"{records.loc[i, 'confidence']:.2f} / {records.loc[i, f'conf:{attack}']:.2f}", fontsize="x-small",
                         color=SET_COLORS[name])
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(name, fontsize="small")
    hist = fig.add_subplot(grid[:, n:])
    frame = pd.DataFrame({"set": sets, "adversarial confidence": records[f"conf:{attack}"]})
    frame = frame[frame["set"] != "clean error"]
    sns.histplot(data=frame, x="adversarial confidence", hue="set", bins=20, stat="percent", common_norm=False,
                 palette=SET_COLORS, element="step", ax=hist)
    hist.set_title(f"true-class confidence under {attack}")
    fig.suptitle(title or f"titles: clean / {attack} true-class confidence")
    return fig


def alp_loss_by_set(table: pd.DataFrame, title: str = "") -> plt.Figure:
    """Fig. 4: mean ALP term per epoch of the consistent and inconsistent sets (rows = epochs)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6), constrained_layout=True)
    for name in table.columns:
        ax.plot(table.index, table[name], marker="o", color=SET_COLORS.get(name), label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean ALP loss ||z - z'||^2")
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
    ax.set_title(title or "ALP loss per epoch, sets from the final model")
    return fig


def confidence_scatter(records: dict[str, tuple[pd.DataFrame, pd.Series]], attack: str, title: str = "") -> plt.Figure:
    """Fig. 11: clean (x) vs adversarial (y) true-class confidence, one panel per model, coloured
    by set; points on the diagonal are samples the attack did not move."""
    fig, axes = plt.subplots(1, len(records), figsize=(4.2 * len(records), 4), squeeze=False, constrained_layout=True)
    for ax, (label, (frame, sets)) in zip(axes[0], records.items()):
        for name in ("consistent", "inconsistent", "clean error"):
            chosen = sets == name
            ax.scatter(frame.loc[chosen, "confidence"], frame.loc[chosen, f"conf:{attack}"], s=6, alpha=0.6,
                       color=SET_COLORS[name], label=f"{name} ({int(chosen.sum())})")
        ax.plot([0, 1], [0, 1], color="black", lw=0.8, ls="--")
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("clean confidence")
        ax.set_ylabel(f"{attack} confidence")
        ax.set_title(label)
        ax.legend(fontsize="x-small", loc="upper left")
    if title:
        fig.suptitle(title)
    return fig


def lambda_sweep(frame: pd.DataFrame, columns: list[str], title: str = "") -> plt.Figure:
    """Fig. 6: accuracy against lambda (one line per attack column; error bars = seeds' range).
    ``frame`` has one row per (lambda, seed) and the accuracy columns in percent."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8), constrained_layout=True)
    for col in columns:
        g = frame.groupby("lambda")[col]
        mean, lo, hi = g.mean(), g.min(), g.max()
        ax.errorbar(mean.index, mean.values, yerr=[mean - lo, hi - mean], marker="o", capsize=3, label=col)
    ax.set_xscale("log")
    ax.set_xlabel("lambda (weight of the adaptive ALP term)")
    ax.set_ylabel("accuracy (%)")
    ax.legend()
    ax.set_title(title or "lambda sweep")
    return fig


def history_comparison(curves: dict[str, pd.DataFrame], title: str = "") -> plt.Figure:
    """Fig. 12: per epoch, test cross-entropy (clean, adversarial) and accuracy (clean,
    adversarial) of several training runs (``curves``: label -> :func:`analysis.history_curves`)."""
    panels = [("clean CE", "clean test loss"), ("adversarial CE", "adversarial test loss"),
              ("clean accuracy", "clean test accuracy"), ("adversarial accuracy", "adversarial test accuracy")]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.5), constrained_layout=True)
    for ax, (col, name) in zip(axes, panels):
        for label, frame in curves.items():
            ax.plot(frame.index, frame[col], marker="o", label=label)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].legend()
    if title:
        fig.suptitle(title)
    return fig
