"""The study's statistics, from the libraries that do them: scipy (t intervals, permutation tests, bootstrap, the
binomial sign test, the studentized range), numpy least squares for the two-way ANOVA's type II sums of squares
and the Holm step-down (both tested equal to statsmodels'). What is ours is the glue, the
bounds a design can reach (`smallest_permutation_p`) and the power simulation of a design (`anova_power`,
`spearman_power`). Everything random is seeded, so a rerun gives the same numbers.

* A table cell is the mean over seeds with its sample std and a 95 % Student-t interval of the mean.
* The intervention test is a two-way ANOVA of an outcome on the two factors of a grid (seeds are replicates). A
  factor's effect is the spread of its levels' marginal means (largest minus smallest); its 95 % interval comes
  from Tukey's simultaneous intervals of all pairwise differences (every true difference lies within
  `difference ± q · √(MSE / n)` at once), so its upper end bounds the largest effect the data allow.
* A correlation over designed cells is Spearman's ρ of the cell means, with a permutation p-value (exact when every
  pairing is enumerated, otherwise (b + 1) / (m + 1) over m seeded resamples) and a Fisher-z interval with
  Bonett and Wright's standard error √((1 + ρ²/2) / (n − 3)) (`spearman_interval`; its coverage is simulated by
  `spearman_interval_coverage` and checked by a test: at least 93 % for a nominal 95 % at the study's sizes).
  Bootstrapping 2 or 3 seeds within a cell, as before, covered the true ρ about 75 % of the time.
* A sign test drops ties and reports how many there were.
* No p-value is ever exactly 0: where the exact value underflows a double, computed in log space
  (`bounded_p`), the p-value is floored at P_FLOOR and marked as an upper bound (`p_bound`), and the report writes
  "< P_FLOOR".
"""

from __future__ import annotations

import functools
import math
import statistics as _statistics
from collections.abc import Sequence

import numpy as np

CONFIDENCE = 0.95
ALPHA = 0.05
PERMUTATIONS = 9999  # resamples of a randomised permutation test: smallest p = 1 / 10,000
P_FLOOR = 1e-300  # the smallest p-value written as a number; smaller ones are reported as "< 1e-300"


def bounded_p(log_p: float) -> dict:
    """{"p", "p_bound"} from a natural-log p-value: p itself when at least P_FLOOR, else P_FLOOR with p_bound True
    (the true p is smaller; a double would round it to 0)."""
    if not math.isfinite(log_p) and log_p > 0:
        raise ValueError(f"log p must be at most 0, got {log_p}")
    floor = math.log(P_FLOOR)
    return {"p": min(1.0, math.exp(log_p)) if log_p >= floor else P_FLOOR, "p_bound": bool(log_p < floor)}


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
    """Holm–Bonferroni adjusted p-values, same order: the i-th smallest of m becomes the running maximum of
    min(1, (m − j + 1)·p_(j)) over j ≤ i. None stays None and is not in the family."""
    present = [i for i, p in enumerate(p_values) if p is not None]
    adjusted: list[float | None] = [None] * len(p_values)
    m, running = len(present), 0.0
    for rank, i in enumerate(sorted(present, key=lambda i: p_values[i])):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = float(running)
    return adjusted


# ---------------------------------------------------------------------------------------------- correlations


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's ρ of paired points (None with fewer than 3 points or a constant side)."""
    from scipy.stats import spearmanr

    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return None
    return float(spearmanr(x, y).statistic)


def smallest_permutation_p(n: int, resamples: int = PERMUTATIONS) -> dict:
    """The smallest two-sided p-value a permutation test of a correlation over `n` points can give: 2 / n! when
    every pairing is enumerated (the observed order and its reverse), 2 / (resamples + 1) when randomised (scipy
    doubles the smaller one-sided (b + 1) / (m + 1))."""
    pairings = math.factorial(n)
    if pairings <= resamples:
        return {"p": min(1.0, 2 / pairings), "exact": True}
    return {"p": min(1.0, 2 / (resamples + 1)), "exact": False}


