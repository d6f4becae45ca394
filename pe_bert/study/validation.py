"""Checks of a study's settings, all made before anything trains: a bad setting found after an hour of pretraining
is an hour lost, and one that runs anyway (0 steps meaning "3 epochs" to the Trainer) is a wrong report.

`check_types` runs first (a YAML `variants: learned` is a string, not a list), then `check_values`. Both raise
`InvalidInputError` (a `ValueError`) naming the setting and what would work.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from pathlib import Path

from ..errors import InvalidInputError

# Settings that count something: 0 or less cannot work (0 training steps would make the Trainer fall back to
# num_train_epochs, while the report says 0).
POSITIVE_SETTINGS = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "max_position_embeddings",
    "max_seq_length",
    "tokenizer_vocab_size",
    "builtin_num_sentences",
    "pretrain_steps",
    "pretrain_batch_size",
    "finetune_steps",
    "finetune_batch_size",
    "builtin_task_size",
    "analysis_sentences",
    "position_seq_len",
    "probe_examples",
    "probe_zero_shot_sentences",
    "eval_sentences",
    "eval_batch_size",
    "probing_train_sentences",
    "probing_test_sentences",
    "job_cpus",
    "job_mem_gb",
    "job_time_min",
)
POSITIVE_REAL_SETTINGS = ("pretrain_learning_rate", "finetune_learning_rate", "assumed_tflops")
# The study derives other seeds from each one by adding offsets (up to 20,000); numpy takes seeds below 2**32.
MAX_STUDY_SEED = 2**31 - 1
# Settings below which a measurement is empty or undefined (found only after training otherwise).
MINIMUM_SETTINGS = (
    ("eval_sentences", 20, "the masked-token evaluation needs masked words at every length"),
    ("analysis_sentences", 2, "locality and symmetry are means over sentences"),
    ("probing_train_sentences", 14, "the topic probe needs two training sentences of each of its 7 topics"),
    ("probing_test_sentences", 2, "twin tasks are scored in pairs"),
    ("position_seq_len", 3, "symmetry needs tokens on both sides of a position"),
)


def _flag(name: str) -> str:
    return f"`{name}` (--{name.replace('_', '-')})"


def _describe(value) -> str:
    return f"{value!r} ({type(value).__name__})"


def _check_scalar(name: str, value, kind) -> None:
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and not math.isfinite(value):
            raise InvalidInputError(f"{_flag(name)} is {value}: give a finite number.")
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise InvalidInputError(f"{_flag(name)} must be {kind.__name__}, got {_describe(value)}.")


def check_types(config) -> None:
    """Every setting has its declared type: lists are lists (of the right items), numbers are numbers."""
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        value, kind = getattr(config, field.name), hints[field.name]
        args = typing.get_args(kind)
        if type(None) in args:  # optional: None is fine, anything else has the other type
            if value is None:
                continue
            kind = next(a for a in args if a is not type(None))
            args = typing.get_args(kind)
        if typing.get_origin(kind) is list:
            if not isinstance(value, (list, tuple)):
                example = ", ".join(str(value).split(",")) if isinstance(value, str) else "..."
                raise InvalidInputError(
                    f"{_flag(field.name)} must be a list, got {_describe(value)}: in YAML write "
                    f"`{field.name}: [{example}]`, on the command line comma-separated values."
                )
            for item in value:
                try:
                    _check_scalar(field.name, item, args[0])
                except InvalidInputError:
                    raise InvalidInputError(
                        f"{_flag(field.name)} must be a list of {args[0].__name__}, but holds {_describe(item)}."
                    ) from None
            continue
        _check_scalar(field.name, value, kind)


def _check_out(out: str) -> None:
    if not out.strip():  # Path("") is the current folder: its runs/ and report would land wherever one stands
        raise InvalidInputError("--out is empty: give the study's folder, e.g. --out study.")
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise InvalidInputError(f"--out {out} is a file, not a folder: give a folder for the study (new or existing).")
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise InvalidInputError(f"--out {out}: {parent} is a file, so the folder cannot be created.")
            break


def _check_numbers(config) -> None:
    """Counts are positive, measurements have their minimum sizes, seeds are in range."""
    for name in POSITIVE_SETTINGS:
        value = getattr(config, name, None)
        if value is not None and value < 1:
            raise InvalidInputError(f"{_flag(name)} is {value}: it must be at least 1.")
    for name, low, why in MINIMUM_SETTINGS:
        value = getattr(config, name, None)
        if value is not None and value < low:
            raise InvalidInputError(f"{_flag(name)} is {value}: it must be at least {low} ({why}).")
    if config.job_gpus < 0:
        raise InvalidInputError(f"`job_gpus` (--job-gpus) is {config.job_gpus}: give 0 (CPU jobs) or more.")
    out_of_range = [seed for seed in config.seeds if not 0 <= seed <= MAX_STUDY_SEED]
    if out_of_range:
        raise InvalidInputError(
            f"`seeds` (--seeds) holds {out_of_range}: seeds are whole numbers from 0 to {MAX_STUDY_SEED} (random "
            "generators take no negative seed, numpy's none of 2**32 or more, and the study adds offsets to each)."
        )
    for name in POSITIVE_REAL_SETTINGS:
        value = getattr(config, name, None)
        if value is not None and not value > 0:
            raise InvalidInputError(f"{_flag(name)} is {value}: it must be a positive number.")


def _check_task_names(config) -> None:
    """Fine-tuning and probing tasks are registered ones, and the outcome's tasks are among the probing tasks."""
    from ..data.glue import TASKS
    from ..data.probing import PROBING_TASKS

    unknown = [task for task in config.tasks if task not in TASKS]
    if unknown:
        raise InvalidInputError(f"Unknown task(s) {unknown} in --tasks; valid tasks: {', '.join(TASKS)}.")
    unknown = [task for task in config.probing_tasks if task not in PROBING_TASKS]
    if unknown:
        raise InvalidInputError(
            f"Unknown probing task(s) {unknown} in --probing-tasks; valid: {', '.join(PROBING_TASKS)}."
        )
    missing = [task for task in config.outcome_tasks if task not in config.probing_tasks]
    if missing:
        raise InvalidInputError(
            f"--outcome-tasks {missing} are not among --probing-tasks {config.probing_tasks}: the outcome is the "
            "mean of probing tasks the study runs; add them to --probing-tasks."
        )


