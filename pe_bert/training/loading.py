"""Config and model loading shared by pretraining and fine-tuning.

Three starting points:

- nothing (or `--config_name`): a fresh `PEBertConfig` + `--config_overrides` + the PE flags;
- a pe_bert checkpoint: its config decides the PE; asking for a different one is an error, not a silent swap;
- a stock `bert` checkpoint: loads as-is through the Auto classes, or, with `--position_encoding learned`
  (the only PE a stock BERT has), into the pe_bert model family.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from transformers import AutoConfig, PreTrainedConfig, PreTrainedTokenizerBase

from ..configuration import PEBertConfig, config_position_encoding, position_table_limit
from ..errors import InvalidInputError, MissingInputError, UsageError, one_line
from ..pe_base import owners_of
from .arguments import pe_overrides

logger = logging.getLogger(__name__)

# Keys of a stock BERT config.json that are bookkeeping, not PEBertConfig fields.
_BERT_ONLY_KEYS = ("model_type", "architectures", "transformers_version", "position_embedding_type", "use_cache")


def hub_kwargs(model_args) -> dict:
    """Download options shared by every `from_pretrained` call."""
    return {
        "cache_dir": model_args.cache_dir,
        "revision": model_args.model_revision,
        "token": model_args.token,
        "trust_remote_code": model_args.trust_remote_code,
    }


def bert_to_pe_bert_config(config: PreTrainedConfig, **kwargs) -> PEBertConfig:
    """A stock BERT config as the `learned` pe_bert variant (same fields, same defaults, same weights)."""
    values = {k: v for k, v in config.to_dict().items() if k not in _BERT_ONLY_KEYS}
    values.update(kwargs)
    values["position_encoding"] = "learned"
    return PEBertConfig(**values)


def _check_requested_matches(config: PreTrainedConfig, requested: dict, source: str) -> None:
    """Error out, naming both sides, when the user asks for a PE setting the checkpoint does not have."""
    existing_pe = config_position_encoding(config)
    if existing_pe is None:
        raise InvalidInputError(
            f"{source} is a {config.model_type!r} model, not pe_bert or BERT, so "
            f"{', '.join('--' + k for k in requested)} cannot apply to it. Drop those flags to use it as it is."
        )
    wanted_pe = requested.get("position_encoding", existing_pe)
    if wanted_pe != existing_pe:
        raise InvalidInputError(
            f"The checkpoint {source} uses position_encoding={existing_pe!r} but --position_encoding "
            f"{wanted_pe!r} was requested. A trained model's PE cannot be swapped: drop --position_encoding to "
            f"keep {existing_pe!r}, or pretrain a {wanted_pe!r} model first (examples/run_mlm.py)."
        )
    for name, wanted in requested.items():
        if name == "position_encoding":
            continue
        if config.model_type != PEBertConfig.model_type or not hasattr(config, name):
            raise InvalidInputError(
                f"--{name} does not apply to {source}: it is a stock BERT checkpoint (learned positions). Drop it."
            )
        if getattr(config, name) != wanted:
            raise InvalidInputError(
                f"The checkpoint {source} has {name}={getattr(config, name)!r} but --{name} {wanted!r} was "
                "requested; PE hyper-parameters are fixed once a model is trained. Drop the flag to keep the "
                "checkpoint's value, or pretrain a new model."
            )


def _fresh_config(model_args, config_kwargs: dict) -> PEBertConfig:
    """A from-scratch PEBertConfig: --config_name (if any), then the PE flags, then --config_overrides (the PE
    flags win where both set a value)."""
    if model_args.config_name:
        base = AutoConfig.from_pretrained(model_args.config_name, **hub_kwargs(model_args))
        if base.model_type == "bert":
            base = bert_to_pe_bert_config(base)
        elif base.model_type != PEBertConfig.model_type:
            raise InvalidInputError(
                f"--config_name {model_args.config_name} is a {base.model_type!r} config; pe_bert trains from a "
                "pe_bert or bert config."
            )
        values = base.to_dict()
    else:
        values = PEBertConfig().to_dict()
    values = {k: v for k, v in values.items() if k not in ("model_type", "transformers_version")}
    requested = pe_overrides(model_args)
    chosen = requested.get("position_encoding", values.get("position_encoding", "learned"))
    if chosen != values.get("position_encoding", "learned"):
        # A base config of another PE lends its shape, not its PE's hyper-parameters.
        values = {k: v for k, v in values.items() if not owners_of(k)}
    config = PEBertConfig(**{**values, **config_kwargs, **requested})
    if model_args.config_overrides:
        logger.info("Overriding config: %s", model_args.config_overrides)
        try:
            config.update_from_string(model_args.config_overrides)
        except ValueError as error:
            raise InvalidInputError(
                f"--config_overrides {model_args.config_overrides!r}: {error}. Use comma-separated key=value "
                "pairs of PEBertConfig fields and the PE's hyper-parameters, e.g. 'hidden_size=64,num_hidden_layers=2'."
            ) from error
    values = {k: v for k, v in config.to_dict().items() if k not in ("model_type", "transformers_version")}
    # Rebuilding (rather than setting attributes) runs PEBertConfig's validation of shapes and PE hyper-parameters.
    return PEBertConfig(**{**values, **requested})


def resolve_config(model_args, **config_kwargs) -> tuple[PreTrainedConfig, bool]:
    """Build the model config and decide the model family.

    Returns `(config, use_pe_bert)`: `use_pe_bert` is False only for a checkpoint that should load through the
    Auto classes as it is (a stock BERT without --position_encoding, or another architecture).
    `config_kwargs` (num_labels, label maps, finetuning_task, ...) are passed to the config.
    Everything here comes from the user's flags and files, so its errors are `UsageError`s (one line, exit 2 in
    the scripts): a bad PE setting or config value, a --pe_module that does not exist, a model not found.
    """
    try:
        return _resolve_config(model_args, config_kwargs)
    except UsageError:
        raise
    except FileNotFoundError as error:
        raise MissingInputError(str(error)) from error
    except ValueError as error:  # PEBertConfig's and the PE classes' validation of the values asked for
        raise InvalidInputError(str(error)) from error
    except OSError as error:  # transformers: no such local folder or Hub model
        source = model_args.config_name or model_args.model_name_or_path
        raise MissingInputError(
            f"Cannot load the config of {source}: {one_line(error).split('. ')[0].rstrip('.')}."
        ) from error


def _resolve_config(model_args, config_kwargs: dict) -> tuple[PreTrainedConfig, bool]:
    requested = pe_overrides(model_args)
    source = model_args.model_name_or_path
    if source is None:
        return _fresh_config(model_args, config_kwargs), True
    if model_args.config_overrides:
        raise InvalidInputError(
            "--config_overrides only applies to a model trained from scratch, not to --model_name_or_path "
            f"{source} (its shapes are fixed by its weights)."
        )
    config = AutoConfig.from_pretrained(model_args.config_name or source, **hub_kwargs(model_args), **config_kwargs)
    if requested:
        _check_requested_matches(config, requested, source)
    if config.model_type == "bert" and requested:
        logger.info("Loading the stock BERT checkpoint %s as the pe_bert 'learned' variant.", source)
        return bert_to_pe_bert_config(config), True
    return config, config.model_type == PEBertConfig.model_type


def check_max_seq_length(config: PreTrainedConfig, max_seq_length: int) -> None:
    """An absolute PE has a table of max_position_embeddings rows: longer inputs are an error, named with numbers."""
    bound = position_table_limit(config)
    if bound is None or max_seq_length <= bound[0]:
        return
    limit, position_encoding = bound
    raise InvalidInputError(
        f"--max_seq_length {max_seq_length} is longer than the {limit} positions of the {position_encoding!r} "
        f"position encoding (max_position_embeddings={limit}). Use --max_seq_length {limit} or less, or, for a "
        f"model trained from scratch, --config_overrides max_position_embeddings={max_seq_length} "
        "(or a relative PE such as rope or alibi)."
    )


def check_tokenizer_length(tokenizer: PreTrainedTokenizerBase, max_seq_length: int) -> None:
    """--max_seq_length must fit the tokenizer's model_max_length (the tokenizer would warn and the model fail)."""
    if max_seq_length > tokenizer.model_max_length:
        raise InvalidInputError(
            f"--max_seq_length {max_seq_length} is longer than the tokenizer's model_max_length "
            f"{tokenizer.model_max_length}. Lower --max_seq_length."
        )


