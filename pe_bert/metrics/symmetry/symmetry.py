"""`symmetry`: an `evaluate` metric for left-right symmetry of attention matrices (Chen et al., 2023).

Load it offline by path: ``evaluate.load("path/to/pe_bert/metrics/symmetry")`` (the published
definition, config "reference") or ``evaluate.load(..., config_name="mass")``. evaluate copies this
file and imports it on its own, so it imports pe_bert absolutely: the numbers come from
``pe_bert.analysis.symmetry``.
"""

import math
import warnings

import evaluate
import numpy as np

from pe_bert.analysis import UndefinedScoreWarning, symmetry
from pe_bert.metrics import attention_metric_info, score_matrix_list

VARIANTS = ("reference", "mass")

_DESCRIPTION = """
Left-right symmetry of attention matrices around the diagonal: does token i attend alike to
i - k and i + k? Two variants, both in [0, 1]:

- "reference" (default): exactly the published calculate.py of Chen, Varoquaux and Suchanek
  (Findings of EMNLP 2023): per row, the differences |A[i,i-k] - A[i,i+k]|, k = 1..min(i, n-1-i),
  are min-max scaled within the row; symmetry = 1 - mean of all scaled values. Degenerate: it
  reflects how differences spread within a row, not their size: every 3x3 or 4x4 matrix scores 1,
  every generic 5x5 matrix 0.75; one-sided (causal) attention scores 1 only when each row is
  uniform over its side, random causal matrices about 0.55 (0.52 at n = 16, tending to 0.5);
  undefined for n <= 2.
- "mass": 1 - sum|A[i,i-k] - A[i,i+k]| / sum(A[i,i-k] + A[i,i+k]): 1 for mirror-symmetric rows,
  0 for one-sided attention; undefined when the denominator is 0.

Undefined matrices are skipped in the mean and counted.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of n x n matrices, as lists of lists or arrays; n may vary): attention
        probabilities, e.g. one layer and head of one sentence each: every row non-negative, finite
        and summing to 1 over the real tokens (padding removed).
    variant (str, optional): "reference" or "mass"; default: the config name ("reference").
    return_per_matrix (bool, default False): also return every matrix's score (None if undefined).
    strict (bool, default False): raise ValueError, instead of warning (AttentionInputWarning), when
        a matrix is not attention probabilities.
Returns:
    symmetry (float): mean over the matrices where it is defined (NaN if none).
    num_matrices (int), num_undefined (int).
    per_matrix (list of float or None): only with return_per_matrix=True.
Examples:
    >>> symmetry = evaluate.load("pe_bert/metrics/symmetry", config_name="mass")
    >>> symmetry.compute(predictions=[[[0.5, 0.5, 0.0], [0.25, 0.5, 0.25], [0.0, 0.5, 0.5]]])
    {'symmetry': 1.0, 'num_matrices': 1, 'num_undefined': 0}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Symmetry(evaluate.Metric):
    """Mean symmetry (published "reference" definition, or "mass") of a list of attention matrices."""

    def _info(self):
        return attention_metric_info(_DESCRIPTION, _KWARGS_DESCRIPTION)

    def _download_and_prepare(self, dl_manager):
        if self.config_name not in ("default", *VARIANTS):
            raise ValueError(f"unknown config {self.config_name!r}; choose one of {VARIANTS}")

    def _compute(self, predictions, variant=None, return_per_matrix=False, strict=False):
        variant = variant or (self.config_name if self.config_name in VARIANTS else "reference")
        if variant not in VARIANTS:
            raise ValueError(f"unknown symmetry variant {variant!r}; choose one of {VARIANTS}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedScoreWarning)  # reported as num_undefined instead
            scores = score_matrix_list(predictions, lambda a: symmetry(a, variant=variant, strict=strict))
        defined = scores[~np.isnan(scores)]
        result = {
            "symmetry": float(defined.mean()) if len(defined) else float("nan"),
            "num_matrices": len(scores),
            "num_undefined": len(scores) - len(defined),
        }
        if return_per_matrix:
            result["per_matrix"] = [None if math.isnan(s) else float(s) for s in scores.tolist()]
        return result
