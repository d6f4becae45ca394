"""The tasks stage (shared, one per seed): the built-in tasks' train and validation splits of that seed, written once
as GLUE-style files and shared by every variant."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..store import stored_strings
from .base import SHARED_UNIT, SharedStage, StageCall, StageResult


@dataclass
class TaskFiles(StageResult):
    """{task: {split: stored path}}."""

    files: dict[str, dict[str, str]]

    def stored_paths(self) -> list[str]:
        return stored_strings(self.files)


class TasksStage(SharedStage):
    name = "tasks"
    result = TaskFiles

    def calls(self, config) -> list[StageCall]:
        if not config.builtin_tasks:
            return []
        return [StageCall(self, self.name, seed) for seed in config.seeds]

    def unit(self, call: StageCall) -> str:
        return f"{SHARED_UNIT}/seed{call.subject}"

    def serves(self, call: StageCall, seed: int) -> bool:
        return call.subject == seed

    def settings(self, engine, call: StageCall) -> dict:
        config = engine.config
        return {
            "tasks": config.builtin_tasks,
            "seed": call.subject,
            "size": config.builtin_task_size,
            "grammar": config.builtin_grammar,
        }

    def work(self, engine, call: StageCall, folder: Path) -> TaskFiles:
        from ...data import load_builtin_task

        config = engine.config
        files = {}
        for task in config.builtin_tasks:
            splits = load_builtin_task(
                task, seed=call.subject, num_train=config.builtin_task_size, num_test=0, grammar=config.builtin_grammar
            )
            files[task] = {}
            for split in ("train", "validation"):
                path = folder / f"{task}.{split}.jsonl"
                splits[split].to_json(path)
                files[task][split] = engine.store.relative(path)
        return TaskFiles(files)

    def headline(self, result: TaskFiles, call: StageCall, config) -> str:
        return f"{', '.join(result.files)}: train and validation files"

    def absorb(self, shared, call: StageCall, result: TaskFiles) -> None:
        shared.task_files[call.subject] = result


STAGE = TasksStage()

__all__ = ["STAGE", "TaskFiles", "TasksStage"]
