"""Figures of the compression section (notebook 05): the quality sweep, the side-by-side of
grey-box and adaptive accuracy, the visual page, and ComDefend's training curves."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch


def quality_curves(sweep: pd.DataFrame, references: pd.DataFrame | None = None, title: str = "") -> plt.Figure:
    """Part 1: PSNR, SSIM, encoded size, clean and grey-box accuracy against the codec quality, one
    line per codec pipeline (``sweep`` from :func:`aad_lib.defenses.study.quality_sweep`); the
    fixed-setting defenses of ``references`` (rows: defense, same columns) as dashed lines."""
    metrics = [m for m in ("PSNR (dB)", "SSIM", "bytes", "clean accuracy", "grey-box accuracy") if m in sweep]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3.4), constrained_layout=True)
    for ax, metric in zip(axes, metrics):
        sns.lineplot(sweep, x="quality", y=metric, hue="codec", marker="o", ax=ax, legend=ax is axes[0])
        if references is not None and metric in references:
            for i, (name, value) in enumerate(references[metric].dropna().items()):
                ax.axhline(value, ls="--", lw=1, color=sns.color_palette("muted")[(i + 3) % 10], label=name)
        ax.set_title(metric)
    handles, labels = axes[-1].get_legend_handles_labels()
    if handles:
        axes[-1].legend(handles, labels, fontsize="x-small")
    if title:
        fig.suptitle(title)
    return fig


def protocol_bars(table: pd.DataFrame, columns: list[str], title: str = "") -> plt.Figure:
    """Part 3: accuracy per defense under each attack column, grey-box beside adaptive
    (``table`` from :func:`aad_lib.defenses.study.side_by_side`)."""
    long = []
    for name, row in table.iterrows():
        for c in columns:
            for protocol in ("grey-box", "adaptive"):
                long.append({"defense": name, "attack": c, "protocol": protocol, "accuracy (%)": row[f"{c} {protocol}"]})
    frame = pd.DataFrame(long)
    grid = sns.catplot(frame, x="defense", y="accuracy (%)", hue="protocol", col="attack", kind="bar",
                       col_wrap=2, height=3.0, aspect=1.9, palette={"grey-box": "#9ecae1", "adaptive": "#d55e00"})
    for ax in grid.axes.flat:
        ax.tick_params(axis="x", rotation=35, labelsize="x-small")
        ax.set_ylim(0, 100)
    if title:
        grid.figure.suptitle(title)
    grid.figure.tight_layout()
    return grid.figure


def _show(ax: plt.Axes, image: torch.Tensor, cmap: str | None = None, vmin: float = 0, vmax: float = 1) -> None:
    shown = image.permute(1, 2, 0).numpy()
    ax.imshow(shown.squeeze(), cmap=cmap or ("gray" if shown.shape[-1] == 1 else None), vmin=vmin, vmax=vmax)
    ax.set_xticks([])
    ax.set_yticks([])


def visual_page(x: torch.Tensor, x_adv: torch.Tensor, defended: dict[str, tuple[torch.Tensor, torch.Tensor]],
                captions: dict[str, list[str]] | None = None, magnify: float = 5.0, title: str = "") -> plt.Figure:
    """Part 4: per column one image; rows: clean, adversarial, the perturbation ``magnify`` times
    (grey = 0), then per defense its output on the adversarial image and the perturbation that
    survives the defense, ``defense(x_adv) - defense(x)``, magnified alike. ``defended``: label ->
    (defense(x), defense(x_adv)); ``captions``: row label -> one caption per image."""
    rows: list[tuple[str, torch.Tensor, bool]] = [("clean", x, False), ("adversarial", x_adv, False),
                                                  (f"perturbation x{magnify:g}", x_adv - x, True)]
    for name, (d_clean, d_adv) in defended.items():
        rows += [(f"{name}(adv)", d_adv, False), (f"{name}: left x{magnify:g}", d_adv - d_clean, True)]
    n = x.shape[0]
    fig, axes = plt.subplots(len(rows), n, figsize=(1.45 * n + 1.2, 1.45 * len(rows)), squeeze=False,
                             constrained_layout=True)
    for i, (label, images, signed) in enumerate(rows):
        for j in range(n):
            if signed:
                _show(axes[i, j], (0.5 + magnify * images[j]).clamp(0, 1), cmap="RdBu_r")
            else:
                _show(axes[i, j], images[j])
            if captions and label in captions:
                axes[i, j].set_title(captions[label][j], fontsize="x-small")
        axes[i, 0].set_ylabel(label, fontsize="x-small")
    if title:
        fig.suptitle(title)
    return fig


def comdefend_curves(logs: dict[str, pd.DataFrame], title: str = "") -> plt.Figure:
    """Part 5: ComDefend training per variant: the reconstruction MSE of the noisy soft bits (the
    training loss's main term), the code penalty mean(b^2), and the test PSNR with hard bits."""
    panels = [("loss_mse", "training MSE (noisy soft bits)"), ("loss_code", "code penalty mean(b^2)"),
              ("test_psnr", "test PSNR, hard bits (dB)")]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.3), constrained_layout=True)
    for ax, (column, name) in zip(axes, panels):
        for variant, log in logs.items():
            if column in log:
                ax.plot(log["epoch"], log[column], marker="o", label=variant)
        ax.set_title(name)
        ax.set_xlabel("epoch")
    axes[0].legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return fig
