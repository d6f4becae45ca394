"""The fine-tuning stage (trained variants, one per task): the pretrained model at the final budget fine-tuned on
each of the study's tasks (the built-in ones from the seed's shared files), scored by the task's main metric."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .base import SHARED_UNIT, StageCall, StageResult, UnitStage
from .training import TRAINER_TIMING_FILES, deterministic, training_arguments


def main_metric(task: str, metrics: dict) -> tuple[str, float | None]:
    """The score the paper reports for a task, as the task registry declares it (CoLA Matthews, STS-B Spearman,
    accuracy otherwise)."""
    from ...data.glue import get_task_info

    name = get_task_info(task).main_metric
    return name, metrics.get(f"eval_{name}")


@dataclass
class FineTuned(StageResult):
    """The fine-tuned model's folder, its main metric's name and score, and the Trainer's metrics."""

    path: str
    metric: str
    score: float | None
    metrics: dict

    def stored_paths(self) -> list[str]:
        return [self.path]


class FinetuneStage(UnitStage):
    name = "finetune"
    result = FineTuned
    collective = True
    volatile = TRAINER_TIMING_FILES

    def calls(self, config, spec) -> list[StageCall]:
        if not self.applies(config, spec):
            return []
        return [StageCall(self, f"{self.name}:{task}", task) for task in config.tasks]

    def settings(self, engine, state, call: StageCall) -> dict:
        config, seed = engine.config, state.unit.seed
        files = state.task_files().get(call.subject)
        shared_tasks = engine.store.folder(f"{SHARED_UNIT}/seed{seed}", "tasks")
        return {
            "task": call.subject,
            "pretrained": engine.store.content_id(state.pretrained),
            "seed": seed,
            "steps": config.finetune_steps,
            "batch": config.finetune_batch_size,
            "lr": config.finetune_learning_rate,
            "warmup": config.warmup_fraction,
            "seq": config.max_position_embeddings,
            "data": engine.store.content_id(shared_tasks) if files else None,
        }

    def work(self, engine, state, call: StageCall, folder: Path) -> FineTuned:
        from ...training import finetune
        from ...training.arguments import GlueDataArguments, ModelArguments

        config, task = engine.config, call.subject
        files = state.task_files().get(task)
        paths = {f"{split}_file": str(engine.store.resolve(path)) for split, path in (files or {}).items()}
        data_args = GlueDataArguments(task_name=task, max_seq_length=config.max_position_embeddings, **paths)
        arguments = training_arguments(
            folder,
            config,
            state.unit.seed,
            config.finetune_steps,
            config.finetune_batch_size,
            config.finetune_learning_rate,
            do_eval=True,
            verbose=engine.verbose,
        )
        metrics = finetune.main(ModelArguments(model_name_or_path=state.pretrained), data_args, arguments)
        name, value = main_metric(task, metrics)
        return FineTuned(engine.store.relative(folder), name, value, deterministic(metrics))

    def headline(self, result: FineTuned, call: StageCall, config) -> str:
        return f"{call.subject} {result.metric} {result.score:.3f}"

    def absorb(self, engine, state, call: StageCall, result: FineTuned) -> None:
        state.models[call.subject] = str(engine.store.resolve(result.path))


STAGE = FinetuneStage()

__all__ = ["STAGE", "FineTuned", "FinetuneStage", "main_metric"]