def load_model(model_args, config: PreTrainedConfig, use_pe_bert: bool, auto_class, pe_bert_class):
    """Load `--model_name_or_path` (or initialise from `config`) with the right class."""
    if model_args.model_name_or_path is None:
        logger.info("Training a new %s model from scratch.", getattr(config, "position_encoding", "?"))
        return pe_bert_class(config)
    model_class = pe_bert_class if use_pe_bert else auto_class
    return model_class.from_pretrained(model_args.model_name_or_path, config=config, **hub_kwargs(model_args))


def model_classes(kind: str):
    """`(AutoModelFor..., PEBertFor...)` for `kind` in {'masked_lm', 'sequence_classification'}."""
    import transformers

    import pe_bert  # Registers the pe_bert classes with the Auto API.

    names = {
        "masked_lm": ("AutoModelForMaskedLM", "PEBertForMaskedLM"),
        "sequence_classification": ("AutoModelForSequenceClassification", "PEBertForSequenceClassification"),
    }[kind]
    return getattr(transformers, names[0]), getattr(pe_bert, names[1])


@dataclasses.dataclass(frozen=True)
class ModelLoader:
    """How a run builds its model: the model arguments, the config `resolve_config` chose, whether pe_bert's class
    or the Auto class loads it, and the head (`kind`, as in `model_classes`)."""

    model_args: Any
    config: PreTrainedConfig
    use_pe_bert: bool
    kind: str

    def load(self, model_name_or_path: str | None = None):
        """The model of `--model_name_or_path` (or of `model_name_or_path` when given: a checkpoint this run
        saved), or a new one from the config when neither names one."""
        model_args = self.model_args
        if model_name_or_path is not None:
            model_args = dataclasses.replace(model_args, model_name_or_path=model_name_or_path)
        auto_class, pe_bert_class = model_classes(self.kind)
        return load_model(model_args, self.config, self.use_pe_bert, auto_class, pe_bert_class)


__all__ = [
    "ModelLoader",
    "bert_to_pe_bert_config",
    "check_max_seq_length",
    "check_tokenizer_length",
    "hub_kwargs",
    "load_model",
    "model_classes",
    "resolve_config",
]
