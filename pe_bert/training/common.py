"""Pieces both training scripts share: logging, checkpoint detection, local data files, argument parsing."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import datasets
import transformers
from transformers import HfArgumentParser, TrainerCallback, TrainingArguments

from ..errors import InvalidInputError, MissingInputError, exit_on_usage_error, one_line
from ..inputs import check_data_file_content, check_file, check_seed, check_text_file
from .arguments import use_cpu_when_distributed_without_accelerator
from .resume import TRAINER_STATE, checkpoint_problem, last_complete_checkpoint, model_problem

logger = logging.getLogger("pe_bert.training")

# `datasets` builder names by file extension.
FILE_BUILDERS = {"txt": "text", "text": "text", "csv": "csv", "tsv": "csv", "json": "json", "jsonl": "json"}


def setup_logging(training_args: TrainingArguments) -> None:
    """transformers-example logging: INFO on the main process, warnings elsewhere, one format everywhere."""
    if not logging.getLogger().handlers:
        logging.basicConfig(
            format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
            datefmt="%m/%d/%Y %H:%M:%S",
            handlers=[logging.StreamHandler(sys.stdout)],
        )
    level = training_args.get_process_log_level()
    datasets.utils.logging.set_verbosity(level)
    transformers.utils.logging.set_verbosity(level)
    # Our own progress messages (data sizes, dropped tails, resumption) are INFO on the main process even when
    # --log_level is left "passive"; other ranks only warn.
    ours = logging.INFO if training_args.log_level == "passive" and training_args.should_log else level
    logging.getLogger("pe_bert").setLevel(ours)
    logger.info(
        "Process rank %s, device %s, world size %s",
        training_args.process_index,
        training_args.device,
        training_args.world_size,
    )


def detect_last_checkpoint(training_args: TrainingArguments) -> str | None:
    """The checkpoint to resume from: `--resume_from_checkpoint`, else the last complete `checkpoint-N` in
    output_dir (incomplete ones, left by a run killed while saving, are skipped with a warning).

    As transformers' examples do, an interrupted run restarts where it stopped when launched again with the same
    output_dir. To start over, use a new (or emptied) output_dir.
    """
    if training_args.resume_from_checkpoint:
        if not os.path.isdir(training_args.resume_from_checkpoint):
            raise MissingInputError(
                f"--resume_from_checkpoint {training_args.resume_from_checkpoint} is not a folder; give a "
                "checkpoint-N folder written by a previous run."
            )
        problem = checkpoint_problem(training_args.resume_from_checkpoint)
        if problem is not None:
            raise InvalidInputError(
                f"--resume_from_checkpoint {training_args.resume_from_checkpoint} is incomplete: {problem}. Give an "
                "earlier checkpoint-N, or drop the flag to resume from the last complete one."
            )
        return training_args.resume_from_checkpoint
    if not training_args.do_train or not os.path.isdir(training_args.output_dir):
        return None
    last = last_complete_checkpoint(training_args.output_dir)
    if last is not None:
        logger.info("Found %s: resuming training from it. Use a new --output_dir to start over.", last)
    return last


def check_training_steps(training_args: TrainingArguments) -> None:
    """The Trainer reads `--max_steps 0` as one step and any negative value as "use --num_train_epochs": refuse both
    instead of training something nobody asked for."""
    if training_args.max_steps == 0 or training_args.max_steps < -1:
        raise InvalidInputError(
            f"--max_steps {training_args.max_steps}: give a positive number of steps, or leave it "
            "unset to train for --num_train_epochs epochs."
        )
    if training_args.max_steps == -1 and not training_args.num_train_epochs > 0:
        raise InvalidInputError(
            f"--num_train_epochs {training_args.num_train_epochs}: give a positive number of "
            "epochs, or a positive --max_steps."
        )


def check_seeds(training_args: TrainingArguments) -> None:
    """`--seed` and `--data_seed` must be seeds numpy accepts: found before anything is loaded, not as a traceback
    from `set_seed`."""
    check_seed(training_args.seed, "--seed")
    if training_args.data_seed is not None:
        check_seed(training_args.data_seed, "--data_seed")


def finished_run(training_args: TrainingArguments) -> dict | None:
    """The stored results when `output_dir` holds a run that already trained to the end of this very plan (its
    final `trainer_state.json`, written after the last step, and its saved model), else None. Relaunching such a
    run must not train past its last step and overwrite its results: the scripts do nothing and say so."""
    if not training_args.do_train or training_args.resume_from_checkpoint:
        return None
    output = Path(training_args.output_dir)
    try:
        state = json.loads((output / TRAINER_STATE).read_text())
    except (OSError, ValueError):
        return None
    planned = training_args.max_steps if training_args.max_steps > 0 else None
    same_plan = (
        state.get("max_steps") == planned
        if planned
        else state.get("num_train_epochs") == training_args.num_train_epochs
    )
    if not same_plan or state.get("global_step", 0) < state.get("max_steps", 1) or model_problem(output) is not None:
        return None
    results = output / "all_results.json"
    logger.warning(
        "%s already holds this run, trained to step %d of %d: nothing to train. Use a new --output_dir to "
        "train again (or a larger --max_steps to continue).",
        output,
        state["global_step"],
        state["max_steps"],
    )
    return json.loads(results.read_text()) if results.is_file() else {}


def default_to_train_and_eval(training_args: TrainingArguments) -> None:
    """Without --do_train/--do_eval/--do_predict the scripts train and evaluate (the useful default)."""
    if not (training_args.do_train or training_args.do_eval or training_args.do_predict):
        logger.info("Neither --do_train nor --do_eval given: doing both.")
        training_args.do_train = True
        training_args.do_eval = True


def check_data_file(path: str | None, what: str) -> str | None:
    """Fail early, naming the file, when a local data file is missing, of an unknown type, or empty."""
    if path is None:
        return None
    file = check_file(path, what)
    extension = file.suffix.lstrip(".").lower()
    if extension not in FILE_BUILDERS:
        raise InvalidInputError(
            f"{what} {path}: unsupported extension {file.suffix!r}; use one of "
            f"{', '.join('.' + e for e in FILE_BUILDERS)}."
        )
    check_text_file(file, what)  # every supported format is text: a binary or empty file is refused here
    return extension


def load_local_files(files: dict[str, str], cache_dir: str | None = None) -> datasets.DatasetDict:
    """Load local txt/csv/json files (one per split) with `datasets`, checking each one first."""
    extensions = {split: check_data_file(path, f"--{split}_file") for split, path in files.items()}
    builders = {FILE_BUILDERS[ext] for ext in extensions.values()}
    if len(builders) > 1:
        raise InvalidInputError(f"All data files must have the same format; got {', '.join(files.values())}.")
    builder = builders.pop()
    kwargs = {}
    if builder == "text":
        kwargs["keep_linebreaks"] = True
    if any(ext == "tsv" for ext in extensions.values()):
        kwargs["delimiter"] = "\t"
    try:
        loaded = datasets.load_dataset(builder, data_files=dict(files), cache_dir=cache_dir, **kwargs)
    except Exception as error:  # datasets' DatasetGenerationError and friends: find the file and line at fault
        for split, path in files.items():
            check_data_file_content(path, f"--{split}_file", builder)
        raise InvalidInputError(
            f"{' / '.join(files.values())} could not be read as {builder}: {one_line(error)}"
        ) from error
    for split, dataset in loaded.items():
        if len(dataset) == 0:
            raise InvalidInputError(f"--{split}_file {files[split]} has no rows.")
    return loaded


def run_training_script(prog: str, data_class, main, argv: list[str] | None = None):
    """A training script's entry point: parse its arguments, run `main`, and turn bad input into one line on stderr
    and exit status 2 (`UsageError`). Under `accelerate launch`, the process group is destroyed before the process
    exits: left to the interpreter's exit, gloo's threads can abort a finished run ("terminate called without an
    active exception", exit status -6)."""
    import torch.distributed as dist

    def run():
        try:
            return main(*parse_args(data_class, argv))
        finally:
            if dist.is_available() and dist.is_initialized():
                dist.destroy_process_group()

    return exit_on_usage_error(prog, run)


def parse_args(data_class, argv: list[str] | None = None):
    """Parse `(ModelArguments, data_class, TrainingArguments)` from argv or from a single .json/.yaml file."""
    from .arguments import ModelArguments

    use_cpu_when_distributed_without_accelerator()
    parser = HfArgumentParser((ModelArguments, data_class, TrainingArguments))
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 1 and argv[0].endswith(".json"):
        return parser.parse_json_file(json_file=os.path.abspath(argv[0]))
    if len(argv) == 1 and argv[0].endswith((".yaml", ".yml")):
        return parser.parse_yaml_file(yaml_file=os.path.abspath(argv[0]))
    return parser.parse_args_into_dataclasses(args=argv)


__all__ = [
    "FILE_BUILDERS",
    "check_data_file",
    "default_to_train_and_eval",
    "check_seeds",
    "check_training_steps",
    "detect_last_checkpoint",
    "finished_run",
    "load_local_files",
    "parse_args",
    "run_training_script",
    "setup_logging",
]


class SaveAtSteps(TrainerCallback):
    """Saves the model (safetensors, config, tokenizer) into `output_dir/steps-<n>` when training reaches step n,
    for each n in `steps` (main process only). With a constant learning rate after warmup, the model saved at step
    n is the one a run of n steps would end with: one run gives finished models at several budgets."""

    def __init__(self, steps):
        self.steps = set(steps)

    @staticmethod
    def folder(output_dir: str | os.PathLike, step: int) -> Path:
        return Path(output_dir) / f"steps-{step}"

    def on_step_end(self, args, state, control, model=None, processing_class=None, **kwargs):
        if state.global_step in self.steps and state.is_world_process_zero:
            folder = self.folder(args.output_dir, state.global_step)
            model.save_pretrained(folder)
            if processing_class is not None:
                processing_class.save_pretrained(folder)
        return control