def check_values(config) -> None:
    """Ranges, names and combinations, including each variant's full model config."""
    from ..configuration import PEBertConfig
    from ..pe_base import position_encoding_names

    _check_numbers(config)
    _check_task_names(config)
    if not config.budget_multiples or any(m < 1 for m in config.budget_multiples):
        raise InvalidInputError(
            f"--budget-multiples {config.budget_multiples}: give positive whole multiples of --pretrain-steps, "
            "e.g. 1,2 (every pretraining run goes to the largest and is measured at each)."
        )
    if config.untrained_control is not None and config.untrained_control not in position_encoding_names():
        raise InvalidInputError(
            f"--untrained-control {config.untrained_control!r} is not a PE; valid: "
            f"{', '.join(position_encoding_names())} (or none)."
        )
    if config.probing_seed < 0:
        raise InvalidInputError(f"--probing-seed is {config.probing_seed}: seeds are whole numbers from 0.")
    for name in ("tasks", "probing_tasks", "outcome_tasks", "seeds", "variants", "budget_multiples"):
        values = getattr(config, name)
        repeated = sorted({v for v in values if values.count(v) > 1}, key=str)
        if repeated:
            raise InvalidInputError(f"{_flag(name)} repeats {repeated}: give each once.")
    if config.dataset_revision and not config.dataset_name:
        raise InvalidInputError("--dataset-revision pins a --dataset-name: give the dataset too.")
    if config.train_file is not None:  # a folder, a FIFO, a binary or empty file: refused before any stage runs
        from ..training.common import check_data_file

        check_data_file(config.train_file, "--train-file")
    _check_out(config.out)
    specs = config.variant_specs()
    labels = [spec.label for spec in specs]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise InvalidInputError(
            f"Variants {repeated} would share a label (and overwrite each other's runs): give each "
            "value of --attenuated-w and --attenuated-s once, distinct at 6 significant digits."
        )
    if not specs:
        raise InvalidInputError(
            "The study has no variant to train: --variants is empty and the attenuated grid (--attenuated-w x "
            "--attenuated-s) is empty. Name at least one variant."
        )
    _check_tokenizer_covers_the_language(config)
    for spec in specs + config.control_specs():  # the model configs the study builds, checked before any training
        try:
            model_config = PEBertConfig(**config.model_kwargs(), **spec.config_kwargs())
        except (ValueError, TypeError) as error:
            raise InvalidInputError(f"Variant {spec.label!r}: {error}") from error
        _check_probing_sentences_fit(config, spec.label, model_config)


