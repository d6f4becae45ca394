"""The built-in PE zoo: importing this module registers every built-in variant, family by family, in the order
tables and reports use. A new built-in PE is one `@register_position_encoding` class in a `pe_*.py` family module
(imported here); a PE of your own is the same class in your own module (see README, "Add your own PE")."""

# The import order below is the registration order, which POSITION_ENCODINGS, tables and reports follow: not sorted.
from .pe_base import (
    HyperParameter,
    LayerPosition,
    PositionEncoding,
    PositionState,
    get_position_encoding_class,
    hyperparameter_specs,
    owners_of,
    position_encoding_names,
    register_position_encoding,
)
from .pe_absolute import LearnedPositionEncoding, NoPositionEncoding, SinusoidalPositionEncoding
from .pe_rotary import RotaryPositionEncoding
from .pe_bias import AlibiPositionEncoding, DynamicPositionEncoding, T5PositionEncoding, WindowPositionEncoding
from .pe_relative import DisentangledPositionEncoding, ShawPositionEncoding
from .pe_attenuated import AttenuatedPositionEncoding
from .pe_pam import PositionalAttentionEncoding
from .pe_kerple import KerplePositionEncoding
from .pe_fire import FirePositionEncoding
from .pe_cope import ContextualPositionEncoding


def __getattr__(name: str):
    # POSITION_ENCODINGS and PE_HYPERPARAMETERS are live views of the registry (see pe_base).
    from . import pe_base

    return pe_base.__getattr__(name)


__all__ = [
    "HyperParameter",
    "LayerPosition",
    "PositionEncoding",
    "PositionState",
    "get_position_encoding_class",
    "hyperparameter_specs",
    "owners_of",
    "position_encoding_names",
    "register_position_encoding",
    "LearnedPositionEncoding",
    "SinusoidalPositionEncoding",
    "NoPositionEncoding",
    "RotaryPositionEncoding",
    "AlibiPositionEncoding",
    "T5PositionEncoding",
    "WindowPositionEncoding",
    "DynamicPositionEncoding",
    "ShawPositionEncoding",
    "DisentangledPositionEncoding",
    "AttenuatedPositionEncoding",
    "PositionalAttentionEncoding",
    "KerplePositionEncoding",
    "FirePositionEncoding",
    "ContextualPositionEncoding",
]
