"""FIRE (Li et al. 2023): functional interpolation for relative positions.

The causal paper's bias is b(i, j) = f(psi(i - j) / psi(max(L, i))) with psi(x) = log(c x + 1): a small MLP f (one
output per head) of the log-scaled distance, divided by the log-scaled query position, which is the farthest
distance the query sees. At any length the MLP thus reads inputs in [0, 1] (interpolation, not extrapolation), and
below the learnable threshold L the divisor is the constant psi(L), so short inputs get a plain relative bias
("progressive interpolation"). c and L are learnable (L as a learnable multiple of its initial value).

Bidirectional adaptation (an encoder's query sees keys on both sides):

- the MLP reads the *signed* normalised distance, x(i, j) = sign(j - i) psi(|j - i|) / psi(max(L, e)), in [-1, 1]:
  one MLP that can treat left and right differently, continuous through d = 0 (as `dynamic`'s signed log-distance);
- the divisor uses e, the query's farthest distance *on the key's side* among the sequence's real tokens: i - first
  for keys on its left (the paper's i when the sequence starts at 0), last - i for keys on its right. Each side is
  the causal case seen from the query, so at lengths >= L the farthest key on either side maps to -1 or +1 whatever
  the length, and padding changes nothing for real tokens.

So FIRE is not Toeplitz: the bias depends on the distance and on the query's place in the sequence (it is Toeplitz
while every query's extents stay below L). Reversing the sequence negates the MLP's inputs: x(i, j) =
-x(n-1-i, n-1-j).

One MLP, c and L shared by all layers (as `t5` shares its table): the divisor depends on each sequence's length, so
the bias is `[batch, heads, q, k]`, computed once per forward and folded into the mask instead of once per layer.
The MLP and the initial c = 0.1, L = 512 follow the paper's reference code (Linear(1, width), ReLU,
Linear(width, heads), with torch's default uniform initialisation).
"""

import torch
from torch import nn
from transformers import initialization as init

from .pe_base import HyperParameter, PositionEncoding, register_position_encoding, relative_positions

# Added to the divisor, as in the paper's code, so a query with no key on one side (e = 0) never divides by zero.
NORMALISER_EPS = 1e-6


def farthest_distances(position_ids: torch.Tensor, key_padding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each query's distance to the farthest real token on its left and on its right, `[batch, q]` each (floats;
    0 where there is none)."""
    real = key_padding[:, 0, 0] == 0  # [batch, k]
    positions = position_ids.float().expand(real.shape)  # float32 whatever the model's dtype (exact integers)
    inf = torch.full_like(positions, float("inf"))
    first = torch.where(real, positions, inf).amin(-1, keepdim=True)
    last = torch.where(real, positions, -inf).amax(-1, keepdim=True)
    return (positions - first).clamp(min=0), (last - positions).clamp(min=0)


class FireBias(nn.Module):
    """f(x), x the signed normalised distance: an MLP with one output per head, and the learnable c and L."""

    def __init__(self, num_heads: int, hidden_size: int, init_c: float, init_threshold: float):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(1, hidden_size), nn.ReLU(), nn.Linear(hidden_size, num_heads))
        self.init_c = init_c
        self.init_threshold = init_threshold
        self.c = nn.Parameter(torch.tensor(init_c))
        # The paper's "L multiplier": L = |threshold_scale * init_threshold|.
        self.threshold_scale = nn.Parameter(torch.tensor(1.0))

    def psi(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log(torch.abs(self.c.float() * x) + 1.0)

    def inputs(self, relative: torch.Tensor, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """x(i, j) `[batch, q, k]` in [-1, 1] (float32) from d = j - i `[1 | batch, q, k]` and the extents
        `[batch, q]` (float32)."""
        threshold = torch.abs(self.threshold_scale.float() * self.init_threshold)
        extent = torch.where(relative < 0, left[..., None], right[..., None])
        normaliser = self.psi(torch.maximum(extent, threshold)) + NORMALISER_EPS
        distance = relative.float()
        return torch.sign(distance) * self.psi(distance.abs()) / normaliser

    def forward(self, relative, left, right) -> torch.Tensor:
        """The bias `[batch, heads, q, k]`."""
        x = self.inputs(relative, left, right)[..., None].to(self.mlp[0].weight.dtype)
        return self.mlp(x).permute(0, 3, 1, 2)

    @torch.no_grad()
    def init_position_weights(self, initializer_range):
        # torch's default for nn.Linear, as the reference code (BERT's N(0, 0.02) would make the bias ~1e-3: no
        # position signal at the start of training).
        for layer in (self.mlp[0], self.mlp[2]):
            bound = layer.in_features**-0.5
            init.uniform_(layer.weight, -bound, bound)
            init.uniform_(layer.bias, -bound, bound)
        init.constant_(self.c, self.init_c)
        init.constant_(self.threshold_scale, 1.0)


@register_position_encoding
class FirePositionEncoding(PositionEncoding):
    name = "fire"
    description = "MLP of the log-distance normalised by the query's log-extent, per head, shared across layers"
    reference = "Li et al. 2023 (FIRE)"
    hyperparameters = (
        HyperParameter("fire_hidden_size", 32, "width of the MLP over the normalised distance", gt=0, le=2**12),
        HyperParameter("fire_init_c", 0.1, "initial c of psi(x) = log(c x + 1) (learnable)", gt=0, le=1e4),
        HyperParameter(
            "fire_init_L",
            512.0,
            "initial threshold L (learnable): queries whose extent on a side is "
            "below L divide by psi(L), so shorter inputs get a plain relative bias",
            gt=0,
            le=1e6,
        ),
    )

    def __init__(self, config):
        super().__init__(config)
        self.fire = FireBias(
            config.num_attention_heads, config.fire_hidden_size, float(config.fire_init_c), float(config.fire_init_L)
        )

    def shared_bias(self, state):
        left, right = farthest_distances(state.position_ids, state.key_padding)
        return self.fire(relative_positions(state.position_ids), left, right)
