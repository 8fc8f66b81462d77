"""How the report reads a claim's verdict from a table's numbers, in one of four words: the claim
*holds* (the evidence lies on the paper's side), *does not hold* (it lies on the other side), the
runs cannot tell (*not distinguishable*: the interval or the test leaves both sides open), or there
is *no verdict*: a claim about a training method or a trained defense whose evidence does not cover
training runs, because an arm has fewer than :data:`aad_lib.run_bootstrap.MIN_RUNS` runs (one
network is one draw of the method, and another host or device draws another) or because its
interval covers test images only (tables written before the two-level intervals).

Four kinds of evidence, one rule each:

- :func:`from_runs`: a difference between training methods with its 95% two-level bootstrap interval
  (training runs, then test images: :func:`aad_lib.run_bootstrap.two_level_difference`) and the runs
  per arm: *no verdict* below the minimum, else :func:`from_difference`;
- :func:`from_difference`: a difference with its 95% interval (a paired bootstrap);
- :func:`from_separation`: two quantities each with its own interval (Wilson, or the seeds' range):
  a side is taken only when the two intervals do not overlap, a conservative reading;
- :func:`from_test`: an effect with the p-value of a test (Mann-Whitney, Wilcoxon), at the
  significance level of :data:`aad_lib.verdicts.ALPHA`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..run_bootstrap import MIN_RUNS
from ..validation import AadError
from ..verdicts import ALPHA

HOLDS = "holds"
DOES_NOT_HOLD = "does not hold"
NOT_DISTINGUISHABLE = "not distinguishable"
NO_VERDICT = "no verdict"
VERDICTS = (HOLDS, DOES_NOT_HOLD, NOT_DISTINGUISHABLE, NO_VERDICT)

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+|nan)"
# "[0.6, 7.0]", "76.0 [66.8, 83.3]" (a Wilson interval, with or without the estimate before it)
_BRACKETS = re.compile(rf"^\s*(?:{_NUMBER}\s*)?\[\s*({_NUMBER})\s*,\s*({_NUMBER})\s*\]\s*$")
# "1.0-8.5 (3 seeds)": the range over seeds of :func:`aad_lib.tables.seeds_uncertainty`
_SEED_RANGE = re.compile(rf"^\s*({_NUMBER})-({_NUMBER})\s*\(\d+ seeds\)\s*$")


@dataclass(frozen=True)
class Interval:
    """A closed interval [``low``, ``high``] of one table cell (NaN ends: no interval)."""

    low: float
    high: float

    @property
    def known(self) -> bool:
        """Whether both ends are numbers (a model with no broken image has ``[nan, nan]``)."""
        return not (math.isnan(self.low) or math.isnan(self.high))

    def __str__(self) -> str:
        return f"[{self.low:.1f}, {self.high:.1f}]" if self.known else "no interval"


def parse_interval(text: str) -> Interval:
    """The interval of a table's uncertainty cell: ``"[lo, hi]"``, ``"estimate [lo, hi]"`` or the
    seeds' range ``"lo-hi (k seeds)"`` (:func:`aad_lib.tables.seeds_uncertainty`)."""
    match = _BRACKETS.match(str(text)) or _SEED_RANGE.match(str(text))
    if not match:
        raise AadError(f"cannot read an interval from {text!r}: expected '[low, high]', 'estimate [low, high]' "
                       "or 'low-high (k seeds)'.")
    return Interval(float(match.group(1)), float(match.group(2)))


def _check_expected(expected: int) -> None:
    if expected not in (-1, 0, 1):
        raise AadError(f"expected must be +1 (the paper's quantity is higher), -1 (lower) or 0 (no difference), "
                       f"got {expected!r}.")


def from_difference(low: float, high: float, expected: int) -> str:
    """A difference's verdict from its 95% interval [``low``, ``high``]: with ``expected`` +1 (the
    paper says positive) or -1 (negative), it holds when the whole interval lies on that side of
    zero, does not hold when it lies on the other side, and is not distinguishable when it holds
    zero (or is NaN). With ``expected`` 0 (the paper reports no difference) it holds when the
    interval holds zero, and does not hold otherwise."""
    _check_expected(expected)
    if math.isnan(low) or math.isnan(high):
        return NOT_DISTINGUISHABLE
    side = 1 if low > 0 else -1 if high < 0 else 0
    if expected == 0:
        return HOLDS if side == 0 else DOES_NOT_HOLD
    if side == 0:
        return NOT_DISTINGUISHABLE
    return HOLDS if side == expected else DOES_NOT_HOLD


def from_runs(low: float, high: float, expected: int, runs: int) -> str:
    """A difference between training methods from its 95% two-level bootstrap interval [``low``,
    ``high``] (:func:`aad_lib.run_bootstrap.two_level_difference`) and ``runs``, the fewer training
    runs of its two arms: *no verdict* below :data:`aad_lib.run_bootstrap.MIN_RUNS` (whatever the
    interval says: it cannot cover the runs' spread), else :func:`from_difference`."""
    _check_expected(expected)
    if runs < MIN_RUNS:
        return NO_VERDICT
    return from_difference(low, high, expected)


def from_separation(first: Interval, second: Interval, expected: int) -> str:
    """Whether ``second`` lies above (``expected`` +1) or below (-1) ``first``: holds when the two
    intervals do not overlap and ``second`` is on the paper's side, does not hold when they do not
    overlap and it is on the other side, not distinguishable when they overlap (or one is unknown).
    With ``expected`` 0 it holds when they overlap."""
    _check_expected(expected)
    if not (first.known and second.known):
        return NOT_DISTINGUISHABLE
    side = 1 if second.low > first.high else -1 if second.high < first.low else 0
    if expected == 0:
        return HOLDS if side == 0 else DOES_NOT_HOLD
    if side == 0:
        return NOT_DISTINGUISHABLE
    return HOLDS if side == expected else DOES_NOT_HOLD


def from_test(effect: float, p_value: float, expected: int) -> str:
    """A test's verdict: holds when significant (p < :data:`~aad_lib.verdicts.ALPHA`) with
    ``effect`` on the paper's side (the sign of ``expected``, +1 or -1), does not hold when
    significant the other way, not distinguishable otherwise (also with a NaN effect or p-value:
    nothing to test, e.g. no broken image)."""
    if expected not in (-1, 1):
        raise AadError(f"a test's expected direction must be +1 or -1, got {expected!r}.")
    if math.isnan(effect) or math.isnan(p_value) or p_value >= ALPHA or effect == 0:
        return NOT_DISTINGUISHABLE
    return HOLDS if (effect > 0) == (expected > 0) else DOES_NOT_HOLD
