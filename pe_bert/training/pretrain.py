"""Masked-language-model pretraining of a pe_bert encoder with the stock `Trainer` (what examples/run_mlm.py runs).

Call `main(model_args, data_args, training_args)` in-process (it returns the metrics), or `cli(argv)` from the
command line. Launch-safe under `accelerate launch` / `torchrun`: dataset loading, tokenizer training and
preprocessing run on the main process first (the others then reuse its cache or its saved tokenizer), and only
the main process writes files.
"""

from __future__ import annotations

import logging
import math
import sys
from itertools import chain
from pathlib import Path

import datasets
import pyarrow
import pyarrow.compute
from transformers import AutoTokenizer, PreTrainedTokenizerBase, Trainer, TrainingArguments

from ..configuration import PEBertConfig
from ..errors import InvalidInputError, MissingInputError
from ..modeling import PEBertForMaskedLM
from .arguments import MLMDataArguments
from .common import detect_last_checkpoint, load_local_files, run_training_script
from .loading import ModelLoader, check_max_seq_length, check_tokenizer_length, hub_kwargs, resolve_config
from .resume import MaskedOnlyHeadCollator, ResumableMaskingCollator, TrainLossCallback
from .steps import build_trainer, limit_samples, log_and_save_metrics, start_run, train
from .tokenizer import train_wordpiece_tokenizer

logger = logging.getLogger("pe_bert.training.pretrain")

BUILTIN_CORPUS = "pe_bert built-in corpus"
DEFAULT_MAX_SEQ_LENGTH = 128


# ----------------------------------------------------------------------------------------------- data


def load_raw_datasets(data_args: MLMDataArguments, model_args, seed: int) -> tuple[datasets.DatasetDict, str]:
    """Train/validation text from the Hub, local files, or the built-in corpus; and a name for the model card."""
    if data_args.dataset_name is not None:
        name = data_args.dataset_name
        kwargs = dict(cache_dir=model_args.cache_dir, token=model_args.token, revision=data_args.dataset_revision)
        raw = datasets.load_dataset(name, data_args.dataset_config_name, **kwargs)
        if "validation" not in raw:
            pct = data_args.validation_split_percentage
            raw["validation"] = datasets.load_dataset(
                name, data_args.dataset_config_name, split=f"train[:{pct}%]", **kwargs
            )
            raw["train"] = datasets.load_dataset(name, data_args.dataset_config_name, split=f"train[{pct}%:]", **kwargs)
        return raw, name
    if data_args.train_file is not None:
        files = {"train": data_args.train_file}
        if data_args.validation_file is not None:
            files["validation"] = data_args.validation_file
        raw = load_local_files(files, cache_dir=model_args.cache_dir)
        for split, dataset in raw.items():
            check_text_column(dataset, data_args.text_column_name, f"--{split}_file {files[split]}")
        if "validation" not in raw:
            if len(raw["train"]) < 2:
                raise InvalidInputError(
                    f"--train_file {data_args.train_file} has a single example: it cannot be split for validation. "
                    "Add rows or give a --validation_file."
                )
            held_out = raw["train"].train_test_split(
                test_size=data_args.validation_split_percentage / 100, seed=seed, shuffle=True
            )
            raw = datasets.DatasetDict(train=held_out["train"], validation=held_out["test"])
            logger.info("Held out %d%% of --train_file for validation.", data_args.validation_split_percentage)
        return raw, Path(data_args.train_file).name
    from ..data import builtin_corpus

    logger.info("No dataset given: using the built-in offline corpus (%d sentences).", data_args.builtin_num_sentences)
    return builtin_corpus(num_sentences=data_args.builtin_num_sentences, seed=seed), BUILTIN_CORPUS


def text_column(dataset: datasets.Dataset, requested: str | None) -> str:
    """The column holding the text: --text_column_name, else 'text', else the only string column."""
    columns = dataset.column_names
    if requested is not None:
        if requested not in columns:
            raise InvalidInputError(f"--text_column_name {requested!r} is not a column; the data has {columns}.")
        return requested
    if "text" in columns:
        return "text"
    strings = [c for c in columns if getattr(dataset.features[c], "dtype", None) in ("string", "large_string")]
    if len(strings) == 1:
        return strings[0]
    raise InvalidInputError(
        f"Cannot tell which column holds the text: no 'text' column among {columns}. Pass --text_column_name <column>."
    )


