"""The rerun check on Table 2's central comparison at the scale of a profile: AALP minus ALP under
every evaluated column, from two disjoint sets of training runs of the same profile (by default
seeds 0-2 against seeds 3-5: the project's own "another run"), read with the two rules:

- **images only** (the rule before the two-level intervals): the paired bootstrap over test images
  of the runs' per-image average (:func:`aad_lib.run_bootstrap.two_level_difference` with one
  averaged run per arm), read with :func:`aad_lib.site.verdict_rules.from_difference`;
- **runs and images** (today's rule): :func:`aad_lib.run_bootstrap.records_difference` over each
  arm's runs, read with :func:`aad_lib.site.verdict_rules.from_runs`.

Each claim's two verdicts (first set, second set) are compared with
:func:`aad_lib.site.rerun_check.move`; the counts of opposite flips and of moves between decisive
and not distinguishable are what a rerun of the whole pipeline would show on these claims.

Train and evaluate the extra seeds first, e.g. for seeds 0-5 (no AutoAttack needed here):
``aad train --method alp --seed 3 --set 'run.seeds=[0,1,2,3,4,5]'`` and ``aad evaluate ...`` with
the same ``--set`` and ``--set 'evaluate.autoattack.models=[]'``, then
``python scripts/rerun_table2.py --first 0,1,2 --second 3,4,5 [--out FILE.md]``.
"""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from aad_lib import config
from aad_lib.files import atomic_write_text
from aad_lib.results import read_records
from aad_lib.run_bootstrap import records_difference, runs_matrix, two_level_difference
from aad_lib.sections.aalp.references import AALP_TABLE2_MNIST, COLUMNS
from aad_lib.site.rerun_check import move
from aad_lib.site.verdict_rules import from_difference, from_runs


def verdicts(aalp: list[pd.DataFrame], alp: list[pd.DataFrame], column: str, expected: int, n_boot: int,
             seed: int) -> tuple[str, str, str, str]:
    """(images-only verdict, its interval text, runs-and-images verdict, its interval text)."""
    averaged = [runs_matrix(r, column).to_numpy().mean(axis=0) for r in (aalp, alp)]
    old = two_level_difference(*averaged, n_boot, seed).scaled(100)
    new = records_difference(aalp, alp, column, n_boot, seed)
    return (from_difference(old.ci_low, old.ci_high, expected), f"{old.difference:+.1f} [{old.ci_low:+.1f}, {old.ci_high:+.1f}]",
            from_runs(new.ci_low, new.ci_high, expected, min(new.runs_a, new.runs_b)),
            f"{new.difference:+.1f} [{new.ci_low:+.1f}, {new.ci_high:+.1f}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--first", default="0,1,2", help="the first set of training seeds")
    parser.add_argument("--second", default="3,4,5", help="the second set")
    parser.add_argument("--out", help="also write the report as Markdown here")
    args = parser.parse_args()
    sets = [[int(s) for s in text.split(",")] for text in (args.first, args.second)]
    seeds = sorted({s for group in sets for s in group})
    params = config.load_params(args.params, [f"run.seeds={seeds}", "evaluate.autoattack.models=[]"])
    records = {m: read_records(params, m, seeds) for m in ("aalp", "alp")}
    columns = [c for c in records["alp"][seeds[0]].columns if c in COLUMNS]
    paper = dict(zip(COLUMNS, np.subtract(AALP_TABLE2_MNIST["aalp"][1], AALP_TABLE2_MNIST["alp"][1])))
    rows = []
    for column in columns:
        expected = int(np.sign(paper[column])) or 1
        found = [verdicts([records["aalp"][s] for s in group], [records["alp"][s] for s in group], column, expected,
                          params.analysis.bootstrap, params.seed) for group in sets]
        rows.append({"claim": f"AALP {'above' if expected > 0 else 'below'} ALP, {column}",
                     "images only, first": f"{found[0][1]} {found[0][0]}", "images only, second": f"{found[1][1]} {found[1][0]}",
                     "images only: move": move(found[0][0], found[1][0]),
                     "runs and images, first": f"{found[0][3]} {found[0][2]}",
                     "runs and images, second": f"{found[1][3]} {found[1][2]}",
                     "runs and images: move": move(found[0][2], found[1][2])})
    table = pd.DataFrame(rows).set_index("claim")
    counts = {rule: Counter(table[f"{rule}: move"]) for rule in ("images only", "runs and images")}
    lines = [f"AALP - ALP on {params.data.name} ({params.profile} profile, {len(records['alp'][seeds[0]])} test images), "
             f"training seeds {args.first} against {args.second}, {params.analysis.bootstrap} bootstrap draws.", ""]
    lines += [f"- **{rule}**: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())) for rule, c in counts.items()]
    text = "\n".join(lines) + "\n\n" + table.to_markdown() + "\n"
    print(text)
    if args.out:
        atomic_write_text(Path(args.out), text)


if __name__ == "__main__":
    main()
