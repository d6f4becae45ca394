"""The PE zoo: importing the family modules registers every variant. Adding a PE = one class with `@register`
in a family module (plus its hyper-parameters as `PEBertConfig` fields)."""

from .pe_base import POSITION_ENCODING_CLASSES, LayerPosition, PositionEncoding, PositionState
from .pe_absolute import LearnedPositionEncoding, NoPositionEncoding, SinusoidalPositionEncoding
from .pe_rotary import RotaryPositionEncoding
from .pe_bias import AlibiPositionEncoding, DynamicPositionEncoding, T5PositionEncoding, WindowPositionEncoding
from .pe_relative import DisentangledPositionEncoding, ShawPositionEncoding
from .pe_attenuated import AttenuatedPositionEncoding
from .pe_pam import PositionalAttentionEncoding

_ORDER = ("learned", "sinusoidal", "none", "rope", "alibi", "t5", "shaw", "disentangled", "attenuated", "window",
          "pam", "dynamic")
# Every valid `position_encoding` value: the documented order first, then any variant registered later.
POSITION_ENCODINGS: tuple[str, ...] = tuple(n for n in _ORDER if n in POSITION_ENCODING_CLASSES) + tuple(
    n for n in POSITION_ENCODING_CLASSES if n not in _ORDER
)
PE_HYPERPARAMETERS: dict[str, tuple[str, ...]] = {n: POSITION_ENCODING_CLASSES[n].hyperparameters for n in POSITION_ENCODINGS}


def validate_position_encoding_name(name: str) -> None:
    if name not in POSITION_ENCODING_CLASSES:
        raise ValueError(
            f"Unknown position_encoding {name!r}. Valid names: {', '.join(POSITION_ENCODINGS)}."
        )


def get_position_encoding_class(name: str) -> type[PositionEncoding]:
    validate_position_encoding_name(name)
    return POSITION_ENCODING_CLASSES[name]


__all__ = [
    "POSITION_ENCODINGS", "PE_HYPERPARAMETERS", "PositionEncoding", "LayerPosition", "PositionState",
    "get_position_encoding_class", "validate_position_encoding_name",
    "LearnedPositionEncoding", "SinusoidalPositionEncoding", "NoPositionEncoding", "RotaryPositionEncoding",
    "AlibiPositionEncoding", "T5PositionEncoding", "WindowPositionEncoding", "DynamicPositionEncoding",
    "ShawPositionEncoding", "DisentangledPositionEncoding", "AttenuatedPositionEncoding",
    "PositionalAttentionEncoding",
]
