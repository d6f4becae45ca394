"""Typed results of `hypotheses.py`'s tests, as results.json holds them: the pre-registered tests (`PrimaryTest`,
`PaperFormTest`, each with its entry per budget and its verdict under the budget rule), the secondary analysis by
dependency distance and the exploratory tables. As the run records (`record_types.py`): `to_dict` is the very dict
results.json holds (same keys, same order), `from_dict` reads it back and refuses other fields.

A test's entry is built before Holm's correction over its family is known: `p_holm` (and `significant`) come last
in results.json and are set once the family is complete.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import InvalidInputError
from .record_types import Record, Summary, dict_of, list_of


@dataclass
class PlannedPower(Record):
    """A primary test's power planned from the pilot (`hypotheses.planned_power`): at a spread of `effect` points
    with the pilot's seed std `sigma`, per budget, at every budget at once and its union bound, and the target."""

    effect: float
    sigma: float
    budget_correlation: float
    per_budget: float
    all_budgets: float
    union_bound: float
    target: float


@dataclass
class AnovaAtBudget(Record):
    """A primary test at one budget where the ANOVA ran: the main effect of the hypothesis' factor (F, its degrees of
    freedom, p and whether p is a floor), the spread of the level means with its interval, the best and worst level,
    the interaction's p and the residual std; then its Holm p over the family and whether it is significant."""

    F: float  # the statistic's name, as results.json writes it
    df: list[int]
    p: float | None
    p_bound: bool
    estimate: float
    interval: list[float]
    means: dict[str, float]
    best: str
    worst: str
    interaction_p: float | None
    residual_std: float
    p_holm: float | None = None
    significant: bool = False


@dataclass
class UntestedAtBudget(Record):
    """A primary test at a budget where the design cannot test it (`p` is None), and why."""

    p: None
    reason: str
    p_holm: float | None = None
    significant: bool = False


def primary_entry(stored: dict) -> AnovaAtBudget | UntestedAtBudget:
    """A primary test's stored entry at one budget: untested where it gives a reason, else the ANOVA's."""
    return UntestedAtBudget.from_dict(stored) if "reason" in stored else AnovaAtBudget.from_dict(stored)


@dataclass
class PrimaryTest(Record):
    """A primary hypothesis on the intervention: its claim, the test, the design it ran on (cells, seeds per cell),
    its entry per budget, the planned power and the spread detectable with it, then its verdict under the budget rule
    in a word and a sentence, and the combined Holm p (significant at every budget)."""

    hypothesis: str
    claim: str
    kind: str
    test: str
    cells: int
    seeds_per_cell: int
    budgets: dict[str, AnovaAtBudget | UntestedAtBudget]
    planned_power: PlannedPower
    detectable_spread: float | None
    verdict: str = ""
    statement: str = ""
    p_holm: float | None = None

    READERS: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "budgets": lambda stored: {b: primary_entry(e) for b, e in stored.items()},
        "planned_power": PlannedPower.from_dict,
    }


@dataclass
class CorrelationAtBudget(Record):
    """The paper's correlational form at one budget: Spearman ρ over the cells that have every number, its p (and the
    smallest p the cells allow, exact or not), its interval, ρ between the two measured properties and whether it
    confounds them, why it is not testable (None when it is), then its Holm p and whether it is significant."""

    rho: float | None
    p: float | None
    smallest_p: float | None
    exact: bool | None
    cells: int
    interval: list[float] | None
    properties_rho: float | None
    confounded: bool
    reason: str | None
    p_holm: float | None = None
    significant: bool = False


@dataclass
class PaperFormTest(Record):
    """A hypothesis in the paper's correlational form: its claim, the test, the grid cells, its entry per budget, then
    its verdict in a word and a sentence, the combined Holm p and the largest over budgets of the smallest p the
    design allows."""

    hypothesis: str
    claim: str
    kind: str
    test: str
    cells: int
    budgets: dict[str, CorrelationAtBudget]
    verdict: str = ""
    statement: str = ""
    p_holm: float | None = None
    smallest_p: float | None = None

    READERS: ClassVar[dict[str, Callable[[Any], Any]]] = {"budgets": dict_of(CorrelationAtBudget)}


@dataclass
class DistanceRow(Record):
    """The secondary analysis in one dependency-distance bin of a task: the bin (words between the nouns, inclusive)
    and its test examples, the ANOVA's main effect of w there (level means, best and worst, spread with interval, the
    most local level's mean minus the least local's, p and whether it is a floor), then the Holm p over every bin."""

    task: str
    distance: list[int]
    examples: int
    w_means: dict[str, float]
    best: str
    worst: str
    spread: float
    interval: list[float]
    most_local_minus_least_local: float
    p: float | None
    p_bound: bool
    p_holm: float | None = None


