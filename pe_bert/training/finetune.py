"""Fine-tuning on GLUE, SNLI and the built-in tasks with the stock `Trainer` (what examples/run_glue.py runs).

Starts from a pe_bert checkpoint or any stock BERT checkpoint (see `loading`), scores dev sets exactly as GLUE
does (`pe_bert.data.glue_scores`), and optionally sweeps a learning-rate grid, reporting the best dev score as the
paper does. Call `main(model_args, data_args, training_args)` in-process or `cli(argv)` from the command line.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from pathlib import Path

import datasets
import numpy as np
from transformers import AutoTokenizer, DataCollatorWithPadding, Trainer, TrainingArguments, set_seed

from ..data.glue import get_task_info, load_task
from ..data.glue_scores import glue_compute_metrics
from ..errors import InvalidInputError
from ..inputs import check_vocabulary
from .arguments import GlueDataArguments
from .common import (
    check_seeds,
    check_training_steps,
    default_to_train_and_eval,
    detect_last_checkpoint,
    finished_run,
    run_training_script,
    setup_logging,
)
from .loading import check_max_seq_length, hub_kwargs, load_model, model_classes, resolve_config
from .resume import ChecksumCallback, TrainLossCallback

logger = logging.getLogger("pe_bert.training.finetune")


def load_task_datasets(data_args: GlueDataArguments, model_args, info, seed: int) -> datasets.DatasetDict:
    """The task's splits from local files, the built-in generator, or the Hub (pe_bert.data.glue.load_task)."""
    options = {}
    files_given = any((data_args.train_file, data_args.validation_file, data_args.test_file))
    if info.hub_path is None and not files_given:  # a built-in task: generated, seeded like the run
        options["seed"] = seed
        if data_args.builtin_num_examples is not None:
            options["num_train"] = data_args.builtin_num_examples
    return load_task(
        info.name,
        train_file=data_args.train_file,
        validation_file=data_args.validation_file,
        test_file=data_args.test_file,
        cache_dir=model_args.cache_dir,
        **options,
    )


def _require_split(raw: datasets.DatasetDict, split: str, flag: str, task: str) -> datasets.Dataset:
    if split not in raw:
        raise InvalidInputError(f"{flag} needs a {split!r} split, but task {task!r} was loaded with only {list(raw)}.")
    return raw[split]


def _limit(dataset: datasets.Dataset, limit: int | None) -> datasets.Dataset:
    return dataset if limit is None else dataset.select(range(min(limit, len(dataset))))


def make_compute_metrics(info):
    """GLUE's metrics for the task (accuracy / F1 / Matthews / Pearson-Spearman), from logits."""

    def compute_metrics(eval_pred) -> dict:
        logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
        predictions = np.squeeze(logits) if info.is_regression else np.argmax(logits, axis=-1)
        return glue_compute_metrics(info.name, predictions, eval_pred.label_ids)

    return compute_metrics


def _run_output_dir(training_args: TrainingArguments, learning_rate: float, grid: bool) -> str:
    # A grid keeps each run's checkpoints and metrics apart; the best model is saved in output_dir itself.
    return os.path.join(training_args.output_dir, f"lr_{learning_rate:g}") if grid else training_args.output_dir


def _evaluate_all(trainer: Trainer, eval_sets: dict[str, datasets.Dataset]) -> dict:
    """Evaluate every dev split; MNLI's second (mismatched) split gets the `_mm` suffix as in transformers."""
    metrics = {}
    for i, dataset in enumerate(eval_sets.values()):
        split_metrics = trainer.evaluate(eval_dataset=dataset)
        split_metrics["eval_samples"] = len(dataset)
        suffix = "" if i == 0 else "_mm"
        metrics.update({f"{key}{suffix}": value for key, value in split_metrics.items()})
    return metrics


