"""Readers of finished results (evaluation summaries and per-sample records) for the tables and
the notebooks. Kept apart from :mod:`aad_lib.pipeline`, which the training and evaluation stages
depend on, so that changing a reader does not invalidate trained models."""
from __future__ import annotations

import json
from typing import Any

import pandas as pd

from .pipeline import eval_config, eval_dir, method_seeds, run_pairs
from .params import Params
from .validation import AadError


def current_protocol(params: Params) -> dict[str, Any]:
    """The evaluation protocol ``params.evaluate`` asks for now, as an evaluation summary records it:
    dataset, eps, step, columns, evaluation seed and (once the prepare stage wrote
    ``reports/data/dataset.json``) the number of test images."""
    cfg = eval_config(params)
    now = {"dataset": params.data.name, "eps": cfg.eps, "alpha": cfg.alpha, "columns": cfg.columns(), "eval_seed": cfg.seed}
    dataset = params.reports.path / "data" / "dataset.json"  # the prepare stage's facts: the test split's size
    if dataset.is_file():
        test_n = json.loads(dataset.read_text())["test"]["n"]
        now["n"] = min(params.evaluate.samples or test_n, test_n)
    return now


def check_fresh(params: Params, method: str, seed: int, summary: dict[str, Any],
                protocol: dict[str, Any] | None = None) -> None:
    """An error naming the fix when the evaluation ``summary`` of ``method`` seed ``seed`` was
    computed under another protocol than ``params.evaluate`` asks now (dataset, eps, step, columns,
    evaluation seed, number of images): results stale against ``params.yaml``, e.g. after editing it
    without `dvc repro`, or a notebook opened on another profile's results. ``protocol``: the
    :func:`current_protocol` of ``params``, when the caller checks many summaries (computed here if None)."""
    now = current_protocol(params) if protocol is None else protocol
    # only what the summary records; its columns stale when it has one params.yaml no longer asks for
    # (a column asked for but not evaluated is a KeyError naming it where it is read)
    differ = [f"{key} {summary[key]!r} (params.yaml: {value!r})" for key, value in now.items() if key in summary
              and (set(summary[key]) - set(value) if key == "columns" else summary[key] != value)]
    if differ:
        raise AadError(f"{eval_dir(params, method, seed)} is stale against params.yaml: evaluated with "
                       f"{'; '.join(differ)}. Run `dvc repro` (`dvc status` lists what changed), or "
                       "`aad profile use <name>` back to the profile these results came from.")


def read_summaries(params: Params, group: str | None = "main") -> dict[tuple[str, int], dict[str, Any]]:
    """All evaluation summaries of the group's methods and seeds that exist (None: both groups),
    each checked against ``params`` (:func:`check_fresh`)."""
    found, protocol = {}, current_protocol(params)
    for method, seed in run_pairs(params, group):
        path = eval_dir(params, method, seed) / "summary.json"
        if path.exists():
            found[(method, seed)] = json.loads(path.read_text())
            check_fresh(params, method, seed, found[(method, seed)], protocol)
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
    protocol = current_protocol(params)
    for s, path in found.items():
        summary = path.with_name("summary.json")
        if path.exists() and summary.exists():
            check_fresh(params, method, s, json.loads(summary.read_text()), protocol)
    if missing:
        raise AadError(f"evaluation records missing: {', '.join(missing)}. In a fresh clone they are in DVC's store, "
                       "not in git: `make pull` (or `dvc pull`) fetches the committed run's; `dvc repro` (or "
                       "`aad evaluate`) computes them.")
    return {s: pd.read_csv(p) for s, p in found.items()}
