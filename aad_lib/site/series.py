"""The run's comparable data series and headline metrics, for DVC (``aad series``, the stage ``series``):

- ``<reports>/plots/training_curves.csv``: every classifier's per-epoch test accuracy, one row an
  epoch of one model (``method``, ``seed``, ``epoch``, ``test_clean_acc``, ``test_adv_acc``), read
  from the training logs ``<reports>/train/<method>-seed<seed>.csv``;
- ``<reports>/plots/robust_vs_steps.csv``: robust accuracy against the attack's step count, one row a
  (model, iterative attack, steps) cell of the evaluation (``method``, ``seed``, ``attack``,
  ``steps``, ``accuracy``), read from ``<reports>/eval/*/summary.json``;
- ``<reports>/metrics/headline.json``: per method, the mean over its seeds of clean accuracy and of
  the strongest PGD column, and AutoAttack where the run has it, in percent.

The two series are long tables (one row a point, the method a column), so that one top-level plot of
``dvc.yaml`` overlays every method and seed (the templates in ``.dvc/plots/`` colour by ``method``),
and ``dvc plots diff`` overlays commits or experiments. The headline file is the only DVC metric of
the pipeline, so that ``dvc exp show`` and ``dvc metrics diff`` stay readable; the full per-model
summaries stay beside it in ``<reports>/eval/`` (in git).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from ..attacks.columns import Column
from ..files import atomic_write_json, atomic_write_text
from ..validation import AadError

# A model's folder and log name: "<method>-seed<seed>" (methods contain "-" and "+": aalp-lambda2, alp+gd).
MODEL_NAME = re.compile(r"^(?P<method>.+)-seed(?P<seed>\d+)$")
PURIFIER_PREFIX = "comdefend-"  # the ComDefend purifiers' logs: a PSNR, not a classifier's accuracy
CURVE_COLUMNS = ["method", "seed", "epoch", "test_clean_acc", "test_adv_acc"]
STEPS_COLUMNS = ["method", "seed", "attack", "steps", "accuracy"]


def model_name(name: str) -> tuple[str, int]:
    """``"alp+gd-seed2"`` -> ``("alp+gd", 2)``; a clear error for a name of another form."""
    match = MODEL_NAME.match(name)
    if not match:
        raise AadError(f"{name!r} is not a model name of the form <method>-seed<seed> (e.g. alp-seed0).")
    return match["method"], int(match["seed"])


def training_curves(reports: str | Path) -> pd.DataFrame:
    """Every classifier's per-epoch test accuracies (fractions) from ``<reports>/train/*.csv``, one
    row an epoch of one model, sorted by method, seed and epoch (columns :data:`CURVE_COLUMNS`)."""
    rows = []
    for log in sorted(Path(reports, "train").glob("*.csv")):
        if log.stem.startswith(PURIFIER_PREFIX):
            continue
        method, seed = model_name(log.stem)
        frame = pd.read_csv(log)
        missing = [c for c in CURVE_COLUMNS[2:] if c not in frame.columns]
        if missing:
            raise AadError(f"training log {log} lacks {missing} (columns: {list(frame.columns)}).")
        rows.append(frame[CURVE_COLUMNS[2:]].assign(method=method, seed=seed))
    if not rows:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    return pd.concat(rows)[CURVE_COLUMNS].sort_values(["method", "seed", "epoch"], kind="stable").reset_index(drop=True)


def summaries(reports: str | Path) -> list[dict[str, Any]]:
    """Every evaluation summary under ``<reports>/eval/``, in folder order."""
    return [json.loads(path.read_text()) for path in sorted(Path(reports, "eval").glob("*/summary.json"))]


def robust_vs_steps(reports: str | Path) -> pd.DataFrame:
    """Accuracy (percent) of every model under every iterative attack column of its evaluation
    (``PGD-10``, ``CW-40``, ...: :class:`aad_lib.attacks.columns.Column` with a step count), one row
    a cell, sorted by method, seed, attack and steps (columns :data:`STEPS_COLUMNS`)."""
    rows = []
    for summary in summaries(reports):
        for name, cell in summary["accuracy"].items():
            column = Column.parse(name)
            if column.steps is not None:
                rows.append({"method": summary["method"], "seed": summary["seed"], "attack": column.kind,
                             "steps": column.steps, "accuracy": round(100 * cell["accuracy"], 2)})
    frame = pd.DataFrame(rows, columns=STEPS_COLUMNS)
    return frame.sort_values(["method", "seed", "attack", "steps"], kind="stable").reset_index(drop=True)


def headline(reports: str | Path) -> dict[str, dict[str, float]]:
    """Per method, in percent (2 decimals), the mean over its evaluated seeds of ``Clean`` and of the
    strongest (most steps) ``PGD-k`` column it was evaluated with, and ``AutoAttack`` where the run
    gives the method that column (seed 0 by default). Three numbers a method, so that ``dvc exp show``
    stays readable; sample counts and intervals are in ``results.md`` and the per-model summaries."""
    by_method: dict[str, list[dict[str, Any]]] = {}
    for summary in summaries(reports):
        by_method.setdefault(summary["method"], []).append(summary)
    out: dict[str, dict[str, float]] = {}
    for method in sorted(by_method):
        runs = by_method[method]
        stepped = [c for c in map(Column.parse, runs[0]["columns"]) if c.kind == "PGD"]
        chosen = ["Clean"] + ([str(max(stepped, key=lambda c: c.steps))] if stepped else [])
        row = {name: round(100 * sum(r["accuracy"][name]["accuracy"] for r in runs) / len(runs), 2) for name in chosen}
        standard = [r["autoattack"] for r in runs if "autoattack" in r]
        if standard:
            row["AutoAttack"] = round(100 * sum(s["autoattack_acc"] for s in standard) / len(standard), 2)
        out[method] = row
    return out


def write_series(reports: str | Path) -> list[Path]:
    """Write the two plot series and the headline metrics under ``reports`` (see the module's
    docstring); returns the paths written."""
    reports = Path(reports)
    curves, steps = reports / "plots" / "training_curves.csv", reports / "plots" / "robust_vs_steps.csv"
    metrics = reports / "metrics" / "headline.json"
    atomic_write_text(curves, training_curves(reports).to_csv(index=False))
    atomic_write_text(steps, robust_vs_steps(reports).to_csv(index=False))
    atomic_write_json(metrics, headline(reports))
    return [curves, steps, metrics]