def main(model_args, data_args: GlueDataArguments, training_args: TrainingArguments, callbacks=None) -> dict:
    """Fine-tune and/or evaluate; returns the (best run's) metrics, also written to all_results.json."""
    setup_logging(training_args)
    default_to_train_and_eval(training_args)
    check_training_steps(training_args)
    check_seeds(training_args)
    finished = finished_run(training_args)
    if finished is not None:
        return finished
    info = get_task_info(data_args.task_name)  # Unknown task: ValueError listing the valid ones.
    if model_args.model_name_or_path is None:
        raise InvalidInputError(
            "run_glue fine-tunes a checkpoint: pass --model_name_or_path (a run_mlm.py output_dir, a pe_bert "
            "checkpoint, or a stock BERT such as bert-base-uncased)."
        )
    learning_rates = data_args.learning_rates()
    set_seed(training_args.seed)

    with training_args.main_process_first(desc="loading the task"):
        raw = load_task_datasets(data_args, model_args, info, training_args.seed)

    label_maps = {}
    if not info.is_regression:
        label_maps = {
            "id2label": dict(enumerate(info.label_names)),
            "label2id": {name: i for i, name in enumerate(info.label_names)},
        }
    config, use_pe_bert = resolve_config(
        model_args, num_labels=info.num_labels, finetuning_task=info.name, **label_maps
    )
    check_max_seq_length(config, data_args.max_seq_length)
    tokenizer = AutoTokenizer.from_pretrained(
        model_args.tokenizer_name or model_args.model_name_or_path, **hub_kwargs(model_args)
    )
    max_seq_length = data_args.max_seq_length
    if max_seq_length > tokenizer.model_max_length:
        raise InvalidInputError(
            f"--max_seq_length {max_seq_length} is longer than the tokenizer's model_max_length "
            f"{tokenizer.model_max_length}. Lower --max_seq_length."
        )
    special = tokenizer.num_special_tokens_to_add(pair=info.is_pair)
    if max_seq_length <= special:
        raise InvalidInputError(
            f"--max_seq_length {max_seq_length} leaves no room for text: the tokenizer adds {special} special tokens "
            f"to each {'pair' if info.is_pair else 'sentence'}. Use --max_seq_length {special + 1} or more (128 is "
            "usual)."
        )

    def preprocess(rows):
        texts = [rows[column] for column in info.text_columns]
        return tokenizer(
            *texts,
            padding="max_length" if data_args.pad_to_max_length else False,
            max_length=max_seq_length,
            truncation=True,
        )

    with training_args.main_process_first(desc="tokenizing the task"):
        tokenized = raw.map(
            preprocess, batched=True, load_from_cache_file=not data_args.overwrite_cache, desc="Tokenizing"
        )

    train_dataset = None
    if training_args.do_train:
        train_dataset = _limit(_require_split(tokenized, "train", "--do_train", info.name), data_args.max_train_samples)
    eval_sets = {}
    if training_args.do_eval:
        for split in info.eval_splits:
            if split in tokenized:
                eval_sets[split] = _limit(tokenized[split], data_args.max_eval_samples)
        if not eval_sets:
            _require_split(tokenized, info.eval_splits[0], "--do_eval", info.name)
    collator = None if data_args.pad_to_max_length else DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8)
    auto_class, pe_bert_class = model_classes("sequence_classification")
    compute_metrics = make_compute_metrics(info)
    main_key = f"eval_{info.main_metric}"

    grid = learning_rates is not None
    runs = []
    best = None
    for learning_rate in learning_rates or [training_args.learning_rate]:
        run_args = training_args
        if grid:
            logger.info("Learning-rate grid: run with learning_rate=%g", learning_rate)
            run_args = dataclasses.replace(
                training_args,
                learning_rate=learning_rate,
                output_dir=_run_output_dir(training_args, learning_rate, grid),
            )
        set_seed(run_args.seed)  # every grid point starts from the same initialisation of the head
        model = load_model(model_args, config, use_pe_bert, auto_class, pe_bert_class)
        # Fine-tuning cannot learn embeddings for token ids the checkpoint never had: refuse, rather than crash
        # with an index error mid-training (or resize with random rows, as pretraining may).
        check_vocabulary(
            tokenizer,
            model,
            model_args.tokenizer_name or model_args.model_name_or_path,
            fix="Use the model's own tokenizer (drop --tokenizer_name)."
            if model_args.tokenizer_name
            else "The checkpoint's tokenizer and weights do not match: re-save them together.",
        )
        trainer = Trainer(
            model=model,
            args=run_args,
            train_dataset=train_dataset,
            eval_dataset=next(iter(eval_sets.values()), None),
            processing_class=tokenizer,
            data_collator=collator,
            compute_metrics=compute_metrics,
            callbacks=[ChecksumCallback(), *(callbacks or [])],
        )
        loss = TrainLossCallback.attach(trainer)  # a resumed run reports the uninterrupted run's train_loss
        metrics = {"learning_rate": learning_rate}
        if training_args.do_train:
            train_result = trainer.train(resume_from_checkpoint=detect_last_checkpoint(run_args))
            if loss.train_loss is not None:
                train_result.metrics["train_loss"] = loss.train_loss
            metrics.update(train_result.metrics)
            metrics["train_samples"] = len(train_dataset)
            trainer.save_metrics("train", train_result.metrics)
            trainer.save_state()
        if eval_sets:
            eval_metrics = _evaluate_all(trainer, eval_sets)
            trainer.log_metrics("eval", eval_metrics)
            trainer.save_metrics("eval", eval_metrics)
            metrics.update(eval_metrics)
        runs.append(metrics)
        score = metrics.get(main_key)
        is_best = best is None or (score is not None and score > best.get(main_key, -np.inf))
        if is_best:
            best = metrics
            if training_args.do_train:
                # Model (safetensors) + tokenizer of the best run so far, in output_dir; main process only.
                trainer.save_model(training_args.output_dir)
        del trainer, model

    results = dict(best)
    if grid:
        results["best_learning_rate"] = best["learning_rate"]
        results["learning_rate_grid"] = [
            {"learning_rate": run["learning_rate"], main_key: run.get(main_key)} for run in runs
        ]
    if training_args.should_save:
        os.makedirs(training_args.output_dir, exist_ok=True)
        _write_json(Path(training_args.output_dir) / "all_results.json", results)
        _write_json(
            Path(training_args.output_dir) / "eval_results.json",
            {k: v for k, v in best.items() if k.startswith("eval_") or k == "learning_rate"},
        )
        if grid:
            _write_json(
                Path(training_args.output_dir) / "grid_results.json",
                {
                    "task": info.name,
                    "metric": main_key,
                    "best_learning_rate": best["learning_rate"],
                    "best_score": best.get(main_key),
                    "runs": runs,
                },
            )

    if training_args.do_predict:
        results.update(
            predict(
                model_args,
                data_args,
                training_args,
                info,
                tokenized,
                tokenizer,
                collator,
                config,
                use_pe_bert,
                auto_class,
                pe_bert_class,
            )
        )

    if training_args.do_train and training_args.should_save:
        from ..model_card import write_model_card

        write_model_card(
            training_args.output_dir,
            config=config,
            task="text-classification",
            metrics=best,
            dataset_name=info.name if info.hub_path or not data_args.train_file else Path(data_args.train_file).name,
            dataset_id=info.hub_path if not data_args.train_file else None,
            dataset_config=info.hub_config if not data_args.train_file else None,
            training_args=dataclasses.replace(training_args, learning_rate=best["learning_rate"]),
            extra={"task": info.name, "max_seq_length": max_seq_length, "base_model": model_args.model_name_or_path},
            grid=[{"learning_rate": r["learning_rate"], "value": r.get(main_key)} for r in runs] if grid else None,
            grid_metric=info.main_metric,
        )
    return results


