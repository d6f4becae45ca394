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
from transformers import (
    AutoTokenizer,
    DataCollatorWithPadding,
    PreTrainedTokenizerBase,
    Trainer,
    TrainingArguments,
    set_seed,
)

from ..data.glue import TaskInfo, get_task_info, load_task
from ..data.glue_scores import glue_compute_metrics
from ..errors import InvalidInputError
from ..inputs import check_vocabulary
from .arguments import GlueDataArguments
from .common import detect_last_checkpoint, run_training_script
from .loading import ModelLoader, check_max_seq_length, check_tokenizer_length, hub_kwargs, resolve_config
from .steps import build_trainer, limit_samples, log_and_save_metrics, start_run, train

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


def make_compute_metrics(info):
    """GLUE's metrics for the task (accuracy / F1 / Matthews / Pearson-Spearman), from logits."""

    def compute_metrics(eval_pred) -> dict:
        logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
        predictions = np.squeeze(logits) if info.is_regression else np.argmax(logits, axis=-1)
        return glue_compute_metrics(info.name, predictions, eval_pred.label_ids)

    return compute_metrics


@dataclasses.dataclass
class TaskData:
    """A task made ready for the Trainer: what it is, its tokenizer, its tokenized splits and the ones each step
    uses (the training split, the dev splits to score, the collator that pads them)."""

    info: TaskInfo
    tokenizer: PreTrainedTokenizerBase
    max_seq_length: int
    tokenized: datasets.DatasetDict
    train_dataset: datasets.Dataset | None
    eval_sets: dict[str, datasets.Dataset]
    collator: DataCollatorWithPadding | None

    @property
    def main_key(self) -> str:
        """The metric the learning-rate grid picks its best run by, as the Trainer names it."""
        return f"eval_{self.info.main_metric}"


@dataclasses.dataclass
class GridOutcome:
    """The runs of a learning-rate grid (a single run without a grid): each one's metrics, the best one's, and the
    metric that chose it."""

    runs: list[dict]
    best: dict
    grid: bool
    main_key: str

    def results(self) -> dict:
        """What `main` returns and writes to all_results.json: the best run's metrics and, with a grid, its
        learning rate and every run's score."""
        results = dict(self.best)
        if self.grid:
            results["best_learning_rate"] = self.best["learning_rate"]
            results["learning_rate_grid"] = [
                {"learning_rate": run["learning_rate"], self.main_key: run.get(self.main_key)} for run in self.runs
            ]
        return results


def main(model_args, data_args: GlueDataArguments, training_args: TrainingArguments, callbacks=None) -> dict:
    """Fine-tune and/or evaluate; returns the (best run's) metrics, also written to all_results.json."""
    finished = start_run(training_args)
    if finished is not None:
        return finished
    info = get_task_info(data_args.task_name)  # Unknown task: ValueError listing the valid ones.
    if model_args.model_name_or_path is None:
        raise InvalidInputError(
            "run_glue fine-tunes a checkpoint: pass --model_name_or_path (a run_mlm.py output_dir, a pe_bert "
            "checkpoint, or a stock BERT such as bert-base-uncased)."
        )
    learning_rates = data_args.learning_rates()

    with training_args.main_process_first(desc="loading the task"):
        raw = load_task_datasets(data_args, model_args, info, training_args.seed)
    loader = resolve_classifier(model_args, info)
    check_max_seq_length(loader.config, data_args.max_seq_length)
    task = prepare_task(raw, info, model_args, data_args, training_args)
    outcome = run_grid(loader, task, training_args, learning_rates, callbacks)
    results = outcome.results()
    if training_args.should_save:
        write_results(training_args.output_dir, outcome, results, info)
    if training_args.do_predict:
        results.update(predict(loader, task, training_args, data_args.max_predict_samples))
    if training_args.do_train and training_args.should_save:
        write_card(loader, task, outcome, data_args, training_args)
    return results


def resolve_classifier(model_args, info: TaskInfo) -> ModelLoader:
    """The classifier's loader: the checkpoint's config with the task's labels (their names, for a classification)."""
    label_maps = {}
    if not info.is_regression:
        label_maps = {
            "id2label": dict(enumerate(info.label_names)),
            "label2id": {name: i for i, name in enumerate(info.label_names)},
        }
    config, use_pe_bert = resolve_config(
        model_args, num_labels=info.num_labels, finetuning_task=info.name, **label_maps
    )
    return ModelLoader(model_args, config, use_pe_bert, kind="sequence_classification")


