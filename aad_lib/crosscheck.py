"""An independent second opinion on our robust accuracy: AutoAttack's APGD-CE and APGD-T (Croce
and Hein 2020) as torchattacks implements them, on a subset of the evaluated images.

Run as AutoAttack's standard version runs them: APGD-CE first, then the targeted APGD-T (every
other class as a target, ``steps`` iterations each) on the images APGD-CE did not break, so the
second column is the accuracy under both. If it lies clearly below our strongest PGD/CW column,
our attacks are too weak for that model (:func:`aad_lib.integrity.weaker_than_autoattack`).

torchattacks is a peer, not a dependency of ``aad_lib`` (it pins an old ``requests``): ``make
setup`` installs it without its dependencies; without it this module says how to get it.
Where the evaluation records carry the full ensemble's column (:mod:`aad_lib.autoattack`), the row
shows it beside, on the images both saw: it runs these two attacks first, so it can lie above them
only by the chance of other random starts.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from .attacks import model_mode
from .autoattack import COLUMN as STANDARD, checked_classes, torchattacks_module
from .validation import AadError, check_count, check_eps

COLUMNS = ("APGD-CE", "APGD-CE+T")


def autoattack_records(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int = 100,
                       seed: int = 0, targeted: bool = True) -> pd.DataFrame:
    """Per image: correct clean, under APGD-CE, and under APGD-CE then APGD-T (L-inf, ``eps``,
    ``steps`` iterations, one restart, AutoAttack's step-size schedule). An image counts as robust
    only if it is correct clean and survives every attack before it. ``targeted=False`` skips
    APGD-T (nine targeted runs per survivor: too slow through a learned purifier on a CPU); its
    column is then NaN."""
    num_classes = checked_classes(model, x, y, "the AutoAttack cross-check needs model.num_classes (APGD-T "
                                                 "targets every other class).")
    eps, steps = check_eps(eps), check_count(steps, "steps", 1)
    ta = torchattacks_module("the AutoAttack cross-check")
    with model_mode(model, "eval"):
        with torch.no_grad():
            clean = model(x).argmax(1) == y
        ce = ta.APGD(model, norm="Linf", eps=eps, steps=steps, n_restarts=1, seed=seed, loss="ce")
        with torch.no_grad():
            after_ce = clean & (model(ce(x, y)).argmax(1) == y)
        after_t = after_ce.clone()
        rows = after_ce.nonzero().squeeze(1)
        if rows.numel() and targeted:
            targeted = ta.APGDT(model, norm="Linf", eps=eps, steps=steps, n_restarts=1, seed=seed, n_classes=num_classes)
            with torch.no_grad():
                after_t[rows] = model(targeted(x[rows], y[rows])).argmax(1) == y[rows]
    last = after_t.cpu().numpy() if targeted else np.full(len(y), np.nan)
    return pd.DataFrame({"Clean": clean.cpu().numpy(), COLUMNS[0]: after_ce.cpu().numpy(), COLUMNS[1]: last})


def robust_under_all(evaluated: pd.DataFrame, columns: list[str], n: int) -> np.ndarray:
    """Per image of the first ``n`` evaluation records: robust under every one of ``columns``."""
    missing = [c for c in columns if c not in evaluated.columns]
    if missing:
        raise AadError(f"evaluation records lack {missing}; valid columns: {list(evaluated.columns)}.")
    return evaluated[columns].iloc[:n].all(axis=1).to_numpy()


def compare_with_ours(model: nn.Module, x: torch.Tensor, y: torch.Tensor, evaluated: pd.DataFrame,
                      our_columns: list[str], eps: float, steps: int = 100, seed: int = 0,
                      targeted: bool = True) -> dict[str, float]:
    """One model's cross-check row on the first ``len(y)`` evaluated images: accuracy (percent)
    under our attacks combined (``ours``: robust only if robust under every one of
    ``our_columns``), under APGD-CE and under APGD-CE+T, n, the gap (ours minus AutoAttack) and
    the number of images only AutoAttack broke; without ``targeted`` against APGD-CE alone."""
    ours = robust_under_all(evaluated, our_columns, len(y))
    aa = autoattack_records(model, x, y, eps, steps, seed, targeted)
    row = {"n": len(y), "our attacks": " & ".join(our_columns), "ours": 100 * ours.mean(),
           **{c: 100 * aa[c].mean() for c in COLUMNS}}
    strongest = COLUMNS[1] if targeted else COLUMNS[0]
    row["gap (points)"] = row["ours"] - row[strongest]
    # images AutoAttack broke that every one of ours missed: the concrete evidence behind a gap
    row["broken only by AutoAttack"] = int((ours & ~aa[strongest].to_numpy().astype(bool)).sum())
    if STANDARD in evaluated.columns:
        row.update(standard_versus_audit(evaluated[STANDARD].iloc[:len(y)], aa[strongest]))
    return row


def standard_versus_audit(standard: pd.Series, audit: pd.Series) -> dict[str, float]:
    """The full AutoAttack ``standard`` column (per image, empty where it was not run) beside the
    audit's APGD column on the same images: ``AutoAttack standard`` (percent), its image count and
    ``standard above audit (points)``, the first minus the second on the images both saw. Empty
    (no keys) when no image has both."""
    both = standard.notna().to_numpy() & audit.notna().to_numpy()
    if not both.any():
        return {}
    std, aud = standard.to_numpy()[both].astype(bool), audit.to_numpy()[both].astype(bool)
    return {"AutoAttack standard": 100 * std.mean(), "AutoAttack standard n": int(both.sum()),
            "standard above audit (points)": 100 * (std.mean() - aud.mean())}