@dataclass
class Secondary(Record):
    """The secondary analyses: locality by dependency distance."""

    distance: list[DistanceRow]

    READERS: ClassVar[dict[str, Callable[[Any], Any]]] = {"distance": list_of(DistanceRow)}


@dataclass
class ExploratoryCorrelation(Record):
    """Spearman ρ of a measured property (on `measured_on`) vs the outcome over the variants' seed means: the
    variants, ρ, p, the smallest p possible, the interval, then Holm's p over the table."""

    property: str
    measured_on: str
    variants: list[str]
    rho: float | None
    p: float | None
    smallest_p: float | None
    interval: list[float] | None
    p_holm: float | None = None


@dataclass
class ExploratoryAnova(Record):
    """The two-way ANOVA of one measure at one budget: uncorrected p of w, s and their interaction, level means."""

    budget: str
    measure: str
    w_p: float | None
    s_p: float | None
    interaction_p: float | None
    w_means: dict[str, float]
    s_means: dict[str, float]


@dataclass
class ZeroShotSignTest(Record):
    """A variant's zero-shot PLL preference for one perturbation against `null` (50): its summary over seeds and the
    sign test over sentences (`statistics.sign_test`), then Holm's p over its kind."""

    kind: str
    variant: str
    perturbation: str
    null: float
    summary: Summary
    wins: int
    losses: int
    ties: int
    n: int
    p: float | None
    p_bound: bool
    smallest_p: float | None
    p_holm: float | None = None


@dataclass
class NliDeltaTest(Record):
    """A variant's NLI probe Δ for one perturbation against `null` (0): its summary over seeds and the one-sample
    t-test's p, then Holm's p over its kind."""

    kind: str
    variant: str
    perturbation: str
    null: float
    summary: Summary
    p: float | None
    p_holm: float | None = None


@dataclass
class LengthLossTest(Record):
    """A variant's change of masked-token loss at `multiple` × the pretraining length against `null` (0): its summary
    over seeds and the paired t-test's p, then Holm's p over its kind."""

    kind: str
    variant: str
    multiple: str
    null: float
    summary: Summary
    p: float | None
    p_holm: float | None = None


EffectTest = ZeroShotSignTest | NliDeltaTest | LengthLossTest
# Each exploratory effect test's record, by its `kind` (the Holm family it belongs to).
EFFECT_TESTS: dict[str, type[Record]] = {
    "zero_shot_pll_preference": ZeroShotSignTest,
    "probe_nli_delta": NliDeltaTest,
    "length_loss_change": LengthLossTest,
}


def effect_test(stored: dict) -> EffectTest:
    """An exploratory effect test read back through the record of its kind (a clear error for an unknown kind)."""
    kind = stored.get("kind") if isinstance(stored, dict) else None
    if kind not in EFFECT_TESTS:
        raise InvalidInputError(f"effect test: unknown kind {kind!r}; the kinds are {list(EFFECT_TESTS)}")
    return EFFECT_TESTS[kind].from_dict(stored)


@dataclass
class Exploratory(Record):
    """The exploratory tables: correlations over every variant, ANOVAs on every measure, the effect tests."""

    correlations: list[ExploratoryCorrelation]
    anovas: list[ExploratoryAnova]
    effect_tests: list[EffectTest]

    READERS: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "correlations": list_of(ExploratoryCorrelation),
        "anovas": list_of(ExploratoryAnova),
        "effect_tests": lambda stored: [effect_test(t) for t in stored],
    }


def primary_tests_of(summary: dict) -> list[PrimaryTest]:
    """The primary tests of a results dictionary (as built, or read from results.json)."""
    return [PrimaryTest.from_dict(t) for t in summary["primary_tests"]]


def paper_form_tests_of(summary: dict) -> list[PaperFormTest]:
    """The tests in the paper's correlational form of a results dictionary."""
    return [PaperFormTest.from_dict(t) for t in summary["paper_form_tests"]]


def secondary_of(summary: dict) -> Secondary:
    """The secondary analyses of a results dictionary."""
    return Secondary.from_dict(summary["secondary"])


def exploratory_of(summary: dict) -> Exploratory:
    """The exploratory tables of a results dictionary."""
    return Exploratory.from_dict(summary["exploratory"])


__all__ = [
    "EFFECT_TESTS",
    "AnovaAtBudget",
    "CorrelationAtBudget",
    "DistanceRow",
    "EffectTest",
    "Exploratory",
    "ExploratoryAnova",
    "ExploratoryCorrelation",
    "LengthLossTest",
    "NliDeltaTest",
    "PaperFormTest",
    "PlannedPower",
    "PrimaryTest",
    "Secondary",
    "UntestedAtBudget",
    "ZeroShotSignTest",
    "effect_test",
    "exploratory_of",
    "paper_form_tests_of",
    "primary_entry",
    "primary_tests_of",
    "secondary_of",
]
