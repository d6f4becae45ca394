"""What the training stages (pretraining, fine-tuning) share: the Trainer's arguments, the metrics they keep, the
files that differ from run to run, and the inputs (the pretraining text) that identify them."""

from __future__ import annotations

from pathlib import Path

from ..store import input_fingerprint

# What the Trainer writes beside a model that differs from run to run whatever the inputs (runtimes, throughputs,
# the pickled arguments): verified like every output, but not part of the content that later stages depend on.
TRAINER_TIMING_FILES = ("trainer_state.json", "training_args.bin", "*results.json")


def training_arguments(
    output_dir: Path,
    config,
    seed: int,
    steps: int,
    batch_size: int,
    learning_rate: float,
    do_eval: bool,
    verbose: bool,
    warmup_steps: int | None = None,
    schedule: str = "linear",
):
    """The Trainer's arguments of a study stage. `warmup_steps` None: warmup_fraction of `steps`. `schedule`: the
    Trainer's lr_scheduler_type."""
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(output_dir),
        do_train=True,
        do_eval=do_eval,
        max_steps=steps,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        learning_rate=learning_rate,
        # a float below 1 is a fraction of the steps
        warmup_steps=config.warmup_fraction if warmup_steps is None else warmup_steps,
        lr_scheduler_type=schedule,
        weight_decay=0.01,
        seed=seed,
        data_seed=seed,
        eval_strategy="no",
        save_strategy="no",
        logging_steps=max(1, steps // 10),
        report_to="none",
        dataloader_num_workers=0,
        disable_tqdm=not verbose,
    )


def deterministic(metrics: dict) -> dict:
    """The Trainer's metrics without those that measure the machine (the report's metadata holds the timings), so
    that results.json is identical from run to run."""
    from ...jsonable import jsonable
    from ...model_card import MACHINE_METRICS

    return jsonable({k: v for k, v in metrics.items() if not k.endswith(MACHINE_METRICS)})


def corpus_identity(config) -> dict:
    """What the pretraining text is, for the settings of the stages built on it: the dataset (a local folder or
    file by content: editing it redoes what was built on it, moving it does not; a Hub dataset by name, and by
    revision when --dataset-revision pins it), its config, the training file by content, the built-in corpus's
    size."""
    identity = {
        "dataset_name": input_fingerprint(config.dataset_name),
        "dataset_config_name": config.dataset_config_name,
        "train_file": input_fingerprint(config.train_file),
        "builtin_num_sentences": config.builtin_num_sentences,
    }
    if config.dataset_revision:  # only when pinned: the studies stored before it existed keep their stages
        identity["dataset_revision"] = config.dataset_revision
    return identity


def user_corpus_arguments(config):
    """The user's pretraining text (a Hub dataset or --train-file) as run_mlm's data arguments."""
    from ...training.arguments import MLMDataArguments

    return MLMDataArguments(
        dataset_name=config.dataset_name,
        dataset_config_name=config.dataset_config_name,
        dataset_revision=config.dataset_revision,
        train_file=config.train_file,
        max_seq_length=config.max_seq_length,
        mlm_probability=config.mlm_probability,
    )


__all__ = [
    "TRAINER_TIMING_FILES",
    "corpus_identity",
    "deterministic",
    "training_arguments",
    "user_corpus_arguments",
]
