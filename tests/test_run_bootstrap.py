"""The two-level bootstrap over training runs and test images (aad_lib.run_bootstrap) against
hand-computed cases, and the verdict rule that reads it (no verdict from too few runs)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from aad_lib.run_bootstrap import MIN_RUNS, records_difference, runs_matrix, two_level_difference, widened_runs
from aad_lib.site.verdict_rules import DOES_NOT_HOLD, HOLDS, NOT_DISTINGUISHABLE, NO_VERDICT, from_runs
from aad_lib.validation import AadError


def test_widening_makes_the_run_level_variance_unbiased():
    """Three runs whose means are 0.2, 0.4, 0.6 (s^2 = 0.04): after widening by sqrt(3/2) the plug-in
    variance of the run means (what the bootstrap draws from) equals the unbiased s^2 = 0.04."""
    values = np.array([[0.2, 0.2], [0.4, 0.4], [0.6, 0.6]])
    widened = widened_runs(values)
    assert widened[:, 0] == pytest.approx([0.4 - 0.2 * math.sqrt(1.5), 0.4, 0.4 + 0.2 * math.sqrt(1.5)])
    assert np.var(widened.mean(axis=1)) == pytest.approx(np.var(values.mean(axis=1), ddof=1))
    assert widened_runs(values[:1]) is not None and np.array_equal(widened_runs(values[:1]), values[:1])


def test_run_level_interval_by_hand():
    """Runs that do not vary over images: only the run level is random. Arm a's three runs have accuracy
    0.2, 0.4, 0.6 on every image, arm b is 0 everywhere. A mean of three draws from the widened values
    {0.155, 0.4, 0.645} is smallest (all 0.155) and largest (all 0.645) each with probability 1/27 = 3.7%
    > 2.5%, so the 95% percentile interval is exactly [0.4 - 0.2 sqrt(1.5), 0.4 + 0.2 sqrt(1.5)]; its
    bootstrap variance is s^2 / k = 0.04 / 3."""
    a = np.repeat(np.array([[0.2], [0.4], [0.6]]), 50, axis=1)
    b = np.zeros((3, 50))
    found = two_level_difference(a, b, n_boot=20000, seed=1)
    assert found.difference == pytest.approx(0.4)
    assert found.ci_low == pytest.approx(0.4 - 0.2 * math.sqrt(1.5))
    assert found.ci_high == pytest.approx(0.4 + 0.2 * math.sqrt(1.5))
    assert (found.runs_a, found.runs_b, found.n, found.enough_runs) == (3, 3, 50, True)


def test_image_level_interval_by_hand():
    """One run per arm: only the images are random, paired. Differences d_i: 1 on 30 images, 0 on 70
    (mean 0.3, sd sqrt(0.21)); the bootstrap mean's sd is sqrt(0.21 / 100) = 0.0458, so the 95% interval is
    about 0.3 -/+ 1.96 x 0.0458 = [0.21, 0.39]."""
    a = np.r_[np.ones(30), np.zeros(70)][None, :]
    b = np.zeros((1, 100))
    found = two_level_difference(a, b, n_boot=20000, seed=0)
    assert found.difference == pytest.approx(0.3)
    assert found.ci_low == pytest.approx(0.3 - 1.96 * math.sqrt(0.21 / 100), abs=0.012)
    assert found.ci_high == pytest.approx(0.3 + 1.96 * math.sqrt(0.21 / 100), abs=0.012)
    assert not found.enough_runs


def test_pairing_over_images_cancels_shared_difficulty():
    """Both arms fail on the same 40 hard images, but arm a is right on 10 of them: the paired differences
    are 1 on 10 images and 0 on 90, so the interval is 0.1 -/+ 1.96 sqrt(0.09 / 100) = [0.04, 0.16], far
    narrower than two independent proportions near 0.6 and 0.7 would give (about -/+ 0.13)."""
    hard = np.r_[np.zeros(40), np.ones(60)]
    a = np.tile(np.r_[np.ones(10), np.zeros(30), np.ones(60)], (3, 1))
    b = np.tile(hard, (3, 1))
    found = two_level_difference(a, b, n_boot=2000)
    assert found.difference == pytest.approx(0.1)
    assert found.ci_low == pytest.approx(0.1 - 1.96 * 0.03, abs=0.015)
    assert found.ci_high == pytest.approx(0.1 + 1.96 * 0.03, abs=0.015)


def test_run_spread_widens_the_interval_over_the_images_only_one():
    """The same mean difference, with the runs of arm a spread apart: the two-level interval is wider than
    the interval from the runs' average per image (what the old paired bootstrap over images computed)."""
    rng = np.random.default_rng(0)
    base = (rng.random((1, 400)) < 0.7).astype(float)
    a = np.clip(base + np.array([[-0.3], [0.0], [0.3]]) * (rng.random((3, 400)) < 0.5), 0, 1)
    b = np.tile(base, (3, 1))
    both = two_level_difference(a, b, n_boot=4000)
    images_only = two_level_difference(a.mean(axis=0), b.mean(axis=0), n_boot=4000)
    assert both.ci_high - both.ci_low > 2 * (images_only.ci_high - images_only.ci_low)


