"""The evaluation records the AALP analysis reads (Table 1, Figs. 3, 11, Table 4)."""
from __future__ import annotations

import pandas as pd

from ...notebooks import Context
from ...pipeline import eval_config
from ...results import read_records
from .analysis import with_last_iterate


def paper_records(ctx: Context, method: str, attack: str, seeds: list[int] | None = None) -> dict[int, pd.DataFrame]:
    """Evaluation records of ``method`` per seed, their ``conf:``/``pair:`` columns of ``attack`` at
    its last iterate (the AALP paper's adversarial examples; see
    :func:`aad_lib.sections.aalp.analysis.with_last_iterate`): the accuracy columns are the evaluation's."""
    cfg = eval_config(ctx.params)
    return {s: with_last_iterate(r, ctx.model(method, s), ctx.x, ctx.y, cfg, attack)
            for s, r in read_records(ctx.params, method, seeds).items()}
