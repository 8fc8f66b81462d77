"""The ARP defense table: each defense method (ARP, ARP on PGD, and the baselines) under the
least-likely attacks, the attention-deviation attack and the evaluation's PGD and CW columns,
averaged over its seeds, with the integrity audit beside every row; and each ARP method minus each
baseline over their training runs."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from ... import audits, results, tables
from ...params import Params
from ...run_bootstrap import records_difference
from . import study


@dataclass
class DefenseTable:
    """The table (mean accuracy in percent over seeds, seeds, training minutes, the audit's PGD & CW
    and AutoAttack columns, flags), the uncertainty of each cell, the audit, and the attack columns."""

    table: pd.DataFrame
    uncertainty: pd.DataFrame
    audit: audits.Audit
    columns: list[str]


def defense_table(params: Params, load_model: Callable[[str, int], nn.Module], x: torch.Tensor, y: torch.Tensor
                  ) -> DefenseTable:
    """Every ``attention.defense_methods`` model (all its seeds) on the evaluated images ``x``, ``y``:
    Step-LL, R+Step-LL, Iter-LL and the attention-deviation attack run here, the PGD and CW columns
    (``attention.pgd_column``, ``attention.cw_column``) read from the evaluation records; the audit
    of each method's ``analysis.figure_seed`` model against those two columns."""
    settings, protocol = params.attention, params.evaluate
    attack_columns = study.defense_attacks(protocol.eps, protocol.alpha, settings.iter_ll_steps, settings.attention_steps,
                                           protocol.seed)
    evaluated_columns = [settings.pgd_column, settings.cw_column]
    columns = ["Clean", *attack_columns, *evaluated_columns]
    runs = {method: [study.defense_summary(load_model(method, seed), x, y, attack_columns, rec, evaluated_columns,
                                           protocol.batch_size)
                     for seed, rec in results.read_records(params, method).items()]
            for method in settings.defense_methods}
    means, spreads = tables.table_from_summaries(runs, columns)
    checked = audits.audit_methods(params, load_model, x, y, list(settings.defense_methods), evaluated_columns)
    budget = tables.training_budget(params).groupby("method")["train minutes"].mean()
    table = means.round(2)
    table["seeds"] = [len(runs[m]) for m in table.index]
    table["train minutes"] = [budget.get(m, float("nan")) for m in table.index]
    n_audit = int(checked.crosscheck["n"].iloc[0])
    for column, key in ((f"PGD & CW, first {n_audit}", "ours"), (f"AutoAttack, first {n_audit}", "APGD-CE+T")):
        table[column] = checked.crosscheck[key].reindex(table.index).astype(float).round(2)
    table["flags"] = checked.flags_column(list(table.index))
    return DefenseTable(table, spreads, checked, columns)


def differences(params: Params, columns: list[str]) -> pd.DataFrame:
    """Each ARP method minus each baseline (Madry, standard) of ``attention.defense_methods`` under
    ``columns`` (the evaluation's PGD and CW columns), in points, from the evaluation records of all
    their seeds: the 95% two-level bootstrap interval over training runs and test images
    (:func:`aad_lib.run_bootstrap.records_difference`, ``analysis.bootstrap`` draws, the params'
    seed). One row per (pair, column): ``pair`` reads ``<arp> - <baseline>``."""
    methods = list(params.attention.defense_methods)
    records = {m: list(results.read_records(params, m).values()) for m in methods}
    rows = []
    for arp in [m for m in ("arp", "arp-pgd") if m in methods and records[m]]:
        for base in [m for m in ("madry", "standard") if m in methods and records[m]]:
            for column in columns:
                found = records_difference(records[arp], records[base], column, params.analysis.bootstrap, params.seed)
                rows.append({"pair": f"{arp} - {base}", "column": column, **found.as_row()})
    return pd.DataFrame(rows).set_index("pair") if rows else pd.DataFrame()
