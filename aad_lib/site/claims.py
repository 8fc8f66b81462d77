"""The paper claims the run's tables answer, one row each, read from the tables the notebooks wrote
(``reports/tables/<stem>.csv``): the paper's number (from the paper rows the notebooks keep beside
ours) or, where the paper states a direction only, that direction; our number with its interval;
the verdict (:mod:`aad_lib.site.verdict_rules`); and the table the row comes from, so that the index
can link the notebook section that writes it. No number here is typed: each is read from a table.

Claims the notebooks answer without an interval (a point estimate, a picture) have no row here: the
index lists those answers apart, linked to the notebook section that states them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..validation import AadError
from ..run_bootstrap import INTERVAL
from .verdict_rules import DOES_NOT_HOLD, HOLDS, NO_VERDICT, from_runs, from_test, parse_interval

# The row labels the notebooks give AALP and ALP (the AALP paper's names for them, written by
# notebook 03 into its Table 2 and Table 4 tables).
AALP_LABEL = "AALP"
ALP_LABEL = "Kannan ALP"
# The undefended row of notebook 05's tables.
NO_DEFENSE = "no defense"


@dataclass(frozen=True)
class Claim:
    """One row of the verdict index.

    ``work``: whose claim (the paper); ``claim``: what it says, in words; ``paper``: the paper's
    number or the direction it reports; ``ours``: our number with its interval (or test);
    ``verdict``: one of :data:`aad_lib.site.verdict_rules.VERDICTS`; ``table``: the stem of the
    table the row is read from (``03_aalp_vs_alp``); ``basis``: what the verdict is read from."""

    work: str
    claim: str
    paper: str
    ours: str
    verdict: str
    table: str
    basis: str


def read_table(folder: str | Path, stem: str) -> pd.DataFrame:
    """``<folder>/<stem>.csv`` with its first column as the index; a clear error when missing."""
    path = Path(folder) / f"{stem}.csv"
    if not path.is_file():
        raise AadError(f"table {path} not found: the notebook that writes it has not run; run `dvc repro` "
                       "(or `aad notebook <name>`) first.")
    return pd.read_csv(path, index_col=0)


def _number(value: object) -> float:
    """A table cell as a float (NaN for an empty cell)."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _count(value: object) -> str:
    """A count cell as an integer (``383.0`` -> ``383``: pandas reads a column with a blank as floats)."""
    number = _number(value)
    return str(value) if math.isnan(number) else f"{number:.0f}"


def _paper_gap(paper: pd.DataFrame, first: str, second: str, column: str) -> float:
    """``second`` minus ``first`` in ``column`` of the paper rows (NaN when either is missing)."""
    if column not in paper.columns or first not in paper.index or second not in paper.index:
        return math.nan
    return _number(paper.loc[second, column]) - _number(paper.loc[first, column])


def _expected_sign(paper_gap: float, default: int = 1) -> int:
    """The direction the paper reports (the sign of its number), ``default`` where it has none."""
    if math.isnan(paper_gap):
        return default
    return 1 if paper_gap > 0 else -1 if paper_gap < 0 else 0


def _paper_points(gap: float) -> str:
    return "not in the paper's table" if math.isnan(gap) else f"{gap:+.2f} points"


def _side(expected: int, higher: str = "above", lower: str = "below", same: str = "equal to") -> str:
    return higher if expected > 0 else lower if expected < 0 else same


# What a verdict on training methods is read from (aad_lib.run_bootstrap).
RUNS_BASIS = "95% two-level bootstrap interval over training runs and test images"
# A run whose tables predate the two-level intervals: its numbers are shown, no verdict is read.
IMAGES_ONLY = "interval over test images only"
PREDATES = ("this run's tables predate the intervals over training runs: no verdict (rerun the pipeline, "
            "`dvc repro`, for one)")


def _difference_text(difference: float, low: float, high: float, runs: tuple[int, int]) -> str:
    """``+1.2 [-0.3, +2.6] points (3 vs 3 runs)``: the difference, its interval, each arm's training runs."""
    return f"{difference:+.1f} [{low:+.1f}, {high:+.1f}] points ({runs[0]} vs {runs[1]} runs)"


