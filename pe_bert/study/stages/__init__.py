"""The study's stages, declared once, in the order they run.

Shared stages run once, before any unit; a unit's stages run in order for each (variant, seed). The engine
(`engine.StageEngine.run_unit`), the dry-run plan (`pe_bert.study.dry_run`) and the progress bar all read the calls
from `shared_calls` and `unit_calls`, so they cannot disagree. Adding a stage: a module with its `Stage` subclass
(see `base.py`) and one line below.
"""

from __future__ import annotations

from . import data, design, finetune, init, mlm, pretrain, probe, probing, probing_split, score, tasks
from .base import SHARED_UNIT, BudgetStage, EachBudget, SharedStage, Stage, StageCall, StageResult, UnitStage
from .state import SharedResults, UnitState

SHARED_STAGES: tuple[SharedStage, ...] = (
    data.STAGE,  # tokenizer, corpus, evaluation blocks and floors
    design.STAGE,  # the grid's manipulation check, before any pretraining
    probing_split.STAGE,  # the frozen-feature probing split
    tasks.STAGE,  # the built-in tasks' files, per seed
)

UNIT_STAGES: tuple[UnitStage | EachBudget, ...] = (
    pretrain.STAGE,  # trained variants
    init.STAGE,  # untrained controls
    EachBudget(mlm.STAGE, probing.STAGE),  # the model at every budget, measured alike
    finetune.STAGE,  # one per task
    score.STAGE,
    probe.STAGE,
)


def shared_calls(config) -> list[StageCall]:
    """The shared stages of a study, in order."""
    return [call for stage in SHARED_STAGES for call in stage.calls(config)]


def unit_calls(config, spec) -> list[StageCall]:
    """The stages of a unit of `spec`, in the order they run."""
    return [call for stage in UNIT_STAGES for call in stage.calls(config, spec)]


__all__ = [
    "SHARED_STAGES",
    "SHARED_UNIT",
    "UNIT_STAGES",
    "BudgetStage",
    "EachBudget",
    "SharedResults",
    "SharedStage",
    "Stage",
    "StageCall",
    "StageResult",
    "UnitStage",
    "UnitState",
    "shared_calls",
    "unit_calls",
]
