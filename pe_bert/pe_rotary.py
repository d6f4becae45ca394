"""Rotary position embedding (RoPE): queries and keys are rotated by position-dependent angles, so their dot
product depends on relative position only."""

from dataclasses import dataclass

import torch

from .errors import InvalidInputError
from .pe_base import HyperParameter, LayerPosition, PositionEncoding, PositionState, register_position_encoding


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


@dataclass
class RotaryState(PositionState):
    """cos/sin of every token's angles, `[1 | batch, 1, seq, rotary_dim]`."""

    cos: torch.Tensor
    sin: torch.Tensor


class RotaryLayer(LayerPosition):
    def adjust(self, attention, query, key, state: RotaryState):
        cos, sin = state.cos, state.sin
        rot = cos.shape[-1]
        if rot == query.shape[-1]:
            return query * cos + rotate_half(query) * sin, key * cos + rotate_half(key) * sin, state.attention_mask
        # Partial RoPE: only the first `rot` dimensions of each head carry position.
        q_rot, q_pass = query[..., :rot], query[..., rot:]
        k_rot, k_pass = key[..., :rot], key[..., rot:]
        query = torch.cat((q_rot * cos + rotate_half(q_rot) * sin, q_pass), dim=-1)
        key = torch.cat((k_rot * cos + rotate_half(k_rot) * sin, k_pass), dim=-1)
        return query, key, state.attention_mask


def rotary_dim(config) -> int:
    """Dimensions of each head that are rotated (an even number)."""
    head_dim = config.hidden_size // config.num_attention_heads
    return int(head_dim * config.rope_fraction) // 2 * 2


@register_position_encoding
class RotaryPositionEncoding(PositionEncoding):
    """RoPE in the rotate-half (GPT-NeoX / Llama) layout, with `rope_theta` and partial rotation `rope_fraction`."""

    name = "rope"
    description = "rotary embedding of queries and keys (optionally partial)"
    reference = "Su et al. 2021 (RoFormer)"
    hyperparameters = (
        HyperParameter("rope_theta", 10000.0, "base frequency of the rotation angles", gt=0, le=1e12),
        HyperParameter("rope_fraction", 1.0, "fraction of each head's dimensions rotated (partial RoPE)", gt=0, le=1),
    )
    layer_class = RotaryLayer
    state_class = RotaryState

    @classmethod
    def check_config(cls, config):
        if rotary_dim(config) < 2:
            raise InvalidInputError(
                f"rope_fraction={config.rope_fraction} rotates no dimension of the "
                f"{config.hidden_size // config.num_attention_heads}-dimensional heads; increase it."
            )

    def __init__(self, config):
        super().__init__(config)
        self.rotary_dim = rotary_dim(config)
        self.theta = float(config.rope_theta)

    def extend_state(self, state):
        exponents = torch.arange(0, self.rotary_dim, 2, device=state.position_ids.device, dtype=torch.float32)
        inv_freq = self.theta ** (-exponents / self.rotary_dim)
        angles = state.position_ids.float()[..., None] * inv_freq  # [1 | batch, seq, rot / 2]
        angles = torch.cat((angles, angles), dim=-1)[:, None]  # [1 | batch, 1, seq, rot]
        dtype = state.key_padding.dtype
        return RotaryState.extend(state, cos=angles.cos().to(dtype), sin=angles.sin().to(dtype))
