"""Model cards for trained pe_bert checkpoints: a Jinja template filled with the config and the measured numbers.

The card's YAML header is built with `huggingface_hub.ModelCardData` (library_name, tags, datasets, metrics and a
`model-index` of the evaluation results), so it is valid Hub metadata by construction.

Templates live in `model_cards/` at the repository root; a copy ships inside the package
(`pe_bert/training/templates/`) so that an installed pe_bert finds them too. `find_template` prefers the source
checkout's copy and falls back to the packaged one; a test keeps the two identical.
"""

from __future__ import annotations

import math
import os
from importlib import resources
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

DEFAULT_TEMPLATE = "pe_bert_model_card.md"

# Config fields shown in the card's architecture table.
ARCHITECTURE_FIELDS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_act",
    "max_position_embeddings",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
)
# Trainer metrics (name endings) that measure the machine, not the model: they differ from run to run whatever the
# inputs (kept out of model cards, and out of the study's stage results so that results.json is reproducible).
MACHINE_METRICS = ("runtime", "samples_per_second", "steps_per_second", "flos")
# ... and with the data sizes, what a card leaves out of the model's results.
_NOT_QUALITY = (*MACHINE_METRICS, "_samples", "epoch", "_mm_samples")

# Readable names for the model-index (the Hub shows `name`; `type` is the metric id).
_METRIC_DISPLAY_NAMES = {
    "loss": "Loss",
    "perplexity": "Perplexity",
    "accuracy": "Accuracy",
    "f1": "F1",
    "matthews_correlation": "Matthews correlation",
    "pearson": "Pearson",
    "spearmanr": "Spearman",
    "combined_score": "Combined score",
}
_TASK_TYPES = {"fill-mask": "fill-mask", "text-classification": "text-classification"}
_AUTO_CLASS_SUFFIX = {"fill-mask": "MaskedLM", "text-classification": "SequenceClassification"}


def find_template(name: str = DEFAULT_TEMPLATE) -> Path:
    """The template file: `model_cards/<name>` of a source checkout, else the copy inside the installed package."""
    source_checkout = Path(__file__).resolve().parents[1] / "model_cards" / name
    if source_checkout.is_file():
        return source_checkout
    packaged = resources.files("pe_bert.training") / "templates" / name
    if packaged.is_file():
        return Path(str(packaged))
    raise FileNotFoundError(
        f"Model-card template {name!r} not found in {source_checkout.parent} nor in the installed package "
        "(pe_bert/training/templates). Reinstall pe_bert or pass template_path=."
    )


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def quality_metrics(metrics: dict) -> dict[str, float]:
    """`eval_*` quality metrics (and perplexity), without the `eval_` prefix; speed and counts are dropped."""
    selected = {}
    for key, value in metrics.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or any(s in key for s in _NOT_QUALITY):
            continue
        if key == "perplexity" or key.startswith("eval_"):
            name = key.removeprefix("eval_")
            if isinstance(value, float) and not math.isfinite(value):
                continue  # The Hub metadata cannot hold inf/nan.
            selected[name] = float(value)
    return selected


def _split_of(metric: str) -> tuple[str, str]:
    """('accuracy_mm' -> 'accuracy', 'validation_mismatched'); MNLI's mismatched metrics carry an _mm suffix."""
    if metric.endswith("_mm"):
        return metric.removesuffix("_mm"), "validation_mismatched"
    return metric, "validation"


def build_card_data(
    model_name: str,
    position_encoding: str,
    task: str,
    metrics: dict[str, float],
    dataset_name: str,
    dataset_id: str | None = None,
    dataset_config: str | None = None,
    base_model: str | None = None,
) -> ModelCardData:
    """Hub metadata: library, tags, datasets, metrics and a model-index of the measured results."""
    dataset_type = dataset_id or dataset_name.replace(" ", "-")
    eval_results = []
    for metric, value in metrics.items():
        metric_id, split = _split_of(metric)
        eval_results.append(
            EvalResult(
                task_type=_TASK_TYPES.get(task, task),
                dataset_type=dataset_type,
                dataset_name=dataset_name,
                dataset_config=dataset_config,
                dataset_split=split,
                metric_type=metric_id,
                metric_name=_METRIC_DISPLAY_NAMES.get(metric_id, metric_id)
                + (" (mismatched)" if metric.endswith("_mm") else ""),
                metric_value=round(value, 6),
            )
        )
    # base_model must be a Hub id; a local folder means nothing on the Hub.
    hub_base_model = base_model if base_model and not os.path.exists(base_model) else None
    return ModelCardData(
        model_name=model_name,
        library_name="transformers",
        pipeline_tag=task,
        tags=["pe_bert", "positional-encoding", position_encoding, task],
        datasets=[dataset_id] if dataset_id else None,
        metrics=sorted({_split_of(m)[0] for m in metrics}) or None,
        eval_results=eval_results or None,
        base_model=hub_base_model,
    )


