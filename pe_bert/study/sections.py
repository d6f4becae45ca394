"""Typed rows of results.json's top-level sections that the report reads: a finding (one row of the findings table,
one per pre-registered test) and a check (a control or a design check). As the run records (`record_types.py`):
`to_dict` is the very dict results.json holds, `from_dict` reads it back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .record_types import Record, check_fields


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


def checks_of(summary: dict, section: str) -> list[Check]:
    """The checks of a results dictionary's `section` ("controls" or "design_checks")."""
    return [Check.from_dict(c) for c in summary[section]]


def findings_of(summary: dict) -> list[Finding]:
    """The findings table of a results dictionary (none before it is built)."""
    return [Finding.from_dict(f) for f in summary.get("findings", [])]


__all__ = ["Check", "Finding", "checks_of", "findings_of"]