def check_text_column(dataset: datasets.Dataset, requested: str | None, source: str) -> None:
    """The text column of a local file must hold strings (JSON numbers, lists or objects are not text)."""
    try:
        column = text_column(dataset, requested)
    except InvalidInputError as error:
        raise InvalidInputError(f"{source}: {error}") from error
    dtype = getattr(dataset.features[column], "dtype", None)
    if dtype not in ("string", "large_string"):
        first = next((i for i, value in enumerate(dataset[column]) if not isinstance(value, (str, type(None)))), 0)
        raise InvalidInputError(
            f"{source}: column {column!r} does not hold text (example {first + 1}: {dataset[first][column]!r}). "
            "Give one string per example: a .txt file, JSON "
            'Lines such as {"text": "..."}, or a JSON list of strings.'
        )


def tokenize_datasets(
    raw: datasets.DatasetDict,
    tokenizer: PreTrainedTokenizerBase,
    column: str,
    data_args: MLMDataArguments,
    max_seq_length: int,
) -> datasets.DatasetDict:
    """Line-by-line examples (truncated) or concatenated text cut into max_seq_length blocks."""
    map_kwargs = dict(num_proc=data_args.preprocessing_num_workers, load_from_cache_file=not data_args.overwrite_cache)
    columns = raw["train"].column_names

    if data_args.line_by_line:
        before = {split: len(ds) for split, ds in raw.items()}
        raw = raw.filter(lambda rows: [bool(t and t.strip()) for t in rows[column]], batched=True, **map_kwargs)
        for split, dataset in raw.items():
            if before[split] != len(dataset):
                logger.info("%s: skipped %d empty lines.", split, before[split] - len(dataset))

        def tokenize_lines(rows):
            return tokenizer(
                rows[column],
                padding="max_length" if data_args.pad_to_max_length else False,
                truncation=True,
                max_length=max_seq_length,
                return_special_tokens_mask=True,
            )

        return raw.map(tokenize_lines, batched=True, remove_columns=columns, desc="Tokenizing lines", **map_kwargs)

    def tokenize_all(rows):
        texts = [t for t in rows[column] if t is not None]
        return tokenizer(texts, return_special_tokens_mask=True)

    tokenized = raw.map(tokenize_all, batched=True, remove_columns=columns, desc="Tokenizing text", **map_kwargs)

    def group_texts(rows):
        # Concatenate the batch and cut it into full blocks; the tail shorter than a block is dropped (as in
        # transformers' run_mlm), so every example has exactly max_seq_length tokens.
        concatenated = {k: list(chain(*rows[k])) for k in rows}
        total = (len(concatenated["input_ids"]) // max_seq_length) * max_seq_length
        return {
            k: [v[i : i + max_seq_length] for i in range(0, total, max_seq_length)] for k, v in concatenated.items()
        }

    grouped = tokenized.map(group_texts, batched=True, desc=f"Grouping into blocks of {max_seq_length}", **map_kwargs)
    for split in grouped:
        tokens = int(
            pyarrow.compute.sum(pyarrow.compute.list_value_length(tokenized[split].data.column("input_ids"))).as_py()
            or 0
        )  # from the Arrow column: iterating 50,000 rows in Python took 1.6 s
        logger.info(
            "%s: %d tokens -> %d blocks of %d (%d tail tokens dropped).",
            split,
            tokens,
            len(grouped[split]),
            max_seq_length,
            tokens - len(grouped[split]) * max_seq_length,
        )
        if len(grouped[split]) == 0:
            raise InvalidInputError(
                f"The {split} text has {tokens} tokens, fewer than one block of --max_seq_length {max_seq_length}. "
                "Give more text, a smaller --max_seq_length, or --line_by_line."
            )
    return grouped


# ------------------------------------------------------------------------------------------ tokenizer


def prepare_tokenizer(
    model_args,
    training_args: TrainingArguments,
    raw: datasets.DatasetDict,
    column: str,
    last_checkpoint: str | None,
    model_max_length: int,
) -> tuple[PreTrainedTokenizerBase, str]:
    """The tokenizer, and where it comes from (for the model card).

    Order: --tokenizer_name, the checkpoint's, the checkpoint we resume from (a resumed run must keep its
    vocabulary), else a new WordPiece tokenizer trained on the training split. Must run under
    `main_process_first`: the main process trains and saves to output_dir, the others then load that copy, so all
    processes share one vocabulary.
    """
    trained_here = f"WordPiece ({model_args.tokenizer_vocab_size} entries asked) trained on the training text"
    source = model_args.tokenizer_name or model_args.model_name_or_path
    if source is not None:
        try:
            return AutoTokenizer.from_pretrained(source, **hub_kwargs(model_args)), source
        except OSError as error:
            raise MissingInputError(
                f"Could not load a tokenizer from {source}: {error}. Pass --tokenizer_name."
            ) from error
    if last_checkpoint and (Path(last_checkpoint) / "tokenizer_config.json").is_file():
        return AutoTokenizer.from_pretrained(last_checkpoint), trained_here
    if not training_args.distributed_state.is_local_main_process:
        return AutoTokenizer.from_pretrained(training_args.output_dir), trained_here
    logger.info("Training a WordPiece tokenizer (vocab %d) on the training text.", model_args.tokenizer_vocab_size)
    tokenizer = train_wordpiece_tokenizer(
        raw["train"][column], vocab_size=model_args.tokenizer_vocab_size, model_max_length=model_max_length
    )
    tokenizer.save_pretrained(training_args.output_dir)
    return tokenizer, trained_here


# ----------------------------------------------------------------------------------------------- metrics


def preprocess_logits_for_metrics(logits, labels):
    """Keep only the argmax: evaluation then never holds [examples, seq, vocab] logits in memory."""
    if isinstance(logits, tuple):
        logits = logits[0]
    return logits.argmax(dim=-1)


def compute_metrics(eval_preds) -> dict:
    """Masked-token accuracy (the loss and perplexity come from the Trainer)."""
    predictions, labels = eval_preds
    mask = labels != -100
    return {"accuracy": float((predictions[mask] == labels[mask]).mean()) if mask.any() else float("nan")}


# ------------------------------------------------------------------------------------------------- main


def main(
    model_args,
    data_args: MLMDataArguments,
    training_args: TrainingArguments,
    callbacks=None,
    config: PEBertConfig | None = None,
) -> dict:
    """Pretrain (and/or evaluate) a masked LM; returns the metrics that were also written to all_results.json.

    `callbacks` (TrainerCallback instances) are handed to the Trainer, e.g. for a study pipeline's bookkeeping.
    `config`: a ready config of a model trained from scratch (what the command line builds from --config_name,
    --config_overrides and the PE flags; the study gives its own). Its vocabulary follows the tokenizer.
    """
    finished = start_run(training_args)
    if finished is not None:
        return finished
    last_checkpoint = detect_last_checkpoint(training_args)
    # The config first: it fixes the position table that --max_seq_length must fit in.
    loader = resolve_model(model_args, config)
    max_seq_length = data_args.max_seq_length or min(DEFAULT_MAX_SEQ_LENGTH, position_limit(loader.config))
    check_max_seq_length(loader.config, max_seq_length)

    with training_args.main_process_first(desc="loading the dataset"):
        raw, dataset_label = load_raw_datasets(data_args, model_args, training_args.seed)
    column = text_column(raw["train"], data_args.text_column_name)
    if len(raw["train"]) == 0:
        raise InvalidInputError("The training split is empty.")
    with training_args.main_process_first(desc="preparing the tokenizer"):
        # A relative PE is not bound by the table: let the tokenizer accept what --max_seq_length asks for.
        tokenizer, tokenizer_source = prepare_tokenizer(
            model_args,
            training_args,
            raw,
            column,
            last_checkpoint,
            model_max_length=max(position_limit(loader.config), max_seq_length),
        )
    check_tokenizer_length(tokenizer, max_seq_length)
    model = load_for_tokenizer(loader, tokenizer)
    with training_args.main_process_first(desc="tokenizing the dataset"):
        tokenized = tokenize_datasets(raw, tokenizer, column, data_args, max_seq_length)
    train_dataset = limit_samples(tokenized["train"], data_args.max_train_samples)
    eval_dataset = limit_samples(tokenized["validation"], data_args.max_eval_samples)

    evaluating = training_args.do_eval
    trainer, loss = build_trainer(
        model,
        training_args,
        tokenizer,
        masking_collator(model, tokenizer, data_args, training_args),
        callbacks,
        train_dataset=train_dataset if training_args.do_train else None,
        eval_dataset=eval_dataset if evaluating else None,
        compute_metrics=compute_metrics if evaluating else None,
        preprocess_logits_for_metrics=preprocess_logits_for_metrics if evaluating else None,
    )
    results = train_and_evaluate(trainer, loss, last_checkpoint, train_dataset, eval_dataset)
    if training_args.do_train and trainer.is_world_process_zero():
        extra = {
            "max_seq_length": max_seq_length,
            "mlm_probability": data_args.mlm_probability,
            "tokenizer": tokenizer_source,
            "base_model": model_args.model_name_or_path,
        }
        write_card(trainer, results, dataset_label, data_args, extra)
    if training_args.push_to_hub and training_args.do_train:
        push_with_our_card(trainer)
    return results


def resolve_model(model_args, config: PEBertConfig | None) -> ModelLoader:
    """The masked LM's loader: a copy of the `config` given to `main`, else the one the arguments describe."""
    config, use_pe_bert = (
        (config.__class__.from_dict(config.to_dict()), True) if config is not None else resolve_config(model_args)
    )
    return ModelLoader(model_args, config, use_pe_bert, kind="masked_lm")


def position_limit(config) -> int:
    """The length of the config's position table (the default length where it has none)."""
    return getattr(config, "max_position_embeddings", DEFAULT_MAX_SEQ_LENGTH)


def load_for_tokenizer(loader: ModelLoader, tokenizer: PreTrainedTokenizerBase):
    """The model, with an embedding row for every token of the tokenizer: a new model's vocabulary is the
    tokenizer's; a checkpoint's table grows for a larger one."""
    if loader.model_args.model_name_or_path is None:
        loader.config.vocab_size = len(tokenizer)
    model = loader.load()
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        # Continued pretraining with a larger vocabulary (as transformers' run_mlm.py): the new rows start random.
        logger.warning(
            "The tokenizer has %d entries, the checkpoint's embedding table %d rows: resizing it (the "
            "new rows are randomly initialised).",
            len(tokenizer),
            model.get_input_embeddings().weight.shape[0],
        )
        model.resize_token_embeddings(len(tokenizer))
    return model


def masking_collator(model, tokenizer, data_args: MLMDataArguments, training_args: TrainingArguments):
    """The collator that masks tokens.

    Masks are drawn from a hash of the seed and each batch, not the global random stream: a resumed run masks
    exactly as the uninterrupted one (see pe_bert.training.resume). The masked-only head where the model takes
    `masked_positions` (pe_bert's; a stock BertForMaskedLM does not).
    """
    masked_only = data_args.masked_only_head and isinstance(model, PEBertForMaskedLM)
    return (MaskedOnlyHeadCollator if masked_only else ResumableMaskingCollator)(
        tokenizer=tokenizer,
        mask_seed=training_args.data_seed if training_args.data_seed is not None else training_args.seed,
        mlm_probability=data_args.mlm_probability,
        # Multiples of 8 use tensor cores when padding per batch in fp16/bf16.
        pad_to_multiple_of=8 if (data_args.line_by_line and not data_args.pad_to_max_length) else None,
    )


def train_and_evaluate(
    trainer: Trainer,
    loss: TrainLossCallback,
    last_checkpoint: str | None,
    train_dataset: datasets.Dataset,
    eval_dataset: datasets.Dataset,
) -> dict:
    """Train (saving the model, the metrics and the trainer state) and/or evaluate, as the arguments ask; returns
    the metrics of both."""
    results: dict = {}
    if trainer.args.do_train:
        train_metrics = train(trainer, loss, last_checkpoint)
        trainer.save_model()  # Model (safetensors) + tokenizer, main process only.
        train_metrics["train_samples"] = len(train_dataset)
        log_and_save_metrics(trainer, "train", train_metrics)
        trainer.save_state()
        results.update(train_metrics)
    if trainer.args.do_eval:
        eval_metrics = trainer.evaluate()
        eval_metrics["eval_samples"] = len(eval_dataset)
        eval_metrics["perplexity"] = (
            math.exp(eval_metrics["eval_loss"]) if eval_metrics["eval_loss"] < 700 else math.inf
        )
        log_and_save_metrics(trainer, "eval", eval_metrics)
        results.update(eval_metrics)
    return results


def write_card(trainer: Trainer, results: dict, dataset_label: str, data_args: MLMDataArguments, extra: dict) -> None:
    """The model card (README.md) of the pretrained model, with its measured numbers."""
    from ..model_card import write_model_card

    write_model_card(
        trainer.args.output_dir,
        config=trainer.model.config,
        task="fill-mask",
        metrics=results,
        dataset_name=dataset_label,
        dataset_id=data_args.dataset_name,
        dataset_config=data_args.dataset_config_name,
        training_args=trainer.args,
        extra=extra,
    )


def push_with_our_card(trainer: Trainer) -> None:
    """`Trainer.push_to_hub` regenerates README.md; keep the card with the measured numbers instead."""
    trainer.create_model_card = lambda *args, **kwargs: None
    trainer.push_to_hub(commit_message="End of training (pe_bert)")


def cli(argv: list[str] | None = None) -> dict:
    """Entry point of examples/run_mlm.py: bad input is one line on stderr and exit status 2 (`UsageError`)."""
    return run_training_script(Path(sys.argv[0]).name or "run_mlm.py", MLMDataArguments, main, argv)


__all__ = [
    "cli",
    "compute_metrics",
    "load_raw_datasets",
    "main",
    "prepare_tokenizer",
    "text_column",
    "tokenize_datasets",
]
