"""A study's units (one variant at one seed) and what running one gives (`UnitResult`): its stage results by stored
name and, for a unit that did not finish, why. Every failed unit's record is made here (`UnitResult.fail`), whether
a stage failed, a worker process died or a cluster job ended without a result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from .config import StudyConfig, VariantSpec
    from .stages import StageResult


class Unit(NamedTuple):
    """One (variant, seed) of a study; `name` is its folder under runs/ ("rope/seed0")."""

    name: str
    spec: VariantSpec
    seed: int


def study_units(config: StudyConfig) -> list[Unit]:
    """Every variant at every seed, then the untrained controls."""
    return [
        Unit(f"{spec.label}/seed{seed}", spec, seed)
        for spec in config.variant_specs() + config.control_specs()
        for seed in config.seeds
    ]


@dataclass
class UnitResult:
    """Everything measured for one (variant, seed): typed stage results by stored name ("pretrain", "mlm:steps500",
    "finetune:builtin_nli", ...) and, if it did not finish, `failure` (stage, error, traceback)."""

    variant: str
    position_encoding: str
    overrides: dict
    seed: int
    stages: dict[str, StageResult] = field(default_factory=dict)
    failure: dict | None = None
    trained: bool = True

    @classmethod
    def of(cls, unit: Unit) -> UnitResult:
        """An empty result of `unit`."""
        spec = unit.spec
        return cls(spec.label, spec.position_encoding, spec.overrides, unit.seed, trained=spec.trained)

    def fail(self, stage: str, error: str, traceback: str = "") -> UnitResult:
        """Record that the unit stopped at `stage` (a stage's name, or "(worker)"/"(job)" when its process died)."""
        self.failure = {"stage": stage, "error": error, "traceback": traceback}
        return self


__all__ = ["Unit", "UnitResult", "study_units"]
