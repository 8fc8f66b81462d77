"""Assemble result tables from the evaluation summaries, with uncertainty and the paper beside."""
from __future__ import annotations

from typing import Any

import pandas as pd

from . import references
from .evaluation import wilson_interval
from .pipeline import run_pairs
from .results import read_eval_seconds, read_summaries
from .validation import AadError


def accuracy_table(params: dict[str, Any], methods: list[str] | None = None, columns: list[str] | None = None,
                   group: str | None = "main") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows = methods (``methods`` or the group's, those that were evaluated; group None = every
    run group), columns = attacks (``columns`` or all).

    Returns (mean accuracy in percent over seeds, uncertainty text per cell): with one seed the
    95% Wilson interval over test samples, with several the min-max range over seeds.
    """
    summaries = read_summaries(params, group)
    wanted = methods if methods is not None else list(dict.fromkeys(m for m, _ in summaries))
    runs = {m: [s["accuracy"] for (name, _), s in summaries.items() if name == m] for m in wanted}
    order = columns or (next(iter(summaries.values()))["columns"] if summaries else [])
    return table_from_summaries(runs, order)


def table_from_summaries(runs: dict[str, list[dict[str, dict[str, float]]]], columns: list[str]
                         ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows = methods, one accuracy summary per seed (:func:`aad_lib.evaluation.summarize`);
    returns (mean accuracy in percent, uncertainty text) as :func:`accuracy_table` describes.
    Methods without runs are left out."""
    means, spreads = {}, {}
    for method, summaries in runs.items():
        if not summaries:
            continue
        means[method], spreads[method] = {}, {}
        for col in columns:
            accs = [100 * r[col]["accuracy"] for r in summaries]
            means[method][col] = sum(accs) / len(accs)
            spreads[method][col] = seeds_uncertainty(accs, summaries[0][col]["n"])
    return pd.DataFrame(means, index=columns).T, pd.DataFrame(spreads, index=columns).T


def seeds_uncertainty(accuracies: list[float], n: int) -> str:
    """The uncertainty text of one table cell, from its seeds' accuracies (percent, each on the
    same ``n`` test samples): with one seed the 95% Wilson interval over test samples
    (``[low, high]``), with several the seeds' range (``low-high (k seeds)``), the larger of the
    two noises in our runs."""
    if not accuracies:
        raise AadError("seeds_uncertainty needs at least one accuracy.")
    if len(accuracies) > 1:
        return f"{min(accuracies):.1f}-{max(accuracies):.1f} ({len(accuracies)} seeds)"
    lo, hi = wilson_interval(round(accuracies[0] * n / 100), n)
    return f"[{100 * lo:.1f}, {100 * hi:.1f}]"


def seed_rows_uncertainty(per_seed: pd.DataFrame, n: int) -> pd.DataFrame:
    """The uncertainty text beside a table whose rows are seeds and whose cells are percentages of
    the same ``n`` test samples: each cell's 95% Wilson interval, and a ``mean`` row with each
    column's :func:`seeds_uncertainty` over the seeds."""
    table = per_seed.apply(lambda col: col.map(lambda v: seeds_uncertainty([v], n))).astype(object)
    table.loc["mean"] = [seeds_uncertainty(list(per_seed[c]), n) for c in per_seed.columns]
    return table


