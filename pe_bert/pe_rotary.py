"""Rotary position embedding (RoPE): queries and keys are rotated by position-dependent angles, so their dot
product depends on relative position only."""

import torch

from .pe_base import LayerPosition, PositionEncoding, register


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


class RotaryLayer(LayerPosition):
    def adjust(self, attention, query, key, state):
        cos, sin = state.extra["rope_cos"], state.extra["rope_sin"]
        rot = cos.shape[-1]
        if rot == query.shape[-1]:
            return query * cos + rotate_half(query) * sin, key * cos + rotate_half(key) * sin, state.attention_mask
        # Partial RoPE: only the first `rot` dimensions of each head carry position.
        q_rot, q_pass = query[..., :rot], query[..., rot:]
        k_rot, k_pass = key[..., :rot], key[..., rot:]
        query = torch.cat((q_rot * cos + rotate_half(q_rot) * sin, q_pass), dim=-1)
        key = torch.cat((k_rot * cos + rotate_half(k_rot) * sin, k_pass), dim=-1)
        return query, key, state.attention_mask


@register
class RotaryPositionEncoding(PositionEncoding):
    """RoPE in the rotate-half (GPT-NeoX / Llama) layout, with `rope_theta` and partial rotation `rope_fraction`."""

    name = "rope"
    description = "rotary embedding of queries and keys (optionally partial)"
    reference = "Su et al. 2021 (RoFormer)"
    hyperparameters = ("rope_theta", "rope_fraction")
    layer_class = RotaryLayer

    def __init__(self, config):
        super().__init__(config)
        head_dim = config.hidden_size // config.num_attention_heads
        self.rotary_dim = int(head_dim * config.rope_fraction) // 2 * 2
        self.theta = float(config.rope_theta)

    def prepare_extra(self, position_ids, dtype):
        exponents = torch.arange(0, self.rotary_dim, 2, device=position_ids.device, dtype=torch.float32)
        inv_freq = self.theta ** (-exponents / self.rotary_dim)
        angles = position_ids.float()[..., None] * inv_freq  # [1 | batch, seq, rot / 2]
        angles = torch.cat((angles, angles), dim=-1)[:, None]  # [1 | batch, 1, seq, rot]
        return {"rope_cos": angles.cos().to(dtype), "rope_sin": angles.sin().to(dtype)}
