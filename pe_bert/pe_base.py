"""The one interface every positional encoding implements, and the registry of variants.

A PE has two parts:

* a model-level `PositionEncoding`, at `embeddings.position_embeddings` (the name BERT's learned table has, so stock
  checkpoints load). It owns parameters shared by all layers, may add vectors to the token embeddings (`embed`), and
  once per forward builds a `PositionState` (`prepare`): the attention mask every layer uses, with any bias that is the
  same in all layers already added (so no layer allocates an S x S tensor it does not need).
* a per-layer `LayerPosition`, at `attention.self.position` in every layer. It can rotate queries and keys, add a
  layer-specific bias to the mask (`adjust`), and change the attention output (`merge`).

Every hook defaults to "no positional information", so a variant overrides only what it does.
This file and its siblings use relative imports only, so a saved checkpoint's code is self-contained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn


POSITION_ENCODING_CLASSES: dict[str, type["PositionEncoding"]] = {}


def register(cls: type["PositionEncoding"]) -> type["PositionEncoding"]:
    """Class decorator: make a PE available under `cls.name` as a `position_encoding` value."""
    if cls.name in POSITION_ENCODING_CLASSES:
        raise ValueError(f"Two positional encodings are registered as {cls.name!r}.")
    POSITION_ENCODING_CLASSES[cls.name] = cls
    return cls


@dataclass
class PositionState:
    """What one forward pass computes once and every layer reads.

    attention_mask: additive float mask `[batch, 1 | heads, 1 | query, key]` to give to the attention function
        (padding, plus the bias shared by all layers); `None` when nothing is masked or biased.
    key_padding: additive float mask `[batch, 1, 1, key]`: 0 on real tokens, dtype-min on padding. PEs that
        normalise over keys use it, so padding never changes what real tokens see.
    position_ids: `[1 | batch, seq]` positions of the tokens.
    extra: anything else a PE precomputes (rotary cos/sin, relative embeddings, ...).
    """

    attention_mask: torch.Tensor | None
    key_padding: torch.Tensor
    position_ids: torch.Tensor
    extra: dict = field(default_factory=dict)


class LayerPosition(nn.Module):
    """Per-layer part of a PE. The default one passes the shared mask through unchanged."""

    def __init__(self, config, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx

    def scale_factor(self) -> float:
        """Extra divisor of the logits' variance (DeBERTa scales by sqrt(3 d) because it sums three terms)."""
        return 1.0

    def adjust(self, attention, query, key, state: PositionState):
        """Return the `(query, key, attention_mask)` the attention function receives."""
        return query, key, state.attention_mask

    def merge(self, attention, attention_output, hidden_states, state: PositionState):
        """Post-process the attention output `[batch, seq, hidden]` (e.g. a parallel positional branch)."""
        return attention_output


class PositionEncoding(nn.Module):
    """Model-level part of a PE (see the module docstring). Subclasses set `name` and override hooks."""

    name: ClassVar[str]
    # Short description, reference and capability facts, for the README table and model cards.
    description: ClassVar[str] = ""
    reference: ClassVar[str] = ""
    # Absolute PEs are tied to positions < max_position_embeddings: longer inputs are an error, not truncated.
    bounded: ClassVar[bool] = False
    # Config fields this PE reads (validated by the config, written to model cards).
    hyperparameters: ClassVar[tuple[str, ...]] = ()
    layer_class: ClassVar[type[LayerPosition]] = LayerPosition

    def __init__(self, config):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.max_positions = config.max_position_embeddings

    def embed(self, position_ids: torch.Tensor) -> torch.Tensor | None:
        """Vectors `[1 | batch, seq, hidden]` added to the token embeddings, or None."""
        return None

    def shared_bias(self, position_ids: torch.Tensor, key_padding: torch.Tensor) -> torch.Tensor | None:
        """Logits bias `[1 | batch, heads | 1, q, k]` identical in every layer, or None."""
        return None

    def prepare_extra(self, position_ids: torch.Tensor, dtype: torch.dtype) -> dict:
        """Anything else the layers need, computed once per forward."""
        return {}

    def prepare(self, position_ids: torch.Tensor, key_padding: torch.Tensor, has_padding: bool) -> PositionState:
        bias = self.shared_bias(position_ids, key_padding)
        if bias is None:
            mask = key_padding if has_padding else None
        else:
            mask = clamp_mask(bias.to(key_padding.dtype) + key_padding)
        return PositionState(mask, key_padding, position_ids, self.prepare_extra(position_ids, key_padding.dtype))

    def position_bias(self, seq_len: int) -> torch.Tensor | None:
        """The PE-only logits bias `[layers | 1, heads, n, n]` at positions 0..n-1, for analysis; None if none."""
        device = next((p.device for p in self.parameters()), None) or next(
            (b.device for b in self.buffers()), torch.device("cpu")
        )
        position_ids = torch.arange(seq_len, device=device)[None]
        key_padding = torch.zeros(1, 1, 1, seq_len, device=device)
        bias = self.shared_bias(position_ids, key_padding)
        return None if bias is None else bias.expand(1, self.num_heads, seq_len, seq_len).float()

    @torch.no_grad()
    def init_position_weights(self, initializer_range: float) -> None:
        """(Re)initialise this module's own parameters; the model's `_init_weights` calls `init_position_weights`
        on every module that has it (PE modules, and sub-modules needing a non-BERT init)."""


# ---------------------------------------------------------------------------------------------------------------
# Small shared helpers (vectorised; used by several variants).


def clamp_mask(mask: torch.Tensor) -> torch.Tensor:
    """Adding two dtype-min masks overflows to -inf, and an all -inf row gives NaN that leaks through padding."""
    return mask.clamp(min=torch.finfo(mask.dtype).min)


def relative_positions(position_ids: torch.Tensor) -> torch.Tensor:
    """d[b, i, j] = position_j - position_i, `[1 | batch, q, k]` (long)."""
    return position_ids[:, None, :] - position_ids[:, :, None]


def masked_softmax(logits: torch.Tensor, key_padding: torch.Tensor) -> torch.Tensor:
    """Softmax over keys that ignores padded keys, so real tokens' rows do not depend on the amount of padding."""
    return torch.softmax(clamp_mask(logits + key_padding), dim=-1)


def sinusoidal_table(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Vaswani et al.'s encoding: sin on even, cos on odd dimensions, `[..., dim]` for float `positions`."""
    half = torch.arange(0, dim, 2, dtype=torch.float32, device=positions.device)
    inv_freq = torch.exp(-math.log(10000.0) * half / dim)
    angles = positions.float()[..., None] * inv_freq
    table = torch.zeros(*positions.shape, dim, device=positions.device)
    table[..., 0::2] = torch.sin(angles)
    table[..., 1::2] = torch.cos(angles[..., : dim // 2])
    return table


def gaussian_exponent(relative: torch.Tensor, w: float, s: float) -> torch.Tensor:
    """The paper's attenuation exponent: -w d^2 left of the query (d < 0), -s w d^2 right of it (d >= 0)."""
    d2 = relative.float() ** 2
    return torch.where(relative < 0, -w * d2, -s * w * d2)