def predict(
    model_args,
    data_args,
    training_args,
    info,
    tokenized,
    tokenizer,
    collator,
    config,
    use_pe_bert,
    auto_class,
    pe_bert_class,
) -> dict:
    """Predict the test split(s) with the trained (best) model; writes predict_results_<split>.txt."""
    # After training, the best model was saved in output_dir; otherwise predict with the given checkpoint.
    source = training_args.output_dir if training_args.do_train else model_args.model_name_or_path
    model = load_model(
        dataclasses.replace(model_args, model_name_or_path=source), config, use_pe_bert, auto_class, pe_bert_class
    )
    trainer = Trainer(model=model, args=training_args, processing_class=tokenizer, data_collator=collator)
    written = {}
    for split in info.test_splits:
        if split not in tokenized:
            continue
        dataset = _limit(tokenized[split], data_args.max_predict_samples)
        dataset = dataset.remove_columns([c for c in ("label",) if c in dataset.column_names])
        logits = trainer.predict(dataset, metric_key_prefix="predict").predictions
        logits = logits[0] if isinstance(logits, tuple) else logits
        predictions = np.squeeze(logits) if info.is_regression else np.argmax(logits, axis=1)
        path = Path(training_args.output_dir) / f"predict_results_{split}.txt"
        if trainer.is_world_process_zero():
            with open(path, "w") as handle:
                handle.write("index\tprediction\n")
                for index, value in enumerate(predictions):
                    label = f"{value:.3f}" if info.is_regression else info.label_names[int(value)]
                    handle.write(f"{index}\t{label}\n")
        written[f"predict_samples_{split}"] = len(dataset)
    if not written:
        logger.warning(
            "--do_predict: task %r has no test split loaded (%s); nothing predicted.",
            info.name,
            ", ".join(info.test_splits),
        )
    return written


def _write_json(path: Path, payload: dict) -> None:
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=float) + "\n")


def cli(argv: list[str] | None = None) -> dict:
    """Entry point of examples/run_glue.py: bad input is one line on stderr and exit status 2 (`UsageError`)."""
    return run_training_script(Path(sys.argv[0]).name or "run_glue.py", GlueDataArguments, main, argv)


__all__ = ["cli", "load_task_datasets", "main", "make_compute_metrics", "predict"]
