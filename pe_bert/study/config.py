"""What a study runs: the PE variants, seeds, model shape, data and budgets, from a YAML/JSON file and/or flags.

The defaults are the embedded offline study: tiny models on the built-in corpus and tasks, small enough for two CPU
cores in about a quarter of an hour, over learned, none, sinusoidal, rope, alibi, t5 and a 3 x 2 attenuated grid.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InvalidInputError, MissingInputError
from ..pe_base import position_encoding_names
from .validation import check_types, check_values

DEFAULT_VARIANTS = ("learned", "none", "sinusoidal", "rope", "alibi", "t5")
DEFAULT_TASKS = ("builtin_nli", "builtin_order", "builtin_topic")


@dataclass(frozen=True)
class VariantSpec:
    """One model of the study: a label, its `position_encoding` and PE hyper-parameter overrides."""

    label: str
    position_encoding: str
    overrides: dict = field(default_factory=dict)

    def config_kwargs(self) -> dict:
        return {"position_encoding": self.position_encoding, **self.overrides}


def _format_number(value: float) -> str:
    return f"{value:g}"


@dataclass
class StudyConfig:
    out: str = "study"
    variants: list[str] = field(default_factory=lambda: list(DEFAULT_VARIANTS))
    # The attenuated grid (empty list: no attenuated models): every (w, s) pair is one variant.
    attenuated_w: list[float] = field(default_factory=lambda: [0.05, 0.5, 2.0])
    attenuated_s: list[float] = field(default_factory=lambda: [1.0, 0.25])
    attenuated_bias: str = "log"
    seeds: list[int] = field(default_factory=lambda: [0])
    tasks: list[str] = field(default_factory=lambda: list(DEFAULT_TASKS))

    # Model shape (every variant the same).
    hidden_size: int = 64
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    intermediate_size: int = 128
    max_position_embeddings: int = 64
    max_seq_length: int = 48

    # Pretraining (run_mlm machinery). No dataset: the built-in corpus.
    dataset_name: str | None = None
    dataset_config_name: str | None = None
    train_file: str | None = None
    tokenizer_name: str | None = None
    tokenizer_vocab_size: int = 2000
    builtin_num_sentences: int = 20000
    pretrain_steps: int = 300
    pretrain_batch_size: int = 64
    pretrain_learning_rate: float = 1e-3

    # Fine-tuning (run_glue machinery), on each task.
    finetune_steps: int = 150
    finetune_batch_size: int = 32
    finetune_learning_rate: float = 5e-4
    builtin_task_size: int = 2000

    # Measurement.
    analysis_sentences: int = 200
    position_seq_len: int = 24
    probe_examples: int = 300
    probe_zero_shot_sentences: int = 100

    # Sharing.
    push_to_hub: bool = False
    hub_org: str | None = None

    def __post_init__(self):
        check_types(self)  # first: a YAML `variants: learned` is a string, not a list of names
        unknown = [v for v in self.variants if v not in position_encoding_names()]
        if unknown:
            raise ValueError(f"Unknown variant(s) {unknown}; valid names: {', '.join(position_encoding_names())}.")
        if not self.seeds:
            raise ValueError("`seeds` is empty: give at least one seed.")
        if self.push_to_hub and not self.hub_org:
            raise ValueError("--push_to_hub needs --hub_org ORG (checkpoints are pushed as ORG/bert-<variant>).")
        if self.max_seq_length > self.max_position_embeddings:
            raise ValueError(
                f"max_seq_length {self.max_seq_length} exceeds max_position_embeddings "
                f"{self.max_position_embeddings}: absolute PEs could not encode it. Lower max_seq_length."
            )
        check_values(self)

    def variant_specs(self) -> list[VariantSpec]:
        specs = [VariantSpec(name, name) for name in self.variants if name != "attenuated"]
        for w in self.attenuated_w:
            for s in self.attenuated_s:
                label = f"attenuated-w{_format_number(w)}-s{_format_number(s)}"
                overrides = {"locality_w": float(w), "symmetry_s": float(s), "attenuated_bias": self.attenuated_bias}
                specs.append(VariantSpec(label, "attenuated", overrides))
        return specs

    def model_kwargs(self) -> dict:
        return {
            "hidden_size": self.hidden_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "intermediate_size": self.intermediate_size,
            "max_position_embeddings": self.max_position_embeddings,
        }

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_file(cls, path: str | Path, **overrides) -> "StudyConfig":
        """Read a YAML or JSON study file; keyword `overrides` (e.g. from flags) win over it."""
        path = Path(path)
        if not path.is_file():
            raise MissingInputError(f"--config {path} does not exist.")
        text = path.read_text()
        if path.suffix in (".yaml", ".yml"):
            import yaml

            parse, errors = yaml.safe_load, yaml.YAMLError
        else:
            parse, errors = json.loads, ValueError
        try:
            values = parse(text) or {}
        except errors as error:
            raise InvalidInputError(f"--config {path} is not valid {path.suffix.lstrip('.').upper()}: {error}") from error
        if not isinstance(values, dict):
            raise InvalidInputError(f"--config {path} must hold a mapping of settings (`name: value` lines), got "
                                    f"{type(values).__name__}.")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown study setting(s) {unknown} in {path}; valid settings: {sorted(known)}.")
        return cls(**{**values, **overrides})
