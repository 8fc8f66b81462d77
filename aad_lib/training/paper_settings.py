"""The AALP paper's per-dataset training settings (Sec. 2 and 4.1), the defaults a researcher
expects when pointing the pipeline at another dataset."""
from __future__ import annotations

from ..attacks.settings import AttackSettings

# dataset -> (model, training attack, optimiser, learning rate)
PAPER_SETTINGS: dict[str, dict] = {
    "mnist": {"model": "lenet", "attack": AttackSettings(eps=0.3, alpha=0.01, steps=40), "optimizer": "adam", "lr": 1e-4},
    "svhn": {"model": "resnet9", "attack": AttackSettings(eps=12 / 255, alpha=3 / 255, steps=10), "optimizer": "adam", "lr": 1e-4},
    "cifar10": {"model": "resnet32", "attack": AttackSettings(eps=8 / 255, alpha=2 / 255, steps=7), "optimizer": "adam", "lr": 1e-5},
}
PAPER_SETTINGS["mnist5k"] = PAPER_SETTINGS["mnist"]

