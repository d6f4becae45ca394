"""The paper's attenuated (Gaussian) encoding: a locality prior on the attention logits, with a symmetry knob.

With d = j - i the exponent is -w d^2 left of the query (d < 0) and -s w d^2 right of it (d >= 0): larger w is more
local, s = 1 is symmetric. `attenuated_bias="prob"` adds the row-normalised probabilities softmax_j(exponent) to the
logits, as the published code does (a small bias in [0, 1]); `"log"` adds the exponent itself (a proper log-prior).
Rows are normalised over the sentence's real tokens only, so padding never changes a sentence's result.
`attenuated_learnable` makes the exponent a learnable per-layer table over signed distance (one row per head, or one
shared by all heads), initialised from the Gaussian; distances beyond the table use its last entries.
"""

import torch
from torch import nn
from transformers import initialization as init

from .pe_base import (
    LayerPosition,
    PositionEncoding,
    clamp_mask,
    gaussian_exponent,
    masked_softmax,
    register,
    relative_positions,
)


def _to_bias(exponent: torch.Tensor, mode: str, key_padding: torch.Tensor) -> torch.Tensor:
    return masked_softmax(exponent, key_padding) if mode == "prob" else exponent


class LearnableAttenuationLayer(LayerPosition):
    """Adds this layer's learnable distance bias (the table lives in the model-level module)."""

    def adjust(self, attention, query, key, state):
        bias = _to_bias(state.extra["attenuation"](self.layer_idx, state.position_ids), state.extra["mode"],
                        state.key_padding)
        return query, key, clamp_mask(bias.to(query.dtype) + state.key_padding)


@register
class AttenuatedPositionEncoding(PositionEncoding):
    name = "attenuated"
    description = "Gaussian locality prior exp(-w d^2), asymmetric by s; fixed or learnable per layer"
    reference = "Chen, Varoquaux, Suchanek 2023"
    hyperparameters = ("locality_w", "symmetry_s", "attenuated_bias", "attenuated_learnable")

    def __init__(self, config):
        super().__init__(config)
        self.w, self.s = float(config.locality_w), float(config.symmetry_s)
        self.mode = config.attenuated_bias
        self.learnable = config.attenuated_learnable
        if self.learnable != "none":
            heads = config.num_attention_heads if self.learnable == "per_head" else 1
            span = 2 * config.max_position_embeddings - 1
            # [layers, heads | 1, signed distance]: one table per layer.
            self.distance_bias = nn.Parameter(torch.empty(config.num_hidden_layers, heads, span))
            self.layer_class = LearnableAttenuationLayer

    def _initial_table(self, device) -> torch.Tensor:
        distances = torch.arange(-(self.max_positions - 1), self.max_positions, device=device)
        return gaussian_exponent(distances, self.w, self.s)

    def learned_exponent(self, layer_idx: int, position_ids: torch.Tensor) -> torch.Tensor:
        """This layer's exponent `[1 | batch, heads | 1, q, k]` at the given positions."""
        last = self.max_positions - 1
        index = relative_positions(position_ids).clamp(-last, last) + last
        return self.distance_bias[layer_idx][:, index].transpose(0, 1)

    def shared_bias(self, position_ids, key_padding):
        if self.learnable != "none":
            return None
        exponent = gaussian_exponent(relative_positions(position_ids), self.w, self.s)[:, None]
        return _to_bias(exponent, self.mode, key_padding)

    def prepare_extra(self, position_ids, dtype):
        return {"attenuation": self.learned_exponent, "mode": self.mode} if self.learnable != "none" else {}

    def position_bias(self, seq_len):
        if self.learnable == "none":
            return super().position_bias(seq_len)
        position_ids = torch.arange(seq_len, device=self.distance_bias.device)[None]
        key_padding = torch.zeros(1, 1, 1, seq_len, device=self.distance_bias.device)
        layers = [_to_bias(self.learned_exponent(i, position_ids), self.mode, key_padding)
                  for i in range(self.distance_bias.shape[0])]
        return torch.cat(layers).expand(-1, self.num_heads, -1, -1).float()

    @torch.no_grad()
    def init_position_weights(self, initializer_range):
        if self.learnable != "none":
            init.copy_(self.distance_bias, self._initial_table(self.distance_bias.device).expand_as(self.distance_bias))