def load_task_tokenizer(model_args, max_seq_length: int, info: TaskInfo) -> PreTrainedTokenizerBase:
    """The checkpoint's tokenizer (or --tokenizer_name's), checked to leave room for text within --max_seq_length."""
    tokenizer = AutoTokenizer.from_pretrained(
        model_args.tokenizer_name or model_args.model_name_or_path, **hub_kwargs(model_args)
    )
    check_tokenizer_length(tokenizer, max_seq_length)
    special = tokenizer.num_special_tokens_to_add(pair=info.is_pair)
    if max_seq_length <= special:
        raise InvalidInputError(
            f"--max_seq_length {max_seq_length} leaves no room for text: the tokenizer adds {special} special tokens "
            f"to each {'pair' if info.is_pair else 'sentence'}. Use --max_seq_length {special + 1} or more (128 is "
            "usual)."
        )
    return tokenizer


def prepare_task(
    raw: datasets.DatasetDict, info: TaskInfo, model_args, data_args: GlueDataArguments, training_args
) -> TaskData:
    """Tokenize the task's splits and pick the ones to train on and to score (checking that they were loaded)."""
    max_seq_length = data_args.max_seq_length
    tokenizer = load_task_tokenizer(model_args, max_seq_length, info)

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
        train_split = _require_split(tokenized, "train", "--do_train", info.name)
        train_dataset = limit_samples(train_split, data_args.max_train_samples)
    eval_sets = {}
    if training_args.do_eval:
        for split in info.eval_splits:
            if split in tokenized:
                eval_sets[split] = limit_samples(tokenized[split], data_args.max_eval_samples)
        if not eval_sets:
            _require_split(tokenized, info.eval_splits[0], "--do_eval", info.name)
    collator = None if data_args.pad_to_max_length else DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8)
    return TaskData(info, tokenizer, max_seq_length, tokenized, train_dataset, eval_sets, collator)


def _run_output_dir(training_args: TrainingArguments, learning_rate: float, grid: bool) -> str:
    # A grid keeps each run's checkpoints and metrics apart; the best model is saved in output_dir itself.
    return os.path.join(training_args.output_dir, f"lr_{learning_rate:g}") if grid else training_args.output_dir


def run_grid(
    loader: ModelLoader, task: TaskData, training_args: TrainingArguments, learning_rates, callbacks
) -> GridOutcome:
    """Fine-tune once per learning rate of the grid (once at --learning_rate without one); the best run's model
    (safetensors + tokenizer, main process only) is saved in output_dir."""
    grid = learning_rates is not None
    compute_metrics = make_compute_metrics(task.info)
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
        metrics, trainer = fine_tune_once(loader, task, run_args, compute_metrics, callbacks)
        runs.append(metrics)
        score = metrics.get(task.main_key)
        is_best = best is None or (score is not None and score > best.get(task.main_key, -np.inf))
        if is_best:
            best = metrics
            if training_args.do_train:
                trainer.save_model(training_args.output_dir)
        del trainer  # and its model: the next grid point loads its own
    return GridOutcome(runs, best, grid, task.main_key)


def fine_tune_once(
    loader: ModelLoader, task: TaskData, run_args: TrainingArguments, compute_metrics, callbacks
) -> tuple[dict, Trainer]:
    """One run at `run_args.learning_rate`: train (resuming where a checkpoint is left) and/or score the dev splits;
    returns its metrics and its Trainer (holding the model)."""
    set_seed(run_args.seed)  # every grid point starts from the same initialisation of the head
    model = loader.load()
    # Fine-tuning cannot learn embeddings for token ids the checkpoint never had: refuse, rather than crash
    # with an index error mid-training (or resize with random rows, as pretraining may).
    model_args = loader.model_args
    check_vocabulary(
        task.tokenizer,
        model,
        model_args.tokenizer_name or model_args.model_name_or_path,
        fix="Use the model's own tokenizer (drop --tokenizer_name)."
        if model_args.tokenizer_name
        else "The checkpoint's tokenizer and weights do not match: re-save them together.",
    )
    trainer, loss = build_trainer(
        model,
        run_args,
        task.tokenizer,
        task.collator,
        callbacks,
        train_dataset=task.train_dataset,
        eval_dataset=next(iter(task.eval_sets.values()), None),
        compute_metrics=compute_metrics,
    )
    metrics = {"learning_rate": run_args.learning_rate}
    if run_args.do_train:
        train_metrics = train(trainer, loss, detect_last_checkpoint(run_args))
        metrics.update(train_metrics)
        metrics["train_samples"] = len(task.train_dataset)
        trainer.save_metrics("train", train_metrics)
        trainer.save_state()
    if task.eval_sets:
        eval_metrics = _evaluate_all(trainer, task.eval_sets)
        log_and_save_metrics(trainer, "eval", eval_metrics)
        metrics.update(eval_metrics)
    return metrics, trainer


