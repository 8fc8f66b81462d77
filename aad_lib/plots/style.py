"""One figure style for every notebook, and the atomic PNG writer."""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt
import seaborn as sns

from ..files import atomic_write_bytes

sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")


def save(fig: plt.Figure, path: str | Path, dpi: int = 150) -> Path:
    """Save ``fig`` as PNG atomically."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return atomic_write_bytes(path, buffer.getvalue())
