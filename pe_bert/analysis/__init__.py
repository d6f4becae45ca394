"""Measure what positional encodings do to attention.

* :func:`locality`, :func:`symmetry` (``variant="reference" | "mass"``), :func:`monotonicity`,
  :func:`translation_invariance`, :func:`transpose_symmetry`: ``[..., n, n] -> [...]``, vectorised.
* :func:`score_attention`: mean scores per ``[layer, head]`` of any transformers encoder on text,
  streaming over batches.
* :func:`position_attention`: identical-token probing, the attention a PE produces on its own.
* ``probes`` (word-order probes) is imported lazily, on first access.
"""

from __future__ import annotations

import importlib

from .capture import AttentionScores, eager_attention, score_attention
from .position import PositionAttention, neutral_token_id, position_attention
from .properties import (
    AttentionInputWarning,
    Monotonicity,
    SymmetryStatistics,
    UndefinedScoreWarning,
    locality,
    monotonicity,
    symmetry,
    symmetry_statistics,
    translation_invariance,
    transpose_symmetry,
)

__all__ = [
    "locality",
    "symmetry",
    "symmetry_statistics",
    "SymmetryStatistics",
    "monotonicity",
    "Monotonicity",
    "translation_invariance",
    "transpose_symmetry",
    "UndefinedScoreWarning",
    "AttentionInputWarning",
    "score_attention",
    "AttentionScores",
    "eager_attention",
    "position_attention",
    "PositionAttention",
    "neutral_token_id",
]

_LAZY_SUBMODULES = ("probes",)


def __getattr__(name: str):
    # Sub-packages with heavier dependencies load on first use, not on `import pe_bert.analysis`.
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
