"""The frozen-feature probing stage (every budget): a logistic regression on the model's last hidden states for each
probing task, trained and tested on the shared split; every task at the final budget, the outcome's tasks (what the
budget rule tests) before it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .base import SHARED_UNIT, BudgetStage, StageCall, StageResult


@dataclass
class ProbeAccuracies(StageResult):
    """Per probing task: the probe's accuracy (a fraction) and what else the probe reports (by distance, ...)."""

    tasks: dict[str, dict]


class ProbingStage(BudgetStage):
    name = "probing"
    result = ProbeAccuracies

    def applies_at(self, config, steps: int, final: int) -> bool:
        return bool(config.probing_tasks) and bool(self.tasks_at(config, steps, final))

    @staticmethod
    def tasks_at(config, steps: int, final: int) -> list[str]:
        return config.probing_tasks if steps == final else config.outcome_tasks

    def _tasks(self, engine, state, call: StageCall) -> list[str]:
        """The tasks probed at this budget, in the split's order."""
        wanted = self.tasks_at(engine.config, call.subject, max(state.checkpoints))
        return [task for task in state.shared.probing_split.files if task in wanted]

    def settings(self, engine, state, call: StageCall) -> dict:
        return {
            "pretrained": engine.store.content_id(state.checkpoints[call.subject]),
            "data": engine.store.content_id(engine.store.folder(SHARED_UNIT, "probing")),
            "batch": engine.config.eval_batch_size,
            "tasks": self._tasks(engine, state, call),
        }

    def work(self, engine, state, call: StageCall, folder: Path) -> ProbeAccuracies:
        from transformers import AutoModel, AutoTokenizer

        from ...analysis.probes.frozen import run_probing_task

        model_path = state.checkpoints[call.subject]
        model = AutoModel.from_pretrained(model_path).eval()
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        results = {}
        for task in self._tasks(engine, state, call):
            splits = json.loads(engine.store.resolve(state.shared.probing_split.files[task]).read_text())
            batch = engine.config.eval_batch_size
            results[task] = run_probing_task(model, tokenizer, splits, batch_size=batch).to_dict()
        return ProbeAccuracies(results)

    def headline(self, result: ProbeAccuracies, call: StageCall, config) -> str:
        return (
            ", ".join(f"{task} {100 * r['accuracy']:.1f}" for task, r in result.tasks.items()) + " (probe accuracy, %)"
        )


STAGE = ProbingStage()

__all__ = ["STAGE", "ProbeAccuracies", "ProbingStage"]
