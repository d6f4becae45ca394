"""Absolute PEs: a vector per position added to the token embeddings (BERT's learned table, Vaswani's sinusoid),
and NoPE, which adds nothing."""

import torch
from torch import nn
from torch.nn import functional as F
from transformers import initialization as init

from .pe_base import PositionEncoding, register_position_encoding, sinusoidal_table


@register_position_encoding
class LearnedPositionEncoding(PositionEncoding):
    """BERT's learned table. Its parameter is `embeddings.position_embeddings.weight`, exactly as in BertModel."""

    name = "learned"
    description = "learned absolute table added to the embeddings (BERT)"
    reference = "Devlin et al. 2019"
    bounded = True

    def __init__(self, config):
        super().__init__(config)
        self.weight = nn.Parameter(torch.empty(config.max_position_embeddings, config.hidden_size))

    def embed(self, position_ids):
        return F.embedding(position_ids, self.weight)

    @torch.no_grad()
    def init_position_weights(self, initializer_range):
        init.normal_(self.weight, mean=0.0, std=initializer_range)


@register_position_encoding
class SinusoidalPositionEncoding(PositionEncoding):
    """Fixed sin/cos encoding; computed on the fly (no buffer to initialise or save).

    Scaled by 1/sqrt(hidden_size) (as x-transformers' scaled sinusoidal init): unscaled, its entries in [-1, 1]
    would dwarf BERT's N(0, 0.02) token embeddings, and after LayerNorm the model would see mostly position."""

    name = "sinusoidal"
    description = "fixed sin/cos absolute encoding added to the embeddings"
    reference = "Vaswani et al. 2017"
    bounded = True

    def __init__(self, config):
        super().__init__(config)
        self.hidden_size = config.hidden_size

    def embed(self, position_ids):
        return sinusoidal_table(position_ids, self.hidden_size) * self.hidden_size**-0.5


@register_position_encoding
class NoPositionEncoding(PositionEncoding):
    """NoPE: without a causal mask the encoder is permutation-equivariant, a useful lower bound."""

    name = "none"
    description = "no position information (NoPE)"
    reference = "Haviv et al. 2022"
