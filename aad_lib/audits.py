"""The integrity audit of a robustness table (the AALP and ARP tables): for each row's model (seed
``analysis.figure_seed``) the gradient-masking checks and the AutoAttack cross-check on the first
``integrity.samples`` evaluated images, gathered into tables and a ``flags`` column."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from .integrity import Flag, audit, raised_summary
from .params import Params
from .pipeline import eval_config
from .results import read_records


@dataclass
class Audit:
    """Per method: its flags, the cross-check row, and both as tables."""

    flags: dict[str, list[Flag]]
    crosscheck: pd.DataFrame
    checks: pd.DataFrame

    def flags_column(self, index: list[str]) -> list[str]:
        """The raised checks of each method of ``index`` in words ("none" when all pass)."""
        return [raised_summary(self.flags[m]) if m in self.flags else "not audited" for m in index]


def audit_methods(params: Params, load_model: Callable[[str, int], nn.Module], x: torch.Tensor, y: torch.Tensor,
                  methods: list[str], our_columns: list[str] | None = None) -> Audit:
    """Audit every method of ``methods`` (its ``analysis.figure_seed`` model, from ``load_model(method,
    seed)``) on the first ``integrity.samples`` of the evaluated images ``x``, ``y`` against
    ``our_columns`` (default: the evaluation's strongest PGD and CW columns), which are also the
    white-box reference of the random-noise check; the more-steps check compares PGD with the
    evaluation's fewest steps and four times as many (last iterates)."""
    e, i = params.evaluate, params.integrity
    seed = params.analysis.figure_seed
    protocol = eval_config(params)
    columns = our_columns or protocol.strongest()
    budget = protocol.attack(min(e.pgd_steps))
    n = min(i.samples, len(y))
    flags, rows, checks = {}, {}, []
    for method in methods:
        evaluated = read_records(params, method, [seed])[seed]
        flags[method], rows[method] = audit(load_model(method, seed), x[:n], y[:n], evaluated, columns,
                                            budget, i.autoattack_steps, e.seed)
        checks += [{"method": method, "check": f.check, "value": f.value, "threshold": f.threshold,
                    "raised": f.raised, "if raised": f.meaning} for f in flags[method]]
    return Audit(flags, pd.DataFrame(rows).T, pd.DataFrame(checks).set_index(["method", "check"]))