def _runs(row: pd.Series) -> tuple[int, int]:
    """The training runs of a difference row's two arms, in the claim's order: ``seeds_a`` (the
    method or defense the claim is about), then ``seeds_b`` (what it is compared with)."""
    return int(_number(row["seeds_a"])), int(_number(row["seeds_b"]))


def _difference_claim(work: str, claim: str, paper: str, row: pd.Series, expected: int, table: str) -> Claim:
    """A claim read from a two-level bootstrap difference row (``difference``, ``ci_low``, ``ci_high``,
    ``seeds_a``, ``seeds_b``, ``interval``): :func:`aad_lib.site.verdict_rules.from_runs`. A row
    without the ``interval`` mark of :data:`aad_lib.run_bootstrap.INTERVAL` (written before the
    two-level intervals: over test images only) gives no verdict."""
    low, high, runs = _number(row["ci_low"]), _number(row["ci_high"]), _runs(row)
    text = _difference_text(_number(row["difference"]), low, high, runs)
    if row.get("interval") != INTERVAL:
        return Claim(work, claim, paper, f"{text}, {IMAGES_ONLY}", NO_VERDICT, table, PREDATES)
    return Claim(work, claim, paper, text, from_runs(low, high, expected, min(runs)), table, RUNS_BASIS)


def _has(folder: str | Path, stem: str) -> bool:
    return (Path(folder) / f"{stem}.csv").is_file()


# ---------------------------------------------------------------- AALP (notebooks 02 and 03)

def aalp_versus_alp(folder: str | Path) -> list[Claim]:
    """AALP paper, Table 2: AALP minus ALP per evaluated column (``03_aalp_vs_alp``: difference
    and its 95% two-level bootstrap interval over runs and images), against the paper's AALP and ALP rows of ``03_table2``.
    The expected direction is the sign of the paper's difference; a column the paper does not
    report follows its claim that AALP is the more robust. The interval covers training runs and
    test images (:func:`aad_lib.site.verdict_rules.from_runs`)."""
    versus, table2 = read_table(folder, "03_aalp_vs_alp"), read_table(folder, "03_table2")
    first, second = f"{ALP_LABEL} (paper)", f"{AALP_LABEL} (paper)"
    claims = []
    for column, row in versus.iterrows():
        gap = _paper_gap(table2, first, second, str(column))
        expected = _expected_sign(gap)
        claims.append(_difference_claim("AALP", f"AALP {_side(expected)} ALP, {column} accuracy (Table 2)",
                                        _paper_points(gap), row, expected, "03_aalp_vs_alp"))
    return claims


def guided_dropout_ablation(folder: str | Path) -> list[Claim]:
    """AALP paper, Sec. 4.4: each method with Guided Dropout minus without, per column
    (``02_ablation_gd_differences``, two-level bootstrap over runs and images), against the paper's SVHN rows of
    ``02_ablation_gd``; a column the paper does not report follows its claim that Guided Dropout
    raises accuracy."""
    differences, ablation = read_table(folder, "02_ablation_gd_differences"), read_table(folder, "02_ablation_gd")
    if differences.empty:
        return []
    paper_rows = [str(label) for label in ablation.index if "(paper" in str(label)]

    def paper_row(label: str) -> str:
        return next((row for row in paper_rows if row.startswith(f"{label} (paper")), "")

    def dataset(row: str) -> str:  # "RAW (paper, SVHN)" -> " (SVHN)": the data the paper's number is on
        where = row.rpartition("(paper")[2].strip(" ,)")
        return f" ({where})" if where else ""

    claims = []
    for pair, row in differences.iterrows():
        with_gd, _, without = str(pair).partition(" - ")
        if not without:
            raise AadError(f"02_ablation_gd_differences: pair {pair!r} should read '<with> - <without>'.")
        column = str(row["column"])
        gap = _paper_gap(ablation, paper_row(without), paper_row(with_gd), column)
        expected = _expected_sign(gap)
        claims.append(_difference_claim(
            "AALP", f"{with_gd} {_side(expected)} {without}, {column} accuracy (Sec. 4.4 ablation)",
            _paper_points(gap) + (dataset(paper_row(with_gd)) if not math.isnan(gap) else ""), row, expected,
            "02_ablation_gd_differences"))
    return claims