def _check_probing_sentences_fit(config, label: str, model_config) -> None:
    """The built-in probing sentences must fit an absolute PE's table: the compact language's longest sentence and
    its [CLS]/[SEP]. The probing split is the compact language's whatever `builtin_grammar` says, and the study's
    word-level vocabulary gives one token per word (a word it lacks is one [UNK]); a --tokenizer-name of the user's
    is checked once it is loaded (`check_sentences_fit`)."""
    from ..configuration import position_table_limit

    bound = position_table_limit(model_config)
    if bound is None or not config.probing_tasks or config.tokenizer_name:
        return
    from ..data.compact import compact_language

    longest = compact_language().max_length() + 2
    if longest > bound[0]:
        raise InvalidInputError(
            f"Variant {label!r} ({bound[1]}) has {bound[0]} positions, but the probing sentences of the built-in "
            f"language take up to {longest} tokens: raise --max-position-embeddings to at least {longest}, or run "
            "no --probing-tasks."
        )


def check_sentences_fit(config, tokenizer, source: str, sentences: dict[str, list[list[str]]]) -> None:
    """The built-in sentences the measurements read (`sentences`: what they are -> their words) must fit the position
    table of the study's absolute PEs. The study's own word-level vocabulary gives one token per word, but a
    tokenizer of the user's, or one trained on the user's text, may split the built-in words into many pieces: found
    here, right after the data stage made the tokenizer and before any model trains, rather than as a failed probing
    stage after every pretraining."""
    from ..pe_base import get_position_encoding_class

    bounded = [
        spec.label for spec in config.variant_specs() if get_position_encoding_class(spec.position_encoding).bounded
    ]
    if not bounded:
        return
    for what, texts in sentences.items():
        longest = max((len(ids) for ids in tokenizer(texts, is_split_into_words=True)["input_ids"]), default=0)
        if longest > config.max_position_embeddings:
            raise InvalidInputError(
                f"The study's tokenizer ({source}) splits the built-in {what} into up to {longest} tokens, more than "
                f"the {config.max_position_embeddings} positions of the absolute PE(s) {', '.join(bounded)}: give "
                f"--max-position-embeddings {longest} or more, or a tokenizer that knows the built-in words."
            )


def _check_tokenizer_covers_the_language(config) -> None:
    """A --tokenizer-name used on the built-in language (corpus, probes) must know its words: every unknown word
    would become [UNK] and the measurements would be of [UNK]s. The words are those of the built-in grammar
    (`builtin_grammar`: corpus, built-in tasks) and of the compact language (the probing split)."""
    uses_builtin = config.builtin_corpus or config.probing_tasks or config.builtin_tasks
    if not config.tokenizer_name or not uses_builtin:
        return
    from transformers import AutoTokenizer

    from ..data.compact import compact_language

    try:
        tokenizer = AutoTokenizer.from_pretrained(config.tokenizer_name)
    except (OSError, ValueError) as error:
        raise InvalidInputError(f"--tokenizer-name {config.tokenizer_name} cannot be loaded: {error}") from error
    words = set(config.builtin_vocabulary())
    if config.probing_tasks:
        words |= set(compact_language().vocabulary)
    words = sorted(words)
    pieces = tokenizer(words, add_special_tokens=False)["input_ids"]
    unknown = [
        w for w, ids in zip(words, pieces) if tokenizer.unk_token_id is not None and tokenizer.unk_token_id in ids
    ]
    if unknown:
        raise InvalidInputError(
            f"--tokenizer-name {config.tokenizer_name} does not know {len(unknown)} of the "
            f"built-in language's {len(words)} words ({', '.join(unknown[:5])}, ...): they would "
            "all read [UNK]. Use a tokenizer that covers them (e.g. bert-base-uncased's "
            "WordPiece), or leave --tokenizer-name unset for the built-in word-level one."
        )


__all__ = [
    "MINIMUM_SETTINGS",
    "POSITIVE_REAL_SETTINGS",
    "POSITIVE_SETTINGS",
    "check_sentences_fit",
    "check_types",
    "check_values",
]
