"""The one interface every positional encoding implements, its hyper-parameter declarations, and the registry.

A PE is one class. It declares its name, its hyper-parameters (`HyperParameter`: default, meaning, valid values)
and its hooks; `register_position_encoding` makes it a valid `position_encoding` value, and `PEBertConfig`
accepts, validates and serialises its hyper-parameters with no PE-specific code. It has two parts:

* a model-level `PositionEncoding`, at `embeddings.position_embeddings` (the name BERT's learned table has, so stock
  checkpoints load). It owns parameters shared by all layers, may add vectors to the token embeddings (`embed`), and
  once per forward builds a `PositionState`: the attention mask every layer uses, with any bias that is the same in
  all layers already added (`shared_bias`, so no layer allocates an S x S tensor it does not need), plus whatever
  else the layers read (`extend_state`, returning the PE's own typed `state_class`).
* a per-layer `LayerPosition`, at `attention.self.position` in every layer. It can rotate queries and keys, add a
  layer-specific bias to the mask (`adjust`), and change the attention output (`merge`).

Every hook defaults to "no positional information", so a variant overrides only what it does. Layers receive the
state's fields as positional tensors, so both gradient-checkpointing modes (reentrant included) see every tensor
that carries gradient. This file and its siblings use relative imports only, so a saved checkpoint's code is
self-contained.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from .errors import InvalidInputError

# ---------------------------------------------------------------------------------------------------------------
# Hyper-parameters


@dataclass(frozen=True)
class HyperParameter:
    """One hyper-parameter of a PE, stored in the config (and `config.json`) under `name`.

    The type is the default's (bool, int, float or str; a float accepts an int). Numbers must be finite and within
    the bounds given (`gt`, `ge`, `lt`, `le`); strings must be one of `choices` when given. `check(value)` may add a
    rule of its own: it returns a message saying what is wrong, or None. Give a number an upper bound too: a size
    or a scale far beyond any sensible value (`locality_w=1e39`, a table of 10**9 rows) otherwise fails much later,
    as NaN outputs or an allocation error, instead of as one line naming the bound. `PEBertConfig` declares its own
    numeric fields the same way.
    """

    name: str
    default: bool | int | float | str
    doc: str = ""
    choices: tuple[str, ...] | None = None
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    check: Callable[[Any], str | None] | None = None

    def __post_init__(self):
        if not self.name.isidentifier():
            raise ValueError(f"Hyper-parameter name {self.name!r} must be a Python identifier.")
        if type(self.default) not in (bool, int, float, str):
            raise TypeError(
                f"Hyper-parameter {self.name!r}: the default must be a bool, int, float or str, "
                f"got {type(self.default).__name__}."
            )
        self.validate(self.default)  # a declaration whose own default is invalid is a bug in the PE

    @property
    def type(self) -> type:
        return type(self.default)

    def validate(self, value):
        """The value as stored (ints become floats for float hyper-parameters), or a ValueError naming the field."""
        kind = self.type
        if kind is float and type(value) is int:
            value = float(value)
        if type(value) is not kind:
            raise InvalidInputError(
                f"`{self.name}` must be of type {kind.__name__}, got {value!r} ({type(value).__name__})."
            )
        if kind in (int, float):
            if not math.isfinite(value):
                raise InvalidInputError(f"`{self.name}` must be a finite number, got {value!r}.")
            violated = (
                (self.gt is not None and value <= self.gt)
                or (self.ge is not None and value < self.ge)
                or (self.lt is not None and value >= self.lt)
                or (self.le is not None and value > self.le)
            )
            if violated:
                raise InvalidInputError(f"`{self.name}` must be {self.range_text()}, got {value!r}.")
        if self.choices is not None and value not in self.choices:
            raise InvalidInputError(
                f"`{self.name}`={value!r} is not valid; choose one of {', '.join(map(repr, self.choices))}."
            )
        if self.check is not None and (problem := self.check(value)) is not None:
            raise InvalidInputError(f"`{self.name}`={value!r}: {problem}")
        return value

    def range_text(self) -> str:
        parts = [
            f"{word} {bound if isinstance(bound, int) else f'{bound:g}'}"
            for bound, word in ((self.gt, ">"), (self.ge, ">="), (self.lt, "<"), (self.le, "<="))
            if bound is not None
        ]
        return " and ".join(parts)

    def describe(self) -> str:
        """One line for docs, `--help` and model cards."""
        valid = f"one of {', '.join(self.choices)}" if self.choices else self.range_text()
        return (
            f"{self.name} ({self.type.__name__}, default {self.default!r}{'; ' + valid if valid else ''}): {self.doc}"
        )


# ---------------------------------------------------------------------------------------------------------------
# What a forward pass computes once and every layer reads


@dataclass
class PositionState:
    """What one forward pass computes once and every layer reads. A PE that needs more subclasses it with typed
    fields (tensors or None) and names the subclass in its `state_class`.

    attention_mask: additive float mask `[batch, 1 | heads, 1 | query, key]` to give to the attention function
        (padding, plus the bias shared by all layers); `None` when nothing is masked or biased.
    key_padding: additive float mask `[batch, 1, 1, key]`: 0 on real tokens, dtype-min on padding. PEs that
        normalise over keys use it, so padding never changes what real tokens see.
    position_ids: `[1 | batch, seq]` positions of the tokens.
    consecutive: True when the positions are 0..seq-1 (the model's default): every distance j - i then lies in
        [-(seq - 1), seq - 1], which a PE may use to size a per-distance table without reading the positions.
    """

    attention_mask: torch.Tensor | None
    key_padding: torch.Tensor
    position_ids: torch.Tensor
    consecutive: bool

    def values(self) -> tuple:
        """The fields in order, to pass positionally through (reentrant) gradient checkpointing."""
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self))

    @classmethod
    def extend(cls, base: PositionState, **fields) -> PositionState:
        """This state class built from a base `PositionState` plus its own fields."""
        shared = {name: getattr(base, name) for name in _BASE_STATE_FIELDS}
        return cls(**shared, **fields)


# Computed once: dynamo (torch.compile) cannot trace `dataclasses.fields` of a class, only of an instance.
_BASE_STATE_FIELDS = tuple(f.name for f in dataclasses.fields(PositionState))


# ---------------------------------------------------------------------------------------------------------------
# The two parts of a PE


class LayerPosition(nn.Module):
    """Per-layer part of a PE. The default one passes the shared mask through unchanged."""

    def __init__(self, config, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx

    def scale_factor(self) -> float:
        """Extra divisor of the logits' variance (DeBERTa scales by sqrt(3 d) because it sums three terms)."""
        return 1.0

    def adjust(self, attention, query, key, state: PositionState):
        """Return the `(query, key, attention_mask)` the attention function receives."""
        return query, key, state.attention_mask

    def merge(self, attention, attention_output, hidden_states, state: PositionState):
        """Post-process the attention output `[batch, seq, hidden]` (e.g. a parallel positional branch)."""
        return attention_output


class PositionEncoding(nn.Module):
    """Model-level part of a PE (see the module docstring). Subclasses set `name` and override hooks."""

    name: ClassVar[str]
    # Short description and reference, for model cards and `describe_position_encoding` (the README table is
    # written by hand).
    description: ClassVar[str] = ""
    reference: ClassVar[str] = ""
    # Absolute PEs are tied to positions < max_position_embeddings: longer inputs are an error, not truncated.
    bounded: ClassVar[bool] = False
    hyperparameters: ClassVar[tuple[HyperParameter, ...]] = ()
    layer_class: ClassVar[type[LayerPosition]] = LayerPosition
    state_class: ClassVar[type[PositionState]] = PositionState

    def __init__(self, config):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.max_positions = config.max_position_embeddings

    @classmethod
    def check_config(cls, config) -> None:
        """Rules that involve several fields (each hyper-parameter alone is checked by its declaration). Raise a
        ValueError that names the fields and the fix."""

    def embed(self, position_ids: torch.Tensor) -> torch.Tensor | None:
        """Vectors `[1 | batch, seq, hidden]` added to the token embeddings, or None."""
        return None

    def shared_bias(self, state: PositionState) -> torch.Tensor | None:
        """Logits bias `[1 | batch, heads | 1, q, k]` identical in every layer, or None. `state.attention_mask` is
        not built yet when this runs."""
        return None

    def extend_state(self, state: PositionState) -> PositionState:
        """Add what the layers read besides the mask: return a `state_class` built with `state_class.extend`."""
        return state

    def prepare(
        self, position_ids: torch.Tensor, key_padding: torch.Tensor, use_padding_mask: bool, consecutive: bool
    ) -> PositionState:
        """The state of one forward pass (the model calls this; PEs customise the hooks, not this method)."""
        state = PositionState(None, key_padding, position_ids, consecutive)
        bias = self.shared_bias(state)
        if bias is not None:
            state.attention_mask = clamp_mask(bias.to(key_padding.dtype) + key_padding)
        elif use_padding_mask:
            state.attention_mask = key_padding
        return self.extend_state(state)

    def position_bias(self, seq_len: int) -> torch.Tensor | None:
        """The PE-only logits bias `[layers | 1, heads, n, n]` at positions 0..n-1, for analysis; None if none."""
        state = self.analysis_state(seq_len)
        bias = self.shared_bias(state)
        return None if bias is None else bias.expand(1, self.num_heads, seq_len, seq_len).float()

    def analysis_state(self, seq_len: int) -> PositionState:
        """A state for positions 0..n-1 with no padding (what `position_bias` inspects)."""
        device = next((p.device for p in self.parameters()), None) or next(
            (b.device for b in self.buffers()), torch.device("cpu")
        )
        return PositionState(
            None, torch.zeros(1, 1, 1, seq_len, device=device), torch.arange(seq_len, device=device)[None], True
        )

    @torch.no_grad()
    def init_position_weights(self, initializer_range: float) -> None:
        """(Re)initialise this module's own parameters; the model's `_init_weights` calls `init_position_weights`
        on every module that has it (PE modules, and sub-modules needing a non-BERT init)."""


# ---------------------------------------------------------------------------------------------------------------
# The registry: the one place that knows every PE, in registration order (the order of tables and reports)


POSITION_ENCODING_CLASSES: dict[str, type[PositionEncoding]] = {}
# Config fields of PEBertConfig itself, which no PE hyper-parameter may shadow (filled by configuration.py).
RESERVED_CONFIG_NAMES: set[str] = set()


def register_position_encoding(cls: type[PositionEncoding]) -> type[PositionEncoding]:
    """Class decorator: make `cls` a valid `position_encoding` value under `cls.name`.

    Works for PEs defined outside pe_bert: `PEBertConfig(position_encoding=cls.name, **hyperparameters)` then
    builds, trains and saves a model with it, and `save_pretrained` ships the PE's module with the checkpoint.
    Re-running the same module (e.g. importing it again under another name) replaces the earlier registration.
    """
    if not (inspect.isclass(cls) and issubclass(cls, PositionEncoding)):
        raise TypeError(f"@register_position_encoding decorates a PositionEncoding subclass, got {cls!r}.")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{cls.__qualname__} needs a class attribute `name` (its `position_encoding` value).")
    previous = POSITION_ENCODING_CLASSES.get(name)
    if previous is not None and not _same_definition(previous, cls):
        raise ValueError(
            f"Two positional encodings are registered as {name!r}: {_where(previous)} and {_where(cls)}. "
            "Give one of them another `name`."
        )
    if not issubclass(cls.state_class, PositionState):
        raise TypeError(f"{cls.__qualname__}.state_class must subclass PositionState.")
    for spec in cls.hyperparameters:
        if not isinstance(spec, HyperParameter):
            raise TypeError(f"{cls.__qualname__}.hyperparameters must hold HyperParameter objects, got {spec!r}.")
        if spec.name in RESERVED_CONFIG_NAMES or spec.name == "position_encoding":
            raise ValueError(
                f"{cls.__qualname__}: hyper-parameter {spec.name!r} would shadow a PEBertConfig field; "
                "rename it (a prefix with the PE's name is customary, e.g. 'rope_theta')."
            )
        for other_name, other in POSITION_ENCODING_CLASSES.items():
            same = next((s for s in other.hyperparameters if s.name == spec.name), None)
            if other_name != name and same is not None and (same.type, same.default) != (spec.type, spec.default):
                raise ValueError(
                    f"{cls.__qualname__}: hyper-parameter {spec.name!r} is already declared by {other_name!r} with "
                    f"default {same.default!r}; the config stores one value per name, so share the declaration "
                    "or rename it."
                )
    POSITION_ENCODING_CLASSES[name] = cls
    return cls


def _same_definition(a: type, b: type) -> bool:
    return a.__qualname__ == b.__qualname__ and inspect.getsourcefile(a) == inspect.getsourcefile(b)


def _where(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def position_encoding_names() -> tuple[str, ...]:
    """Every valid `position_encoding` value, in registration order (built-ins first)."""
    return tuple(POSITION_ENCODING_CLASSES)


def get_position_encoding_class(name: str) -> type[PositionEncoding]:
    cls = POSITION_ENCODING_CLASSES.get(name)
    if cls is None:
        close = difflib.get_close_matches(str(name), POSITION_ENCODING_CLASSES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InvalidInputError(
            f"Unknown position_encoding {name!r}.{hint} Valid names: {', '.join(POSITION_ENCODING_CLASSES)}. "
            "For a PE of your own, import the module that registers it (@pe_bert.register_position_encoding) "
            "first; a saved checkpoint with such a PE also loads with trust_remote_code=True."
        )
    return cls


def hyperparameter_specs() -> dict[str, HyperParameter]:
    """Every registered hyper-parameter by name (names shared by several PEs have one declaration)."""
    return {spec.name: spec for cls in POSITION_ENCODING_CLASSES.values() for spec in cls.hyperparameters}


def owners_of(hyperparameter: str) -> list[str]:
    """The PEs that declare a hyper-parameter."""
    return [
        name
        for name, cls in POSITION_ENCODING_CLASSES.items()
        if any(spec.name == hyperparameter for spec in cls.hyperparameters)
    ]


def __getattr__(name: str):
    # Live views, so a PE registered after import (a user's own) shows up everywhere.
    if name == "POSITION_ENCODINGS":
        return position_encoding_names()
    if name == "PE_HYPERPARAMETERS":
        return {n: tuple(s.name for s in c.hyperparameters) for n, c in POSITION_ENCODING_CLASSES.items()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------------------------------------------------------
# Small shared helpers (vectorised; used by several variants)


def clamp_mask(mask: torch.Tensor) -> torch.Tensor:
    """Adding two dtype-min masks overflows to -inf, and an all -inf row gives NaN that leaks through padding."""
    return mask.clamp(min=torch.finfo(mask.dtype).min)


def relative_positions(position_ids: torch.Tensor) -> torch.Tensor:
    """d[b, i, j] = position_j - position_i, `[1 | batch, q, k]` (long)."""
    return position_ids[:, None, :] - position_ids[:, :, None]


def masked_softmax(logits: torch.Tensor, key_padding: torch.Tensor) -> torch.Tensor:
    """Softmax over keys that ignores padded keys, so real tokens' rows do not depend on the amount of padding."""
    return torch.softmax(clamp_mask(logits + key_padding), dim=-1)


def sinusoidal_table(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Vaswani et al.'s encoding: sin on even, cos on odd dimensions, `[..., dim]` for float `positions`."""
    half = torch.arange(0, dim, 2, dtype=torch.float32, device=positions.device)
    inv_freq = torch.exp(-math.log(10000.0) * half / dim)
    angles = positions.float()[..., None] * inv_freq
    # Interleave without in-place writes (export- and compile-friendly): [..., dim/2, 2] -> [..., dim].
    table = torch.stack((torch.sin(angles), torch.cos(angles)), dim=-1).flatten(-2)
    return table[..., :dim]


def gaussian_exponent(relative: torch.Tensor, w: float, s: float, asymmetry: str = "exponent") -> torch.Tensor:
    """The paper's attenuation exponent over d = j - i, in one of two asymmetries:

    * "exponent" (published): -w d^2 left of the query (d < 0), -s w d^2 right of it (d >= 0);
    * "balanced": -w d^2 on both sides, plus log(2 / (1 + s)) left and log(2 s / (1 + s)) right (s > 0). The right
      key gets s times the weight of the left key at the same distance, and every such pair keeps the weight of
      the symmetric prior: only the split of each pair changes, not how much sits at each distance. So s moves
      symmetry alone (the mass symmetry of the prior is exactly 2 min(s, 1) / (1 + s)), w moves locality, and both
      sides keep their position information whatever s.
    """
    d2 = relative.float() ** 2
    if asymmetry == "exponent":
        return torch.where(relative < 0, -w * d2, -s * w * d2)
    left, right = math.log(2 / (1 + s)), math.log(2 * s / (1 + s))
    side = torch.where(relative < 0, left, torch.where(relative > 0, right, 0.0))
    return side - w * d2
