"""Typed rows of results.json's top-level sections that the report reads: a finding (one row of the findings table,
one per pre-registered test), a check (a control or a design check) and a cell of the grid. As the run records
(`record_types.py`): `to_dict` is the very dict results.json holds, `from_dict` reads it back. The tests' own
records are in `hypothesis_records.py`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .record_types import Record, Summary, check_fields, dict_of


@dataclass
class Check(Record):
    """A control or a design check: what must hold (`statement`), whether it did (`passed`: None when it could not
    be checked) and what was measured (`detail`), with any numbers a later step reads (`measures`: in results.json
    each at the top level after `detail`)."""

    name: str
    passed: bool | None
    statement: str
    detail: str
    measures: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, stored: dict) -> Check:
        named = ["name", "passed", "statement", "detail"]
        measures = {k: v for k, v in stored.items() if k not in named}
        check_fields(cls.__name__, {k: v for k, v in stored.items() if k in named}, named)
        return cls(**{k: stored[k] for k in named}, measures=measures)

    def to_dict(self) -> dict:
        named = {"name": self.name, "passed": self.passed, "statement": self.statement, "detail": self.detail}
        return {**named, **self.measures}


@dataclass
class Finding(Record):
    """One row of the findings table: a pre-registered test's claim, its estimate written out at every budget, its
    combined Holm p and its verdict in words."""

    claim: str
    kind: str
    test: str
    estimates: dict[str, str]
    p_holm: float | None
    verdict: str
    statement: str


@dataclass
class CellMeasures(Record):
    """A grid cell's measures at one budget, each summarised over its seeds: the outcome, and the measured locality
    and symmetry (mass) of attention on held-out sentences and (`position_`) on identical tokens."""

    outcome: Summary
    locality: Summary
    symmetry_mass: Summary
    position_locality: Summary
    position_symmetry_mass: Summary


@dataclass
class GridCell(Record):
    """A cell (w, s) of the attenuated grid: its variants, its measures at the final budget (`final`: in
    results.json each at the top level after `variants`) and at every budget (`budgets`)."""

    w: float
    s: float
    variants: list[str]
    final: CellMeasures
    budgets: dict[str, CellMeasures]

    @classmethod
    def stored_fields(cls) -> list[str]:
        return ["w", "s", "variants", *CellMeasures.stored_fields(), "budgets"]

    @classmethod
    def from_dict(cls, stored: dict) -> GridCell:
        check_fields(cls.__name__, stored, cls.stored_fields())
        final = CellMeasures.from_dict({k: stored[k] for k in CellMeasures.stored_fields()})
        budgets = dict_of(CellMeasures)(stored["budgets"])
        return cls(w=stored["w"], s=stored["s"], variants=stored["variants"], final=final, budgets=budgets)

    def to_dict(self) -> dict:
        budgets = {b: m.to_dict() for b, m in self.budgets.items()}
        return {"w": self.w, "s": self.s, "variants": self.variants, **self.final.to_dict(), "budgets": budgets}


def checks_of(summary: dict, section: str) -> list[Check]:
    """The checks of a results dictionary's `section` ("controls" or "design_checks")."""
    return [Check.from_dict(c) for c in summary[section]]


def findings_of(summary: dict) -> list[Finding]:
    """The findings table of a results dictionary (none before it is built)."""
    return [Finding.from_dict(f) for f in summary.get("findings", [])]


def grid_of(summary: dict) -> list[GridCell]:
    """The grid's cells of a results dictionary, in the order of the grid."""
    return [GridCell.from_dict(g) for g in summary["grid"]]


__all__ = ["CellMeasures", "Check", "Finding", "GridCell", "checks_of", "findings_of", "grid_of"]
