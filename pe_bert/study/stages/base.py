"""What a stage is: a declared spec — its name, when a unit has it, its settings (everything its result depends on),
its work, its typed result and its console headline — that the stage engine (`stages.engine`) runs through the
`StageStore`. `stages/__init__.py` declares the study's stages, in order, once: the engine runs them, the dry-run
plans them and the progress bar counts them from that one declaration."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from .budgets import budget_stage, unit_budgets

if TYPE_CHECKING:
    from ..config import StudyConfig, VariantSpec
    from .engine import StageEngine
    from .state import SharedResults, UnitState

SHARED_UNIT = "_shared"  # the stages every unit reads live in runs/_shared/

ResultType = TypeVar("ResultType", bound="StageResult")


@dataclass
class StageResult:
    """A stage's result as named fields. `to_dict` is the result.json the store keeps (the very dict the stage stored
    before results were typed, key for key and in order, so that stored stages and their digests stay valid);
    `from_dict` reads it back. Fields named in `OPTIONAL` are left out of the dict while None."""

    OPTIONAL: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_dict(cls: type[ResultType], stored: dict) -> ResultType:
        return cls(**stored)

    def to_dict(self) -> dict:
        return {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if not (field.name in self.OPTIONAL and getattr(self, field.name) is None)
        }

    def stored_paths(self) -> list[str]:
        """The values of this result that are paths (made by `StageStore.relative`): the store trusts a stored result
        only while they lie inside its stage's folder."""
        return []


@dataclass(frozen=True)
class StageCall:
    """One run of a stage: the stage, the name it is stored under ("mlm:steps500", "finetune:builtin_nli") and what
    it is of (`subject`: a budget's steps, a task, a seed), where the stage runs more than once per unit."""

    stage: Stage | SharedStage
    name: str
    subject: Any = None


class Stage:
    """The declaration common to shared and unit stages. A subclass sets `name` and `result` (its `StageResult`
    type) and defines `settings` and `work`; `headline` is its console line. `collective`: training, which every
    process of an `accelerate launch` runs; `rewritten`: files later steps rewrite (not checksummed); `volatile`:
    files that differ from run to run whatever the inputs (checked, left out of the content digest)."""

    name: ClassVar[str]
    result: ClassVar[type[StageResult]]
    collective: ClassVar[bool] = False
    rewritten: ClassVar[tuple[str, ...]] = ()
    volatile: ClassVar[tuple[str, ...]] = ()

    def headline(self, result: Any, call: StageCall, config: StudyConfig) -> str:
        """The stage's console line once it finished."""
        return ""

    def store_options(self, config: StudyConfig) -> dict:
        """`StageStore.run`'s options of this stage."""
        return {
            "collective": self.collective,
            "rewritten": self.rewritten,
            "volatile": self.volatile,
            "paths": lambda stored: self.result.from_dict(stored).stored_paths(),
        }


class SharedStage(Stage):
    """A stage every unit shares (runs/_shared/), run once before the units."""

    read_by_units: ClassVar[bool] = True  # a unit looks it up (in a worker or a job) before its own stages

    def calls(self, config: StudyConfig) -> list[StageCall]:
        return [StageCall(self, self.name)] if self.applies(config) else []

    def applies(self, config: StudyConfig) -> bool:
        return True

    def unit(self, call: StageCall) -> str:
        """The folder under runs/ the call is stored in."""
        return SHARED_UNIT

    def serves(self, call: StageCall, seed: int) -> bool:
        """Whether a unit of `seed` reads this call."""
        return self.read_by_units

    def settings(self, engine: StageEngine, call: StageCall) -> dict:
        raise NotImplementedError

    def work(self, engine: StageEngine, call: StageCall, folder: Path) -> StageResult:
        raise NotImplementedError

    def absorb(self, shared: SharedResults, call: StageCall, result: StageResult) -> None:
        """Keep the result where units and the report read it: by default by its folder and name
        (`SharedResults.others`); the built-in stages' have fields of their own."""
        shared.others[(self.unit(call), call.name)] = result


class UnitStage(Stage):
    """A stage of one unit (variant x seed). By default only trained variants have it; `absorb` passes what later
    stages read on (`UnitState`)."""

    def calls(self, config: StudyConfig, spec: VariantSpec) -> list[StageCall]:
        return [StageCall(self, self.name)] if self.applies(config, spec) else []

    def applies(self, config: StudyConfig, spec: VariantSpec) -> bool:
        return spec.trained

    def settings(self, engine: StageEngine, state: UnitState, call: StageCall) -> dict:
        raise NotImplementedError

    def work(self, engine: StageEngine, state: UnitState, call: StageCall, folder: Path) -> StageResult:
        raise NotImplementedError

    def absorb(self, engine: StageEngine, state: UnitState, call: StageCall, result: StageResult) -> None:
        """What later stages of the unit read of this result (nothing by default)."""


class BudgetStage(UnitStage):
    """A stage that measures the unit's model at each budget (`EachBudget`); `call.subject` is the budget's steps."""

    def applies(self, config: StudyConfig, spec: VariantSpec) -> bool:
        return True  # every unit's model is measured, the untrained controls' too

    def applies_at(self, config: StudyConfig, steps: int, final: int) -> bool:
        return True

    def budget_calls(self, config: StudyConfig, steps: int, final: int) -> list[StageCall]:
        if not self.applies_at(config, steps, final):
            return []
        return [StageCall(self, budget_stage(self.name, steps, final), steps)]


class EachBudget:
    """Stages measured alike at every budget of a unit's model (controls: at initialisation), budget by budget."""

    def __init__(self, *stages: BudgetStage):
        self.stages = stages

    def calls(self, config: StudyConfig, spec: VariantSpec) -> list[StageCall]:
        budgets = unit_budgets(config, spec)
        return [
            call
            for steps in budgets
            for stage in self.stages
            for call in stage.budget_calls(config, steps, budgets[-1])
        ]


__all__ = [
    "SHARED_UNIT",
    "BudgetStage",
    "EachBudget",
    "SharedStage",
    "Stage",
    "StageCall",
    "StageResult",
    "UnitStage",
]