def consistent_share(folder: str | Path) -> list[Claim]:
    """AALP paper, Table 4: the share of consistent test samples is higher with AALP than with ALP
    (``03_table4_consistent``: the mean row and the paper's; ``03_table4_consistent_difference``:
    AALP minus ALP with its two-level bootstrap interval over runs and images; a run without that
    table: each share's interval, no verdict)."""
    if not _has(folder, "03_table4_consistent_difference") and _has(folder, "03_table4_consistent_uncertainty"):
        shares, spread = read_table(folder, "03_table4_consistent"), read_table(folder, "03_table4_consistent_uncertainty")
        ours = (f"ALP {_number(shares.loc['mean', ALP_LABEL]):.1f}% {parse_interval(spread.loc['mean', ALP_LABEL])} -> "
                f"AALP {_number(shares.loc['mean', AALP_LABEL]):.1f}% {parse_interval(spread.loc['mean', AALP_LABEL])}")
        return [Claim("AALP", "more consistent samples with AALP than with ALP (Table 4)", _table4_paper(shares), ours,
                      NO_VERDICT, "03_table4_consistent", PREDATES)]
    shares, difference = read_table(folder, "03_table4_consistent"), read_table(folder, "03_table4_consistent_difference")
    paper_row = next((str(r) for r in shares.index if str(r).startswith("paper")), "")
    gap = (_number(shares.loc[paper_row, AALP_LABEL]) - _number(shares.loc[paper_row, ALP_LABEL])
           if paper_row else math.nan)
    expected = _expected_sign(gap)
    row = difference.iloc[0]
    claim = _difference_claim("AALP", "more consistent samples with AALP than with ALP (Table 4)", "", row, expected,
                              "03_table4_consistent_difference")
    ours = (f"ALP {_number(shares.loc['mean', ALP_LABEL]):.1f}% -> AALP {_number(shares.loc['mean', AALP_LABEL]):.1f}%: "
            f"{claim.ours}")
    return [Claim(claim.work, claim.claim, _table4_paper(shares), ours, claim.verdict, claim.table, claim.basis)]


def _table4_paper(shares: pd.DataFrame) -> str:
    paper_row = next((str(r) for r in shares.index if str(r).startswith("paper")), "")
    return (f"{_number(shares.loc[paper_row, ALP_LABEL]):.2f}% -> {_number(shares.loc[paper_row, AALP_LABEL]):.2f}% "
            f"({paper_row.removeprefix('paper').strip(' ()')})" if paper_row else "not in the paper's table")


def lambda_tradeoff(folder: str | Path) -> list[Claim]:
    """AALP paper, Fig. 6: with more lambda, robust accuracy rises and clean accuracy falls; the
    largest minus the smallest lambda per column (``03_lambda_differences``: two-level bootstrap
    over each lambda's runs and the test images; a run without that table: the smallest and the
    largest lambda's intervals of ``03_lambda_sweep``, no verdict)."""
    if not _has(folder, "03_lambda_differences") and _has(folder, "03_lambda_sweep"):
        sweep = read_table(folder, "03_lambda_sweep")
        low, high = sweep.index.min(), sweep.index.max()
        claims = []
        for column in [c.removesuffix(": mean") for c in sweep.columns if c.endswith(": mean")] if len(sweep) > 1 else []:
            expected = -1 if column == "Clean" else 1
            ours = (f"lambda {low:g}: {_number(sweep.loc[low, f'{column}: mean']):.1f}% "
                    f"{parse_interval(sweep.loc[low, f'{column}: uncertainty'])} -> lambda {high:g}: "
                    f"{_number(sweep.loc[high, f'{column}: mean']):.1f}% {parse_interval(sweep.loc[high, f'{column}: uncertainty'])}")
            claims.append(Claim("AALP", f"{column} accuracy {_side(expected, 'rises', 'falls')} with lambda (Fig. 6)",
                                _side(expected, "rises", "falls"), ours, NO_VERDICT, "03_lambda_sweep", PREDATES))
        return claims
    differences = read_table(folder, "03_lambda_differences")
    claims = []
    for column, row in differences.iterrows():
        expected = -1 if column == "Clean" else 1
        claim = _difference_claim("AALP", f"{column} accuracy {_side(expected, 'rises', 'falls')} with lambda (Fig. 6)",
                                  _side(expected, "rises", "falls"), row, expected, "03_lambda_differences")
        ours = f"lambda {_number(row['lambda high']):g} minus lambda {_number(row['lambda low']):g}: {claim.ours}"
        claims.append(Claim(claim.work, claim.claim, claim.paper, ours, claim.verdict, claim.table, claim.basis))
    return claims


