"""Relative PEs whose bias depends on content: Shaw et al.'s relative key (and query) embeddings, and DeBERTa's
disentangled content-to-position and position-to-content attention. Both compute `q @ table^T` once, a
[batch, heads, seq, #distances] product, then gather it into [batch, heads, q, k], rather than building a
[q, k, head_dim] tensor of embeddings; the result is passed to the attention function as an additive mask, so the
same code serves sdpa and eager."""

import math
from dataclasses import dataclass

import torch
from torch import nn

from .pe_base import (
    HyperParameter,
    LayerPosition,
    PositionEncoding,
    PositionState,
    clamp_mask,
    register_position_encoding,
    relative_positions,
)


def gather_relative(scores: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """out[b, h, i, j] = scores[b, h, i, index[i, j]] for scores `[b, h, n, C]` and index `[1 | b, n, m]`."""
    batch, heads, rows, _ = scores.shape
    index = index[:, None].expand(batch, heads, rows, index.shape[-1])
    return torch.gather(scores, -1, index)


@dataclass
class ShawState(PositionState):
    """distance_index[b, i, j]: row of the distance table for the clipped distance j - i, `[1 | batch, q, k]`."""

    distance_index: torch.Tensor


class ShawLayer(LayerPosition):
    """Per-layer relative embeddings r_d for clipped d in [-k, k]: logits += q_i . r_(j-i) [+ k_j . r_(j-i)]."""

    def __init__(self, config, layer_idx):
        super().__init__(config, layer_idx)
        head_dim = config.hidden_size // config.num_attention_heads
        self.distance_embedding = nn.Embedding(2 * config.shaw_max_distance + 1, head_dim)
        self.use_key = config.shaw_mode == "key_query"

    def adjust(self, attention, query, key, state: ShawState):
        index = state.distance_index
        table = self.distance_embedding.weight.to(query.dtype)
        bias = gather_relative(query @ table.T, index)
        if self.use_key:
            # k_j . r_(j-i): gather along the key rows with the transposed index, then transpose back.
            bias = bias + gather_relative(key @ table.T, index.transpose(-1, -2)).transpose(-1, -2)
        return query, key, clamp_mask(bias * attention.scaling + state.key_padding)


@register_position_encoding
class ShawPositionEncoding(PositionEncoding):
    name = "shaw"
    description = "learned relative key (and query) embeddings, clipped distance"
    reference = "Shaw et al. 2018; Huang et al. 2020"
    hyperparameters = (
        HyperParameter("shaw_max_distance", 16, "relative distances are clipped to +- this", gt=0, le=2**16),
        HyperParameter(
            "shaw_mode", "key", "'key': q_i . r_(j-i); 'key_query': also k_j . r_(j-i)", choices=("key", "key_query")
        ),
    )
    layer_class = ShawLayer
    state_class = ShawState

    def __init__(self, config):
        super().__init__(config)
        self.max_distance = config.shaw_max_distance

    def extend_state(self, state):
        relative = relative_positions(state.position_ids).clamp(-self.max_distance, self.max_distance)
        return ShawState.extend(state, distance_index=relative + self.max_distance)


def log_bucket_position(relative: torch.Tensor, bucket_size: int, max_position: int) -> torch.Tensor:
    """DeBERTa-v2's log buckets: exact within +- bucket_size / 2, logarithmic beyond (so any length maps in range)."""
    sign = torch.sign(relative)
    mid = bucket_size // 2
    near = (relative < mid) & (relative > -mid)
    abs_pos = torch.where(near, torch.full_like(relative, mid - 1), relative.abs())
    log_pos = torch.ceil(torch.log(abs_pos / mid) / math.log((max_position - 1) / mid) * (mid - 1)) + mid
    return torch.where(abs_pos <= mid, relative.to(log_pos.dtype), log_pos * sign).long()


@dataclass
class DisentangledState(PositionState):
    """relative_embeddings: the shared (layer-normed) relative position embeddings `[2 span, hidden]`;
    c2p_index / p2c_index: their rows for delta(i, j) and delta(j, i), `[1 | batch, q, k]`."""

    relative_embeddings: torch.Tensor
    c2p_index: torch.Tensor
    p2c_index: torch.Tensor


class DisentangledLayer(LayerPosition):
    """c2p: q_i . K_r[delta(i, j)] and p2c: k_j . Q_r[delta(j, i)], with the layer's own query/key projections
    applied to the shared relative embeddings (DeBERTa-v2's share_att_key)."""

    def scale_factor(self):
        return 3.0  # content, c2p and p2c terms: DeBERTa scales logits by 1 / sqrt(3 d)

    def adjust(self, attention, query, key, state: DisentangledState):
        rel = state.relative_embeddings.to(query.dtype)  # [2 span, hidden]
        heads, head_dim = query.shape[1], query.shape[-1]
        pos_key = attention.key(rel).view(-1, heads, head_dim).transpose(0, 1)  # [heads, 2 span, d]
        pos_query = attention.query(rel).view(-1, heads, head_dim).transpose(0, 1)
        c2p = gather_relative(query @ pos_key.transpose(-1, -2), state.c2p_index)
        p2c = gather_relative(key @ pos_query.transpose(-1, -2), state.p2c_index).transpose(-1, -2)
        return query, key, clamp_mask((c2p + p2c) * attention.scaling + state.key_padding)


@register_position_encoding
class DisentangledPositionEncoding(PositionEncoding):
    name = "disentangled"
    description = "DeBERTa disentangled attention: content-to-position and position-to-content terms"
    reference = "He et al. 2021 (DeBERTa)"
    hyperparameters = (
        HyperParameter(
            "disentangled_position_buckets",
            256,
            "log-bucket size: distances within +- half of it are exact",
            ge=2,
            le=2**16,
        ),
        HyperParameter(
            "disentangled_max_relative_positions",
            -1,
            "largest relative distance the buckets span; -1: max_position_embeddings",
            le=2**20,
            check=lambda v: None if v == -1 or v > 0 else "use a positive distance, or -1 for max_position_embeddings",
        ),
    )
    layer_class = DisentangledLayer
    state_class = DisentangledState

    def __init__(self, config):
        super().__init__(config)
        max_relative = config.disentangled_max_relative_positions
        self.max_relative = config.max_position_embeddings if max_relative < 1 else max_relative
        self.buckets = config.disentangled_position_buckets
        self.span = self.buckets  # DeBERTa-v2: the relative table has 2 * position_buckets rows
        self.rel_embeddings = nn.Embedding(2 * self.span, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def extend_state(self, state):
        # DeBERTa's convention: delta(i, j) = i - j, bucketed.
        relative = log_bucket_position(-relative_positions(state.position_ids), self.buckets, self.max_relative)
        return DisentangledState.extend(
            state,
            relative_embeddings=self.LayerNorm(self.rel_embeddings.weight),
            c2p_index=(relative + self.span).clamp(0, 2 * self.span - 1),
            # p2c gathers along key rows: index[j, i] = delta(j, i) + span, i.e. the transposed -delta.
            p2c_index=(-relative + self.span).clamp(0, 2 * self.span - 1),
        )
