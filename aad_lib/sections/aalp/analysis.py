"""The AALP paper's data analysis (Section 2.2 and 4.5): consistent and inconsistent samples.

Consistent: the clean image and its adversarial example are both classified correctly.
Inconsistent: the clean image is correct, the adversarial one is not. (Samples misclassified
already when clean belong to neither set; they are counted as "clean error".)

Everything here reads the per-sample evaluation records (:func:`aad_lib.evaluation.evaluate`):
``confidence`` (clean true-class probability), the attack's boolean column, ``conf:<attack>`` and
``pair:<attack>`` (the per-sample ALP term ``||z - z'||^2``; at the attack's last iterate, as the
paper defines its adversarial examples, after :func:`with_last_iterate`); or, for the per-epoch
views, the epoch checkpoints of a training run.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ...attacks import pgd
from ...evaluation import EvalConfig, evaluate
from ...losses import pair_distances, true_class_confidence
from ...run_bootstrap import check_column, records_difference
from ...runtime import generator
from ...validation import AadError, check_images, check_labels

CONSISTENT, INCONSISTENT, CLEAN_ERROR = "consistent", "inconsistent", "clean error"


def sample_sets(records: pd.DataFrame, attack: str = "PGD-40") -> pd.Series:
    """Per sample: "consistent", "inconsistent" or "clean error" under ``attack``."""
    check_column(records, attack)
    return _classify(records["Clean"], records[attack])


def _classify(clean: pd.Series, adv: pd.Series) -> pd.Series:
    clean, adv = clean.astype(bool), adv.astype(bool)
    sets = np.where(~clean, CLEAN_ERROR, np.where(adv, CONSISTENT, INCONSISTENT))
    return pd.Series(sets, index=clean.index, name="set")


def with_last_iterate(records: pd.DataFrame, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                      cfg: EvalConfig, attack: str) -> pd.DataFrame:
    """``records`` with the ``conf:``/``pair:`` columns of ``attack`` taken at the attack's last
    iterate, the adversarial example of the AALP paper's analyses (Table 1, Figs. 3, 11).

    The evaluation stops on an image once it is fooled (AutoAttack's convention, which decides the
    accuracy columns), so its records hold the first fooling point, and for images misclassified
    clean the clean image itself. This re-runs ``attack`` alone, never stopping, with the
    evaluation's own seed, step size and batches (the same random start), at ``k`` passes per image.
    """
    family, _, steps = attack.partition("-")
    if family not in ("PGD", "CW") or not steps.isdigit():
        raise AadError(f"with_last_iterate needs a PGD-k or CW-k attack, got {attack!r}.")
    k = int(steps)
    last = evaluate(model, x, y, replace(cfg, stop_when_fooled=False, pgd_steps=[k] if family == "PGD" else [],
                                         cw_steps=[k] if family == "CW" else []), progress=False)
    if len(last) != len(records) or not (last["index"].to_numpy() == records["index"].to_numpy()).all():
        raise AadError(f"records of {len(records)} images do not match the {len(last)} images given.")
    out = records.copy()
    for col in (f"conf:{attack}", f"pair:{attack}"):
        out[col] = last[col].to_numpy()
    return out


def set_statistics(records: pd.DataFrame, attack: str = "PGD-40", alp_weight: float | None = None) -> pd.DataFrame:
    """Table 1: per set, the sample count and share, mean clean and adversarial true-class
    confidence, mean clean and adversarial cross-entropy (``-log p_y``) and mean ALP loss.

    With ``alp_weight`` (lambda) also "ALP share of loss": ``lambda * ALP / (CE_mix + lambda * ALP)``
    of the set's means, CE_mix the mean of clean and adversarial CE as in ALP's loss (Sec. 2.2:
    "the percentage of ALP loss taking over total loss")."""
    check_column(records, attack)
    frame = pd.DataFrame({
        "set": sample_sets(records, attack),
        "clean confidence": records["confidence"],
        "adversarial confidence": records[f"conf:{attack}"],
        "clean CE": -np.log(records["confidence"].clip(lower=1e-12)),
        "adversarial CE": -np.log(records[f"conf:{attack}"].clip(lower=1e-12)),
        "ALP loss": records[f"pair:{attack}"],
    })
    table = frame.groupby("set").mean()
    if alp_weight is not None:
        pairing = alp_weight * table["ALP loss"]
        table["ALP share of loss"] = pairing / (0.5 * (table["clean CE"] + table["adversarial CE"]) + pairing)
    table.insert(0, "share", frame["set"].value_counts(normalize=True))
    table.insert(0, "n", frame["set"].value_counts())
    return table.reindex([s for s in (CONSISTENT, INCONSISTENT, CLEAN_ERROR) if s in table.index])


def set_statistics_over_seeds(records: dict[int, pd.DataFrame], attack: str = "PGD-40",
                              alp_weight: float | None = None) -> pd.DataFrame:
    """:func:`set_statistics` of each seed's records, averaged over seeds (n summed), with the
    seeds' max-min of each mean in a second level of columns."""
    tables = {seed: set_statistics(r, attack, alp_weight) for seed, r in records.items()}
    stacked = pd.concat(tables, names=["seed", "set"])
    grouped = stacked.groupby(level="set")
    mean = grouped.mean()
    mean["n"] = grouped["n"].sum()
    spread = (grouped.max() - grouped.min())
    order = [s for s in (CONSISTENT, INCONSISTENT, CLEAN_ERROR) if s in mean.index]
    return pd.concat({"mean over seeds": mean.loc[order], "max-min over seeds": spread.loc[order].drop(columns="n")}, axis=1)


