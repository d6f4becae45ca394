"""KERPLE (Chi et al. 2022): a relative bias that is a conditionally positive definite kernel of the distance, with
learnable per-head parameters, for length extrapolation.

    log:    bias(i, j) = -r1 * log(1 + r2 * |i - j|)      r1, r2 > 0
    power:  bias(i, j) = -r1 * |i - j| ** r2               r1 > 0, 0 < r2 <= 2

Bidirectional: the paper's models are causal (distance i - j >= 0 only); in an encoder both signs occur, and the
kernel is applied to |i - j|, so the bias is symmetric, Toeplitz, and non-increasing in the distance (as
bidirectional ALiBi, which is the power kernel with r2 = 1).

Per layer and head, as in the published code (one kernel module per attention layer). The per-layer parameters live
in the model-level module, `[layers, heads]`, so `position_bias` shows every layer's kernel; each layer reads its
row from the state.

Positivity. The published code keeps r1, r2 >= 0.01 (and r2 <= 2 for the power kernel) by clamping the stored
parameters in place at every forward. A parameter written in place during forward cannot be traced by torch.export
or torch.compile, and clamping out of place instead leaves zero gradient below the bound (a parameter that crosses
it stays there). We reparametrise: r1 = softplus(raw_r1); r2 = softplus(raw_r2) (log) or 2 * sigmoid(raw_r2)
(power), positive (and bounded) by construction, with gradient everywhere. Initial values follow the published code:
r1 ~ U(0, 2) and r2 ~ U(0, 1), at least 0.01.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import initialization as init

from .pe_base import (
    HyperParameter,
    LayerPosition,
    PositionEncoding,
    PositionState,
    clamp_mask,
    register_position_encoding,
    relative_positions,
)

# The published code's lower bound on r1 and r2 (its clamp), used for the initial values.
SMALLEST_INITIAL_VALUE = 0.01


def kerple_bias(distance: torch.Tensor, r1: torch.Tensor, r2: torch.Tensor, kernel: str) -> torch.Tensor:
    """The kernel's bias `[..., heads, q, k]` for distances |i - j| `[..., q, k]` (float) and per-head r1, r2
    `[heads]`."""
    distance = distance[..., None, :, :]
    r1, r2 = r1[:, None, None], r2[:, None, None]
    if kernel == "log":
        return -r1 * torch.log1p(r2 * distance)
    # 0 ** r2 is 0, but its gradient in r2 is 0 * log(0) = NaN: evaluate the power where d >= 1 only.
    powered = distance.clamp(min=1.0) ** r2
    return -r1 * torch.where(distance > 0, powered, torch.zeros_like(powered))


@dataclass
class KerpleState(PositionState):
    """distance: |i - j| as floats, `[1 | batch, q, k]`; r1, r2: every layer's kernel parameters `[layers, heads]`."""

    distance: torch.Tensor
    r1: torch.Tensor
    r2: torch.Tensor


class KerpleLayer(LayerPosition):
    """Adds this layer's kernel bias to the padding mask (a float mask, so sdpa and eager see the same logits)."""

    def __init__(self, config, layer_idx):
        super().__init__(config, layer_idx)
        self.kernel = config.kerple_kernel

    def adjust(self, attention, query, key, state: KerpleState):
        bias = kerple_bias(state.distance, state.r1[self.layer_idx], state.r2[self.layer_idx], self.kernel)
        return query, key, clamp_mask(bias.to(query.dtype) + state.key_padding)


def _inverse_softplus(value: torch.Tensor) -> torch.Tensor:
    return value + torch.log(-torch.expm1(-value))  # log(exp(v) - 1), stable for small and large v


@register_position_encoding
class KerplePositionEncoding(PositionEncoding):
    name = "kerple"
    description = "kernelized relative bias -r1*log(1+r2*|i-j|) or -r1*|i-j|^r2, learnable per layer and head"
    reference = "Chi et al. 2022 (KERPLE)"
    hyperparameters = (
        HyperParameter(
            "kerple_kernel",
            "log",
            "'log': -r1 log(1 + r2 |i-j|); 'power': -r1 |i-j|^r2 with r2 <= 2",
            choices=("log", "power"),
        ),
    )
    layer_class = KerpleLayer
    state_class = KerpleState

    def __init__(self, config):
        super().__init__(config)
        self.kernel = config.kerple_kernel
        shape = (config.num_hidden_layers, config.num_attention_heads)
        # Unconstrained values behind r1 and r2 (see `kernel_parameters`).
        self.raw_r1 = nn.Parameter(torch.empty(shape))
        self.raw_r2 = nn.Parameter(torch.empty(shape))

    def kernel_parameters(self) -> tuple[torch.Tensor, torch.Tensor]:
        """r1 and r2, `[layers, heads]`: positive, and r2 in (0, 2) for the power kernel."""
        r1 = nn.functional.softplus(self.raw_r1)
        r2 = 2.0 * torch.sigmoid(self.raw_r2) if self.kernel == "power" else nn.functional.softplus(self.raw_r2)
        return r1, r2

    def extend_state(self, state):
        # float32 whatever the model's dtype: bfloat16 holds integers exactly only up to 256.
        distance = relative_positions(state.position_ids).abs().float()
        r1, r2 = (parameter.float() for parameter in self.kernel_parameters())
        return KerpleState.extend(state, distance=distance, r1=r1, r2=r2)

    def position_bias(self, seq_len):
        state = self.extend_state(self.analysis_state(seq_len))
        layers = [kerple_bias(state.distance, state.r1[i], state.r2[i], self.kernel) for i in range(len(state.r1))]
        return torch.cat(layers).float()  # [layers, heads, n, n]

    @torch.no_grad()
    def init_position_weights(self, initializer_range):
        device = self.raw_r1.device
        r1 = (2.0 * torch.rand(self.raw_r1.shape, device=device)).clamp(min=SMALLEST_INITIAL_VALUE)
        r2 = torch.rand(self.raw_r2.shape, device=device).clamp(min=SMALLEST_INITIAL_VALUE)
        init.copy_(self.raw_r1, _inverse_softplus(r1))
        # power: r2 = 2 sigmoid(raw), so raw = logit(r2 / 2); log: raw = softplus^-1(r2).
        init.copy_(self.raw_r2, torch.logit(r2 / 2.0) if self.kernel == "power" else _inverse_softplus(r2))
