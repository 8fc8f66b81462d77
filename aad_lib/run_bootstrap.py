"""Uncertainty over training runs *and* test images: the two-level bootstrap every claim about a
training method (or a trained defense) is read from.

A claim such as "AALP is more robust than ALP" is about training methods, not about two networks: a
second training run of each method (another seed, another CPU's floating-point path, a GPU) gives
other networks. A bootstrap over test images alone answers "do these particular networks differ on
these digits" and moves from run to run. Here both sources of chance are resampled:

- **runs** (the top level): each arm's ``k`` training runs are drawn with replacement, independently
  per arm (different methods share no run);
- **test images** (the bottom level): ``n`` images are drawn with replacement, the same draw for
  every run of both arms (all runs are evaluated on the same images: a crossed design, so the
  comparison stays paired over images).

This is the pigeonhole bootstrap of a crossed design (Owen, "The pigeonhole bootstrap", Annals of
Applied Statistics 1(2), 2007: mildly conservative, its variance counts the run x image interaction
twice) with runs as one factor, the hierarchical bootstrap of Saravanan et al. ("Application of the
hierarchical bootstrap to multi-level data in neuroscience", NBDC 3, 2020) and the stratified
bootstrap over runs of Agarwal et al. ("Deep reinforcement learning at the edge of the statistical
precipice", NeurIPS 2021). With few runs a plain bootstrap underestimates the between-run variance
by the factor ``(k - 1) / k`` (the plug-in variance); each run's offset from its arm's mean is
therefore widened by ``sqrt(k / (k - 1))`` before drawing, so that the bootstrap variance of the
run level equals the unbiased ``s^2 / k`` (Davison and Hinkley, "Bootstrap Methods and their
Application", 1997, Sec. 2.3 and Sec. 3.8). With fewer than :data:`MIN_RUNS` runs in an arm the
interval is still computed (over images, and over the runs there are), but no verdict is read from
it (:func:`aad_lib.site.verdict_rules.from_runs`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .validation import AadError, choose

# The fewest training runs per arm from which a verdict on a training method is read: with two, the
# run level of the bootstrap has three distinct draws per arm and its interval is little more than
# the two runs' range.
MIN_RUNS = 3
# The ``interval`` column of every table written from a two-level difference: the claims reader
# takes a verdict on training methods only from a row that carries it.
INTERVAL = "runs and images"


@dataclass(frozen=True)
class RunDifference:
    """The mean of arm ``a`` minus arm ``b`` (over runs, then images) and its 95% two-level bootstrap
    interval, in the units of the values given (multiply by 100 for points of accuracy).

    ``p_value``: two-sided bootstrap p-value of "no difference" (the share of centred bootstrap
    differences at least as far from zero as the observed one); ``n``: test images; ``runs_a``,
    ``runs_b``: training runs per arm; ``enough_runs``: both arms have at least :data:`MIN_RUNS`."""

    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    runs_a: int
    runs_b: int

    @property
    def enough_runs(self) -> bool:
        """Whether both arms have at least :data:`MIN_RUNS` training runs (a verdict may be read)."""
        return min(self.runs_a, self.runs_b) >= MIN_RUNS

    def scaled(self, factor: float) -> RunDifference:
        """The same difference with its estimate and interval multiplied by ``factor`` (100: points)."""
        return RunDifference(factor * self.difference, factor * self.ci_low, factor * self.ci_high, self.p_value,
                             self.n, self.runs_a, self.runs_b)

    def as_row(self) -> dict[str, float | int | str]:
        """The fields as a table row (``difference``, ``ci_low``, ``ci_high``, ``p_value``, ``n``,
        ``seeds_a``, ``seeds_b``: the runs per arm) and ``interval``: :data:`INTERVAL`."""
        row: dict[str, float | int | str] = asdict(self)
        row["seeds_a"], row["seeds_b"] = row.pop("runs_a"), row.pop("runs_b")
        return {**row, "interval": INTERVAL}


def _as_matrix(values: np.ndarray | list, name: str) -> np.ndarray:
    matrix = np.asarray(values, dtype=float)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    if matrix.ndim != 2 or matrix.shape[0] < 1 or matrix.shape[1] < 1:
        raise AadError(f"{name} must be a (runs, images) array with at least one run and one image, "
                       f"got shape {matrix.shape}.")
    if not np.isfinite(matrix).all():
        raise AadError(f"{name} holds NaN or infinite values; each cell is one run's value on one image.")
    return matrix


def widened_runs(values: np.ndarray) -> np.ndarray:
    """``values`` (runs x images) with each run's offset from the arm's mean over runs widened by
    ``sqrt(k / (k - 1))`` (``k`` runs; unchanged for one run), a constant per run: the run level of
    the bootstrap then has the unbiased variance ``s^2 / k`` of the runs' means, and the images'
    structure within a run is untouched.

    Examples:
        >>> import numpy as np
        >>> widened_runs(np.array([[0.0, 1.0], [1.0, 1.0]]))  # run means 0.5 and 1.0, k = 2: offsets x sqrt(2)
        array([[-0.10355339,  0.89644661],
               [ 1.10355339,  1.10355339]])
    """
    k = values.shape[0]
    if k < 2:
        return values
    run_means = values.mean(axis=1, keepdims=True)
    offsets = run_means - run_means.mean()
    return values + (math.sqrt(k / (k - 1)) - 1.0) * offsets


def two_level_difference(a: np.ndarray | list, b: np.ndarray | list, n_boot: int = 2000,
                         seed: int = 0) -> RunDifference:
    """Mean of ``a`` minus mean of ``b`` with a 95% percentile interval from the two-level bootstrap
    (runs of each arm, then test images shared by all runs; see the module's text).

    The algorithm, in order: ``rng = numpy.random.default_rng(seed)``; image draws
    ``rng.integers(0, n, (n_boot, n))``, shared by both arms; then for arm a and then arm b, its
    runs widened (:func:`widened_runs`), run draws ``rng.integers(0, k, (n_boot, k))``, and per
    bootstrap sample the mean over the drawn runs of each drawn run's mean over the drawn images
    (clipped to [0, 1]). The interval: the 2.5% and 97.5% quantiles of the differences; the p-value:
    the share of centred differences at least as far from zero as the observed one (1 or 0 without
    any spread).

    Arguments:
        a (array): arm a's values, shape (runs, images): e.g. 1 where run r labels test image i
            correctly under an attack, else 0 (a share in [0, 1] for a random defense).
        b (array): arm b's values on the same images, in the same order, shape (runs, images).
        n_boot (int): bootstrap draws, >= 100. Default: 2000.
        seed (int): seed of the draws (numpy's PCG64). Default: 0.

    Examples:
        >>> from aad_lib.run_bootstrap import two_level_difference
        >>> d = two_level_difference([[1, 1, 0, 1]] * 3, [[1, 0, 0, 1]] * 3)
        >>> round(d.difference, 2), d.runs_a, d.runs_b, d.enough_runs
        (0.25, 3, 3, True)
    """
    a, b = _as_matrix(a, "a"), _as_matrix(b, "b")
    if a.shape[1] != b.shape[1]:
        raise AadError(f"the two arms were evaluated on different numbers of images ({a.shape[1]} and {b.shape[1]}); "
                       "evaluate both on the same test images.")
    if n_boot < 100:
        raise AadError(f"n_boot must be at least 100 for a 95% interval, got {n_boot}.")
    n = a.shape[1]
    rng = np.random.default_rng(seed)
    # Images: one draw of n indices per bootstrap sample, shared by every run of both arms (paired),
    # as counts so that each run's resampled mean is one matrix product.
    counts = np.stack([np.bincount(idx, minlength=n) for idx in rng.integers(0, n, size=(n_boot, n))])

    def arm(values: np.ndarray) -> np.ndarray:
        per_run = widened_runs(values) @ counts.T / n                     # (runs, n_boot)
        k = values.shape[0]
        runs = rng.integers(0, k, size=(n_boot, k))                        # runs drawn per sample
        means = per_run[runs, np.arange(n_boot)[:, None]].mean(axis=1)      # (n_boot,)
        # widening can carry a mean past what the values can reach (an accuracy above 1): clip to
        # [0, 1] or to the values' own range where it is wider
        return np.clip(means, min(0.0, values.min()), max(1.0, values.max()))

    boot = arm(a) - arm(b)
    observed = float(a.mean() - b.mean())
    low, high = np.quantile(boot, [0.025, 0.975])
    if boot.max() > boot.min():
        p = float(np.mean(np.abs(boot - boot.mean()) >= abs(observed)))
    else:  # every draw equal (no spread at all): a difference of exactly zero, or not
        p = float(observed == 0)
    return RunDifference(observed, float(low), float(high), p, n, a.shape[0], b.shape[0])


def check_column(records: pd.DataFrame, column: str) -> None:
    """A clear error, with a did-you-mean hint, when per-image evaluation ``records`` have no
    ``column`` (their attack columns: all but the index, label, confidence and ``conf:``/``pair:``
    ones)."""
    if column not in records.columns:
        attacks = [c for c in records.columns if c not in ("index", "label", "confidence") and ":" not in c]
        choose(column, attacks, "attack column of the evaluation records")


def runs_matrix(records: list[pd.DataFrame], column: str) -> pd.DataFrame:
    """One row per run, one column per test image (the records' ``index``): ``column`` of each run's
    per-image records (:func:`aad_lib.results.read_records`), as floats. A clear error when a run
    lacks the column or the runs were evaluated on different images."""
    if not records:
        raise AadError("runs_matrix needs the records of at least one run.")
    rows = []
    for r in records:
        check_column(r, column)
        rows.append(r.set_index("index")[column].astype(float))
    if any(not row.index.equals(rows[0].index) for row in rows):
        raise AadError("the runs were evaluated on different test samples; evaluate every run with the same settings.")
    return pd.DataFrame([row.to_numpy() for row in rows], columns=rows[0].index)


def records_difference(a: list[pd.DataFrame], b: list[pd.DataFrame], column: str, n_boot: int = 2000,
                       seed: int = 0) -> RunDifference:
    """:func:`two_level_difference` of ``column`` (e.g. ``PGD-40``: 1 where the image survived) between
    the runs of arm ``a`` and those of arm ``b`` (per-image evaluation records, one table per run),
    in points (x 100)."""
    per_a, per_b = runs_matrix(a, column), runs_matrix(b, column)
    if not per_a.columns.equals(per_b.columns):
        raise AadError("the two methods were evaluated on different test samples; evaluate both with the same settings.")
    return two_level_difference(per_a.to_numpy(), per_b.to_numpy(), n_boot, seed).scaled(100)


__all__ = ["MIN_RUNS", "INTERVAL", "RunDifference", "widened_runs", "two_level_difference", "check_column", "runs_matrix", "records_difference"]
