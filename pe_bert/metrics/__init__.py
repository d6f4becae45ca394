"""`evaluate` metric modules shipped with pe_bert, loadable offline by path.

    import evaluate
    from pe_bert.metrics import metric_path
    locality = evaluate.load(metric_path("locality"))
    locality.compute(predictions=[attention_matrix, ...])   # each an n x n list / array

Each metric is a folder holding a script of the same name and a metric card (README.md). The
scripts import pe_bert, so the numbers come from the same code as `pe_bert.analysis`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "METRICS_DIR",
    "PAPER_CITATION",
    "attention_matrix_features",
    "attention_metric_info",
    "available_metrics",
    "metric_path",
    "score_matrix_list",
]

METRICS_DIR = Path(__file__).resolve().parent

PAPER_CITATION = """
@inproceedings{chen-etal-2023-locality,
  title = {The Locality and Symmetry of Positional Encodings},
  author = {Chen, Lihu and Varoquaux, Gaël and Suchanek, Fabian M.},
  booktitle = {Findings of the Association for Computational Linguistics: EMNLP 2023},
  year = {2023}}
"""


def attention_matrix_features():
    """`datasets.Features` of the locality/symmetry metrics: each prediction is one n x n attention matrix."""
    import datasets

    return datasets.Features({"predictions": datasets.Sequence(datasets.Sequence(datasets.Value("float64")))})


def attention_metric_info(description: str, inputs_description: str):
    """The `evaluate.MetricInfo` of a metric of attention matrices from Chen et al. (2023) (locality, symmetry):
    its description and arguments, the paper's citation and link, and the features of a list of matrices."""
    import evaluate

    return evaluate.MetricInfo(
        description=description,
        citation=PAPER_CITATION,
        inputs_description=inputs_description,
        features=attention_matrix_features(),
        reference_urls=["https://arxiv.org/abs/2310.12864"],
    )


def available_metrics() -> list[str]:
    """Names of the metric folders (each holds ``<name>/<name>.py``)."""
    return sorted(p.parent.name for p in METRICS_DIR.glob("*/*.py") if p.stem == p.parent.name)


def metric_path(name: str) -> str:
    """Directory of metric ``name``, to pass to ``evaluate.load``."""
    path = METRICS_DIR / name
    if not (path / f"{name}.py").is_file():
        raise ValueError(f"unknown metric {name!r}; available: {available_metrics()}")
    return str(path)


def score_matrix_list(matrices: Sequence, score: Callable[[torch.Tensor], torch.Tensor]) -> np.ndarray:
    """Apply a ``[..., n, n] -> [...]`` score to a list of square matrices of possibly different sizes.

    Matrices of equal size are stacked and scored in one vectorised call (the loop runs over
    distinct sizes only). Returns float64 scores in the input order.
    """
    arrays = [np.asarray(m, dtype=np.float64) for m in matrices]
    for position, array in enumerate(arrays):
        if array.ndim != 2 or array.shape[0] != array.shape[1]:
            raise ValueError(f"prediction {position} must be a square n x n matrix, got shape {array.shape}")
    scores = np.full(len(arrays), np.nan)
    by_size: dict[int, list[int]] = {}
    for position, array in enumerate(arrays):
        by_size.setdefault(array.shape[0], []).append(position)
    for positions in by_size.values():
        stacked = torch.from_numpy(np.stack([arrays[p] for p in positions]))
        scores[positions] = score(stacked).numpy()
    return scores
