"""The typed records the report reads: one `RunRecord` per (variant, seed) and one `VariantSummary` per variant (its
numbers over seeds), with their parts. `records.py` builds them from the stage results; `hypotheses.py`, `report.py`,
`plots.py`, `hub.py` and `docs.py` read their fields.

results.json holds them as plain dicts: `to_dict` gives the very dict results.json has always held (same keys, same
order, same values) and `from_dict` reads one back, refusing a dict whose fields are not exactly the record's (a
results.json of another version should fail loudly, not read as missing numbers).

A summary over seeds (`statistics.summarize`: mean, std, n, ci95) stays a dict, as do a probing task's accuracies and
a masked-token length's numbers: they are the stages' and the statistics' own shapes, read through `report.fmt_summary`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from ..analysis.capture import ATTENTION_SCORES
from ..errors import InvalidInputError

Summary = dict[str, Any]  # statistics.summarize: {mean, std, n, ci95}
RecordType = TypeVar("RecordType", bound="Record")


def check_fields(kind: str, stored: Any, expected: list[str]) -> None:
    """Refuse `stored` unless it is a dict with exactly the `expected` keys, naming what is missing or unknown."""
    if not isinstance(stored, dict):
        raise InvalidInputError(f"{kind}: expected a dict of its fields, got {type(stored).__name__}")
    missing = [k for k in expected if k not in stored]
    unknown = [k for k in stored if k not in expected]
    if missing or unknown:
        raise InvalidInputError(
            f"{kind}: missing field(s) {missing}, unknown field(s) {unknown}; its fields are {expected}"
        )


def _plain(value: Any) -> Any:
    """`value` with every record in it (also inside dicts and lists) as its dict."""
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list) and any(isinstance(v, Record) for v in value):
        return [_plain(v) for v in value]
    return value


def dict_of(record: type[Record]) -> Callable[[dict], dict]:
    """A reader of a stored {name: record dict} as {name: record}."""
    return lambda stored: {k: record.from_dict(v) for k, v in stored.items()}


def list_of(record: type[Record]) -> Callable[[list], list]:
    """A reader of a stored list of record dicts as a list of records."""
    return lambda stored: [record.from_dict(v) for v in stored]


@dataclass
class Record:
    """A record as named fields: `to_dict` in field order, `from_dict` reading nested records through `READERS`
    (field name -> reader of its stored form; other fields are taken as stored)."""

    READERS: ClassVar[dict[str, Callable[[Any], Any]]] = {}

    @classmethod
    def stored_fields(cls) -> list[str]:
        """The keys of the record's dict, in order."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls: type[RecordType], stored: dict) -> RecordType:
        """The record of a dict `to_dict` wrote (a clear error where its fields differ)."""
        check_fields(cls.__name__, stored, cls.stored_fields())
        return cls(**{k: cls.READERS.get(k, _as_stored)(v) for k, v in stored.items()})

    def to_dict(self) -> dict:
        """The record as results.json holds it."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}


def _as_stored(value: Any) -> Any:
    return value


@dataclass
class PretrainLosses(Record):
    """The pretraining's final train and held-out masked-token losses (None where not pretrained)."""

    train_loss: float | None = None
    eval_loss: float | None = None


@dataclass
class BudgetNumbers(Record):
    """What a run measured of its model at one budget: masked-token numbers per length (`mlm`), the probes' accuracies
    per task in points (`probing`), the outcome, and the attention's properties on held-out sentences
    (`pretrained_scores`) and on identical tokens (`position`). The default is a budget not measured."""

    mlm: dict[str, dict] = field(default_factory=dict)
    probing: dict[str, dict] = field(default_factory=dict)
    outcome: float | None = None
    pretrained_scores: dict[str, float | None] = field(default_factory=dict)
    position: dict[str, Any] = field(default_factory=dict)

    def shallow_fields(self) -> dict[str, Any]:
        """The fields by name, the very objects (not copies): a run's final numbers are its final budget's."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass
class TaskScore(Record):
    """A fine-tuned task's main metric and its score (a fraction)."""

    metric: str | None
    score: float | None


@dataclass
class NliProbe(Record):
    """The paper's probe on the fine-tuned NLI model: accuracy on the original pairs and its change per perturbation
    (points), with the change's interval (None where not computed)."""

    original: float | None = None
    deltas: dict[str, float | None] = field(default_factory=dict)
    delta_ci: dict[str, list[float] | None] = field(default_factory=dict)


@dataclass
class ZeroShotProbe(Record):
    """The zero-shot probe of one perturbation on the pretrained MLM: the share (points) of pairs whose original has the
    higher pseudo-log-likelihood and its interval, the counts, the pair-by-pair outcomes (+1 the original wins, -1 it
    loses, 0 a tie) and which sentence each pair is, and the representations' drift."""

    pll_preference: float | None
    pll_preference_ci: list[float] | None
    wins: int | None
    losses: int | None
    ties: int | None
    outcomes: list[int] | None
    sentences: list[int] | None
    drift: float | None
    n_changed: int | None


