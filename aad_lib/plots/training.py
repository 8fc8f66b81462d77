"""Training curves from the per-epoch logs of `aad train`."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from . import style  # noqa: F401  (the theme)


def training_curves(logs: dict[str, pd.DataFrame]) -> plt.Figure:
    """Per-epoch training loss, adversarial training accuracy and monitored test clean / PGD
    accuracy, one line per model (``logs``: label -> the ``log.csv`` of a training run)."""
    panels = [("loss", "training loss"), ("train_adv_acc", "adversarial training accuracy"),
              ("test_clean_acc", "test clean accuracy"), ("test_adv_acc", "test PGD accuracy")]
    frame = pd.concat([log.assign(model=label) for label, log in logs.items()], ignore_index=True)
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.4), constrained_layout=True)
    for ax, (col, title) in zip(axes, panels):
        if col in frame and frame[col].notna().any():
            sns.lineplot(data=frame, x="epoch", y=col, hue="model", marker="o", ax=ax, legend=ax is axes[0])
        ax.set_title(title)
        ax.set_ylabel("")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if col.endswith("_acc"):
            ax.set_ylim(0, 1.02)
    return fig
