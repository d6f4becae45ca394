"""The probing split (shared): the frozen-feature probing tasks' train and test examples, one split shared by every
model and seed, with what a bag of words and bigrams achieves on it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..store import stored_strings
from .base import SharedStage, StageCall, StageResult


@dataclass
class ProbingSplit(StageResult):
    """Per probing task: its examples' file, the number of examples per split and its n-gram baseline."""

    files: dict[str, str]
    examples: dict[str, dict[str, int]]
    ngram_baselines: dict[str, dict]

    def stored_paths(self) -> list[str]:
        return stored_strings(self.files)


class ProbingSplitStage(SharedStage):
    name = "probing"
    result = ProbingSplit

    def applies(self, config) -> bool:
        return bool(config.probing_tasks)

    def settings(self, engine, call: StageCall) -> dict:
        config = engine.config
        return {
            "tasks": config.probing_tasks,
            "train": config.probing_train_sentences,
            "test": config.probing_test_sentences,
            "seed": config.probing_seed,
        }

    def work(self, engine, call: StageCall, folder: Path) -> ProbingSplit:
        from ...analysis.probes.frozen import ngram_baseline
        from ...data.probing import probing_task

        config = engine.config
        files, sizes, baselines = {}, {}, {}
        for task in config.probing_tasks:
            splits = probing_task(
                task, config.probing_train_sentences, config.probing_test_sentences, seed=config.probing_seed
            )
            path = folder / f"{task}.json"
            path.write_text(json.dumps(splits) + "\n")
            files[task] = engine.store.relative(path)
            sizes[task] = {split: len(examples) for split, examples in splits.items()}
            # what a bag of words and bigrams already achieves on the same split, with the same classifier
            baselines[task] = ngram_baseline(splits).to_dict()
        return ProbingSplit(files, sizes, baselines)

    def headline(self, result: ProbingSplit, call: StageCall, config) -> str:
        baselines = result.ngram_baselines
        return "probing splits: " + ", ".join(
            f"{task} {sizes['train']:,}/{sizes['test']:,}"
            + (f" (bigram baseline {100 * baselines[task]['accuracy']:.1f})" if task in baselines else "")
            for task, sizes in result.examples.items()
        )

    def absorb(self, shared, call: StageCall, result: ProbingSplit) -> None:
        shared.probing_split = result


STAGE = ProbingSplitStage()

__all__ = ["STAGE", "ProbingSplit", "ProbingSplitStage"]
