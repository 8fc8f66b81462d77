"""The AALP paper's tables beyond the robustness table itself: ours beside the paper's rows,
contributions beside robustness, the lambda sweep of Fig. 6, and paired differences of methods
(the Guided Dropout ablation, AALP vs ALP)."""
from __future__ import annotations

import pandas as pd

from ...params import Params
from ...results import read_records, read_summaries
from ...run_bootstrap import records_difference
from ...tables import flatten_columns, seed_accuracies, seed_cells, seeds_uncertainty
from ...validation import AadError
from . import references
from .analysis import CONSISTENT, paired_difference, sample_sets


def with_paper(ours: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Interleave our rows and the paper's: ``<label> (ours)``, ``<label> (paper)``."""
    rows = []
    for method in ours.index:
        label = references.paper_label(method)
        rows.append(ours.loc[method].rename(f"{label} (ours)"))
        if method in paper.index:
            rows.append(paper.loc[method, [c for c in ours.columns if c in paper.columns]].rename(f"{label} (paper)"))
    return pd.DataFrame(rows)


def contribution_by_method(params: Params, summary: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per method, the mean/min/max over seeds of :func:`aad_lib.contribution.summary_table`'s
    numbers, beside the method's mean ``column`` accuracy (percent) over its seeds and that
    accuracy's uncertainty (:func:`seeds_uncertainty`)."""
    per_method = flatten_columns(summary.drop(columns="seed").groupby("method", sort=False).agg(["mean", "min", "max"]))
    runs = {m: s for m in per_method.index if (s := seed_cells(params, m, column))}
    accuracy = {m: sum(100 * c["accuracy"] for c in s) / len(s) for m, s in runs.items()}
    spread = {m: seeds_uncertainty([100 * c["accuracy"] for c in s], s[0]["n"]) for m, s in runs.items()}
    per_method.insert(0, f"{column} accuracy (%), mean", pd.Series(accuracy))
    per_method.insert(1, f"{column} accuracy (%), uncertainty", pd.Series(spread))
    return per_method


def lambda_sweep(params: Params, base: str = "aalp") -> pd.DataFrame:
    """Fig. 6 data: one row per (lambda, seed) of ``base`` and of every named variant whose recipe is
    ``base``'s (in either run group), ``alp_weight`` as lambda, the accuracies in percent."""
    from ...pipeline import method_recipe, train_config

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


def paired_differences(params: Params, pairs: list[tuple[str, str]], columns: list[str]) -> pd.DataFrame:
    """One row per (pair, column): the accuracy of the second method of each pair minus the first's
    (points, :func:`aad_lib.sections.aalp.analysis.paired_difference`: each averaged over its seeds,
    a paired bootstrap over the same test images with ``analysis.bootstrap`` resamples and the
    params' seed), the pair labelled ``<second> - <first>`` in the paper's names."""
    rows = []
    for base, other in pairs:
        base_records = list(read_records(params, base).values())
        other_records = list(read_records(params, other).values())
        for column in columns:
            difference = paired_difference(other_records, base_records, column, params.analysis.bootstrap, seed=params.seed)
            rows.append({"pair": f"{references.paper_label(other)} - {references.paper_label(base)}", "column": column,
                         **difference})
    return pd.DataFrame(rows)


def versus_table(params: Params, method: str, baseline: str, columns: list[str],
                 labels: tuple[str, str] = ("AALP", "ALP")) -> pd.DataFrame:
    """``method`` minus ``baseline`` per column (rows), as :func:`paired_differences`, with each
    method's per-seed accuracies beside, headed ``<label> per seed`` (``labels``: method's,
    baseline's; AALP vs ALP is the paper's central comparison)."""
    method_records, baseline_records = read_records(params, method), read_records(params, baseline)
    rows = []
    for column in columns:
        difference = paired_difference(list(method_records.values()), list(baseline_records.values()), column,
                                       params.analysis.bootstrap, seed=params.seed)
        rows.append({"column": column, **difference,
                     f"{labels[1]} per seed": [round(v, 1) for v in seed_accuracies(params, baseline, column)],
                     f"{labels[0]} per seed": [round(v, 1) for v in seed_accuracies(params, method, column)]})
    return pd.DataFrame(rows).set_index("column")


def lambda_differences(params: Params, sweep: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Fig. 6's trade-off as differences: per column, the accuracy at the largest lambda of
    :func:`lambda_sweep` minus that at the smallest (points, :func:`paired_differences`: the 95%
    two-level bootstrap over each lambda's training runs and the test images), one row per column
    with both lambdas beside."""
    methods = sweep.groupby("lambda")["method"].unique()
    if any(len(m) != 1 for m in methods):
        raise AadError(f"each lambda of the sweep must come from one method, found {dict(methods)}.")
    low, high = methods.index.min(), methods.index.max()
    table = paired_differences(params, [(methods[low][0], methods[high][0])], columns).set_index("column")
    table.insert(0, "lambda high", high)
    table.insert(0, "lambda low", low)
    return table.drop(columns="pair")


def consistent_difference(first: dict[int, pd.DataFrame], second: dict[int, pd.DataFrame], attack: str,
                          n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Table 4 as a difference: the share of consistent test samples (clean and ``attack`` both
    correct, :func:`~aad_lib.sections.aalp.analysis.sample_sets`) of ``second``'s runs minus
    ``first``'s (per seed, the records of :func:`~aad_lib.sections.aalp.records.paper_records`), in
    points, with the 95% two-level bootstrap interval over training runs and test samples. One row
    (``difference``, ``ci_low``, ``ci_high``, ``p_value``, ``n``, ``seeds_a`` = second's runs,
    ``seeds_b`` = first's)."""
    def marked(runs: dict[int, pd.DataFrame]) -> list[pd.DataFrame]:
        return [r.assign(consistent=(sample_sets(r, attack) == CONSISTENT).astype(float)) for r in runs.values()]

    found = records_difference(marked(second), marked(first), "consistent", n_boot, seed)
    return pd.DataFrame([found.as_row()], index=pd.Index([attack], name="column"))
