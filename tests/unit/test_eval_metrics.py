"""Feed quality metrics and bootstrap intervals on hand-checked cases."""

from __future__ import annotations

import numpy as np
import pytest

from pitchrec.lab.simulation.quality import (
    bootstrap_curves,
    bootstrap_mean,
    bootstrap_ratio,
    coverage,
    creator_exposure,
    gini,
    skill_diversity,
)


def test_gini_known_values() -> None:
    assert gini(np.ones(10)) == pytest.approx(0.0)
    assert gini(np.array([0, 0, 0, 4.0])) == pytest.approx(0.75)  # (n - 1) / n
    assert gini(np.zeros(3)) == 0.0
    assert gini(np.array([1.0, 3.0])) == pytest.approx(0.25)


def test_coverage_and_creator_exposure() -> None:
    counts = np.array([0, 2, 0, 5])
    assert coverage(counts) == pytest.approx(0.5)
    exposure = creator_exposure(counts, np.array([7, 7, 9, 9]))
    np.testing.assert_allclose(exposure, [2.0, 5.0])


def test_skill_diversity_is_the_legacy_formula() -> None:
    feed = [np.array([1, 2]), np.array([2, 3]), np.array([4])]
    assert skill_diversity(feed) == pytest.approx(100.0 * 4 / 6)
    assert skill_diversity([]) == 0.0


def test_bootstrap_intervals_bracket_the_mean() -> None:
    values = np.array([0.10, 0.12, 0.11, 0.13, 0.09])
    interval = bootstrap_mean(values)
    assert interval.lower <= interval.mean <= interval.upper
    assert interval.mean == pytest.approx(values.mean())
    ratio = bootstrap_ratio(2 * values, values)
    assert ratio.mean == pytest.approx(2.0)
    assert ratio.lower == pytest.approx(2.0) and ratio.upper == pytest.approx(2.0)
    mean, low, high = bootstrap_curves(np.vstack([values, values + 1.0]))
    assert np.all(low <= mean) and np.all(mean <= high)
    assert not bootstrap_mean(values).overlaps(bootstrap_mean(values + 1.0))
