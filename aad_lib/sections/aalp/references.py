"""Published numbers to show beside ours (never used as results): Table 2 of the paper "Adaptive
Adversarial Logits Pairing" (AALP), MNIST (LeNet, eps 0.3, PGD-40 training, full 60k/10k MNIST).
Values in percent, as the paper prints them."""
from __future__ import annotations

import pandas as pd

COLUMNS = ["Clean", "FGSM", "PGD-10", "PGD-20", "PGD-40", "PGD-100", "CW-10", "CW-20", "CW-40", "CW-100"]

# method name in our registry -> (label in the paper, row of Table 2 for MNIST)
AALP_TABLE2_MNIST: dict[str, tuple[str, list[float]]] = {
    "standard": ("RAW", [99.18, 7.72, 0.49, 0.54, 0.64, 0.53, 0.0, 0.0, 0.0, 0.0]),
    "madry": ("Madry adv", [99.00, 96.92, 95.69, 95.52, 94.14, 92.49, 96.28, 95.85, 94.53, 93.78]),
    "alp": ("Kannan ALP", [98.77, 97.68, 96.66, 96.58, 96.37, 94.50, 96.96, 97.07, 96.73, 96.16]),
    "trades": ("TRADES", [98.48, 98.34, 96.90, 96.68, 96.63, 95.35, 97.09, 97.09, 96.96, 95.76]),
    "alp+gd": ("ALP + Guided Dropout", [98.16, 98.17, 97.13, 97.04, 96.71, 95.72, 96.92, 97.08, 96.78, 96.39]),
    "alp+aw": ("ALP + adaptive weighting", [98.16, 97.77, 97.05, 96.82, 96.66, 95.87, 97.18, 97.15, 96.87, 96.76]),
    "aalp": ("AALP", [98.49, 98.19, 97.22, 97.13, 97.15, 96.32, 97.28, 97.54, 97.26, 96.89]),
}


EXTRA_LABELS = {"standard+gd": "RAW + Guided Dropout", "madry+gd": "Madry + Guided Dropout"}


def paper_label(method: str) -> str:
    """The paper's name for one of our methods (our name if the paper has none)."""
    return AALP_TABLE2_MNIST.get(method, (EXTRA_LABELS.get(method, method), []))[0]


def aalp_table2_mnist(methods: list[str]) -> pd.DataFrame:
    """The paper's MNIST rows for ``methods`` (those it reports), indexed by our method names."""
    rows = {m: AALP_TABLE2_MNIST[m][1] for m in methods if m in AALP_TABLE2_MNIST}
    return pd.DataFrame.from_dict(rows, orient="index", columns=COLUMNS)


# AALP paper, Sec. 4.4: Guided Dropout ablation on SVHN with ResNet9 (clean, PGD-10, CW-10; percent).
GD_ABLATION_SVHN: dict[str, list[float]] = {
    "standard": [95.57, 2.23, 0.0],
    "standard+gd": [94.36, 3.17, 0.04],
    "madry": [86.41, 31.51, 24.03],
    "madry+gd": [95.07, 35.34, 34.51],
    "alp": [85.28, 40.05, 31.17],
    "alp+gd": [86.23, 44.05, 37.57],
}
GD_ABLATION_COLUMNS = ["Clean", "PGD-10", "CW-10"]

# AALP paper, Table 4: share of consistent test samples (percent), ALP vs AALP.
TABLE4_CONSISTENT = {"MNIST": (94.91, 96.03), "SVHN": (30.89, 36.58), "CIFAR-10": (41.61, 43.78)}


def gd_ablation_svhn(methods: list[str]) -> pd.DataFrame:
    """The paper's SVHN Guided Dropout ablation rows for ``methods`` (those it reports)."""
    rows = {m: GD_ABLATION_SVHN[m] for m in methods if m in GD_ABLATION_SVHN}
    return pd.DataFrame.from_dict(rows, orient="index", columns=GD_ABLATION_COLUMNS)