def test_reproducible_from_its_seed():
    rng = np.random.default_rng(5)
    a, b = (rng.random((3, 200)) < 0.6).astype(float), (rng.random((3, 200)) < 0.5).astype(float)
    assert two_level_difference(a, b, seed=3) == two_level_difference(a, b, seed=3)
    draws = {two_level_difference(a, b, seed=s).ci_low for s in range(4)}
    assert len(draws) > 1  # the seed drives the draws


def test_bad_inputs_are_named():
    with pytest.raises(AadError, match="different numbers of images"):
        two_level_difference(np.zeros((3, 10)), np.zeros((3, 11)))
    with pytest.raises(AadError, match="NaN"):
        two_level_difference(np.full((2, 3), np.nan), np.zeros((2, 3)))
    with pytest.raises(AadError, match="n_boot"):
        two_level_difference(np.zeros((3, 10)), np.zeros((3, 10)), n_boot=10)
    with pytest.raises(AadError, match=r"\(runs, images\)"):
        two_level_difference(np.zeros((3, 2, 2)), np.zeros((3, 2)))


def _records(correct: list[int], index: list[int] | None = None) -> pd.DataFrame:
    return pd.DataFrame({"index": index or list(range(len(correct))), "label": 0, "Clean": 1, "PGD-40": correct})


def test_records_difference_in_points_and_errors():
    a = [_records([1, 1, 0, 0])] * 3
    b = [_records([1, 0, 0, 0])] * 3
    found = records_difference(a, b, "PGD-40", n_boot=200)
    assert found.difference == pytest.approx(25.0)
    assert runs_matrix(a, "PGD-40").shape == (3, 4)
    with pytest.raises(AadError, match="unknown attack column of the evaluation records 'PGD-10'. Did you mean 'PGD-40'"):
        records_difference(a, b, "PGD-10")
    with pytest.raises(AadError, match="different test samples"):
        records_difference(a, [_records([1, 0, 0, 0], [4, 5, 6, 7])] * 3, "PGD-40")


def test_a_verdict_needs_enough_runs():
    """One run (or two) never reads holds or does not hold, whatever its interval; from MIN_RUNS on, the
    interval decides."""
    assert MIN_RUNS == 3
    assert from_runs(1.0, 5.0, 1, 1) == NO_VERDICT
    assert from_runs(-5.0, -1.0, 1, 2) == NO_VERDICT
    assert from_runs(1.0, 5.0, 1, 3) == HOLDS
    assert from_runs(-5.0, -1.0, 1, 3) == DOES_NOT_HOLD
    assert from_runs(-1.0, 5.0, 1, 3) == NOT_DISTINGUISHABLE
    with pytest.raises(AadError, match="expected"):
        from_runs(1.0, 2.0, 2, 3)
