"""The paper's attenuated (Gaussian) encoding: a locality prior on the attention logits, with a symmetry knob.

With d = j - i the exponent is -w d^2 left of the query (d < 0) and -s w d^2 right of it (d >= 0): larger w is more
local, s = 1 is symmetric. That is the published form (`attenuated_asymmetry="exponent"`); there s also moves
locality (s = 0 leaves no position information right of the query). `"balanced"` keeps -w d^2 on both sides and gives
the right key s times the weight of the left key at the same distance, each pair keeping the symmetric prior's
weight: s then moves symmetry alone and w locality alone (`pe_base.gaussian_exponent`), which is what a test of
either property needs. `attenuated_bias="prob"` adds the row-normalised probabilities softmax_j(exponent) to the
logits, as the published code does (a small bias in [0, 1]); `"log"` adds the exponent itself (a proper log-prior).
Rows are normalised over the sentence's real tokens only, so padding never changes a sentence's result.

`attenuated_learnable` makes the bias a learnable per-layer table (one row per head, or one shared by all heads),
initialised from the Gaussian. Two forms (`attenuated_table`):

- "signed" (ours): the table holds the exponent over *signed* distance and goes through `attenuated_bias` like the
  fixed prior (prob: row softmax; log: as is), so a layer can learn an asymmetric prior.
- "absolute" (the published code): the table holds the added values themselves over |i - j|, so it is symmetric by
  construction, initialised to softmax over d >= 0 of -w d^2 and added to the logits as is.

Distances beyond the table (max_position_embeddings - 1) use its last entries.
"""

from dataclasses import dataclass

import torch
from torch import nn
from transformers import initialization as init

from .errors import InvalidInputError
from .pe_base import (
    HyperParameter,
    LayerPosition,
    PositionEncoding,
    PositionState,
    clamp_mask,
    gaussian_exponent,
    masked_softmax,
    register_position_encoding,
    relative_positions,
)

# Shared with the positional-attention branch's Gaussian kernel (one config value, one declaration).
LOCALITY_W = HyperParameter("locality_w", 0.1, "w in exp(-w d^2): larger is more local", ge=0, le=1e4)


def _to_bias(exponent: torch.Tensor, mode: str, key_padding: torch.Tensor) -> torch.Tensor:
    return masked_softmax(exponent, key_padding) if mode == "prob" else exponent


def _table_mode(config) -> str:
    """How a learnable table becomes a bias: through `attenuated_bias` (signed), or as is (absolute, published)."""
    return config.attenuated_bias if config.attenuated_table == "signed" else "as_is"


def learned_bias(state, layer_idx: int, mode: str) -> torch.Tensor:
    """One layer's bias `[1 | batch, heads | 1, q, k]` from the learnable tables of an `AttenuationState`."""
    values = state.distance_table[layer_idx][:, state.table_index].transpose(0, 1)
    return _to_bias(values, mode, state.key_padding)


@dataclass
class AttenuationState(PositionState):
    """distance_table: the learnable per-layer tables `[layers, heads | 1, distances]` (None when fixed; the fixed
    prior is already in `attention_mask`); table_index: each (query, key)'s column, `[1 | batch, q, k]`."""

    distance_table: torch.Tensor | None
    table_index: torch.Tensor | None


class AttenuationLayer(LayerPosition):
    """Adds this layer's learnable bias (the tables live in the model-level module, so parameter names do not depend
    on the layer count); passes the mask through when the prior is fixed."""

    def __init__(self, config, layer_idx):
        super().__init__(config, layer_idx)
        self.mode = _table_mode(config)

    def adjust(self, attention, query, key, state: AttenuationState):
        if state.distance_table is None:
            return query, key, state.attention_mask
        bias = learned_bias(state, self.layer_idx, self.mode)
        return query, key, clamp_mask(bias.to(query.dtype) + state.key_padding)


