"""Command-line arguments of the training scripts, as dataclasses for `transformers.HfArgumentParser`.

`ModelArguments` gets one optional field per PE hyper-parameter, derived from the PE registry's declarations at
import time, so a new built-in positional encoding shows up as CLI flags (`--rope_theta 500000`,
`--window_size 16`, ...) without touching this file.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field

import torch

from .. import pe_zoo  # noqa: F401  (registers the built-in PEs)
from ..errors import InvalidInputError
from ..pe_base import hyperparameter_specs, owners_of, position_encoding_names
from ..pe_plugins import import_position_encoding_modules, parse_pe_args


def pe_hyperparameter_names() -> list[str]:
    """Every registered PE hyper-parameter, in registry order, without duplicates."""
    return list(hyperparameter_specs())


def _pe_fields() -> list[tuple]:
    """`(name, type, field)` triples for `dataclasses.make_dataclass`: `None` default = keep the config's value."""
    triples = []
    for name, spec in hyperparameter_specs().items():
        # argparse needs one concrete type; the config's own validation checks ranges and choices.
        help_text = (
            f"{spec.doc} (hyper-parameter of {', '.join(owners_of(name))}; default {spec.default!r}"
            f"{'; ' + spec.range_text() if spec.range_text() else ''}). Only for a freshly initialised model; a "
            "checkpoint keeps its own value."
        )
        metadata = {"help": help_text, **({"choices": list(spec.choices)} if spec.choices else {})}
        triples.append((name, spec.type | None, field(default=None, metadata=metadata)))
    return triples


