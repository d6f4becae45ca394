"""Additive-bias PEs: a content-independent [heads, q, k] bias on the attention logits, the same in every layer,
computed once per forward pass and folded into the attention mask."""

import math

import torch
from torch import nn
from transformers import initialization as init

from .errors import InvalidInputError
from .pe_base import HyperParameter, PositionEncoding, register_position_encoding, relative_positions


def alibi_slopes(num_heads: int) -> torch.Tensor:
    """Geometric per-head slopes of the ALiBi paper (with its recipe for head counts that are not powers of 2)."""

    def power_of_two_slopes(n: int) -> list[float]:
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        return [start * start**i for i in range(n)]

    if math.log2(num_heads).is_integer():
        slopes = power_of_two_slopes(num_heads)
    else:
        closest = 2 ** math.floor(math.log2(num_heads))
        slopes = power_of_two_slopes(closest) + alibi_slopes(2 * closest).tolist()[0::2][: num_heads - closest]
    return torch.tensor(slopes, dtype=torch.float32)


@register_position_encoding
class AlibiPositionEncoding(PositionEncoding):
    """Symmetric (bidirectional) ALiBi, as MosaicBERT: bias = -slope_h * |i - j|."""

    name = "alibi"
    description = "linear distance penalty -slope*|i-j| per head, symmetric"
    reference = "Press et al. 2022; MosaicBERT (Portes et al. 2023)"

    def shared_bias(self, state):
        distance = relative_positions(state.position_ids).abs().float()[:, None]  # [1 | batch, 1, q, k]
        slopes = alibi_slopes(self.num_heads).to(distance.device)
        return -slopes[None, :, None, None] * distance


def t5_relative_bucket(relative: torch.Tensor, num_buckets: int, max_distance: int) -> torch.Tensor:
    """T5's bidirectional buckets of d = j - i: half the buckets per direction, exact for small |d|, log-spaced
    up to `max_distance`, and the last bucket beyond."""
    num_buckets //= 2
    bucket = (relative > 0).long() * num_buckets
    distance = relative.abs()
    max_exact = num_buckets // 2
    log_ratio = torch.log(distance.clamp(min=1).float() / max_exact) / math.log(max_distance / max_exact)
    large = (max_exact + log_ratio * (num_buckets - max_exact)).long().clamp(max=num_buckets - 1)
    return bucket + torch.where(distance < max_exact, distance, large)


class T5BiasTable(nn.Embedding):
    """T5's bias table, initialised N(0, 1/sqrt(hidden)) as in T5: with BERT's 0.02 the bias starts (and, in a
    short run, stays) too small to break permutation symmetry."""

    def __init__(self, num_buckets: int, num_heads: int, hidden_size: int):
        super().__init__(num_buckets, num_heads)
        self.std = hidden_size**-0.5

    @torch.no_grad()
    def init_position_weights(self, initializer_range):
        init.normal_(self.weight, mean=0.0, std=self.std)


@register_position_encoding
class T5PositionEncoding(PositionEncoding):
    """T5 relative bias: a learned scalar per (bucket, head), one table shared by all layers as in T5."""

    name = "t5"
    description = "learned bias per log-bucketed relative distance and head, shared across layers"
    reference = "Raffel et al. 2020"
    hyperparameters = (
        HyperParameter(
            "t5_num_buckets", 32, "relative-distance buckets (half per direction, half of those exact)", ge=4, le=2**16
        ),
        HyperParameter("t5_max_distance", 128, "distance of the last log-spaced bucket", gt=0, le=2**20),
    )

    @classmethod
    def check_config(cls, config):
        exact = config.t5_num_buckets // 4
        if config.t5_max_distance <= exact:
            raise InvalidInputError(
                f"t5_max_distance ({config.t5_max_distance}) must exceed the {exact} exactly-bucketed distances "
                f"(t5_num_buckets // 4 with t5_num_buckets={config.t5_num_buckets}); raise it or use fewer buckets."
            )

    def __init__(self, config):
        super().__init__(config)
        self.num_buckets = config.t5_num_buckets
        self.max_distance = config.t5_max_distance
        self.relative_attention_bias = T5BiasTable(
            config.t5_num_buckets, config.num_attention_heads, config.hidden_size
        )

    def shared_bias(self, state):
        buckets = t5_relative_bucket(relative_positions(state.position_ids), self.num_buckets, self.max_distance)
        return self.relative_attention_bias(buckets).permute(0, 3, 1, 2)  # [1 | batch, heads, q, k]


@register_position_encoding
class WindowPositionEncoding(PositionEncoding):
    """Hard local attention: zero probability beyond +- window_size // 2 (the maximum-locality reference)."""

    name = "window"
    description = "hard local attention within +-window_size//2 positions"
    reference = "Beltagy et al. 2020 (sliding window)"
    hyperparameters = (
        HyperParameter("window_size", 8, "each token attends to positions within +- window_size // 2", gt=0, le=2**20),
    )

    def __init__(self, config):
        super().__init__(config)
        self.half_window = config.window_size // 2

    def shared_bias(self, state):
        outside = relative_positions(state.position_ids).abs() > self.half_window
        dtype = state.key_padding.dtype
        return torch.zeros(outside.shape, dtype=dtype, device=outside.device).masked_fill(
            outside, torch.finfo(dtype).min
        )[:, None]


class FanInLinear(nn.Linear):
    """A linear layer initialised N(0, 1/fan_in): with BERT's N(0, 0.02) a 3-layer MLP would output a ~1e-6 bias,
    i.e. no position signal at the start of training."""

    @torch.no_grad()
    def init_position_weights(self, initializer_range):
        init.normal_(self.weight, mean=0.0, std=self.in_features**-0.5)
        init.zeros_(self.bias)


@register_position_encoding
class DynamicPositionEncoding(PositionEncoding):
    """Dynamic position bias: an MLP maps the signed log-distance sign(d) log(1 + |d|) to a bias per head.

    With the default positions 0..n-1 the MLP runs once per possible distance (2n - 1 of them) and is gathered, so
    its cost is O(n) MLP calls, not O(n^2), and no tensor value decides a shape (torch.export traces it). With
    positions given by the caller, whose distances the model cannot bound without reading them, it runs on the
    [q, k] distance matrix itself: exact for any positions, at O(n^2) MLP calls."""

    name = "dynamic"
    description = "MLP over signed log-distance giving a per-head bias"
    reference = "Wang et al. 2022 (CrossFormer); x-transformers"
    hyperparameters = (
        HyperParameter("dynamic_hidden_size", 64, "width of the MLP over signed log-distance", gt=0, le=2**12),
    )

    def __init__(self, config):
        super().__init__(config)
        width = config.dynamic_hidden_size
        self.mlp = nn.Sequential(
            FanInLinear(1, width), nn.SiLU(), FanInLinear(width, width), nn.SiLU(), FanInLinear(width, self.num_heads)
        )

    def bias_of(self, distances: torch.Tensor) -> torch.Tensor:
        """`[..., heads]` bias of integer distances `[...]`."""
        distances = distances.to(self.mlp[0].weight.dtype)
        return self.mlp((torch.sign(distances) * torch.log1p(distances.abs()))[..., None])

    def shared_bias(self, state):
        relative = relative_positions(state.position_ids)
        if not state.consecutive:
            return self.bias_of(relative).permute(0, 3, 1, 2)
        span = state.position_ids.shape[-1] - 1
        table = self.bias_of(torch.arange(-span, span + 1, device=relative.device))  # [2 span + 1, heads]
        return table[relative + span].permute(0, 3, 1, 2)