def consistent_share(records: pd.DataFrame, attack: str = "PGD-40") -> float:
    """Table 4: the share of all test samples that are consistent under ``attack``."""
    return float((sample_sets(records, attack) == CONSISTENT).mean())


def paired_difference(a: list[pd.DataFrame], b: list[pd.DataFrame], column: str, n_boot: int = 2000,
                      seed: int = 0) -> dict[str, float]:
    """Accuracy of method ``a`` minus method ``b`` on ``column``, in points (each averaged over its
    seeds' records on the same test samples), with the 95% two-level bootstrap interval over training
    runs and test samples (:func:`aad_lib.run_bootstrap.two_level_difference`: each method's seeds
    drawn with replacement, then the test samples, paired: the same draw for every run) and its
    two-sided bootstrap p-value of "no difference" (:meth:`aad_lib.run_bootstrap.RunDifference.as_row`).
    ``seeds_a`` and ``seeds_b`` say how many runs each arm had: with fewer than :data:`aad_lib.run_bootstrap.MIN_RUNS` the interval cannot cover
    the runs' spread, and no verdict is read from it."""
    if not a or not b:
        raise AadError("paired_difference needs at least one records table per method.")
    return records_difference(a, b, column, n_boot, seed).as_row()




# ---------------------------------------------------------------- per-epoch views (Fig. 4, 9, 12)

def epoch_history(epoch_models: Iterable[tuple[int, nn.Module]], x: torch.Tensor, y: torch.Tensor, *,
                  eps: float, alpha: float, steps: int, seed: int = 0, batch_size: int = 500) -> pd.DataFrame:
    """For every (epoch, model) and every sample: clean and adversarial (PGD-``steps``, random
    start from a fixed seed) correctness, true-class confidence, cross-entropy and the ALP term
    ``||z - z'||^2``. One row per (epoch, sample). Fig. 4 averages the ALP term per set, Fig. 12
    the losses and accuracies per epoch."""
    check_images(x)
    check_labels(y, x.shape[0])
    frames = []
    for epoch, model in epoch_models:
        device = next(model.parameters()).device
        g = generator(seed, device)
        for start in range(0, x.shape[0], batch_size):
            xb, yb = x[start:start + batch_size].to(device), y[start:start + batch_size].to(device)
            x_adv = pgd(model, xb, yb, eps, alpha, steps, generator=g)
            with torch.no_grad():
                z, z_adv = model(xb), model(x_adv)
            frames.append(pd.DataFrame({
                "epoch": epoch, "index": np.arange(start, start + len(yb)),
                "clean correct": (z.argmax(1) == yb).cpu().numpy(),
                "adversarial correct": (z_adv.argmax(1) == yb).cpu().numpy(),
                "clean confidence": true_class_confidence(z, yb).cpu().numpy(),
                "adversarial confidence": true_class_confidence(z_adv, yb).cpu().numpy(),
                "clean CE": F.cross_entropy(z, yb, reduction="none").cpu().numpy(),
                "adversarial CE": F.cross_entropy(z_adv, yb, reduction="none").cpu().numpy(),
                "ALP loss": pair_distances(z, z_adv).cpu().numpy(),
            }))
    if not frames:
        raise AadError("no epoch checkpoints to analyse.")
    return pd.concat(frames, ignore_index=True)


def final_sets(history: pd.DataFrame) -> pd.Series:
    """Consistent / inconsistent / clean error of each sample at the last epoch of ``history``
    ("according to the situation of the model convergence", Sec. 2.2), indexed by sample."""
    last = history[history["epoch"] == history["epoch"].max()].set_index("index")
    return _classify(last["clean correct"], last["adversarial correct"])


def alp_loss_by_set(history: pd.DataFrame) -> pd.DataFrame:
    """Fig. 4: per epoch, the mean ALP term of the samples in each final set (rows: epochs)."""
    sets = final_sets(history)
    frame = history.assign(set=history["index"].map(sets))
    frame = frame[frame["set"] != CLEAN_ERROR]
    return frame.pivot_table(index="epoch", columns="set", values="ALP loss", aggfunc="mean")


def history_curves(history: pd.DataFrame) -> pd.DataFrame:
    """Fig. 12: per epoch, mean clean / adversarial cross-entropy and accuracy on the sample."""
    return history.groupby("epoch")[["clean CE", "adversarial CE", "clean correct", "adversarial correct"]].mean().rename(
        columns={"clean correct": "clean accuracy", "adversarial correct": "adversarial accuracy"})


def epoch_contributions(epoch_models: Iterable[tuple[int, nn.Module]], x: torch.Tensor, y: torch.Tensor
                        ) -> dict[int, torch.Tensor]:
    """Fig. 9: the penultimate features' contributions (Eq. 5) at every saved epoch."""
    from ...contribution import dataset_contributions

    return {epoch: dataset_contributions(model, x, y) for epoch, model in epoch_models}

