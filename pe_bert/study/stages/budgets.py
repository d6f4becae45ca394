"""Pretraining budgets: a pretrained model is named by its budget ("steps500"), and a stage measured at every
budget is stored as the stage itself at the final budget and as `stage:steps<n>` before it."""

from __future__ import annotations

BUDGET_PREFIX = "steps"  # a pretrained model is named by its budget: "steps500"


def budget_name(steps: int | str) -> str:
    """The name of the pretrained model at a budget of `steps`."""
    return f"{BUDGET_PREFIX}{steps}"


def budget_steps(name: str) -> int:
    """The steps of a model named by `budget_name`."""
    return int(name[len(BUDGET_PREFIX) :])


def budget_stage(stage: str, steps: int, final: int) -> str:
    """The name of a per-budget stage: the stage itself at the final budget, `stage:steps<n>` before it."""
    return stage if steps == final else f"{stage}:{budget_name(steps)}"


def unit_budgets(config, spec) -> list[int]:
    """The budgets a unit's model is measured at: the study's for a trained variant, 0 for an untrained control."""
    return config.budgets() if spec.trained else [0]


__all__ = ["BUDGET_PREFIX", "budget_name", "budget_stage", "budget_steps", "unit_budgets"]
