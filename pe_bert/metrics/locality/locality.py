"""`locality`: an `evaluate` metric for how local attention matrices are (Chen et al., 2023).

Load it offline by path: ``evaluate.load("path/to/pe_bert/metrics/locality")`` (or
``evaluate.load(pe_bert.metrics.metric_path("locality"))``). evaluate copies this file and imports it
on its own, so it imports pe_bert absolutely: the numbers come from ``pe_bert.analysis.locality``.
"""

import evaluate

from pe_bert.analysis import locality
from pe_bert.metrics import attention_metric_info, score_matrix_list

_DESCRIPTION = """
Locality of attention matrices (Chen, Varoquaux and Suchanek, "The Locality and Symmetry of
Positional Encodings", Findings of EMNLP 2023): for an n x n matrix A of attention probabilities
(rows = queries, each summing to 1),

    Loc(A) = 1/n * sum_i sum_j A[i, j] * 2 ** -|i - j|

in [0, 1]: 1 when every token attends to itself only, about 3/n for uniform attention.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of n x n matrices, as lists of lists or arrays; n may vary): attention
        probabilities, e.g. one layer and head of one sentence each: every row non-negative, finite
        and summing to 1 over the real tokens (padding removed).
    return_per_matrix (bool, default False): also return every matrix's score.
    strict (bool, default False): raise ValueError, instead of warning (AttentionInputWarning), when
        a matrix is not attention probabilities.
Returns:
    locality (float): mean over the matrices.
    num_matrices (int): how many were scored.
    per_matrix (list of float): only with return_per_matrix=True.
Examples:
    >>> locality = evaluate.load("pe_bert/metrics/locality")
    >>> locality.compute(predictions=[[[1.0, 0.0], [0.0, 1.0]]])
    {'locality': 1.0, 'num_matrices': 1}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Locality(evaluate.Metric):
    """Mean locality of a list of attention matrices."""

    def _info(self):
        return attention_metric_info(_DESCRIPTION, _KWARGS_DESCRIPTION)

    def _compute(self, predictions, return_per_matrix=False, strict=False):
        scores = score_matrix_list(predictions, lambda a: locality(a, strict=strict))
        result = {"locality": float(scores.mean()) if len(scores) else float("nan"), "num_matrices": len(scores)}
        if return_per_matrix:
            result["per_matrix"] = scores.tolist()
        return result