def _pearson_along(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    x = x - x.mean(axis=axis, keepdims=True)
    y = y - y.mean(axis=axis, keepdims=True)
    return (x * y).sum(axis=axis) / np.sqrt((x * x).sum(axis=axis) * (y * y).sum(axis=axis))


def spearman_test(x: Sequence[float], y: Sequence[float], seed: int = 0, resamples: int = PERMUTATIONS) -> dict:
    """Spearman's ρ with a two-sided permutation p-value (`scipy.stats.permutation_test` over pairings: exact when
    all n! pairings fit in `resamples`, else randomised with p = (b + 1) / (m + 1)); also the smallest p the test
    could have given. Nones when ρ is undefined."""
    from scipy.stats import permutation_test, rankdata

    rho = spearman(x, y)
    bound = smallest_permutation_p(len(x), resamples)
    if rho is None:
        return {"rho": None, "p": None, "exact": bound["exact"], "smallest_p": bound["p"], "n": len(x)}
    ranks_x, ranks_y = rankdata(x), rankdata(y)
    # one sample permuted against the other held fixed: the n! pairings (two samples would be permuted independently)
    result = permutation_test(
        (ranks_x,),
        lambda a, axis: _pearson_along(a, ranks_y, axis),
        permutation_type="pairings",
        vectorized=True,
        n_resamples=resamples,
        alternative="two-sided",
        random_state=np.random.default_rng(seed),
    )
    return {
        "rho": rho,
        "p": float(min(1.0, result.pvalue)),
        "exact": bound["exact"],
        "smallest_p": bound["p"],
        "n": len(x),
    }


def spearman_interval(rho: float | None, n: int, confidence: float = CONFIDENCE) -> list[float] | None:
    """Confidence interval of Spearman's ρ over n points: Fisher's z with Bonett and Wright's (2000) standard error
    √((1 + ρ²/2) / (n − 3)). None with fewer than 4 points or ρ undefined; ±1 stays ±1."""
    from scipy.stats import norm

    if rho is None or not math.isfinite(rho) or n < 4:
        return None
    if abs(rho) >= 1.0:
        return [float(rho), float(rho)]
    half = norm.ppf(0.5 + confidence / 2) * math.sqrt((1 + rho**2 / 2) / (n - 3))
    z = math.atanh(rho)
    return [math.tanh(z - half), math.tanh(z + half)]


def _rank_rows(values: np.ndarray) -> np.ndarray:
    """Ranks along the last axis (continuous draws: no ties)."""
    return values.argsort(axis=-1).argsort(axis=-1).astype(float)


def spearman_interval_coverage(
    n: int, rho: float, simulations: int = 4000, seed: int = 0, confidence: float = CONFIDENCE
) -> float:
    """Share of `simulations` samples of n points from a bivariate normal with Pearson correlation `rho` whose
    `spearman_interval` holds the population Spearman ρ, (6/π)·asin(ρ/2)."""
    rng = np.random.default_rng(seed)
    draws = rng.multivariate_normal([0.0, 0.0], [[1.0, rho], [rho, 1.0]], size=(simulations, n))
    rhos = _pearson_along(_rank_rows(draws[..., 0]), _rank_rows(draws[..., 1]))
    target = 6 / math.pi * math.asin(rho / 2)
    covered = 0
    for value in rhos:
        interval = spearman_interval(float(value), n, confidence)
        covered += interval is not None and interval[0] <= target <= interval[1]
    return covered / simulations


# ---------------------------------------------------------------------------------------------- tests


def sign_test(wins: int, losses: int, ties: int = 0) -> dict:
    """Two-sided exact sign test of wins against losses; ties are dropped and counted. The p-value is the exact
    binomial one, 2·P(X ≤ min(wins, losses)) for X ~ Binomial(n, 1/2), computed in log space (`bounded_p`:
    `scipy.stats.binomtest` returns 0.0 beyond about a thousand pairs)."""
    from scipy.stats import binom

    n = wins + losses
    if not n:
        return {"wins": wins, "losses": losses, "ties": ties, "n": 0, "p": None, "p_bound": False, "smallest_p": None}
    log_p = min(0.0, math.log(2) + float(binom.logcdf(min(wins, losses), n, 0.5))) if wins != losses else 0.0
    return {
        "wins": wins,
        "losses": losses,
        "ties": ties,
        "n": n,
        **bounded_p(log_p),
        "smallest_p": bounded_p(min(0.0, math.log(2) + n * math.log(0.5)))["p"],
    }


def binomial_greater_p(successes: int, n: int, chance: float) -> dict:
    """One-sided exact binomial test of more successes than `chance` predicts, in log space (`bounded_p`)."""
    from scipy.stats import binom

    return bounded_p(float(binom.logsf(successes - 1, n, chance)))


def one_sample_t_p(values: Sequence[float | None], null: float = 0.0) -> float | None:
    """Two-sided p-value of a one-sample t-test of the mean against `null` (None with fewer than 2 values or no
    spread)."""
    finite = _finite(values)
    if len(finite) < 2 or _statistics.stdev(finite) == 0:
        return None
    from scipy import stats

    return float(stats.ttest_1samp(finite, null).pvalue)


def _residual_sum_of_squares(columns: list[np.ndarray], y: np.ndarray) -> tuple[float, int]:
    """(residual sum of squares, rank) of the least-squares fit of y on an intercept and `columns`."""
    design = np.column_stack([np.ones(len(y)), *columns])
    coefficients, _, rank, _ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ coefficients
    return float(residual @ residual), int(rank)


@functools.lru_cache(maxsize=64)
def _studentized_range_quantile(levels: int, residual_df: int) -> float:
    from scipy.stats import studentized_range

    return float(studentized_range.ppf(CONFIDENCE, levels, residual_df))  # a numerical integral: ~0.2 s a call


def two_way_anova(rows: Sequence[tuple], factors: tuple[str, str] = ("w", "s")) -> dict | None:
    """Two-way ANOVA with interaction of `y` on two categorical factors (type II sums of squares, as statsmodels'
    `anova_lm(ols("y ~ C(a) * C(b)"), typ=2)` computes them — tested equal), seeds as replicates: `rows` are
    `(level_a, level_b, y)`. Each sum of squares is a difference of two least-squares fits on dummy columns: a
    factor's, the fit of both main effects against the other one's alone (so it is adjusted for the other factor,
    balanced design or not); the interaction's, the full model against both main effects.

    Returns, per factor and for the interaction: F, degrees of freedom and p; per factor also the marginal means of
    its levels (each the mean of its cells), their spread (largest − smallest) and the spread's 95 % interval from
    Tukey's simultaneous intervals (module docstring). None when there is no residual degree of freedom (one seed).
    """
    import pandas as pd
    from scipy.stats import f as f_distribution

    a, b = factors
    frame = pd.DataFrame(
        [(str(x), str(z), float(y)) for x, z, y in rows if y is not None and math.isfinite(y)], columns=[a, b, "y"]
    )
    cells = frame.groupby([a, b])["y"]
    residual_df = len(frame) - cells.ngroups
    if residual_df < 1 or frame[a].nunique() < 2 or frame[b].nunique() < 2:
        return None
    y = frame["y"].to_numpy()
    dummies = {
        factor: [(frame[factor] == level).to_numpy(float) for level in sorted(frame[factor].unique())[1:]]
        for factor in (a, b)
    }
    interaction = [da * db for da in dummies[a] for db in dummies[b]]
    rss_a, rank_a = _residual_sum_of_squares(dummies[a], y)
    rss_b, rank_b = _residual_sum_of_squares(dummies[b], y)
    rss_main, rank_main = _residual_sum_of_squares(dummies[a] + dummies[b], y)
    rss_full, rank_full = _residual_sum_of_squares(dummies[a] + dummies[b] + interaction, y)
    residual_df = len(y) - rank_full
    mse = rss_full / residual_df
    terms = {
        a: (rss_b - rss_main, rank_main - rank_b),
        b: (rss_a - rss_main, rank_main - rank_a),
        "interaction": (rss_main - rss_full, rank_full - rank_main),
    }
    cell_means = cells.mean()
    result = {"residual_df": int(residual_df), "mse": mse, "n": len(frame), "cells": int(cells.ngroups)}
    for factor, (sum_sq, df) in terms.items():
        statistic = (max(sum_sq, 0.0) / df) / mse if df else math.nan
        # the F test's p in log space: a very large F's p underflows a double
        entry = {"F": statistic, "df": int(df), **bounded_p(float(f_distribution.logsf(statistic, df, residual_df)))}
        if factor != "interaction":
            means = cell_means.groupby(level=factor).mean()
            per_level = frame.groupby(factor)["y"].size().min()  # runs behind each marginal mean
            half = _studentized_range_quantile(len(means), int(residual_df)) * math.sqrt(mse / per_level)
            spread = float(means.max() - means.min())
            entry.update(
                {
                    "means": {level: float(v) for level, v in means.items()},
                    "spread": spread,
                    "spread_ci95": [max(0.0, spread - half), spread + half],
                    "tukey_half_width": half,
                    "best": str(means.idxmax()),
                    "worst": str(means.idxmin()),
                }
            )
        result[factor] = entry
    return result


# ---------------------------------------------------------------------------------------------- design power


def anova_power(
    levels: tuple[int, int],
    seeds: int,
    spread: float,
    sigma: float,
    alpha: float = ALPHA / 2,
    simulations: int = 2000,
    seed: int = 0,
) -> float:
    """Simulated power of the two-way ANOVA's test of the first factor: its levels' true means are evenly spread
    over `spread` (linear in the level), the second factor has no effect, seeds have noise `sigma`. `alpha`
    defaults to the first step of Holm over the two primary tests."""
    from scipy.stats import f as f_distribution

    k, m = levels
    rng = np.random.default_rng(seed)
    effect = np.linspace(-spread / 2, spread / 2, k)[:, None, None]
    y = effect + rng.normal(0.0, sigma, size=(simulations, k, m, seeds))  # [sims, a, b, seeds]
    grand = y.mean(axis=(1, 2, 3), keepdims=True)
    cell = y.mean(axis=3, keepdims=True)
    level_a = y.mean(axis=(2, 3), keepdims=True)
    ss_a = m * seeds * ((level_a - grand) ** 2).sum(axis=(1, 2, 3))
    ss_residual = ((y - cell) ** 2).sum(axis=(1, 2, 3))
    df_a, df_residual = k - 1, k * m * (seeds - 1)
    statistic = (ss_a / df_a) / (ss_residual / df_residual)
    return float((f_distribution.sf(statistic, df_a, df_residual) < alpha).mean())


def anova_power_at_every_budget(
    levels: tuple[int, int],
    seeds: int,
    spread: float,
    sigma: float,
    correlation: float,
    budgets: int = 2,
    alpha: float = ALPHA / 2,
    simulations: int = 4000,
    seed: int = 0,
) -> float:
    """Simulated power of "significant at every budget": the first factor's main effect tested at each of
    `budgets` budgets on the same runs, whose seed noise is correlated `correlation` between budgets (the same
    spread at every budget, as `anova_power`)."""
    from scipy.stats import f as f_distribution

    k, m = levels
    rng = np.random.default_rng(seed)
    covariance = sigma**2 * (np.full((budgets, budgets), correlation) + (1 - correlation) * np.eye(budgets))
    noise = rng.multivariate_normal(np.zeros(budgets), covariance, size=(simulations, k, m, seeds))  # [..., budgets]
    y = np.linspace(-spread / 2, spread / 2, k)[:, None, None, None] + noise
    grand = y.mean(axis=(1, 2, 3), keepdims=True)
    cell = y.mean(axis=3, keepdims=True)
    level_a = y.mean(axis=(2, 3), keepdims=True)
    ss_a = m * seeds * ((level_a - grand) ** 2).sum(axis=(1, 2, 3))
    ss_residual = ((y - cell) ** 2).sum(axis=(1, 2, 3))
    df_a, df_residual = k - 1, k * m * (seeds - 1)
    statistic = (ss_a / df_a) / (ss_residual / df_residual)  # [simulations, budgets]
    return float((f_distribution.sf(statistic, df_a, df_residual) < alpha).all(axis=1).mean())


def spearman_power(
    cells: int,
    rho: float,
    alpha: float = ALPHA / 2,
    simulations: int = 2000,
    seed: int = 0,
    resamples: int = PERMUTATIONS,
) -> float:
    """Simulated power of the permutation test of Spearman's ρ over `cells` points drawn from a bivariate normal
    with correlation `rho`. The p-value is exact (the enumerated null distribution of ρ) up to 8 points; beyond, the
    t approximation, which the permutation test matches closely there, floored at the randomised test's 2 / (m + 1).
    """
    import itertools

    from scipy.stats import spearmanr, t

    rng = np.random.default_rng(seed)
    covariance = [[1.0, rho], [rho, 1.0]]
    draws = rng.multivariate_normal([0.0, 0.0], covariance, size=(simulations, cells))
    rhos = np.array([spearmanr(d[:, 0], d[:, 1]).statistic for d in draws])
    if cells <= 8:
        ranks = np.arange(cells, dtype=float)
        null = np.abs(_pearson_along(np.array(list(itertools.permutations(ranks))), ranks))
        p = (null[None, :] >= np.abs(rhos)[:, None] - 1e-12).mean(axis=1)
    else:
        statistic = rhos * np.sqrt((cells - 2) / np.clip(1 - rhos**2, 1e-12, None))
        p = np.maximum(2 * t.sf(np.abs(statistic), cells - 2), smallest_permutation_p(cells, resamples)["p"])
    return float((p < alpha).mean())


__all__ = [
    "ALPHA",
    "CONFIDENCE",
    "P_FLOOR",
    "anova_power",
    "anova_power_at_every_budget",
    "binomial_greater_p",
    "bounded_p",
    "holm",
    "one_sample_t_p",
    "sign_test",
    "smallest_permutation_p",
    "spearman",
    "spearman_interval",
    "spearman_interval_coverage",
    "spearman_power",
    "spearman_test",
    "summarize",
    "two_way_anova",
]