def with_paper(ours: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Interleave our rows and the paper's: ``<label> (ours)``, ``<label> (paper)``."""
    rows = []
    for method in ours.index:
        label = references.paper_label(method)
        rows.append(ours.loc[method].rename(f"{label} (ours)"))
        if method in paper.index:
            rows.append(paper.loc[method, [c for c in ours.columns if c in paper.columns]].rename(f"{label} (paper)"))
    return pd.DataFrame(rows)


def run_facts(params: dict[str, Any], group: str = "main") -> pd.DataFrame:
    """Seeds, test-sample count and evaluation time of every evaluated model."""
    rows = [{"method": m, "seed": s, "n_test": v["n"], "eval_seed": v["eval_seed"], "eps": v["eps"],
             "step": v["alpha"], "eval_seconds": read_eval_seconds(params, m, s)}
            for (m, s), v in read_summaries(params, group).items()]
    return pd.DataFrame(rows)


def seed_accuracies(params: dict[str, Any], method: str, column: str, group: str | None = None) -> list[float]:
    """``column`` accuracy in percent of each evaluated seed of ``method``."""
    return [100 * c["accuracy"] for c in _seed_cells(params, method, column, group)]


def contribution_by_method(params: dict[str, Any], summary: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per method, the mean/min/max over seeds of :func:`aad_lib.contribution.summary_table`'s
    numbers, beside the method's mean ``column`` accuracy (percent) over its seeds and that
    accuracy's uncertainty (:func:`seeds_uncertainty`)."""
    per_method = flatten_columns(summary.drop(columns="seed").groupby("method", sort=False).agg(["mean", "min", "max"]))
    runs = {m: s for m in per_method.index if (s := _seed_cells(params, m, column))}
    accuracy = {m: sum(100 * c["accuracy"] for c in s) / len(s) for m, s in runs.items()}
    spread = {m: seeds_uncertainty([100 * c["accuracy"] for c in s], s[0]["n"]) for m, s in runs.items()}
    per_method.insert(0, f"{column} accuracy (%), mean", pd.Series(accuracy))
    per_method.insert(1, f"{column} accuracy (%), uncertainty", pd.Series(spread))
    return per_method


def _seed_cells(params: dict[str, Any], method: str, column: str, group: str | None = None) -> list[dict[str, float]]:
    """The ``column`` accuracy summary (:func:`aad_lib.evaluation.summarize`) of each evaluated seed."""
    return [v["accuracy"][column] for (m, _), v in read_summaries(params, group).items() if m == method]


def lambda_sweep(params: dict[str, Any], base: str = "aalp") -> pd.DataFrame:
    """Fig. 6 data: one row per (lambda, seed) of ``base`` and of every named variant whose recipe is
    ``base``'s (in either run group), ``alp_weight`` as lambda, the accuracies in percent."""
    from .pipeline import method_recipe, train_config

    rows = []
    for (method, seed), summary in read_summaries(params, None).items():
        if method != base and method_recipe(params, method) != method_recipe(params, base):
            continue
        lam = train_config(params, method, seed).options["alp_weight"]
        rows.append({"method": method, "lambda": lam, "seed": seed, "n": summary["n"],
                     **{c: 100 * summary["accuracy"][c]["accuracy"] for c in summary["columns"]}})
    return pd.DataFrame(rows).sort_values(["lambda", "seed"]).reset_index(drop=True) if rows else pd.DataFrame()


def lambda_sweep_table(sweep: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Fig. 6 as a table: per lambda of :func:`lambda_sweep`, the mean, min, max and seed count of
    each of ``columns`` and its uncertainty (:func:`seeds_uncertainty`)."""
    grouped = sweep.groupby("lambda")
    table = flatten_columns(grouped[columns].agg(["mean", "min", "max", "count"]))
    for c in columns:
        table[f"{c}: uncertainty"] = grouped.apply(lambda g, c=c: seeds_uncertainty(list(g[c]), int(g["n"].iloc[0])),
                                                   include_groups=False)
    return table


def training_budget(params: dict[str, Any]) -> pd.DataFrame:
    """What each trained model cost: epochs, training attack, optimiser, wall time (from model.json)."""
    from .pipeline import model_dir
    from .training import checkpoint, recipes

    rows = []
    for method, seed in run_pairs(params, None):
        path = model_dir(method, seed) / "model.pt"
        if not path.exists():
            continue
        meta = checkpoint.read_meta(path)
        c = meta["config"]
        a = c["attack"]
        adversarial = recipes.NEEDS_ATTACK[c["method"]]
        attack = recipes.describe_attack(c["method"], recipes.AttackSpec(**a)) if adversarial else "none"
        rows.append({"method": method, "seed": seed, "epochs": c["epochs"], "batch": c["batch_size"],
                     "optimizer": f"{c['optimizer']} lr {c['lr']}", "train attack": attack,
                     "eps warm-up (epochs)": c["eps_warmup_epochs"] if adversarial else "", "options": c["options"] or "",
                     "train minutes": round(meta["train_seconds"] / 60, 1)})
    return pd.DataFrame(rows)


def flatten_columns(frame: pd.DataFrame, sep: str = ": ") -> pd.DataFrame:
    """A copy with two-level column labels joined (``("mean over seeds", "n")`` -> ``"mean over seeds: n"``),
    so Markdown tables read as plain headers."""
    if not isinstance(frame.columns, pd.MultiIndex):
        return frame
    out = frame.copy()
    out.columns = [sep.join(str(part) for part in col if str(part)) for col in frame.columns]
    return out
