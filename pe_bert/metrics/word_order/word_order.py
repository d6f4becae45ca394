"""`word_order`: an `evaluate` metric for word-order probes (accuracy shift under perturbation, or preference).

Load it offline by path: `evaluate.load("path/to/pe_bert/metrics/word_order")` (config "accuracy", the default) or
`evaluate.load(..., config_name="preference")`. evaluate copies this file and imports it on its own, so it imports
pe_bert absolutely; the numbers come from `pe_bert.analysis.probes.stats`, the same code the probe runners use.
"""

import datasets
import evaluate

from pe_bert.analysis.probes import stats

_DESCRIPTION = """
Word-order probe scores.

- config "accuracy": a classifier's predictions on perturbed inputs (`predictions`) and on the same inputs unperturbed
  (`original_predictions`), with gold labels `references` (expected label of the perturbed input) and optionally
  `original_references` (gold label of the original, default = references; they differ for Shuffle-SR, where a swapped
  entailment is expected to become a contradiction). Returns accuracy_original, accuracy_perturbed,
  delta = perturbed - original, flip_rate (share of changed predictions), n, and with n_resamples > 0 a paired
  bootstrap 95% interval delta_ci.
- config "preference": paired scores of originals and perturbations (e.g. pseudo-log-likelihoods). Returns preference
  (share of pairs whose original scores strictly higher; 0.5 = chance), mean_difference, n, and with n_resamples > 0
  preference_ci.
"""

_KWARGS_DESCRIPTION = """
Args (config "accuracy"):
    predictions (list of int): predicted labels on the perturbed examples.
    references (list of int): expected labels of the perturbed examples.
    original_predictions (list of int): predicted labels on the original examples, same order.
    original_references (list of int, optional): gold labels of the originals (default: references).
Args (config "preference"):
    original_scores (list of float), perturbed_scores (list of float): paired scores, higher = more plausible.
Common keyword args:
    n_resamples (int, default 0): bootstrap resamples for a 95% interval (0 = none).
    confidence (float, default 0.95), seed (int, default 0).
Examples:
    >>> word_order = evaluate.load("pe_bert/metrics/word_order")
    >>> word_order.compute(predictions=[0, 1, 2, 2], references=[0, 1, 1, 2], original_predictions=[0, 1, 1, 2])
    {'accuracy_original': 1.0, 'accuracy_perturbed': 0.75, 'delta': -0.25, 'flip_rate': 0.25, 'n': 4}
"""

_CITATION = """
@inproceedings{salazar-etal-2020-masked,
  title = {Masked Language Model Scoring}, author = {Salazar, Julian and Liang, Davis and Nguyen, Toan Q. and
  Kirchhoff, Katrin}, booktitle = {Proceedings of ACL}, year = {2020}}
"""

_FEATURES = {
    "accuracy": datasets.Features(
        {
            "predictions": datasets.Value("int64"),
            "references": datasets.Value("int64"),
            "original_predictions": datasets.Value("int64"),
        }
    ),
    "preference": datasets.Features(
        {
            "original_scores": datasets.Value("float64"),
            "perturbed_scores": datasets.Value("float64"),
        }
    ),
}


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class WordOrder(evaluate.Metric):
    """Accuracy shift (config "accuracy") or original-over-perturbed preference (config "preference")."""

    def _info(self):
        config = self.config_name if self.config_name in _FEATURES else "default"
        if config == "default":
            config = "accuracy"
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=_FEATURES[config],
            reference_urls=["https://aclanthology.org/2020.acl-main.240/"],
        )

    def _download_and_prepare(self, dl_manager):
        if self.config_name not in ("default", *_FEATURES):
            raise ValueError(f"word_order: unknown config_name {self.config_name!r}; use 'accuracy' or 'preference'.")

    def _compute(
        self,
        predictions=None,
        references=None,
        original_predictions=None,
        original_scores=None,
        perturbed_scores=None,
        original_references=None,
        n_resamples=0,
        confidence=0.95,
        seed=0,
    ):
        bootstrap = {"n_resamples": n_resamples, "confidence": confidence, "seed": seed}
        if original_scores is not None:
            return stats.preference(original_scores, perturbed_scores, **bootstrap)
        return stats.accuracy_shift(original_predictions, predictions, references, original_references, **bootstrap)
