"""The steps pretraining and fine-tuning both take, written once: the opening of a run (logging, the checks of its
arguments, a run already finished, the seed), the `Trainer` with pe_bert's callbacks, and training with its metrics
recorded. `pretrain.main` and `finetune.main` are these steps and their own ones in order."""

from __future__ import annotations

import datasets
from transformers import Trainer, TrainingArguments, set_seed

from .common import check_seeds, check_training_steps, default_to_train_and_eval, finished_run, setup_logging
from .resume import ChecksumCallback, TrainLossCallback


def start_run(training_args: TrainingArguments) -> dict | None:
    """Open a run: logging, the default of training and evaluating, the checks of the step count and the seeds.

    Returns the stored results when output_dir holds this very run already finished (then there is nothing to do:
    `finished_run`); otherwise seeds every random generator with `--seed` and returns None.
    """
    setup_logging(training_args)
    default_to_train_and_eval(training_args)
    check_training_steps(training_args)
    check_seeds(training_args)
    finished = finished_run(training_args)
    if finished is None:
        set_seed(training_args.seed)
    return finished


def build_trainer(
    model, args: TrainingArguments, tokenizer, collator, callbacks=None, **trainer_kwargs
) -> tuple[Trainer, TrainLossCallback]:
    """The stock `Trainer` with pe_bert's callbacks: checksums in every checkpoint, then `callbacks` (a caller's
    own, e.g. a study's bookkeeping), and the loss that a resumed run reports as the uninterrupted one would.

    `trainer_kwargs`: the datasets and metric functions. Returns the Trainer and its loss callback (for `train`).
    """
    trainer = Trainer(
        model=model,
        args=args,
        processing_class=tokenizer,
        data_collator=collator,
        callbacks=[ChecksumCallback(), *(callbacks or [])],
        **trainer_kwargs,
    )
    return trainer, TrainLossCallback.attach(trainer)


def train(trainer: Trainer, loss: TrainLossCallback, resume_from: str | None) -> dict:
    """Train, resuming from the checkpoint `resume_from` (None: from the start); returns the Trainer's train
    metrics, whose train_loss is the uninterrupted run's also after a resumption."""
    metrics = dict(trainer.train(resume_from_checkpoint=resume_from).metrics)
    if loss.train_loss is not None:
        metrics["train_loss"] = loss.train_loss
    return metrics


def limit_samples(dataset: datasets.Dataset, limit: int | None) -> datasets.Dataset:
    """The first `limit` examples of `dataset` (all of them without a limit: `--max_*_samples`)."""
    return dataset if limit is None else dataset.select(range(min(len(dataset), limit)))


def log_and_save_metrics(trainer: Trainer, split: str, metrics: dict) -> None:
    """Print `metrics` as the Trainer does and write them to `<split>_results.json` (and all_results.json)."""
    trainer.log_metrics(split, metrics)
    trainer.save_metrics(split, metrics)


__all__ = ["build_trainer", "limit_samples", "log_and_save_metrics", "start_run", "train"]