# ---------------------------------------------------------------- ARP (notebook 04)

def _test_text(effect: str, p_value: float, counts: str) -> str:
    p = "no test" if math.isnan(p_value) else f"p = {p_value:.2g}"
    return f"{effect} ({p}; {counts})"


def arp_observations(folder: str | Path) -> list[Claim]:
    """ARP paper, observations 1-3 per analysed model: broken images had less complete attention
    (``04_completeness``, Mann-Whitney); a successful attack lowers the attention IoU and scatters
    the map (``04_deviation``, Mann-Whitney and Wilcoxon); iterating keeps lowering the IoU while
    the success rate stops rising (``04_iteration_tests``, Wilcoxon and McNemar)."""
    claims = []
    for model, row in read_table(folder, "04_completeness").iterrows():
        difference, p = _number(row["difference"]), _number(row["p (Mann-Whitney)"])
        ours = _test_text(f"{difference:+.3f} {row['diff 95% CI']}" if not math.isnan(difference) else "no broken image",
                          p, f"{row['broken n']} broken, {row['survived n']} surviving")
        claims.append(Claim("ARP", f"{model}: images the attack breaks had less complete attention (obs. 1)",
                            "lower completeness", ours, from_test(difference, p, -1), "04_completeness",
                            "Mann-Whitney test, p < 0.05"))
    for model, row in read_table(folder, "04_deviation").iterrows():
        broken, survived, p = _number(row["IoU broken"]), _number(row["IoU survived"]), _number(row["p IoU (Mann-Whitney)"])
        claims.append(Claim("ARP", f"{model}: attention deviates more where the attack succeeds (obs. 2)",
                            "lower IoU with the clean map",
                            _test_text(f"IoU {broken:.3f} vs {survived:.3f}, difference {row['IoU diff 95% CI']}", p,
                                       f"{row['broken n']} broken, {row['survived n']} surviving"),
                            from_test(broken - survived, p, -1), "04_deviation", "Mann-Whitney test, p < 0.05"))
        for measure in ("regions", "entropy"):
            clean, adv, p = (_number(row[f"{measure} clean"]), _number(row[f"{measure} adv"]),
                             _number(row[f"p {measure} (Wilcoxon)"]))
            claims.append(Claim("ARP", f"{model}: a successful attack scatters attention, more {measure} (obs. 2)",
                                f"more {measure}", _test_text(f"{clean:.3f} -> {adv:.3f}", p, f"{row['broken n']} broken"),
                                from_test(adv - clean, p, 1), "04_deviation", "Wilcoxon signed-rank test, p < 0.05"))
    for model, row in read_table(folder, "04_iteration_tests").iterrows():
        before, after, p = _number(row["IoU at 2"]), _number(row["IoU at last"]), _number(row["p IoU (Wilcoxon)"])
        claims.append(Claim("ARP", f"{model}: iterating the attack keeps lowering the attention IoU (obs. 3)",
                            "falls after iteration 2",
                            _test_text(f"{before:.3f} -> {after:.3f}", p, f"{_count(row['n'])} images"),
                            from_test(after - before, p, -1), "04_iteration_tests", "Wilcoxon signed-rank test, p < 0.05"))
        before, after, p = (_number(row["success % at 2"]), _number(row["success % at last"]),
                            _number(row["p success (McNemar)"]))
        rises = from_test(after - before, p, 1)  # a significant rise contradicts "stops rising"
        verdict = DOES_NOT_HOLD if rises == HOLDS else HOLDS
        claims.append(Claim("ARP", f"{model}: the success rate stops rising after about two iterations (obs. 3)",
                            "no rise after iteration 2",
                            _test_text(f"{before:.1f}% -> {after:.1f}%", p, f"{_count(row['n'])} images"), verdict,
                            "04_iteration_tests", "McNemar test: holds unless a significant rise"))
    return claims