@register_position_encoding
class AttenuatedPositionEncoding(PositionEncoding):
    name = "attenuated"
    description = "Gaussian locality prior exp(-w d^2), asymmetric by s; fixed or learnable per layer"
    reference = "Chen, Varoquaux, Suchanek 2023"
    hyperparameters = (
        LOCALITY_W,
        HyperParameter(
            "symmetry_s",
            1.0,
            "asymmetry: the exponent's scale right of the query ('exponent') or the right/left weight ratio at equal "
            "distance ('balanced'); 1 = symmetric",
            ge=0,
            le=1e4,
        ),
        HyperParameter(
            "attenuated_asymmetry",
            "exponent",
            "how s makes the prior asymmetric: 'exponent' scales the exponent right of the query (published); "
            "'balanced' moves weight between the two keys at each distance, keeping locality",
            choices=("exponent", "balanced"),
        ),
        HyperParameter(
            "attenuated_bias",
            "prob",
            "'prob': add softmax_j of the exponent (published code); 'log': add the exponent itself",
            choices=("prob", "log"),
        ),
        HyperParameter(
            "attenuated_learnable",
            "none",
            "'per_head' or 'shared': a learnable per-layer table initialised from the Gaussian",
            choices=("none", "per_head", "shared"),
        ),
        HyperParameter(
            "attenuated_table",
            "signed",
            "form of the learnable table: 'signed' exponent (ours) or "
            "'absolute' added values over |i-j| (published code)",
            choices=("signed", "absolute"),
        ),
    )
    layer_class = AttenuationLayer
    state_class = AttenuationState

    @classmethod
    def check_config(cls, config):
        if config.attenuated_asymmetry == "balanced" and config.symmetry_s <= 0:
            raise InvalidInputError(
                f"symmetry_s={config.symmetry_s} with attenuated_asymmetry='balanced': s is the right/left weight "
                "ratio, so it must be > 0 (a one-sided prior would erase the position information right of the "
                "query); give a small positive s, or attenuated_asymmetry='exponent'."
            )

    def __init__(self, config):
        super().__init__(config)
        self.w, self.s = float(config.locality_w), float(config.symmetry_s)
        self.asymmetry = config.attenuated_asymmetry
        self.mode = config.attenuated_bias
        self.learnable = config.attenuated_learnable
        self.signed = config.attenuated_table == "signed"
        self.table_mode = _table_mode(config)
        if self.learnable != "none":
            heads = config.num_attention_heads if self.learnable == "per_head" else 1
            span = 2 * self.max_positions - 1 if self.signed else self.max_positions
            # [layers, heads | 1, distance]: one table per layer.
            self.distance_bias = nn.Parameter(torch.empty(config.num_hidden_layers, heads, span))

    def table_index(self, position_ids: torch.Tensor) -> torch.Tensor:
        last = self.max_positions - 1
        relative = relative_positions(position_ids)
        return relative.clamp(-last, last) + last if self.signed else relative.abs().clamp(max=last)

    def _initial_table(self, device) -> torch.Tensor:
        if self.signed:
            distances = torch.arange(-(self.max_positions - 1), self.max_positions, device=device)
            return gaussian_exponent(distances, self.w, self.s, self.asymmetry)
        return torch.softmax(gaussian_exponent(torch.arange(self.max_positions, device=device), self.w, 1.0), dim=-1)

    def shared_bias(self, state):
        if self.learnable != "none":
            return None
        exponent = gaussian_exponent(relative_positions(state.position_ids), self.w, self.s, self.asymmetry)[:, None]
        return _to_bias(exponent, self.mode, state.key_padding)

    def extend_state(self, state):
        if self.learnable == "none":
            return AttenuationState.extend(state, distance_table=None, table_index=None)
        return AttenuationState.extend(
            state, distance_table=self.distance_bias, table_index=self.table_index(state.position_ids)
        )

    def position_bias(self, seq_len):
        if self.learnable == "none":
            return super().position_bias(seq_len)
        state = self.extend_state(self.analysis_state(seq_len))
        layers = [learned_bias(state, i, self.table_mode) for i in range(len(self.distance_bias))]
        return torch.cat(layers).expand(-1, self.num_heads, -1, -1).float()

    @torch.no_grad()
    def init_position_weights(self, initializer_range):
        if self.learnable != "none":
            init.copy_(self.distance_bias, self._initial_table(self.distance_bias.device).expand_as(self.distance_bias))
