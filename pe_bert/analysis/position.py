"""Identical-token probing (Wang et al., ICLR 2021): what attention does when only position varies.

A sequence of one repeated token has constant content, so every difference between attention
rows comes from the positional encoding. :func:`position_attention` records those position-position
matrices for every layer and head and scores them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..configuration import SPECIAL_TOKEN_ID_KEYS
from ..jsonable import jsonable
from .capture import _forward_attentions, _model_input_names, eager_attention
from .properties import (
    locality,
    monotonicity,
    symmetry_statistics,
    translation_invariance,
    transpose_symmetry,
)

__all__ = ["PositionAttention", "position_attention", "neutral_token_id", "POSITION_SCORE_NAMES"]

POSITION_SCORE_NAMES: tuple[str, ...] = (
    "locality",
    "symmetry",
    "symmetry_mass",
    "monotonicity_left",
    "monotonicity_right",
    "translation_invariance",
    "transpose_symmetry",
)


def neutral_token_id(config) -> int:
    """The smallest token id that none of the config's special-token ids uses.

    For BERT vocabularies (``[PAD]`` = 0) that is 1, an ``[unused]`` slot: a plain token that
    carries no meaning and no special role. Only the config is consulted, so the default is the
    same with or without a tokenizer.
    """
    special = {
        value for name in SPECIAL_TOKEN_ID_KEYS if isinstance(value := getattr(config, name, None), int) and value >= 0
    }
    vocab_size = getattr(config, "vocab_size", None)
    candidate = 0
    while candidate in special:
        candidate += 1
    if vocab_size is not None and candidate >= vocab_size:
        raise ValueError(f"no non-special token id below vocab_size={vocab_size}; pass token_id=")
    return candidate


@dataclass
class PositionAttention:
    """Position-position attention of every layer and head, with their scores.

    ``attentions``: ``[layers, heads, n, n]``. ``scores[name]``: ``[layers, heads]`` for each name in
    :data:`POSITION_SCORE_NAMES`. ``position_bias``: the PE-only logits bias ``[layers | 1, heads, n, n]``
    for pe_bert variants that have one, else None.
    """

    attentions: torch.Tensor
    scores: dict[str, torch.Tensor]
    token_id: int
    position_bias: torch.Tensor | None = None
    options: dict = field(default_factory=dict)

    def __getattr__(self, name: str):
        scores = self.__dict__.get("scores", {})
        if name in scores:
            return scores[name]
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    @property
    def seq_len(self) -> int:
        return int(self.attentions.shape[-1])

    def mean(self, name: str) -> float:
        """Mean of a score over layers and heads, ignoring undefined (NaN) entries."""
        return float(torch.nanmean(self.scores[name].to(torch.float64)))

    def to_dict(self, include_attentions: bool = False) -> dict:
        result = {
            "seq_len": self.seq_len,
            "token_id": self.token_id,
            "overall": {name: jsonable(self.mean(name)) for name in self.scores},
            "per_head": {name: jsonable(values.tolist()) for name, values in self.scores.items()},
            "has_position_bias": self.position_bias is not None,
            "options": dict(self.options),
        }
        if include_attentions:
            result["attentions"] = self.attentions.tolist()
        return result

    def to_json(self, path, include_attentions: bool = False) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(include_attentions), indent=2) + "\n")
        return path

    def plot(self, path, title: str | None = None) -> Path:
        """Grid of the position-position attention matrices (layers x heads), PNG."""
        from .plots import attention_grid

        return attention_grid(
            self.attentions,
            path,
            title=title or f"Identical-token attention (token id {self.token_id}, n = {self.seq_len})",
        )

    def plot_bias(self, path, title: str | None = None) -> Path | None:
        """Grid of the PE-only logits bias, if the model has one (else returns None)."""
        if self.position_bias is None:
            return None
        from .plots import attention_grid

        return attention_grid(
            self.position_bias,
            path,
            title=title or f"Position-only logits bias (n = {self.seq_len})",
            row_label="layer" if self.position_bias.shape[0] > 1 else "all layers",
            colorbar_label="logit bias",
            symmetric_colors=True,
        )


def score_position_matrices(attentions: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every property of ``[..., n, n]`` position-position matrices, each ``[...]``."""
    stats = symmetry_statistics(attentions)
    left, right = monotonicity(attentions)
    return {
        "locality": locality(attentions),
        "symmetry": stats.reference(),
        "symmetry_mass": stats.mass(),
        "monotonicity_left": left,
        "monotonicity_right": right,
        "translation_invariance": translation_invariance(attentions),
        "transpose_symmetry": transpose_symmetry(attentions),
    }


def _pe_only_bias(model, seq_len: int) -> torch.Tensor | None:
    """``base_model.embeddings.position_embeddings.position_bias(n)`` where a pe_bert model has it."""
    base = getattr(model, "base_model", model)
    encoding = getattr(getattr(base, "embeddings", None), "position_embeddings", None)
    position_bias = getattr(encoding, "position_bias", None)
    if not callable(position_bias):
        return None
    bias = position_bias(seq_len)
    return None if bias is None else bias.detach().float().cpu()


@torch.no_grad()
def position_attention(model, seq_len: int, token_id: int | None = None) -> PositionAttention:
    """Identical-token probing: attention of ``model`` on ``seq_len`` copies of one token.

    ``token_id`` defaults to :func:`neutral_token_id` (for BERT: 1, an unused vocabulary slot).
    No [CLS]/[SEP] are added: they would break the constant content. Runs with eager attention
    and restores the model afterwards. Returns the ``[layers, heads, n, n]`` matrices, their
    scores and, for pe_bert models whose PE has one, the PE-only bias.
    """
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    if token_id is None:
        token_id = neutral_token_id(model.config)
    accepted = _model_input_names(model)
    with eager_attention(model):
        device = next(model.parameters()).device
        input_ids = torch.full((1, seq_len), int(token_id), dtype=torch.long, device=device)
        inputs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
        if "token_type_ids" in accepted:
            inputs["token_type_ids"] = torch.zeros_like(input_ids)
        attentions = _forward_attentions(model, inputs)
    matrices = torch.stack([a[0] for a in attentions]).float().cpu()  # [layers, heads, n, n]
    return PositionAttention(
        attentions=matrices,
        # Scored in the model's float32, as the published code would be: in float64, the min-max
        # scaling of the reference symmetry would blow float32 rounding noise up to [0, 1].
        scores=score_position_matrices(matrices),
        token_id=int(token_id),
        position_bias=_pe_only_bias(model, seq_len),
        options={"model": getattr(model.config, "_name_or_path", "") or type(model).__name__},
    )
