"""Tables every section builds from the evaluation summaries: accuracy per method and attack with
its uncertainty, run facts, training budgets, and the writer of every table (CSV + Markdown)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .files import atomic_write_text
from .intervals import wilson_interval
from .pipeline import run_pairs
from .results import read_eval_seconds, read_summaries
from .params import Params
from .validation import AadError


def accuracy_table(params: Params, methods: list[str] | None = None, columns: list[str] | None = None,
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


def run_facts(params: Params, group: str = "main") -> pd.DataFrame:
    """Seeds, test-sample count and evaluation time of every evaluated model."""
    rows = [{"method": m, "seed": s, "n_test": v["n"], "eval_seed": v["eval_seed"], "eps": v["eps"],
             "step": v["alpha"], "eval_seconds": read_eval_seconds(params, m, s)}
            for (m, s), v in read_summaries(params, group).items()]
    return pd.DataFrame(rows)


def seed_accuracies(params: Params, method: str, column: str, group: str | None = None) -> list[float]:
    """``column`` accuracy in percent of each evaluated seed of ``method``."""
    return [100 * c["accuracy"] for c in seed_cells(params, method, column, group)]


def seed_cells(params: Params, method: str, column: str, group: str | None = None) -> list[dict[str, float]]:
    """The ``column`` accuracy summary (:func:`aad_lib.evaluation.summarize`) of each evaluated seed."""
    return [v["accuracy"][column] for (m, _), v in read_summaries(params, group).items() if m == method]


def training_budget(params: Params) -> pd.DataFrame:
    """What each trained model cost: epochs, training attack, optimiser, wall time (from model.json)."""
    from .pipeline import model_dir
    from .attacks.settings import AttackSettings
    from .training import checkpoint, recipes

    rows = []
    for method, seed in run_pairs(params, None):
        path = model_dir(method, seed) / "model.pt"
        if not path.exists():
            continue
        meta = checkpoint.read_meta(path)
        c = meta["config"]
        a = c["attack"]
        recipe = recipes.get(c["method"])
        adversarial = recipe.needs_attack
        attack = recipe.describe_attack(AttackSettings(**a))
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


def write_table(table: pd.DataFrame, path_stem: str | Path, floatfmt: str = ".2f") -> None:
    """Write ``<stem>.csv`` and ``<stem>.md`` atomically (the suffix is appended, so a stem with a
    dot such as ``table_eps0.3`` keeps it)."""
    stem = Path(path_stem)
    atomic_write_text(stem.parent / f"{stem.name}.csv", table.to_csv(float_format="%.4f"))
    atomic_write_text(stem.parent / f"{stem.name}.md", table.to_markdown(floatfmt=floatfmt) + "\n")
