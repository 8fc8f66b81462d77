"""The wording of every verdict the notebooks state, one function per kind of claim, so that the
same evidence is always read the same way:

- :func:`ordering`: a quantity moves monotonically along an order (AALP Figs. 1 and 2);
- :func:`interval`: a difference whose 95% interval excludes zero or not (ablations, AALP vs ALP);
- :func:`direction`: a quantity went the way the paper says, between two points (AALP Figs. 4, 9);
- :func:`significance`: a paired or two-group test in the paper's direction (ARP observations);
- :func:`tradeoff`: two parts that a claim needs together (AALP Fig. 6's two trends, ARP's H3);
- :func:`yes_no`: a list of simple checks.

Each returns Markdown with the verdict in bold; the numbers around it stay in the notebook's
sentence, which says what was measured.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

ALPHA = 0.05  # the significance level of every test verdict


def ordering(values: Sequence[float], decreasing: bool = True) -> bool:
    """Whether ``values`` (in the order of the claim, e.g. by rising robustness) strictly fall
    (``decreasing``) or strictly rise."""
    pairs = list(zip(values, values[1:]))
    return all(a > b for a, b in pairs) if decreasing else all(a < b for a, b in pairs)


def observation(holds: bool, what: str = "the paper's observation") -> str:
    """``**<what> holds on our data.**`` or ``... does not hold on our data`` (Markdown)."""
    return f"**{what} holds on our data.**" if holds else f"**{what} does not hold on our data.**"


def interval(low: float, high: float, better: str = "a real difference", worse: str | None = None,
             neither: str = "not distinguishable from zero") -> str:
    """A difference's verdict from its 95% interval [``low``, ``high``]: ``better`` when the whole
    interval lies above zero, ``worse`` (default: the same as ``better``) when below, else ``neither``."""
    if low > 0:
        return better
    if high < 0:
        return better if worse is None else worse
    return neither


def excludes_zero(low: float, high: float) -> bool:
    """Whether the interval [``low``, ``high``] lies entirely on one side of zero."""
    return low > 0 or high < 0


def direction(first: float, last: float, expected: str) -> tuple[str, str]:
    """How a quantity moved from ``first`` to ``last`` (``falls`` or ``rises``) and whether that
    ``agrees`` or ``disagrees`` with the paper's ``expected`` direction."""
    moved = "falls" if last < first else "rises"
    return moved, "agrees" if moved == expected else "disagrees"


def significance(predicted: bool, p: float, n: str = "") -> str:
    """A test's verdict: ``holds`` when significant (p < 0.05) in the paper's direction
    (``predicted``), ``is contradicted`` when significant the other way, otherwise ``is not
    supported`` (no significant difference; ``n`` says how many observations it had)."""
    if p < ALPHA:
        return "**holds**" if predicted else "**is contradicted**"
    return f"**is not supported** (no significant difference{', ' + n if n else ''})"


def tradeoff(first_holds: bool, second_holds: bool, first: str, second: str) -> str:
    """Two parts that a claim needs together (e.g. robustness rises *and* clean accuracy falls
    with lambda, each tested with :func:`ordering`; ``first`` and ``second`` say each in words):
    ``**holds**`` when both do, ``**holds only in part**`` naming the one that does and the one
    that does not, ``**does not hold**`` when neither does."""
    if first_holds and second_holds:
        return f"**holds**: {first} and {second}"
    if first_holds or second_holds:
        held, failed = (first, second) if first_holds else (second, first)
        return f"**holds only in part**: {held}, but not the other part ({failed})"
    return f"**does not hold**: neither part holds ({first}; {second})"


def yes_no(checks: Mapping[str, bool]) -> str:
    """One Markdown bullet per check: ``- <check>: **yes**`` or ``**no**``."""
    return "\n".join(f"- {k}: **{'yes' if v else 'no'}**" for k, v in checks.items())
