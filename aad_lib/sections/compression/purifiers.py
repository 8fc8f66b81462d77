"""ComDefend's purifiers as pipeline steps (the ``train_comdefend`` stage and notebook 05): where
each variant's model and log live, its architecture and training run from the ``compression``
params, training it on the clean training images, and loading it back."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ...defenses.comdefend import VARIANTS, ComDefend
from ...params import Params
from ...pipeline import dataset_info, load_split
from ...runtime import pick_device, seed_everything
from ...training import TrainConfig, checkpoint, train
from ...validation import AadError, choose


def purifier_dir(params: Params, variant: str, seed: int) -> Path:
    """``models/comdefend-<variant>/seed<seed>``: the checkpoints of one training run."""
    return Path("models") / f"comdefend-{variant}" / f"seed{seed}"


def purifier_log_path(params: Params, variant: str, seed: int) -> Path:
    """``<reports>/train/comdefend-<variant>-seed<seed>.csv``: that run's training log."""
    return params.reports.path / "train" / f"comdefend-{variant}-seed{seed}.csv"


def purifier_spec(params: Params, variant: str) -> dict[str, Any]:
    """The arguments of :class:`~aad_lib.defenses.ComDefend` for ``variant`` on the configured data."""
    c = params.compression.comdefend
    return {"in_channels": dataset_info(params).channels,
            "variant": choose(variant, VARIANTS, "ComDefend variant (compression.comdefend_variants)"),
            "sigma": c.sigma, "test_sigma": c.test_sigma, "width": c.width,
            "residual_width": c.residual_width, "levels": c.levels, "depth": c.depth}


def purifier_config(params: Params, seed: int) -> TrainConfig:
    """ComDefend's training run with ``seed`` (the authors' recipe: Adam, batch 20, lambda 1e-4) on the
    training loop."""
    c = params.compression.comdefend
    return TrainConfig(method="comdefend", epochs=c.epochs, batch_size=c.batch_size, lr=c.lr,
                       optimizer="adam", options={"comdefend_lambda": c.code_weight}, seed=seed,
                       monitor_samples=c.monitor_samples)


def train_purifier(params: Params, variant: str, seed: int, resume: bool = True) -> Path:
    """Train ComDefend ``variant`` with ``seed`` on the clean training images into
    ``models/comdefend-<variant>/seed<seed>/`` (epoch checkpoints, resume, log under reports/train/ as
    for the classifiers)."""
    cfg = purifier_config(params, seed)
    spec = purifier_spec(params, variant)
    seed_everything(cfg.seed)
    model = ComDefend(**spec)
    out = purifier_dir(params, variant, seed)
    train(model, load_split(params, "train"), cfg, out, model_spec={"purifier": "comdefend", **spec},
          test_set=load_split(params, "test"), device=pick_device(params.device), progress=params.progress,
          resume=resume, log_path=purifier_log_path(params, variant, seed))
    return out


def load_purifier(params: Params, variant: str, seed: int, device: torch.device | str = "cpu") -> ComDefend:
    """The trained ComDefend ``variant`` of training run ``seed`` (checksum verified), eval mode."""
    path = purifier_dir(params, variant, seed) / "model.pt"
    if not path.exists():
        raise AadError(f"{path} not found; train it with `aad train-purifier --variant {variant} --seed {seed}` "
                       f"(or `dvc repro train_comdefend`).")
    payload, meta = checkpoint.load(path)
    spec = {k: v for k, v in (meta.get("model_spec") or {}).items() if k != "purifier"}
    model = ComDefend(**spec)
    model.load_state_dict(payload["model"])
    return model.to(device).eval()
