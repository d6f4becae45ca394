"""The published positional-attention branch (PAM): a fixed, position-only attention matrix P applied to the layer's
hidden states in parallel to content attention; the two outputs are concatenated and merged by a linear layer.

Kernels: "window" (1/3 on i-1, i, i+1, as published), "gaussian" (softmax_j(-locality_w d^2)) and "sinusoidal"
(softmax_j(P P^T / sqrt(hidden)) of sinusoidal position vectors; the 1/sqrt(hidden) temperature is ours, without
it the kernel is numerically the identity). Padded keys get weight 0, so padding never changes a sentence's result.
"""

import math

import torch
from torch import nn

from .pe_base import (
    LayerPosition,
    PositionEncoding,
    gaussian_exponent,
    masked_softmax,
    register,
    relative_positions,
    sinusoidal_table,
)


class PositionalAttentionBranch(LayerPosition):
    def __init__(self, config, layer_idx):
        super().__init__(config, layer_idx)
        self.merge_dense = nn.Linear(2 * config.hidden_size, config.hidden_size)

    def merge(self, attention, attention_output, hidden_states, state):
        positional = state.extra["pam_kernel"].to(hidden_states.dtype) @ hidden_states
        return self.merge_dense(torch.cat((attention_output, positional), dim=-1))


@register
class PositionalAttentionEncoding(PositionEncoding):
    name = "pam"
    description = "fixed position-only attention branch beside content attention, merged linearly"
    reference = "Chen, Varoquaux, Suchanek 2023"
    hyperparameters = ("pam_kernel", "locality_w")
    layer_class = PositionalAttentionBranch

    def __init__(self, config):
        super().__init__(config)
        self.kernel = config.pam_kernel
        self.w = float(config.locality_w)
        self.hidden_size = config.hidden_size

    def kernel_matrix(self, position_ids: torch.Tensor, key_padding: torch.Tensor) -> torch.Tensor:
        """P `[batch | 1, q, k]`, zero on padded keys."""
        key_padding = key_padding[:, 0]  # [batch, 1, k]
        relative = relative_positions(position_ids)
        if self.kernel == "window":
            weights = (relative.abs() <= 1).float() / 3.0
            return weights * (key_padding == 0)
        if self.kernel == "gaussian":
            return masked_softmax(gaussian_exponent(relative, self.w, 1.0), key_padding)
        table = sinusoidal_table(position_ids, self.hidden_size)
        return masked_softmax(table @ table.transpose(-1, -2) / math.sqrt(self.hidden_size), key_padding)

    def prepare(self, position_ids, key_padding, has_padding):
        state = super().prepare(position_ids, key_padding, has_padding)
        state.extra["pam_kernel"] = self.kernel_matrix(position_ids, key_padding)
        return state

    def position_bias(self, seq_len):
        """For PAM the PE-only matrix is the positional attention P itself (probabilities, not a logits bias)."""
        position_ids = torch.arange(seq_len)[None]
        kernel = self.kernel_matrix(position_ids, torch.zeros(1, 1, 1, seq_len))
        return kernel[:, None].expand(1, self.num_heads, seq_len, seq_len)