@dataclass
class RunRecord(Record):
    """The numbers of one (variant, seed): its identity, its numbers per budget (`budgets`, steps -> numbers) and the
    final budget's at the top level (the fields `BudgetNumbers` has, and the identical-token matrix the plots draw),
    then its fine-tuned tasks and its probes. `at(budget)` reads one budget whatever the run measured."""

    variant: str
    position_encoding: str
    overrides: dict[str, Any]
    seed: int
    trained: bool
    failure: dict[str, Any] | None
    pretrain: PretrainLosses
    budgets: dict[str, BudgetNumbers]
    mlm: dict[str, dict]
    probing: dict[str, dict]
    outcome: float | None
    pretrained_scores: dict[str, float | None]
    position: dict[str, Any]
    position_matrix: list | None
    tasks: dict[str, TaskScore]
    finetuned_scores: dict[str, dict[str, float | None]]
    probe_nli: NliProbe
    probe_zero_shot: dict[str, ZeroShotProbe]

    def at(self, budget: str) -> BudgetNumbers:
        """The numbers at `budget` (steps, as a string); an empty `BudgetNumbers` where the run has none there."""
        return self.budgets.get(budget) or BudgetNumbers()

    @property
    def name(self) -> str:
        """'variant/seedN', as failures and controls name a run."""
        return f"{self.variant}/seed{self.seed}"


RunRecord.READERS = {
    "pretrain": PretrainLosses.from_dict,
    "budgets": dict_of(BudgetNumbers),
    "tasks": dict_of(TaskScore),
    "probe_nli": NliProbe.from_dict,
    "probe_zero_shot": dict_of(ZeroShotProbe),
}


@dataclass
class VariantBudget(Record):
    """A variant's numbers at one budget over its seeds: the outcome, each probing task's accuracy and the share of
    the masked-token signal at the pretraining length."""

    outcome: Summary
    probing: dict[str, Summary]
    share: Summary


@dataclass
class VariantSummary(Record):
    """A variant's numbers summarised over its finished seeds: per budget (`budgets`), then the final budget's — the
    masked-token numbers per length, the attention's properties on sentences (`attention`, by score name; in
    results.json each at the top level under its name) and on identical tokens (`position`), the probes and the
    outcome — the fine-tuned tasks and the NLI and zero-shot probes per perturbation."""

    position_encoding: str
    trained: bool
    budgets: dict[str, VariantBudget]
    overrides: dict[str, Any]
    seeds: list[int]
    mlm: dict[str, dict]
    attention: dict[str, Summary]
    position: dict[str, Summary]
    probing: dict[str, Summary]
    outcome: Summary
    tasks: dict[str, Summary]
    probe_nli_original: Summary
    probe_nli_deltas: dict[str, Summary]
    zero_shot_pll_preference: dict[str, Summary]
    zero_shot_drift: dict[str, Summary]

    READERS: ClassVar[dict[str, Callable[[Any], Any]]] = {"budgets": dict_of(VariantBudget)}

    @classmethod
    def stored_fields(cls) -> list[str]:
        names = super().stored_fields()
        at = names.index("attention")
        return names[:at] + list(ATTENTION_SCORES) + names[at + 1 :]

    @classmethod
    def from_dict(cls, stored: dict) -> VariantSummary:
        check_fields(cls.__name__, stored, cls.stored_fields())
        attention = {k: stored[k] for k in ATTENTION_SCORES}
        rest = {k: v for k, v in stored.items() if k not in ATTENTION_SCORES}
        return cls(**{k: cls.READERS.get(k, _as_stored)(v) for k, v in rest.items()}, attention=attention)

    def to_dict(self) -> dict:
        stored = super().to_dict()
        # results.json has each attention score at the top level, where `attention` stands in the field order
        return {n: stored[n] if n in stored else stored["attention"][n] for n in self.stored_fields()}


def runs_of(summary: dict) -> list[RunRecord]:
    """The run records of a results dictionary (as built, or read from results.json)."""
    return [RunRecord.from_dict(r) for r in summary["runs"]]


def variants_of(summary: dict) -> dict[str, VariantSummary]:
    """The per-variant summaries of a results dictionary, by label."""
    return {label: VariantSummary.from_dict(v) for label, v in summary["variants"].items()}


__all__ = [
    "BudgetNumbers",
    "NliProbe",
    "PretrainLosses",
    "Record",
    "RunRecord",
    "Summary",
    "TaskScore",
    "VariantBudget",
    "VariantSummary",
    "ZeroShotProbe",
    "check_fields",
    "dict_of",
    "list_of",
    "runs_of",
    "variants_of",
]