def render_model_card(
    config,
    task: str,
    metrics: dict,
    dataset_name: str,
    model_name: str,
    dataset_id: str | None = None,
    dataset_config: str | None = None,
    training: dict | None = None,
    base_model: str | None = None,
    grid: list[dict] | None = None,
    grid_metric: str | None = None,
    repo_id: str | None = None,
    template_path: str | Path | None = None,
    card_folder: str | os.PathLike | None = None,
) -> ModelCard:
    """Fill the template with `config` (architecture, PE and its hyper-parameters) and the measured `metrics`.

    A `base_model` that is a local folder is named relative to `card_folder` (where the card is saved), so that the
    card stays true when both folders move together, as a study folder does."""
    position_encoding = getattr(config, "position_encoding", "learned" if config.model_type == "bert" else "?")
    quality = quality_metrics(metrics)
    card_data = build_card_data(
        model_name, position_encoding, task, quality, dataset_name, dataset_id, dataset_config, base_model
    )
    if hasattr(config, "position_hyperparameters"):
        pe_hyperparameters = config.position_hyperparameters()
    else:
        pe_hyperparameters = {}
    try:
        from .pe_base import get_position_encoding_class

        description = get_position_encoding_class(position_encoding).description or position_encoding
    except (ImportError, ValueError):
        description = position_encoding
    results = []
    for metric, value in quality.items():
        name, split = _split_of(metric)
        results.append({"name": _METRIC_DISPLAY_NAMES.get(name, name), "value": _format(value), "split": split})
    shown_base_model = base_model
    if base_model and card_folder is not None and os.path.exists(base_model):
        shown_base_model = Path(os.path.relpath(base_model, card_folder)).as_posix()
    card = ModelCard.from_template(
        card_data,
        template_path=str(template_path or find_template()),
        model_name=model_name,
        repo_id=repo_id or model_name,
        task=task,
        auto_class_suffix=_AUTO_CLASS_SUFFIX.get(task, "MaskedLM"),
        position_encoding=position_encoding,
        pe_description=description,
        pe_hyperparameters={k: _format(v) for k, v in pe_hyperparameters.items()},
        architecture={k: _format(getattr(config, k)) for k in ARCHITECTURE_FIELDS if hasattr(config, k)},
        training={k: _format(v) for k, v in (training or {}).items() if v is not None},
        results=results,
        dataset_name=dataset_name,
        base_model=shown_base_model,
        grid=[{"learning_rate": _format(r["learning_rate"]), "value": _format(r["value"])} for r in grid or []],
        grid_metric=grid_metric,
    )
    return card


def training_summary(training_args, metrics: dict, extra: dict | None = None) -> dict:
    """The training settings worth reporting, from TrainingArguments and the train metrics."""
    summary = {
        "learning_rate": training_args.learning_rate,
        "per_device_train_batch_size": training_args.per_device_train_batch_size,
        "gradient_accumulation_steps": training_args.gradient_accumulation_steps,
        "world_size": training_args.world_size,
        "max_steps": training_args.max_steps if training_args.max_steps > 0 else None,
        "num_train_epochs": training_args.num_train_epochs if training_args.max_steps <= 0 else None,
        "warmup_steps": getattr(training_args, "warmup_steps", None) or None,
        "weight_decay": training_args.weight_decay,
        "lr_scheduler_type": str(getattr(training_args.lr_scheduler_type, "value", training_args.lr_scheduler_type)),
        "seed": training_args.seed,
        "train_runtime_s": metrics.get("train_runtime"),
        "train_loss": metrics.get("train_loss"),
    }
    summary.update(extra or {})
    return summary


def write_model_card(
    output_dir: str | os.PathLike,
    config,
    task: str,
    metrics: dict,
    dataset_name: str,
    dataset_id: str | None = None,
    dataset_config: str | None = None,
    training_args=None,
    extra: dict | None = None,
    grid: list[dict] | None = None,
    grid_metric: str | None = None,
    template_path: str | Path | None = None,
) -> ModelCard:
    """Render the card for the model saved in `output_dir` and write it as `output_dir/README.md`."""
    extra = dict(extra or {})
    base_model = extra.pop("base_model", None)
    training = training_summary(training_args, metrics, extra) if training_args is not None else extra
    repo_id = getattr(training_args, "hub_model_id", None) if training_args is not None else None
    card = render_model_card(
        config,
        task=task,
        metrics=metrics,
        dataset_name=dataset_name,
        model_name=Path(output_dir).resolve().name,
        dataset_id=dataset_id,
        dataset_config=dataset_config,
        training=training,
        base_model=base_model,
        grid=grid,
        grid_metric=grid_metric,
        repo_id=repo_id,
        template_path=template_path,
        card_folder=output_dir,
    )
    card.save(Path(output_dir) / "README.md")
    return card


__all__ = ["build_card_data", "find_template", "quality_metrics", "render_model_card", "write_model_card"]
