"""Confidence intervals of the reported accuracies."""
from __future__ import annotations

import math


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion (Wilson, JASA 1927), robust near 0 and 1.

    Wilson, "Probable Inference, the Law of Succession, and Statistical Inference", Journal of the
    American Statistical Association 22(158), 1927. Unlike the normal (Wald) interval it stays in
    [0, 1] and does not collapse to a point at 0 or n successes. Returns (low, high), clipped to
    [0, 1]; (nan, nan) when ``n`` is 0.

    Arguments:
        successes (int): the number of successes k, 0 <= k <= n.
        n (int): the number of trials.
        z (float): the standard normal quantile of the level; the default, the 97.5% quantile,
            gives the 95% interval. Default: 1.959964.

    Examples:
        >>> from aad_lib.intervals import wilson_interval
        >>> [round(v, 4) for v in wilson_interval(8, 10)]
        [0.4902, 0.9433]
        >>> [round(v, 4) for v in wilson_interval(0, 10)]  # not (0, 0)
        [0.0, 0.2775]
        >>> wilson_interval(0, 0)
        (nan, nan)
    """
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)
