"""Assemble result tables from the evaluation summaries, with uncertainty and the paper beside."""
from __future__ import annotations

from typing import Any

import pandas as pd

from . import references
from .pipeline import run_pairs
from .results import read_eval_seconds, read_summaries


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
            if len(summaries) == 1:
                cell = summaries[0][col]
                spreads[method][col] = f"[{100 * cell['ci_low']:.1f}, {100 * cell['ci_high']:.1f}]"
            else:
                spreads[method][col] = f"{min(accs):.1f}-{max(accs):.1f} ({len(summaries)} seeds)"
    return pd.DataFrame(means, index=columns).T, pd.DataFrame(spreads, index=columns).T


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
    return [100 * v["accuracy"][column]["accuracy"] for (m, _), v in read_summaries(params, group).items() if m == method]


def contribution_by_method(params: dict[str, Any], summary: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per method, the mean/min/max over seeds of :func:`aad_lib.contribution.summary_table`'s
    numbers, beside the method's mean ``column`` accuracy (percent) over its seeds."""
    per_method = flatten_columns(summary.drop(columns="seed").groupby("method", sort=False).agg(["mean", "min", "max"]))
    accuracy = {m: sum(a) / len(a) for m in per_method.index if (a := seed_accuracies(params, m, column))}
    per_method.insert(0, f"{column} accuracy (%), mean", pd.Series(accuracy))
    return per_method


def lambda_sweep(params: dict[str, Any], base: str = "aalp") -> pd.DataFrame:
    """Fig. 6 data: one row per (lambda, seed) of ``base`` and of every named variant whose recipe is
    ``base``'s (in either run group), ``alp_weight`` as lambda, the accuracies in percent."""
    from .pipeline import method_recipe, train_config

    rows = []
    for (method, seed), summary in read_summaries(params, None).items():
        if method != base and method_recipe(params, method) != method_recipe(params, base):
            continue
        lam = train_config(params, method, seed).options["alp_weight"]
        rows.append({"method": method, "lambda": lam, "seed": seed,
                     **{c: 100 * summary["accuracy"][c]["accuracy"] for c in summary["columns"]}})
    return pd.DataFrame(rows).sort_values(["lambda", "seed"]).reset_index(drop=True) if rows else pd.DataFrame()


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
