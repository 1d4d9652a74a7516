"""Intervals of benchmarks/stats.py: known values, coverage, and the failure modes they avoid."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.stats import bootstrap_mean, ratio_interval, wilson


def test_wilson_matches_the_textbook_values():
    iv = wilson(8, 10)  # Wilson 95% for 8/10: [0.490, 0.943]
    assert iv.value == 0.8 and iv.low == pytest.approx(0.4902, abs=1e-3) and iv.high == pytest.approx(0.9433, abs=1e-3)
    full = wilson(20, 20)
    assert full.high == 1.0 and full.low == pytest.approx(0.8389, abs=1e-3)  # not the normal approximation's [1, 1]
    with pytest.raises(ValueError):
        wilson(3, 2)


def test_wilson_covers_the_true_rate():
    rng = np.random.default_rng(0)
    inside = 0
    for _ in range(400):
        k = int(rng.binomial(50, 0.3))
        iv = wilson(k, 50)
        inside += iv.low <= 0.3 <= iv.high
    assert 0.91 <= inside / 400 <= 0.99


def test_bootstrap_is_deterministic_and_brackets_the_mean():
    x = np.random.default_rng(1).lognormal(0, 1, size=200)
    a, b = bootstrap_mean(x, seed=3), bootstrap_mean(x, seed=3)
    assert a == b and a.low < a.value < a.high
    assert bootstrap_mean([2.0, 2.0]).low == bootstrap_mean([2.0, 2.0]).high == 2.0
    narrow, wide = bootstrap_mean(x), bootstrap_mean(x[:20])
    assert narrow.high - narrow.low < wide.high - wide.low


def test_ratio_interval_contains_the_true_ratio_and_overlap_logic():
    rng = np.random.default_rng(2)
    iv = ratio_interval(rng.normal(3, 0.5, 300), rng.normal(2, 0.5, 300))
    assert iv.low < 1.5 < iv.high
    assert wilson(5, 10).overlaps(wilson(6, 10)) and not wilson(1, 100).overlaps(wilson(90, 100))
