"""CoPE (Golovneva et al. 2024): contextual position encoding, which counts only the tokens the query finds
important.

In the causal paper, a query i gates every key t with g(i, t) = sigmoid(q_i . k_t / sqrt(d)); the position of key j
is the number of gated tokens from j to i, p(i, j) = sum_{t=j..i} g(i, t), fractional in general; its embedding is
interpolated between the learned rows e[floor p] and e[ceil p] of a table, and q_i . e[p(i, j)] is added to the
logits (before the 1/sqrt(d) scaling, as the published code). Positions are clamped to the table.

Bidirectional adaptation: counts run outward from the query on each side, and the side is the position's sign,
    p(i, j) = + sum_{t=i+1..j} g(i, t)   for a key right of the query (j > i),
    p(i, j) = - sum_{t=j..i-1} g(i, t)   for a key left of it (j < i),     p(i, i) = 0,
with one table over [-P, P] (P = `cope_max_positions`, 2P + 1 rows). The query itself never counts, so with every
gate at 1 the positions are exactly the relative positions j - i (clipped at +-P), and the layer is Shaw et al.'s
relative key embeddings; with gates at 0 or 1 a position is the signed number of gated tokens between the query
(excluded) and the key (included). Both sums are cumulative sums over the key axis (no loop over tokens), and a
padded key's gate is 0, so padding changes no real token's positions. The positions follow the token order;
`position_ids` are not used.

Per layer (each layer has its own table, shared by its heads, as the published code). The content-dependent bias
is passed to attention as an additive float mask, so sdpa and eager compute the same logits. The table starts at
N(0, initializer_range) where the published code starts at zero: a zero table would leave the model without any
position information (permutation-equivariant) until the first update.
"""

import torch
from torch import nn
from transformers import initialization as init

from .pe_base import HyperParameter, LayerPosition, PositionEncoding, clamp_mask, register_position_encoding


def contextual_positions(gates: torch.Tensor) -> torch.Tensor:
    """Signed contextual positions p[..., i, j] (see the module docstring) from the gates g[..., i, t] `[..., q, k]`
    of a self-attention (query i and key i are the same token)."""
    queries = torch.arange(gates.shape[-2], device=gates.device)[:, None]
    keys = torch.arange(gates.shape[-1], device=gates.device)[None]
    right = (gates * (keys > queries)).cumsum(-1)  # sum over i < t <= j
    left = (gates * (keys < queries)).flip(-1).cumsum(-1).flip(-1)  # sum over j <= t < i
    return right - left


def interpolated_logits(logits: torch.Tensor, positions: torch.Tensor, max_position: int) -> torch.Tensor:
    """q_i . e[p(i, j)] `[..., q, k]` from the integer positions' logits q_i . e[p] `[..., q, 2P + 1]` (rows -P..P)
    and fractional positions `[..., q, k]`: linear interpolation between floor and ceil, clamped to [-P, P]."""
    positions = positions.clamp(-max_position, max_position)
    floor = positions.floor()
    weight = positions - floor  # differentiable in the gates; floor and ceil are not (as the published code)
    low = logits.gather(-1, floor.long() + max_position)
    high = logits.gather(-1, positions.ceil().long() + max_position)
    return high * weight + low * (1.0 - weight)


class ContextualPositionLayer(LayerPosition):
    """logits(i, j) += q_i . e[p(i, j)] / sqrt(d), with gates from this layer's queries and keys."""

    def __init__(self, config, layer_idx):
        super().__init__(config, layer_idx)
        head_dim = config.hidden_size // config.num_attention_heads
        self.max_position = config.cope_max_positions
        self.contextual_embeddings = nn.Parameter(torch.empty(2 * self.max_position + 1, head_dim))  # rows -P..P

    def adjust(self, attention, query, key, state):
        real = (state.key_padding == 0).float()  # [batch, 1, 1, k]: padded keys never count
        # Gates and counts in float32 whatever the model's dtype: bfloat16 sums drift by whole positions.
        gates = torch.sigmoid((query @ key.transpose(-1, -2)).float() * attention.scaling) * real
        positions = contextual_positions(gates)
        logits = query @ self.contextual_embeddings.to(query.dtype).T  # [batch, heads, q, 2P + 1]
        bias = interpolated_logits(logits.float(), positions, self.max_position) * attention.scaling
        return query, key, clamp_mask(bias.to(query.dtype) + state.key_padding)

    @torch.no_grad()
    def init_position_weights(self, initializer_range):
        init.normal_(self.contextual_embeddings, mean=0.0, std=initializer_range)


@register_position_encoding
class ContextualPositionEncoding(PositionEncoding):
    name = "cope"
    description = "contextual positions: signed counts of gated tokens sigmoid(q.k) on each side, interpolated table"
    reference = "Golovneva et al. 2024 (CoPE)"
    hyperparameters = (
        HyperParameter(
            "cope_max_positions",
            64,
            "largest |contextual position| with its own row (table over [-P, P]); larger counts share the last row",
            gt=0,
            le=2**16,
        ),
    )
    layer_class = ContextualPositionLayer
