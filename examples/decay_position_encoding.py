"""A positional encoding of your own, in its own module: a learnable, possibly asymmetric, linear distance penalty.

Each head h learns two slopes, left and right of the query, and adds -slope_left[h] * |d| (key before the query,
d = j - i < 0) or -slope_right[h] * d (key after it) to the attention logits: ALiBi (Press et al. 2022) with learnable
slopes and the paper's symmetry knob. This file is all it takes: importing it registers the PE, after which
`PEBertConfig(position_encoding="decay", decay_slope=0.3)` builds a model that trains, analyses and studies like a
built-in one, and `save_pretrained` ships this file with the checkpoint (so it loads with `trust_remote_code=True`
where pe_bert is not installed). Use it from the command line with
`examples/run_mlm.py --pe_module examples/decay_position_encoding.py --position_encoding decay
--pe_args decay_slope=0.3`.
"""

import math

import torch
from torch import nn

from pe_bert import HyperParameter, PositionEncoding, register_position_encoding, relative_positions


@register_position_encoding
class DecayPositionEncoding(PositionEncoding):
    name = "decay"
    description = "learnable per-head linear distance penalty, separate slopes left and right of the query"
    reference = "ALiBi (Press et al. 2022) with learnable two-sided slopes; pe_bert example"
    hyperparameters = (
        HyperParameter("decay_slope", 0.5, "initial slope of every head, on both sides", gt=0),
        HyperParameter("decay_symmetric", False, "one slope per head for both sides (symmetric attention prior)"),
    )

    def __init__(self, config):
        super().__init__(config)
        self.initial_slope = config.decay_slope
        self.symmetric = config.decay_symmetric
        # Slopes are kept positive through softplus; [sides, heads].
        self.raw_slopes = nn.Parameter(torch.empty(1 if self.symmetric else 2, config.num_attention_heads))

    def shared_bias(self, state):
        distance = relative_positions(state.position_ids)[:, None].float()  # [1 | batch, 1, q, k]
        slopes = nn.functional.softplus(self.raw_slopes)[:, None, :, None, None]  # [sides, 1, heads, 1, 1]
        left, right = slopes[0], slopes[-1]
        return torch.where(distance < 0, left * distance, -right * distance)

    @torch.no_grad()
    def init_position_weights(self, initializer_range):
        # softplus^-1(slope), so every head starts at `decay_slope`.
        self.raw_slopes.fill_(math.log(math.expm1(self.initial_slope)))
