"""Readers of finished results (evaluation summaries and per-sample records) for the tables and
the notebooks. Kept apart from :mod:`aad_lib.pipeline`, which the training and evaluation stages
depend on, so that changing a reader does not invalidate trained models."""
from __future__ import annotations

import json
from typing import Any

import pandas as pd

from .pipeline import eval_dir, method_seeds, run_pairs
from .params import Params
from .validation import AadError


def read_summaries(params: Params, group: str | None = "main") -> dict[tuple[str, int], dict[str, Any]]:
    """All evaluation summaries of the group's methods and seeds that exist (None: both groups)."""
    found = {}
    for method, seed in run_pairs(params, group):
        path = eval_dir(params, method, seed) / "summary.json"
        if path.exists():
            found[(method, seed)] = json.loads(path.read_text())
    return found


def read_eval_seconds(params: Params, method: str, seed: int) -> float:
    """Evaluation wall time of one model (``timing.json``; NaN if it was not evaluated)."""
    path = eval_dir(params, method, seed) / "timing.json"
    return json.loads(path.read_text())["seconds"] if path.exists() else float("nan")


def read_records(params: Params, method: str, seeds: list[int] | None = None) -> dict[int, pd.DataFrame]:
    """Per-sample evaluation records of ``method``, one table per seed that was evaluated."""
    seeds = method_seeds(params, method) if seeds is None else seeds
    if not seeds:
        raise AadError(f"method {method!r} is in none of run.methods, run.extra_methods, run.attention_methods.")
    found = {s: eval_dir(params, method, s) / "records.csv" for s in seeds}
    missing = [str(p) for p in found.values() if not p.exists()]
    if missing:
        raise AadError(f"evaluation records missing: {', '.join(missing)}; run `dvc repro` (or `aad evaluate`).")
    return {s: pd.read_csv(p) for s, p in found.items()}
