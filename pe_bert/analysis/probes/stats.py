"""Probe statistics shared by the runners and the `word_order` evaluate metric (so both always agree).

Confidence intervals are seeded, paired, percentile bootstraps over examples: every resample draws the same example
indices for the original and the perturbed side, so the interval is for the *difference*, not two separate means.
Resampling is vectorised with numpy (a [resamples, n] index matrix, processed in blocks to bound memory).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95
# Scores this close are a tie (float32 sums of the same terms in another order differ by about 1e-7 relatively).
TIE_RTOL, TIE_ATOL = 1e-5, 1e-6
_BLOCK_ELEMENTS = 4_000_000  # indices per resampling block (~32 MB of int64)


def bootstrap_mean_ci(
    values: Sequence[float] | np.ndarray,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (per-example scores or paired differences)."""
    values = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if values.size == 0 or n_resamples <= 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    n = values.size
    block = max(1, _BLOCK_ELEMENTS // n)
    means = np.empty(n_resamples)
    for start in range(0, n_resamples, block):
        stop = min(start + block, n_resamples)
        indices = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = values[indices].mean(axis=1)
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def accuracy_shift(
    original_predictions,
    predictions,
    references,
    original_references=None,
    *,
    n_resamples: int = 0,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> dict:
    """Accuracy on the original vs the perturbed version of the same examples.

    `references` are the expected labels of the perturbed examples; `original_references` those of the originals
    (defaults to `references`; they differ for Shuffle-SR, where a swapped entailment is expected to be a
    contradiction). Returns accuracy_original, accuracy_perturbed, delta (perturbed - original, in [-1, 1]),
    flip_rate (share of examples whose predicted label changed), n, and with `n_resamples > 0` a paired bootstrap
    interval delta_ci = [low, high].
    """
    original_predictions = np.asarray(original_predictions)
    predictions = np.asarray(predictions)
    references = np.asarray(references)
    original_references = references if original_references is None else np.asarray(original_references)
    if not (len(original_predictions) == len(predictions) == len(references) == len(original_references)):
        raise ValueError(
            "accuracy_shift: original_predictions, predictions, references (and original_references) "
            "must have one entry per example, in the same order."
        )
    correct_original = (original_predictions == original_references).astype(np.float64)
    correct_perturbed = (predictions == references).astype(np.float64)
    empty = len(predictions) == 0
    accuracy_original = float("nan") if empty else float(correct_original.mean())
    accuracy_perturbed = float("nan") if empty else float(correct_perturbed.mean())
    result = {
        "accuracy_original": accuracy_original,
        "accuracy_perturbed": accuracy_perturbed,
        "delta": accuracy_perturbed - accuracy_original,
        "flip_rate": float("nan") if empty else float((original_predictions != predictions).mean()),
        "n": int(len(predictions)),
    }
    if n_resamples > 0:
        low, high = bootstrap_mean_ci(
            correct_perturbed - correct_original, n_resamples=n_resamples, confidence=confidence, seed=seed
        )
        result["delta_ci"] = [low, high]
    return result


def preference(
    original_scores,
    perturbed_scores,
    *,
    n_resamples: int = 0,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
    per_pair: bool = False,
) -> dict:
    """Share of pairs whose original scores higher than its perturbation (e.g. pseudo-log-likelihood), a tie
    counting one half.

    0.5 means the scorer cannot tell the orders apart; 1.0 means it always prefers the original. Scores equal up to
    float32 rounding (a model with no position information gives a permutation the same PLL, summed in another
    order) are ties: otherwise such a model would seem to prefer the perturbation. Also returns
    mean_difference (original - perturbed), n, the counts wins / losses / ties, with `n_resamples > 0` a
    bootstrap interval preference_ci, and with `per_pair` each pair's outcome (+1 win, -1 loss, 0 tie).
    """
    original_scores = np.asarray(original_scores, dtype=np.float64)
    perturbed_scores = np.asarray(perturbed_scores, dtype=np.float64)
    if original_scores.shape != perturbed_scores.shape:
        raise ValueError("preference: original_scores and perturbed_scores must be paired (same length and order).")
    ties = np.isclose(original_scores, perturbed_scores, rtol=TIE_RTOL, atol=TIE_ATOL)
    wins = np.where(ties, 0.5, (original_scores > perturbed_scores).astype(np.float64))
    empty = original_scores.size == 0
    won = int((~ties & (original_scores > perturbed_scores)).sum())
    result = {
        "preference": float("nan") if empty else float(wins.mean()),
        "mean_difference": float("nan") if empty else float((original_scores - perturbed_scores).mean()),
        "n": int(original_scores.size),
        # counts for a sign test, which drops the ties (a tie is no evidence either way)
        "wins": won,
        "losses": int(original_scores.size - won - ties.sum()),
        "ties": int(ties.sum()),
    }
    if n_resamples > 0:
        result["preference_ci"] = list(
            bootstrap_mean_ci(wins, n_resamples=n_resamples, confidence=confidence, seed=seed)
        )
    if per_pair:  # +1 win, -1 loss, 0 tie, pair by pair: to combine pairs of the same sentences across models
        result["outcomes"] = np.where(ties, 0, np.where(original_scores > perturbed_scores, 1, -1)).tolist()
    return result


def mean_with_ci(values, *, n_resamples: int = 0, confidence: float = DEFAULT_CONFIDENCE, seed: int = 0) -> dict:
    """Mean of per-example values (e.g. representation drift) with an optional bootstrap interval."""
    values = np.atleast_1d(np.asarray(values, dtype=np.float64))
    result = {"mean": float(values.mean()) if values.size else float("nan"), "n": int(values.size)}
    if n_resamples > 0:
        result["ci"] = list(bootstrap_mean_ci(values, n_resamples=n_resamples, confidence=confidence, seed=seed))
    return result
