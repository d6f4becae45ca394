"""Task registry and loading for GLUE, SNLI and the built-in tasks.

``TASKS[name]`` says how to feed a task to a model (text columns, number of labels, regression or not,
metric keys, split names); :func:`load_task` returns its ``DatasetDict`` from the Hub, from local
csv/tsv/json files, or from the built-in generator.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import HubUnavailableError, InvalidInputError, MissingInputError, one_line
from ..inputs import check_data_file_content
from .tasks import BUILTIN_TASKS, load_builtin_task

if TYPE_CHECKING:
    import datasets

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskInfo:
    """How to train and evaluate on one task."""

    name: str
    text_columns: tuple[str, ...]
    label_names: tuple[str, ...]  # empty for regression
    is_regression: bool = False
    hub_path: str | None = None  # None: not on the Hub (built-in)
    hub_config: str | None = None
    eval_splits: tuple[str, ...] = ("validation",)
    test_splits: tuple[str, ...] = ("test",)
    main_metric: str = "accuracy"  # the score to select models by (as the paper reports GLUE)
    metric_keys: tuple[str, ...] = ("accuracy",)  # what its metric returns (evaluate's "glue" module, or accuracy)

    @property
    def num_labels(self) -> int:
        return 1 if self.is_regression else len(self.label_names)

    @property
    def is_pair(self) -> bool:
        return len(self.text_columns) == 2


def _glue(name: str, columns: tuple[str, ...], labels: tuple[str, ...], **kwargs) -> TaskInfo:
    return TaskInfo(name, columns, labels, hub_path="nyu-mll/glue", hub_config=name, **kwargs)


TASKS: dict[str, TaskInfo] = {
    "cola": _glue(
        "cola",
        ("sentence",),
        ("unacceptable", "acceptable"),
        main_metric="matthews_correlation",
        metric_keys=("matthews_correlation",),
    ),
    "sst2": _glue("sst2", ("sentence",), ("negative", "positive")),
    "mrpc": _glue("mrpc", ("sentence1", "sentence2"), ("not_equivalent", "equivalent"), metric_keys=("accuracy", "f1")),
    "qqp": _glue("qqp", ("question1", "question2"), ("not_duplicate", "duplicate"), metric_keys=("accuracy", "f1")),
    "stsb": _glue(
        "stsb",
        ("sentence1", "sentence2"),
        (),
        is_regression=True,
        main_metric="spearmanr",
        metric_keys=("pearson", "spearmanr"),
    ),
    "mnli": _glue(
        "mnli",
        ("premise", "hypothesis"),
        ("entailment", "neutral", "contradiction"),
        eval_splits=("validation_matched", "validation_mismatched"),
        test_splits=("test_matched", "test_mismatched"),
    ),
    "qnli": _glue("qnli", ("question", "sentence"), ("entailment", "not_entailment")),
    "rte": _glue("rte", ("sentence1", "sentence2"), ("entailment", "not_entailment")),
    "wnli": _glue("wnli", ("sentence1", "sentence2"), ("not_entailment", "entailment")),
    "snli": TaskInfo(
        "snli", ("premise", "hypothesis"), ("entailment", "neutral", "contradiction"), hub_path="stanfordnlp/snli"
    ),
    **{name: TaskInfo(name, task.text_columns, task.label_names) for name, task in BUILTIN_TASKS.items()},
}
GLUE_TASKS: tuple[str, ...] = ("cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte", "wnli")


def get_task_info(task_name: str) -> TaskInfo:
    """``TASKS[task_name]`` with a helpful error for unknown names."""
    try:
        return TASKS[task_name]
    except KeyError:
        raise InvalidInputError(f"unknown task {task_name!r}; valid tasks: {', '.join(TASKS)}") from None


# ---------------------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------------------
_FORMATS = {
    ".csv": ("csv", {}),
    ".tsv": ("csv", {"delimiter": "\t", "quoting": 3}),
    ".txt": ("csv", {"delimiter": "\t", "quoting": 3}),
    ".json": ("json", {}),
    ".jsonl": ("json", {}),
}


def load_task(
    task_name: str,
    train_file: str | os.PathLike | None = None,
    validation_file: str | os.PathLike | None = None,
    test_file: str | os.PathLike | None = None,
    cache_dir: str | None = None,
    **builtin_options,
) -> datasets.DatasetDict:
    """Load ``task_name`` as a ``DatasetDict``.

    * built-in tasks (``builtin_*``): generated; ``builtin_options`` (seed, num_train, ...) are passed on;
    * local files, when any of ``train_file``/``validation_file``/``test_file`` is given: ``.csv``,
      ``.json``/``.jsonl``, or ``.tsv``/``.txt`` (tab-separated with a header row, as GLUE's own files).
      They must have the task's text columns and (except the test file) a ``label`` column with ids or
      label names; they become the task's splits (``train``, its first eval split, its first test split);
    * otherwise the Hub: ``nyu-mll/glue`` (config = task) or ``stanfordnlp/snli``.

    Rows labelled -1 (no gold label, e.g. 0.1 % of SNLI) are dropped from labelled splits, with a warning
    giving the count; GLUE test splits keep their -1 labels.
    """
    info = get_task_info(task_name)
    files = {"train": train_file, info.eval_splits[0]: validation_file, info.test_splits[0]: test_file}
    files = {split: os.fspath(path) for split, path in files.items() if path is not None}
    if info.hub_path is None and not files:
        return load_builtin_task(task_name, **builtin_options)
    if builtin_options:
        raise TypeError(f"options {sorted(builtin_options)} only apply to built-in tasks, not to {task_name!r}")
    if files:
        return _load_local(info, files, cache_dir)
    return _load_hub(info, cache_dir)


def _load_hub(info: TaskInfo, cache_dir: str | None) -> datasets.DatasetDict:
    import datasets

    try:
        if info.hub_config:
            dataset = datasets.load_dataset(info.hub_path, info.hub_config, cache_dir=cache_dir)
        else:
            dataset = datasets.load_dataset(info.hub_path, cache_dir=cache_dir)
    except Exception as error:  # noqa: BLE001 — re-raised with the way out
        raise HubUnavailableError(
            f"could not load {info.name!r} from the Hub ({info.hub_path}): {type(error).__name__}: {error}. "
            "Offline? Pass train_file=/validation_file= with local copies, or use a built-in task "
            f"({', '.join(BUILTIN_TASKS)})."
        ) from error
    labelled = [split for split in dataset if info.name == "snli" or not split.startswith("test")]
    return _drop_unlabelled(dataset, labelled, info.name)


def _drop_unlabelled(
    dataset: datasets.DatasetDict, splits, task_name: str, files: dict[str, str] | None = None
) -> datasets.DatasetDict:
    """Remove rows labelled -1 from ``splits`` and say how many went; a split left empty is an error (training or
    evaluating on nothing would "succeed" with no number)."""
    for split in splits:
        if "label" not in dataset[split].column_names:
            continue
        before = dataset[split].num_rows
        dataset[split] = dataset[split].filter(lambda label: label != -1, input_columns="label")
        dropped = before - dataset[split].num_rows
        if before and not dataset[split].num_rows:
            source = f"{split} file {files[split]}" if files and split in files else f"{task_name}/{split}"
            raise InvalidInputError(
                f"{source}: all {before} rows are labelled -1 (no gold label), so there is nothing to "
                f"{'train on' if split == 'train' else 'evaluate'}. Give labelled rows (label ids or names)."
            )
        if dropped:
            logger.warning(
                "%s/%s: dropped %d of %d rows labelled -1 (no gold label)", task_name, split, dropped, before
            )
    return dataset


def _load_local(info: TaskInfo, files: dict[str, str], cache_dir: str | None) -> datasets.DatasetDict:
    import datasets

    splits = {}
    for split, path in files.items():
        splits[split] = _load_file(info, split, path, cache_dir)
    dataset = datasets.DatasetDict(splits)
    return _drop_unlabelled(dataset, [s for s in files if s not in info.test_splits], info.name, files)


def _load_file(info: TaskInfo, split: str, path: str, cache_dir: str | None) -> datasets.Dataset:
    import datasets

    extension = os.path.splitext(path)[1].lower()
    if extension not in _FORMATS:
        raise InvalidInputError(f"{path}: unsupported file type {extension!r}; use one of {', '.join(_FORMATS)}")
    if not os.path.isfile(path):
        raise MissingInputError(f"{split} file {path} does not exist")
    if os.path.getsize(path) == 0:
        raise InvalidInputError(
            f"{split} file {path} is empty; it needs a header/keys with the columns "
            f"{', '.join(info.text_columns)}, label"
        )
    builder, options = _FORMATS[extension]
    try:
        dataset = datasets.load_dataset(builder, data_files={split: path}, cache_dir=cache_dir, **options)[split]
    except Exception as error:  # ValueError, datasets' DatasetGenerationError, ...
        if "no data" in str(error):  # datasets' own wording for a header-only file
            raise InvalidInputError(f"{split} file {path} has no rows (only a header?)") from error
        check_data_file_content(path, f"{split} file", builder)  # names the byte or line at fault, if it can
        raise InvalidInputError(f"{split} file {path} could not be read as {builder}: {one_line(error)}") from error
    if dataset.num_rows == 0:
        raise InvalidInputError(f"{split} file {path} has no rows (only a header?)")

    is_test = split in info.test_splits
    required = list(info.text_columns) + ([] if is_test else ["label"])
    missing = [c for c in required if c not in dataset.column_names]
    if missing:
        raise InvalidInputError(
            f"{split} file {path} lacks column(s) {missing} needed by task {info.name!r}; "
            f"found columns {dataset.column_names}. Rename the columns to {required}."
        )
    if "label" not in dataset.column_names:  # unlabelled test file: GLUE marks hidden labels -1
        dataset = dataset.add_column("label", [-1] * dataset.num_rows)
    dataset = _normalise_labels(info, dataset, path)
    if "idx" not in dataset.column_names:
        dataset = dataset.add_column("idx", list(range(dataset.num_rows)))
    return dataset


def _normalise_labels(info: TaskInfo, dataset: datasets.Dataset, path: str) -> datasets.Dataset:
    """Label names -> ids; float labels for regression; a clear error for labels out of range."""
    import datasets

    if info.is_regression:
        return dataset.cast_column("label", datasets.Value("float32"))
    labels = dataset["label"]
    for row, label in enumerate(labels, start=1):
        if isinstance(label, bool):  # JSON true/false: which class would True be?
            raise InvalidInputError(
                f"{path}, row {row}: label {str(label).lower()} is a boolean, not a class of task {info.name!r} "
                f"({list(info.label_names)}). Give label ids 0..{info.num_labels - 1} or names (-1 = no label)."
            )
        if label is None or (isinstance(label, float) and not label.is_integer()):
            raise InvalidInputError(
                f"{path}, row {row}: label {label!r} is not a class: task {info.name!r} classifies into "
                f"{list(info.label_names)} (ids 0..{info.num_labels - 1}; -1 = no label). Give label ids or names; "
                "a real-valued score belongs to a regression task such as stsb."
            )
    if any(isinstance(label, str) for label in labels):
        ids = {name: i for i, name in enumerate(info.label_names)}
        unknown = sorted({label for label in labels if str(label) not in ids and str(label) != "-1"})
        if unknown:
            raise InvalidInputError(
                f"{path}: unknown label(s) {unknown[:5]} for task {info.name!r}; "
                f"expected ids 0..{info.num_labels - 1} or names {list(info.label_names)}"
            )
        dataset = dataset.map(lambda row: {"label": ids.get(str(row["label"]), -1)}, features=None).cast_column(
            "label", datasets.Value("int64")
        )
    bad = sorted({int(label) for label in dataset["label"] if not -1 <= int(label) < info.num_labels})
    if bad:
        raise InvalidInputError(
            f"{path}: label(s) {bad[:5]} out of range for task {info.name!r} "
            f"({info.num_labels} labels: {list(info.label_names)}; -1 = no label)"
        )
    return dataset.cast_column("label", datasets.ClassLabel(names=list(info.label_names)))
