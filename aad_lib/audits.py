"""The integrity audit of a robustness table (notebooks 03 and 04): for each row's model (seed
``analysis.figure_seed``) the gradient-masking checks and the AutoAttack cross-check on the first
``integrity.samples`` evaluated images, gathered into tables and a ``flags`` column."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .integrity import Flag, audit, raised_summary
from .notebooks import Context
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


def strongest_columns(ctx: Context) -> list[str]:
    """Our strongest evaluation columns: PGD and CW with the most steps."""
    e = ctx.params["evaluate"]
    return [f"{name}-{max(steps)}" for name, steps in (("PGD", e["pgd_steps"]), ("CW", e["cw_steps"])) if steps]


def audit_methods(ctx: Context, methods: list[str], our_columns: list[str] | None = None) -> Audit:
    """Audit every method of ``methods`` (its ``analysis.figure_seed`` model) against
    ``our_columns`` (default: :func:`strongest_columns`), which are also the white-box reference of
    the random-noise check; the more-steps check compares PGD with the evaluation's fewest steps
    and four times as many (last iterates)."""
    e, i = ctx.params["evaluate"], ctx.params["integrity"]
    seed = ctx.params["analysis"]["figure_seed"]
    columns = our_columns or strongest_columns(ctx)
    steps = min(e["pgd_steps"])
    n = min(i["samples"], len(ctx.y))
    flags, rows, checks = {}, {}, []
    for method in methods:
        evaluated = read_records(ctx.params, method, [seed])[seed]
        flags[method], rows[method] = audit(ctx.model(method, seed), ctx.x[:n], ctx.y[:n], evaluated, columns,
                                            e["eps"], e["alpha"], steps, i["autoattack_steps"], e["seed"])
        checks += [{"method": method, "check": f.check, "value": f.value, "threshold": f.threshold,
                    "raised": f.raised, "if raised": f.meaning} for f in flags[method]]
    return Audit(flags, pd.DataFrame(rows).T, pd.DataFrame(checks).set_index(["method", "check"]))
