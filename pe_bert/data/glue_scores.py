"""GLUE and built-in task scores, as the fine-tuning scripts report them, offline: exactly what
``evaluate.load("glue", task)`` returns, via scikit-learn/scipy. (Not `pe_bert.metrics`, the `evaluate` modules
that score attention locality, symmetry and word order, nor `pe_bert.analysis.properties`, the attention properties
those compute.)

``evaluate``'s GLUE module is a script on the Hub, so it cannot be loaded offline; this module
re-implements its definitions (same keys, same functions) and :func:`load_glue_metric` prefers the Hub
version when it is reachable.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from typing import Any

import numpy as np

from .glue import TASKS

logger = logging.getLogger(__name__)

#: metric keys per task, as returned by evaluate's "glue" module (and by accuracy for the others): the task
#: registry's, plus evaluate's configurations that are evaluation sets of a task rather than tasks of their own
METRIC_KEYS: dict[str, tuple[str, ...]] = {
    **{name: info.metric_keys for name, info in TASKS.items()},
    **{name: ("accuracy",) for name in ("mnli_matched", "mnli_mismatched", "hans")},
}
#: configurations of evaluate's "glue" module (the tasks :func:`load_glue_metric` asks the Hub for)
EVALUATE_GLUE_CONFIGS: tuple[str, ...] = (
    "sst2",
    "mnli",
    "mnli_mismatched",
    "mnli_matched",
    "cola",
    "stsb",
    "mrpc",
    "qqp",
    "qnli",
    "rte",
    "wnli",
    "hans",
)


def _accuracy(predictions: np.ndarray, references: np.ndarray) -> float:
    return float((predictions == references).mean())


def glue_compute_metrics(task_name: str, predictions: Sequence[Any], references: Sequence[Any]) -> dict[str, float]:
    """Score ``predictions`` against ``references`` as the GLUE benchmark does for ``task_name``.

    cola: ``matthews_correlation``; stsb: ``pearson``, ``spearmanr``; mrpc/qqp: ``accuracy``, ``f1``
    (of the positive class); every other GLUE task, snli and the built-in tasks: ``accuracy``.
    """
    if task_name not in METRIC_KEYS:
        raise KeyError(f"no GLUE metric for task {task_name!r}; valid tasks: {', '.join(METRIC_KEYS)}")
    predictions, references = np.asarray(predictions), np.asarray(references)
    if predictions.shape != references.shape:
        raise ValueError(f"predictions {predictions.shape} and references {references.shape} differ in shape")
    if task_name == "cola":
        from sklearn.metrics import matthews_corrcoef

        return {"matthews_correlation": float(matthews_corrcoef(references, predictions))}
    if task_name == "stsb":
        from scipy.stats import pearsonr, spearmanr

        return {
            "pearson": float(pearsonr(predictions, references)[0]),
            "spearmanr": float(spearmanr(predictions, references)[0]),
        }
    if task_name in ("mrpc", "qqp"):
        from sklearn.metrics import f1_score

        return {
            "accuracy": _accuracy(predictions, references),
            "f1": float(f1_score(y_true=references, y_pred=predictions)),
        }
    return {"accuracy": _accuracy(predictions, references)}


class OfflineGlueMetric:
    """A stand-in for an ``evaluate`` GLUE metric: same ``compute`` call, same result."""

    def __init__(self, task_name: str) -> None:
        if task_name not in METRIC_KEYS:
            raise KeyError(f"no GLUE metric for task {task_name!r}; valid tasks: {', '.join(METRIC_KEYS)}")
        self.task_name = task_name
        self.name = "glue"
        self.config_name = task_name
        self._predictions: list = []
        self._references: list = []

    def add_batch(self, *, predictions, references) -> None:
        self._predictions.extend(np.asarray(predictions).tolist())
        self._references.extend(np.asarray(references).tolist())

    def compute(self, *, predictions=None, references=None) -> dict[str, float]:
        if predictions is None:  # evaluate semantics: compute over the accumulated batches, then reset
            predictions, references = self._predictions, self._references
            self._predictions, self._references = [], []
        return glue_compute_metrics(self.task_name, predictions, references)

    def __repr__(self) -> str:
        return f"OfflineGlueMetric({self.task_name!r})"


def _hub_offline() -> bool:
    flags = ("HF_HUB_OFFLINE", "HF_EVALUATE_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
    return any(os.environ.get(flag, "").lower() in ("1", "true", "yes", "on") for flag in flags)


def _hub_reachable(timeout: float = 2.0) -> bool:
    """One quick TCP connect instead of evaluate's own retries (which can take minutes offline)."""
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


def load_glue_metric(task_name: str):
    """``evaluate.load("glue", config)`` when the Hub is reachable, else :class:`OfflineGlueMetric`.

    Both have ``compute(predictions=..., references=...)`` and return the same keys.  Tasks outside
    evaluate's GLUE module (snli, built-in tasks) always use the offline implementation (accuracy).
    """
    if task_name not in METRIC_KEYS:
        raise KeyError(f"no GLUE metric for task {task_name!r}; valid tasks: {', '.join(METRIC_KEYS)}")
    if task_name not in EVALUATE_GLUE_CONFIGS:
        return OfflineGlueMetric(task_name)
    if _hub_offline() or not _hub_reachable():
        logger.info("Hugging Face Hub unreachable (or offline mode): using the offline GLUE metric for %s", task_name)
        return OfflineGlueMetric(task_name)
    try:
        import evaluate

        return evaluate.load("glue", task_name)
    except Exception as error:  # noqa: BLE001 — any Hub/network failure means: use the offline metric
        logger.warning(
            "evaluate.load('glue', %r) failed (%s: %s); using the offline GLUE metric",
            task_name,
            type(error).__name__,
            error,
        )
        return OfflineGlueMetric(task_name)
