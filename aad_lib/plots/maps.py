"""Grad-CAM maps over their images, the figure every section draws (AALP Figs. 2, 8, 10; the ARP
maps; the flipped-image maps of the compression study)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from ..attention import normalize_maps
from . import style  # noqa: F401  (the theme)


def cam_grid(images: torch.Tensor, rows: dict[str, torch.Tensor], captions: dict[str, list[str]] | None = None,
             title: str = "", backgrounds: dict[str, torch.Tensor] | None = None) -> plt.Figure:
    """Figs. 2/8/10: the images (top row) and, per labelled row, their Grad-CAM maps (each scaled
    to its own maximum) over the image the map was computed on (``backgrounds[label]``, e.g. that
    model's adversarial images; default the top row). ``rows``: label -> maps (N, H, W)."""
    n = images.shape[0]
    fig, axes = plt.subplots(len(rows) + 1, n, figsize=(1.6 * n, 1.7 * (len(rows) + 1)), squeeze=False,
                             constrained_layout=True)
    shown = images.permute(0, 2, 3, 1).numpy()
    for j in range(n):
        axes[0, j].imshow(shown[j].squeeze(), cmap="gray" if shown.shape[-1] == 1 else None, vmin=0, vmax=1)
    axes[0, 0].set_ylabel("image", fontsize="small")
    for i, (label, maps) in enumerate(rows.items(), start=1):
        scaled = normalize_maps(maps)
        under = backgrounds[label].permute(0, 2, 3, 1).numpy() if backgrounds and label in backgrounds else shown
        for j in range(n):
            ax = axes[i, j]
            ax.imshow(under[j].squeeze(), cmap="gray" if under.shape[-1] == 1 else None, vmin=0, vmax=1)
            ax.imshow(scaled[j].numpy(), cmap="jet", alpha=0.5, vmin=0, vmax=1)
            if captions and label in captions:
                ax.set_title(captions[label][j], fontsize="x-small")
        axes[i, 0].set_ylabel(label, fontsize="small")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    return fig
