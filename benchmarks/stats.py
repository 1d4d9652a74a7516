"""Intervals for benchmark tables: Wilson for accuracy, a percentile bootstrap for means.

Every table the benchmarks write gives n and a 95% interval, so a reader can tell a difference
from noise: two rows whose intervals overlap are not called better or worse.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Interval:
    """A point estimate with its 95% interval."""

    value: float
    low: float
    high: float

    def overlaps(self, other: "Interval") -> bool:
        return self.low <= other.high and other.low <= self.high

    def as_dict(self, prefix: str) -> dict[str, float]:
        return {prefix: self.value, f"{prefix}_lo": self.low, f"{prefix}_hi": self.high}


def wilson(successes: float, n: int, z: float = Z95) -> Interval:
    """Wilson score interval of a proportion: honest near 0 and 1 and for small n, unlike the
    normal approximation (which gives [1, 1] for 20 of 20)."""
    if n <= 0:
        raise ValueError("wilson() needs n >= 1")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, n], got {successes} of {n}")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def bootstrap_mean(values: Sequence[float], n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> Interval:
    """Percentile bootstrap interval of the mean (cost, latency and reward are skewed, so no
    normal approximation). Deterministic for a seed."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("bootstrap_mean() needs at least one value")
    if x.size == 1 or np.all(x == x[0]):
        return Interval(float(x.mean()), float(x.mean()), float(x.mean()))
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    alpha = (1 - level) / 2
    return Interval(float(x.mean()), float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha)))


def ratio_interval(num: Sequence[float], den: Sequence[float], n_boot: int = 2000, seed: int = 0) -> Interval:
    """Bootstrap interval of mean(num) / mean(den) for two independent samples (the ratio of
    a row's cost to a reference row's cost)."""
    a, b = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    if a.size == 0 or b.size == 0 or b.mean() <= 0:
        raise ValueError("ratio_interval() needs non-empty samples and a positive reference mean")
    rng = np.random.default_rng(seed)
    ra = a[rng.integers(0, a.size, size=(n_boot, a.size))].mean(axis=1)
    rb = b[rng.integers(0, b.size, size=(n_boot, b.size))].mean(axis=1)
    ratios = ra / np.maximum(rb, 1e-12)
    return Interval(float(a.mean() / b.mean()), float(np.quantile(ratios, 0.025)), float(np.quantile(ratios, 0.975)))