@dataclass
class _BaseModelArguments:
    """Which model, config and tokenizer to train (the PE hyper-parameter flags are added below)."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "Checkpoint to start from (a pe_bert or a stock `bert` checkpoint, local folder or Hub id). "
            "Leave unset to train from scratch."
        },
    )
    position_encoding: str | None = field(
        default=None,
        metadata={
            "help": f"Positional encoding: one of {', '.join(position_encoding_names())}. From scratch the default is "
            "'learned'; with --model_name_or_path it must match the checkpoint's (or be left unset)."
        },
    )
    pe_module: str | None = field(
        default=None,
        metadata={
            "help": "Your own positional encoding(s): comma-separated .py files or module names whose classes are "
            "registered with @pe_bert.register_position_encoding; imported before anything else, so "
            "--position_encoding can name them. Saved checkpoints carry the module."
        },
    )
    pe_args: str | None = field(
        default=None,
        metadata={
            "help": "PE hyper-parameters as comma-separated name=value pairs, typed by the PE's declarations, e.g. "
            "'my_alpha=0.3' (the way to set a hyper-parameter of a PE from --pe_module, which has no flag of its "
            "own). Only for a freshly initialised model."
        },
    )
    config_name: str | None = field(
        default=None, metadata={"help": "Config (folder or Hub id) to start a fresh model from, if not the model's."}
    )
    config_overrides: str | None = field(
        default=None,
        metadata={
            "help": "Override config fields of a model trained from scratch, e.g. "
            "'hidden_size=64,num_hidden_layers=2,num_attention_heads=2,intermediate_size=256'."
        },
    )
    tokenizer_name: str | None = field(
        default=None,
        metadata={
            "help": "Tokenizer (folder or Hub id). Unset: the checkpoint's, or, from scratch, a BERT-style "
            "WordPiece tokenizer trained on the training text."
        },
    )
    tokenizer_vocab_size: int = field(
        default=8000, metadata={"help": "Vocabulary size of a tokenizer trained on the training text."}
    )
    cache_dir: str | None = field(default=None, metadata={"help": "Where to cache Hub downloads."})
    model_revision: str = field(default="main", metadata={"help": "Hub revision (branch, tag or commit)."})
    token: str | None = field(default=None, metadata={"help": "Hub token (default: the logged-in one)."})
    trust_remote_code: bool = field(
        default=False, metadata={"help": "Allow custom code from the Hub (only for repos you trust)."}
    )


ModelArguments = dataclasses.make_dataclass(
    "ModelArguments", _pe_fields(), bases=(_BaseModelArguments,), namespace={"__doc__": _BaseModelArguments.__doc__}
)
ModelArguments.__module__ = __name__


def pe_overrides(model_args) -> dict:
    """The PE settings the user asked for explicitly (position_encoding, hyper-parameter flags and --pe_args), by
    name. Imports the --pe_module modules first, so their PEs are known."""
    import_position_encoding_modules(getattr(model_args, "pe_module", None))
    names = ["position_encoding", *pe_hyperparameter_names()]
    values = {name: getattr(model_args, name) for name in names if getattr(model_args, name, None) is not None}
    extra = parse_pe_args(getattr(model_args, "pe_args", None), values.get("position_encoding"))
    clash = sorted(set(extra) & set(values))
    if clash:
        raise InvalidInputError(f"{', '.join(clash)} given both as a flag and in --pe_args; give each value once.")
    return {**values, **extra}


@dataclass
class MLMDataArguments:
    """What to pretrain on: a Hub dataset, local txt/csv/json files, or (by default) the built-in corpus."""

    dataset_name: str | None = field(default=None, metadata={"help": "Hub dataset, e.g. 'wikitext'."})
    dataset_config_name: str | None = field(default=None, metadata={"help": "Its config, e.g. 'wikitext-103-raw-v1'."})
    dataset_revision: str | None = field(
        default=None,
        metadata={"help": "Its revision on the Hub (branch, tag or commit): pinned, a rerun reads the same data."},
    )
    train_file: str | None = field(default=None, metadata={"help": "Local training text: .txt, .csv, .json or .jsonl."})
    validation_file: str | None = field(default=None, metadata={"help": "Local validation text (same formats)."})
    text_column_name: str | None = field(
        default=None, metadata={"help": "Column holding the text (default: 'text', or the only string column)."}
    )
    validation_split_percentage: int = field(
        default=5, metadata={"help": "Percent of train held out for validation when there is no validation split."}
    )
    builtin_num_sentences: int = field(
        default=4000, metadata={"help": "Size of the built-in offline corpus used when no dataset is given."}
    )
    max_seq_length: int | None = field(
        default=None,
        metadata={"help": "Tokens per training example (default: min(128, the model's position table))."},
    )
    line_by_line: bool = field(
        default=False,
        metadata={"help": "One example per non-empty line (truncated) instead of concatenating and chunking."},
    )
    pad_to_max_length: bool = field(
        default=False, metadata={"help": "Pad every line to max_seq_length (line_by_line) instead of per batch."}
    )
    mlm_probability: float = field(default=0.15, metadata={"help": "Fraction of tokens masked for the MLM loss."})
    masked_only_head: bool = field(
        default=True,
        metadata={
            "help": "Train the MLM head on the masked positions only (pe_bert models): the same loss and "
            "gradients as on every position, several times less head work, static shapes for "
            "torch.compile. The saved model is unchanged. --masked_only_head false runs it everywhere, "
            "as BertForMaskedLM does."
        },
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep only this many training examples."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep only this many evaluation examples."})
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": "Processes for preprocessing."})
    overwrite_cache: bool = field(default=False, metadata={"help": "Recompute cached preprocessing."})

    def __post_init__(self):
        if self.dataset_name and (self.train_file or self.validation_file):
            raise InvalidInputError("Give either --dataset_name or --train_file/--validation_file, not both.")
        if self.validation_file and not self.train_file and not self.dataset_name:
            raise InvalidInputError("--validation_file needs a --train_file (or a --dataset_name).")
        if self.dataset_revision and not self.dataset_name:
            raise InvalidInputError("--dataset_revision pins a --dataset_name: give the dataset too.")
        if not 0.0 < self.mlm_probability < 1.0:
            raise InvalidInputError(f"--mlm_probability must be in (0, 1), got {self.mlm_probability}.")
        if self.max_seq_length is not None and self.max_seq_length < 1:
            raise InvalidInputError(f"--max_seq_length must be at least 1, got {self.max_seq_length}.")
        if not 0 < self.validation_split_percentage < 100:
            raise InvalidInputError(
                f"--validation_split_percentage must be in 1..99, got {self.validation_split_percentage}."
            )


@dataclass
class GlueDataArguments:
    """What to fine-tune on: a GLUE/SNLI/built-in task by name, and/or local csv/json files."""

    task_name: str | None = field(
        default=None,
        metadata={
            "help": "A task of pe_bert.data.TASKS: a GLUE task, snli, or a built-in one (builtin_nli, ...). With local "
            "files it names their columns and metric."
        },
    )
    train_file: str | None = field(
        default=None,
        metadata={
            "help": "Local training data (.csv, .json/.jsonl, or GLUE's tab-separated .tsv) with the task's "
            "text columns and a label column; without files the task comes from the Hub (or is generated)."
        },
    )
    validation_file: str | None = field(default=None, metadata={"help": "Local validation data."})
    test_file: str | None = field(default=None, metadata={"help": "Local test data (for --do_predict)."})
    max_seq_length: int = field(default=128, metadata={"help": "Tokens per example after tokenization (truncated)."})
    pad_to_max_length: bool = field(default=False, metadata={"help": "Pad to max_seq_length instead of per batch."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep only this many training examples."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep only this many evaluation examples."})
    max_predict_samples: int | None = field(default=None, metadata={"help": "Keep only this many test examples."})
    learning_rate_grid: str | None = field(
        default=None,
        metadata={
            "help": "Comma-separated learning rates, e.g. '1e-5,3e-5,5e-5': one run each, the best dev score is "
            "reported (as in the paper) and its model saved in output_dir."
        },
    )
    builtin_num_examples: int | None = field(
        default=None, metadata={"help": "Size of a built-in task's training split (default: the task's own)."}
    )
    overwrite_cache: bool = field(default=False, metadata={"help": "Recompute cached preprocessing."})

    def __post_init__(self):
        if self.task_name is None:
            raise InvalidInputError(
                "Give --task_name (e.g. --task_name rte); with local files it says which columns and metric to use."
            )
        self.task_name = self.task_name.lower()
        if self.max_seq_length < 1:
            raise InvalidInputError(f"--max_seq_length must be at least 1, got {self.max_seq_length}.")
        self.learning_rates()  # a bad grid is refused with the other arguments, before anything is loaded

    def learning_rates(self) -> list[float] | None:
        """The parsed `--learning_rate_grid`, or None without a grid."""
        if not self.learning_rate_grid:
            return None
        try:
            rates = [float(item) for item in self.learning_rate_grid.split(",") if item.strip()]
        except ValueError as error:
            raise InvalidInputError(
                f"--learning_rate_grid {self.learning_rate_grid!r} is not a comma-separated list of numbers "
                "(e.g. '1e-5,3e-5,5e-5')."
            ) from error
        # All checked before the first run: a NaN would train the earlier grid points and then crash, and a
        # repeated value would silently reuse the earlier run's folder (runs are named by their learning rate).
        if not rates or any(not math.isfinite(rate) or rate <= 0 for rate in rates):
            raise InvalidInputError(
                f"--learning_rate_grid needs positive, finite learning rates, got {self.learning_rate_grid!r}."
            )
        labels = [f"{rate:g}" for rate in rates]  # each run's folder is lr_<label>
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            raise InvalidInputError(
                f"--learning_rate_grid {self.learning_rate_grid!r} repeats {', '.join(repeated)} (at 6 significant "
                "digits, which name each run's folder): give each learning rate once."
            )
        return rates


def use_cpu_when_distributed_without_accelerator() -> None:
    """Make `accelerate launch --multi_gpu --num_processes N` data-parallel on a machine without GPUs.

    transformers only asks accelerate for the CPU/gloo backend when `--use_cpu` (or ACCELERATE_USE_CPU) is set;
    otherwise, on a CPU-only machine, each launched process silently trains its own copy. We set the flag when
    several processes were launched and there is no GPU, before TrainingArguments initialises the backend.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size > 1 and not torch.cuda.is_available():
        os.environ.setdefault("ACCELERATE_USE_CPU", "true")


__all__ = [
    "ModelArguments",
    "MLMDataArguments",
    "GlueDataArguments",
    "pe_hyperparameter_names",
    "pe_overrides",
    "use_cpu_when_distributed_without_accelerator",
]
