"""The published positional-attention branch (PAM): a fixed, position-only attention matrix P applied to the layer's
hidden states in parallel to content attention; the two outputs are concatenated and merged by a linear layer.

Kernels: "window" (1/3 on i-1, i, i+1, as published), "gaussian" (softmax_j(-locality_w d^2)) and "sinusoidal"
(softmax_j(P P^T / D^pam_temperature_power) of D-dimensional sinusoidal position vectors). The published code uses
the power 1/4; our default is 1/2 (the usual 1/sqrt(D) of attention), because with 1/4 the logits' scale grows with
sqrt(D) and the kernel tends to the identity at BERT's sizes: at D = 768, row 10 of a 24-token kernel puts 0.78 of its
weight on the diagonal with power 1/4 and 0.29 with 1/2 (at D = 64: 0.27 and 0.10). `pam_temperature_power=0.25`
reproduces the published kernel. Padded keys get weight 0, so padding never changes a sentence's result.
"""

from dataclasses import dataclass

import torch
from torch import nn

from .pe_attenuated import LOCALITY_W
from .pe_base import (
    HyperParameter,
    LayerPosition,
    PositionEncoding,
    PositionState,
    gaussian_exponent,
    masked_softmax,
    register_position_encoding,
    relative_positions,
    sinusoidal_table,
)


@dataclass
class PositionalAttentionState(PositionState):
    """kernel: the position-only attention P `[1 | batch, q, k]`, zero on padded keys."""

    kernel: torch.Tensor


class PositionalAttentionBranch(LayerPosition):
    def __init__(self, config, layer_idx):
        super().__init__(config, layer_idx)
        self.merge_dense = nn.Linear(2 * config.hidden_size, config.hidden_size)

    def merge(self, attention, attention_output, hidden_states, state: PositionalAttentionState):
        positional = state.kernel.to(hidden_states.dtype) @ hidden_states
        return self.merge_dense(torch.cat((attention_output, positional), dim=-1))


@register_position_encoding
class PositionalAttentionEncoding(PositionEncoding):
    name = "pam"
    description = "fixed position-only attention branch beside content attention, merged linearly"
    reference = "Chen, Varoquaux, Suchanek 2023"
    hyperparameters = (
        HyperParameter(
            "pam_kernel",
            "window",
            "position-only attention: 'window' (1/3 on i-1, i, i+1), "
            "'gaussian' (softmax of -locality_w d^2) or 'sinusoidal' (softmax of P P^T / "
            "D^pam_temperature_power)",
            choices=("window", "gaussian", "sinusoidal"),
        ),
        LOCALITY_W,
        HyperParameter(
            "pam_temperature_power",
            0.5,
            "sinusoidal kernel: logits P P^T / hidden_size^power (0.5 ours, 0.25 the published code)",
            gt=0,
            le=8,
        ),
    )
    layer_class = PositionalAttentionBranch
    state_class = PositionalAttentionState

    def __init__(self, config):
        super().__init__(config)
        self.kernel = config.pam_kernel
        self.w = float(config.locality_w)
        self.hidden_size = config.hidden_size
        self.temperature = float(config.hidden_size) ** float(config.pam_temperature_power)

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
        return masked_softmax(table @ table.transpose(-1, -2) / self.temperature, key_padding)

    def extend_state(self, state):
        return PositionalAttentionState.extend(state, kernel=self.kernel_matrix(state.position_ids, state.key_padding))

    def position_bias(self, seq_len):
        """PAM's positional attention as log-weights, like every PE's logits: log P, whose exp is the kernel P the
        branch applies (rows sum to 1 but at the window kernel's edges, as published; zeros of P, outside a window,
        become the most negative finite value)."""
        state = self.analysis_state(seq_len)
        kernel = self.kernel_matrix(state.position_ids, state.key_padding).float()
        logits = torch.log(kernel.clamp_min(torch.finfo(kernel.dtype).tiny))
        return logits[:, None].expand(1, self.num_heads, seq_len, seq_len)