def arp_defense(folder: str | Path, columns: list[str]) -> list[Claim]:
    """ARP paper, the defense: each ARP model more robust than each baseline (Madry, standard) under
    ``columns`` (the evaluation's PGD and CW columns, ``attention.pgd_column`` and ``cw_column``),
    from ``04_defense_differences`` (the ARP method minus the baseline, two-level bootstrap over
    training runs and test images; a run without that table: ``04_defense`` and its uncertainty, no
    verdict)."""
    if not _has(folder, "04_defense_differences") and _has(folder, "04_defense_uncertainty"):
        table, spread = read_table(folder, "04_defense"), read_table(folder, "04_defense_uncertainty")
        return [Claim("ARP", f"{arp} more robust than {base} training, {column}", "higher accuracy",
                      f"{base} {_number(table.loc[base, column]):.1f}% {parse_interval(spread.loc[base, column])} -> "
                      f"{arp} {_number(table.loc[arp, column]):.1f}% {parse_interval(spread.loc[arp, column])}",
                      NO_VERDICT, "04_defense", PREDATES)
                for arp in ("arp", "arp-pgd") if arp in table.index
                for base in ("madry", "standard") if base in table.index for column in columns if column in spread.columns]
    differences = read_table(folder, "04_defense_differences")
    missing = [c for c in columns if c not in set(differences["column"])] if len(differences) else []
    if missing:
        raise AadError(f"04_defense_differences has no rows for {missing} (its columns: "
                       f"{sorted(set(differences['column']))}).")
    claims = []
    for pair, row in differences.iterrows():
        if row["column"] not in columns:
            continue
        arp, _, base = str(pair).partition(" - ")
        claims.append(_difference_claim("ARP", f"{arp} more robust than {base} training, {row['column']}",
                                        "higher accuracy", row, 1, "04_defense_differences"))
    return claims


# ---------------------------------------------------------------- compression (notebook 05)

def compression_defenses(folder: str | Path) -> list[Claim]:
    """WebP + flip (Yin et al.), ComDefend (Jia et al.) and the classic transformations: each
    defense raises the worst-case grey-box accuracy (the papers' protocol) above the undefended
    classifier's (``05_greybox_runs``: the defense minus no defense over the training runs of the
    classifier and the purifiers, two-level bootstrap over runs and images; a run without that
    table: ``05_verdicts``' one run, no verdict); the adaptive verdict stays in the notebook."""
    if not _has(folder, "05_greybox_runs") and _has(folder, "05_verdicts"):
        one = read_table(folder, "05_verdicts")
        return [Claim("compression", f"{defense} raises the worst-case grey-box accuracy", "higher than without defense",
                      f"{NO_DEFENSE} {row[f'{NO_DEFENSE} worst grey-box']} -> {defense} {row['worst grey-box']}",
                      NO_VERDICT, "05_verdicts", PREDATES) for defense, row in one.iterrows()]
    table = read_table(folder, "05_greybox_runs")
    baseline = f"{NO_DEFENSE} worst grey-box"
    if len(table) and baseline not in table.columns:
        raise AadError(f"05_greybox_runs has no {baseline!r} column (written by an older notebook 05): rerun it "
                       "with `dvc repro`.")
    claims = []
    for defense, row in table.iterrows():
        claim = _difference_claim("compression", f"{defense} raises the worst-case grey-box accuracy",
                                  "higher than without defense", row, 1, "05_greybox_runs")
        ours = (f"{NO_DEFENSE} {_number(row[baseline]):.1f}% -> {defense} {_number(row['worst grey-box']):.1f}%: "
                f"{claim.ours}")
        claims.append(Claim(claim.work, claim.claim, claim.paper, ours, claim.verdict, claim.table, claim.basis))
    return claims


# ---------------------------------------------------------------- all of them

def read_claims(folder: str | Path, arp_columns: list[str]) -> list[Claim]:
    """Every claim the tables under ``folder`` answer, in the notebooks' order (02 to 05), the ARP
    defense under ``arp_columns``."""
    return (guided_dropout_ablation(folder) + aalp_versus_alp(folder) + consistent_share(folder)
            + lambda_tradeoff(folder) + arp_observations(folder) + arp_defense(folder, arp_columns)
            + compression_defenses(folder))
