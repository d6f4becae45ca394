"""The study's statistics: summaries over seeds, correlations over seed-averaged models with bootstrap intervals,
exact permutation p-values, and the Holm correction. Everything is seeded, so a rerun gives the same numbers.

* A table cell is the mean over seeds with its sample std and a 95 % Student-t interval of the mean.
* A correlation is computed on one point per model (its seed average). Its interval is a two-level bootstrap that
  resamples models, then each drawn model's seeds, and averages again: it carries both the spread between models
  and the seed noise inside each point. Its p-value is a permutation test of the seed-averaged points (exact when
  all pairings can be enumerated), and p-values of one family of tests are Holm-corrected.
"""

from __future__ import annotations

import itertools
import math
import statistics as _statistics
from typing import Sequence

import numpy as np

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000
PERMUTATIONS = 10_000  # above this many pairings, a seeded Monte Carlo permutation test
ALPHA = 0.05


def _finite(values) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def summarize(values: Sequence[float | None], scale: float = 1.0) -> dict:
    """{mean, std, n, ci95: [low, high]} of the finite values (times `scale`); Nones when there are none.

    The interval is mean ± t(0.975, n−1)·std/√n (None with a single value: one seed has no spread)."""
    finite = [v * scale for v in _finite(values)]
    if not finite:
        return {"mean": None, "std": None, "n": 0, "ci95": None}
    n = len(finite)
    mean = _statistics.fmean(finite)
    if n < 2:
        return {"mean": mean, "std": None, "n": 1, "ci95": None}
    std = _statistics.stdev(finite)
    from scipy import stats

    half = stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * std / math.sqrt(n)
    return {"mean": mean, "std": std, "n": n, "ci95": [mean - half, mean + half]}


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm–Bonferroni adjusted p-values (same order; None stays None and is not counted in the family)."""
    indexed = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(indexed)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(indexed):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def _pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r along the last axis (NaN where either side is constant)."""
    x = x - x.mean(axis=-1, keepdims=True)
    y = y - y.mean(axis=-1, keepdims=True)
    denominator = np.sqrt((x * x).sum(axis=-1) * (y * y).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (x * y).sum(axis=-1) / np.where(denominator > 0, denominator, 1), np.nan)


def _ranks(values: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(values, axis=-1)


def correlation(x: Sequence[float], y: Sequence[float], method: str) -> float | None:
    """Pearson r or Spearman ρ of paired points (None when undefined)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3:
        return None
    if method == "spearman":
        x, y = _ranks(x), _ranks(y)
    value = float(_pearson(x, y))
    return value if math.isfinite(value) else None


def permutation_p(x: Sequence[float], y: Sequence[float], method: str, seed: int = 0) -> float | None:
    """Two-sided permutation p-value of the correlation of paired points: the share of pairings of y with x whose
    |correlation| reaches the observed one. Exact (every pairing) for up to 8 points, else seeded Monte Carlo."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    observed = correlation(x, y, method)
    if observed is None:
        return None
    if method == "spearman":
        x, y = _ranks(x), _ranks(y)
    n = len(x)
    if math.factorial(n) <= PERMUTATIONS:
        orders = np.array(list(itertools.permutations(range(n))))
    else:
        rng = np.random.default_rng(seed)
        orders = np.array([rng.permutation(n) for _ in range(PERMUTATIONS)])
    values = _pearson(np.broadcast_to(x, (len(orders), n)), y[orders])
    # a tolerance so that pairings tied with the observed value (up to rounding) count as reaching it
    return float(np.mean(np.abs(values) >= abs(observed) - 1e-12))


def bootstrap_correlation_ci(per_model_x: Sequence[Sequence[float]], per_model_y: Sequence[Sequence[float]],
                             method: str, seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES) -> list[float] | None:
    """95 % percentile interval of the correlation of seed-averaged points, resampling models and then seeds.

    `per_model_x[m]`, `per_model_y[m]`: the paired per-seed values of model m (same seeds on both sides)."""
    models = [(np.asarray(xs, float), np.asarray(ys, float)) for xs, ys in zip(per_model_x, per_model_y) if len(xs)]
    if len(models) < 3:
        return None
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        picked = rng.integers(0, len(models), len(models))
        xs, ys = [], []
        for m in picked:
            x, y = models[m]
            seeds = rng.integers(0, len(x), len(x))
            xs.append(x[seeds].mean())
            ys.append(y[seeds].mean())
        value = correlation(xs, ys, method)
        if value is not None:
            values.append(value)
    if len(values) < resamples // 2:  # mostly degenerate resamples (e.g. a constant side): no honest interval
        return None
    low, high = np.quantile(values, [(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2])
    return [float(low), float(high)]


def one_sample_t_p(values: Sequence[float | None], null: float = 0.0) -> float | None:
    """Two-sided p-value of a one-sample t-test of the mean against `null` (None with fewer than 2 values or no
    spread)."""
    finite = _finite(values)
    if len(finite) < 2 or _statistics.stdev(finite) == 0:
        return None
    from scipy import stats

    return float(stats.ttest_1samp(finite, null).pvalue)


__all__ = ["ALPHA", "CONFIDENCE", "bootstrap_correlation_ci", "correlation", "holm", "one_sample_t_p",
           "permutation_p", "summarize"]