def _evaluate_all(trainer: Trainer, eval_sets: dict[str, datasets.Dataset]) -> dict:
    """Evaluate every dev split; MNLI's second (mismatched) split gets the `_mm` suffix as in transformers."""
    metrics = {}
    for i, dataset in enumerate(eval_sets.values()):
        split_metrics = trainer.evaluate(eval_dataset=dataset)
        split_metrics["eval_samples"] = len(dataset)
        suffix = "" if i == 0 else "_mm"
        metrics.update({f"{key}{suffix}": value for key, value in split_metrics.items()})
    return metrics


def write_results(output_dir: str, outcome: GridOutcome, results: dict, info: TaskInfo) -> None:
    """all_results.json, eval_results.json (the best run's) and, with a grid, grid_results.json."""
    best = outcome.best
    os.makedirs(output_dir, exist_ok=True)
    _write_json(Path(output_dir) / "all_results.json", results)
    _write_json(
        Path(output_dir) / "eval_results.json",
        {k: v for k, v in best.items() if k.startswith("eval_") or k == "learning_rate"},
    )
    if outcome.grid:
        _write_json(
            Path(output_dir) / "grid_results.json",
            {
                "task": info.name,
                "metric": outcome.main_key,
                "best_learning_rate": best["learning_rate"],
                "best_score": best.get(outcome.main_key),
                "runs": outcome.runs,
            },
        )


def write_card(
    loader: ModelLoader, task: TaskData, outcome: GridOutcome, data_args: GlueDataArguments, training_args
) -> None:
    """The model card (README.md) of the fine-tuned (best) model, with its dev scores and the grid's."""
    from ..model_card import write_model_card

    info, best, main_key = task.info, outcome.best, outcome.main_key
    local = data_args.train_file
    write_model_card(
        training_args.output_dir,
        config=loader.config,
        task="text-classification",
        metrics=best,
        dataset_name=info.name if info.hub_path or not local else Path(local).name,
        dataset_id=info.hub_path if not local else None,
        dataset_config=info.hub_config if not local else None,
        training_args=dataclasses.replace(training_args, learning_rate=best["learning_rate"]),
        extra={
            "task": info.name,
            "max_seq_length": task.max_seq_length,
            "base_model": loader.model_args.model_name_or_path,
        },
        grid=[{"learning_rate": r["learning_rate"], "value": r.get(main_key)} for r in outcome.runs]
        if outcome.grid
        else None,
        grid_metric=info.main_metric,
    )


def predict(
    loader: ModelLoader, task: TaskData, training_args: TrainingArguments, max_samples: int | None = None
) -> dict:
    """Predict the test split(s) (their first `max_samples` examples, --max_predict_samples) with the trained
    (best) model; writes predict_results_<split>.txt and returns the number predicted per split."""
    # After training, the best model was saved in output_dir; otherwise predict with the given checkpoint.
    source = training_args.output_dir if training_args.do_train else loader.model_args.model_name_or_path
    model = loader.load(source)
    trainer = Trainer(model=model, args=training_args, processing_class=task.tokenizer, data_collator=task.collator)
    info = task.info
    written = {}
    for split in info.test_splits:
        if split not in task.tokenized:
            continue
        dataset = limit_samples(task.tokenized[split], max_samples)
        dataset = dataset.remove_columns([c for c in ("label",) if c in dataset.column_names])
        logits = trainer.predict(dataset, metric_key_prefix="predict").predictions
        logits = logits[0] if isinstance(logits, tuple) else logits
        predictions = np.squeeze(logits) if info.is_regression else np.argmax(logits, axis=1)
        if trainer.is_world_process_zero():
            _write_predictions(Path(training_args.output_dir) / f"predict_results_{split}.txt", predictions, info)
        written[f"predict_samples_{split}"] = len(dataset)
    if not written:
        logger.warning(
            "--do_predict: task %r has no test split loaded (%s); nothing predicted.",
            info.name,
            ", ".join(info.test_splits),
        )
    return written


def _write_predictions(path: Path, predictions: np.ndarray, info: TaskInfo) -> None:
    with open(path, "w") as handle:
        handle.write("index\tprediction\n")
        for index, value in enumerate(predictions):
            label = f"{value:.3f}" if info.is_regression else info.label_names[int(value)]
            handle.write(f"{index}\t{label}\n")


def _write_json(path: Path, payload: dict) -> None:
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=float) + "\n")


def cli(argv: list[str] | None = None) -> dict:
    """Entry point of examples/run_glue.py: bad input is one line on stderr and exit status 2 (`UsageError`)."""
    return run_training_script(Path(sys.argv[0]).name or "run_glue.py", GlueDataArguments, main, argv)


__all__ = ["GridOutcome", "TaskData", "cli", "load_task_datasets", "main", "make_compute_metrics", "predict"]
