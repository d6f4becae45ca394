"""The science of the study: what it tests, how, and what it may conclude (the paper's claim 2, "locality and
symmetry correlate with downstream performance"), under the protocol frozen in `protocol.py`.

* **Primary outcome** — the mean accuracy, in points, of the outcome's frozen-feature probes (by default
  `roles_far`: who did what to whom when nothing next to either noun tells; a bag of words and bigrams scores
  exactly 50 on it). A model without position information scores exactly 50 on every twin task by construction.
* **Exactly two primary hypotheses**, H1 locality and H2 symmetry affect the outcome, each the main effect of its
  knob (w, s) in a two-way ANOVA of the outcome over the attenuated grid, seeds as replicates, Holm over the two, at
  **every budget**. Supported only when significant at every budget; *budget-dependent* when significant at some
  budgets only (which is said); *bounded null* when significant at none (with the largest spread the data allow);
  *not testable* when the design cannot test it.
* **The paper's correlational form**, its own Holm family of two at each budget: Spearman's ρ between a grid cell's
  measured locality (resp. mass symmetry) of attention on held-out sentences and its outcome, over the cell means,
  permutation p, Fisher-z interval. Same budget rule; *confounded* when the measured properties are themselves
  correlated across the cells (|ρ| ≥ CONFOUNDED): then this form cannot say which property goes with the outcome.
* **Power is planned**: from the pilot's seed std (`PROTOCOL.pilot_seed_std`) at the smallest effect the study
  calls meaningful (`PROTOCOL.smallest_effect`), never from the run being judged.
* Everything else is exploratory (secondary: the locality effect by dependency distance; the correlation over
  every variant; each probe and the masked-token share on their own; zero-shot probes; length effects).

Every verdict's words are produced here, from the numbers: nothing in the report or the docs is typed by hand.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import statistics
from .grid import ATTENUATED, FACTORS, LOCALITY, SYMMETRY, knob_values, level
from .hypothesis_records import (
    AnovaAtBudget,
    CorrelationAtBudget,
    DistanceRow,
    EffectTest,
    ExploratoryAnova,
    ExploratoryCorrelation,
    LengthLossTest,
    NliDeltaTest,
    PaperFormTest,
    PlannedPower,
    PrimaryTest,
    UntestedAtBudget,
    ZeroShotSignTest,
)
from .protocol import PROTOCOL
from .record_types import BudgetNumbers, RunRecord, VariantSummary, ZeroShotProbe
from .sections import Check

OUTCOME = "word-order score"
CONTROL_TASK = "topic"
ORDER_BLIND_VARIANT = "none"
ORDER_BLIND_SCORE = 50.0  # points: what a model without positions scores on a twin task, exactly
CEILING = 100.0
SATURATION_MARGIN = 3.0  # points below the ceiling the best variant must stay
SIGNAL_RATIO = 3.0  # spread of the grid's cell means over the pooled seed std
LOCAL_SHORTCUT_MARGIN = 5.0  # points from chance that the n-gram baseline may reach on an outcome task
CONFOUNDED = 0.7  # |ρ| between the measured properties across cells beyond which the correlational form is confounded
MIN_DISTANCE_EXAMPLES = 100  # test examples per dependency-distance bin of the secondary analysis
# The two primary hypotheses, one per knob of the grid (`grid.KNOBS`): the knob's factor, the property it moves.
HYPOTHESES = {
    name: {"factor": knob.factor, "property": knob.property, "claim": f"{name.capitalize()} affects the {OUTCOME}"}
    for name, knob in (("locality", LOCALITY), ("symmetry", SYMMETRY))
}
FAMILY_SIZE = len(HYPOTHESES)  # each Holm family of the pre-registered tests holds one test per hypothesis
FIRST_HOLM_ALPHA = PROTOCOL.alpha / FAMILY_SIZE  # the level of a family's smallest p: what the power is planned at
# Where a run's attention properties are measured: on held-out sentences (the model) and on identical tokens (the
# PE alone), and the field of a run's numbers (`BudgetNumbers`, `RunRecord`) that holds each.
MEASURED_ON = {"sentences": "pretrained_scores", "identical tokens": "position"}


def finished(records: list[RunRecord]) -> list[RunRecord]:
    """The pretrained runs that finished (untrained controls are checked on their own)."""
    return [r for r in records if not r.failure and r.trained]


def untrained(records: list[RunRecord]) -> list[RunRecord]:
    """The untrained controls that finished."""
    return [r for r in records if not r.failure and not r.trained]


def budgets_of(records: list[RunRecord]) -> list[str]:
    """The budgets (steps, as strings) of the pretrained runs, smallest first."""
    return sorted({b for r in finished(records) for b in r.budgets}, key=int)


def at(record: RunRecord, budget: str) -> BudgetNumbers:
    """A run's numbers at one budget (empty when not measured)."""
    return record.at(budget)


def grid_runs(records: list[RunRecord]) -> list[RunRecord]:
    """The finished runs of the attenuated grid (the intervention), each with its (w, s) cell."""
    return [r for r in finished(records) if r.position_encoding == ATTENUATED and knob_values(r.overrides) is not None]


def cells(records: list[RunRecord]) -> dict[tuple[float, float], list[RunRecord]]:
    """Grid runs grouped by cell (w, s), in the order of the grid."""
    grouped: dict[tuple[float, float], list[RunRecord]] = {}
    for r in grid_runs(records):
        grouped.setdefault(knob_values(r.overrides), []).append(r)
    return grouped


def measured(numbers: BudgetNumbers | RunRecord, source: str, prop: str) -> float | None:
    """A measured property of attention (`locality`, `symmetry_mass`, `symmetry`) in a run's numbers (at a budget,
    or the final ones of the run), measured on `source` (a key of MEASURED_ON); None when it was not measured."""
    return (getattr(numbers, MEASURED_ON[source]) or {}).get(prop)


def _values(runs: list[RunRecord], getter) -> list[float]:
    values = [getter(r) for r in runs]
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def pooled_seed_std(groups: list[list[float]]) -> float | None:
    """Within-group (seed) standard deviation pooled over groups (None without replicates)."""
    squares = sum(((np.asarray(g) - np.mean(g)) ** 2).sum() for g in groups if len(g) > 1)
    df = sum(len(g) - 1 for g in groups if len(g) > 1)
    return float(math.sqrt(squares / df)) if df else None


def _budget_words(budgets: list[str]) -> str:
    return " and ".join(f"{int(b):,} steps" for b in budgets)


# ------------------------------------------------------------------------------------------------ power


def minimum_detectable_spread(
    levels: tuple[int, int], seeds: int, budgets: int, sigma: float | None = None
) -> float | None:
    """The spread of a factor's level means that the ANOVA detects at every budget with PROTOCOL.power_target (at
    the first Holm step), planned on the pilot's seed std (or `sigma`: what another noise would give) and budget
    correlation."""
    if seeds < 2 or not budgets:
        return None
    sigma = PROTOCOL.pilot_seed_std if sigma is None else sigma
    low, high = 0.0, 20 * sigma
    for _ in range(12):
        middle = (low + high) / 2
        power = statistics.anova_power_at_every_budget(
            levels,
            seeds,
            middle,
            sigma,
            PROTOCOL.pilot_budget_correlation,
            budgets,
            alpha=FIRST_HOLM_ALPHA,
            simulations=1000,
        )
        if power >= PROTOCOL.power_target:
            high = middle
        else:
            low = middle
    return high


def planned_power(levels: tuple[int, int], seeds: int, budgets: int) -> PlannedPower:
    """The design's power for one primary hypothesis, planned from the pilot (never from the run it judges): at a
    spread of PROTOCOL.smallest_effect points with the pilot's seed std, at the first Holm step, per budget and at
    every budget at once (simulated with the pilot's correlation between budgets; `union_bound`, 1 − Σ(1 − power),
    holds whatever that correlation)."""
    if seeds < 2 or not budgets:
        per_budget = every = 0.0
    else:
        effect, sigma = PROTOCOL.smallest_effect, PROTOCOL.pilot_seed_std
        per_budget = statistics.anova_power(levels, seeds, effect, sigma, alpha=FIRST_HOLM_ALPHA, simulations=4000)
        every = statistics.anova_power_at_every_budget(
            levels, seeds, effect, sigma, PROTOCOL.pilot_budget_correlation, budgets, alpha=FIRST_HOLM_ALPHA
        )
    return PlannedPower(
        effect=PROTOCOL.smallest_effect,
        sigma=PROTOCOL.pilot_seed_std,
        budget_correlation=PROTOCOL.pilot_budget_correlation,
        per_budget=per_budget,
        all_budgets=every,
        union_bound=max(0.0, 1 - budgets * (1 - per_budget)),
        target=PROTOCOL.power_target,
    )


# ------------------------------------------------------------------------------------------------ primary tests


def _anova_rows(grouped: dict, budget: str) -> list[tuple[str, str, float | None]]:
    return [(level(w), level(s), at(r, budget).outcome) for (w, s), runs in grouped.items() for r in runs]


def primary_tests(records: list[RunRecord]) -> list[PrimaryTest]:
    """H1 and H2 on the intervention at every budget: the two-way ANOVA of the outcome on w and s, Holm over the
    two at each budget, then the budget rule (module docstring)."""
    grouped = cells(records)
    budgets = budgets_of(records)
    levels = (len({w for w, _ in grouped}), len({s for _, s in grouped}))
    seeds = min((len(runs) for runs in grouped.values()), default=0)
    designed = min(levels, default=0) >= 2 and seeds >= 2 and bool(budgets)
    planned = {}
    for name, h in HYPOTHESES.items():
        own = levels if h["factor"] == "w" else levels[::-1]
        power = planned_power(own, seeds, len(budgets))
        planned[name] = (power, minimum_detectable_spread(own, seeds, len(budgets)) if designed else None)
    by_budget = {budget: _primary_entries(grouped, budget, designed) for budget in budgets}
    tests = [
        PrimaryTest(
            hypothesis=name,
            claim=h["claim"],
            kind="primary",
            test=f"two-way ANOVA of the {OUTCOME} on w × s, main effect of {h['factor']}, at "
            f"{_budget_words(budgets) or 'each budget'}",
            cells=len(grouped),
            seeds_per_cell=seeds,
            budgets={budget: entries[name] for budget, entries in by_budget.items()},
            planned_power=planned[name][0],
            detectable_spread=planned[name][1],
        )
        for name, h in HYPOTHESES.items()
    ]
    for test in tests:
        test.verdict, test.statement = primary_verdict(test)
        test.p_holm = _combined_p(test)
    return tests


def _primary_entries(grouped: dict, budget: str, designed: bool) -> dict[str, AnovaAtBudget | UntestedAtBudget]:
    """Each hypothesis' entry at one budget, Holm over the family."""
    rows = _anova_rows(grouped, budget)
    outcomes = [y for *_, y in rows if y is not None]
    constant = bool(outcomes) and max(outcomes) - min(outcomes) < 1e-9
    anova = statistics.two_way_anova(rows, FACTORS) if designed and outcomes and not constant else None
    entries: dict[str, AnovaAtBudget | UntestedAtBudget] = {}
    for name, h in HYPOTHESES.items():
        entry = anova.get(h["factor"]) if anova else None
        if entry is None:
            reason = (
                f"every run scores {outcomes[0]:g}: the outcome does not vary"
                if constant
                else "needs the attenuated grid with at least 2 values of w and of s and 2 seeds per cell"
            )
            entries[name] = UntestedAtBudget(p=None, reason=reason)
        else:
            entries[name] = AnovaAtBudget(
                F=entry["F"],
                df=[entry["df"], anova["residual_df"]],
                p=entry["p"],
                p_bound=entry["p_bound"],
                estimate=entry["spread"],
                interval=entry["spread_ci95"],
                means=entry["means"],
                best=entry["best"],
                worst=entry["worst"],
                interaction_p=anova["interaction"]["p"],
                residual_std=math.sqrt(anova["mse"]),
            )
    _holm_family(list(entries.values()))
    return entries


def _holm_family(entries: list) -> None:
    """Set each entry's Holm p over the family and whether it is significant."""
    for entry, adjusted in zip(entries, statistics.holm([e.p for e in entries])):
        entry.p_holm = adjusted
        entry.significant = adjusted is not None and adjusted < PROTOCOL.alpha


def _combined_p(test: PrimaryTest | PaperFormTest) -> float | None:
    """The p-value of "significant at every budget" (intersection-union): the largest Holm p over budgets."""
    values = [e.p_holm for e in test.budgets.values()]
    return None if not values or any(v is None for v in values) else max(values)


def primary_verdict(test: PrimaryTest) -> tuple[str, str]:
    """(verdict, one sentence) for a primary hypothesis under the budget rule."""
    factor = HYPOTHESES[test.hypothesis]["factor"]
    budgets = test.budgets
    if not budgets:
        return "not testable", "Not testable: no pretrained run finished."
    missing = [b for b, e in budgets.items() if e.p is None]
    if missing:
        return "not testable", f"Not testable: {budgets[missing[0]].reason} (at {int(missing[0]):,} steps)."
    significant = [b for b, e in budgets.items() if e.significant]

    def found(budget: str) -> str:
        e = budgets[budget]
        low, high = e.interval
        return (
            f"at {int(budget):,} steps best at {factor} = {e.best}, worst at {e.worst}, "
            f"{e.estimate:.1f} points apart [{low:.1f}, {high:.1f}] (Holm p = {_p_text(e)})"
        )

    if len(significant) == len(budgets):
        return "supported", f"The {OUTCOME} depends on {factor} at every budget: " + "; ".join(
            map(found, budgets)
        ) + "."
    if significant:
        others = [b for b in budgets if b not in significant]
        direction = (
            "it fades with more pretraining"
            if int(significant[0]) < int(others[0])
            else "it appears only with more pretraining"
        )
        return "budget-dependent", (
            f"Significant at {_budget_words(significant)} only ({direction}): "
            + "; ".join(map(found, significant))
            + "; not at "
            + ", ".join(
                f"{int(b):,} steps (Holm p = {_p_text(budgets[b])}, spread ≤ {budgets[b].interval[1]:.1f} points)"
                for b in others
            )
            + "."
        )
    return "bounded null", (
        "Not significant at any budget: a spread larger than "
        + ", ".join(f"{budgets[b].interval[1]:.1f} points at {int(b):,} steps" for b in budgets)
        + f" across the levels of {factor} is excluded (95 %; Holm p = "
        + ", ".join(_p_text(budgets[b]) for b in budgets)
        + f"). The design was planned to detect a spread of {PROTOCOL.smallest_effect:g} points with power "
        f"{test.planned_power.all_budgets:.2f} at every budget."
    )


P_FLOOR_TEXT = f"< {statistics.P_FLOOR:.0e}"


def at_p_floor(p: float, entry: Any = None) -> bool:
    """Whether `p` is a bounded p-value (`statistics.bounded_p`) at its floor, after Holm over a family of the
    pre-registered tests multiplied it: the true p is smaller, and is written P_FLOOR_TEXT. `entry`: the record the
    p belongs to (one without `p_bound` holds no bounded p)."""
    return bool(getattr(entry, "p_bound", False)) and p <= FAMILY_SIZE * statistics.P_FLOOR


def _p_text(entry: AnovaAtBudget | CorrelationAtBudget) -> str:
    value = entry.p_holm
    if value is None:
        return "n/a"
    if at_p_floor(value, entry):
        return P_FLOOR_TEXT
    return f"{value:.2g}"


# ------------------------------------------------------------------------------------------------ paper's form


def paper_form_tests(records: list[RunRecord]) -> list[PaperFormTest]:
    """The paper's correlational form at every budget: Spearman ρ of measured property vs outcome over the grid's
    cell means (permutation p, Fisher-z interval), Holm over the two at each budget, then the budget rule."""
    grouped = cells(records)
    budgets = budgets_of(records)
    by_budget = {budget: _correlation_entries(grouped, budget) for budget in budgets}
    tests = [
        PaperFormTest(
            hypothesis=name,
            claim=h["claim"].replace("affects", "correlates with"),
            kind="paper's form",
            test=f"Spearman ρ of measured {h['property'].replace('_', ' ')} vs the {OUTCOME} over the grid's "
            "cell means, permutation p",
            cells=len(grouped),
            budgets={budget: entries[name] for budget, entries in by_budget.items()},
        )
        for name, h in HYPOTHESES.items()
    ]
    for test in tests:
        test.verdict, test.statement = correlation_verdict(test)
        test.p_holm = _combined_p(test)
        test.smallest_p = max((e.smallest_p for e in test.budgets.values()), default=None)
    return tests


def _cell_mean(runs: list[RunRecord], getter) -> float | None:
    values = _values(runs, getter)
    return float(np.mean(values)) if values else None


def _correlation_entries(grouped: dict, budget: str) -> dict[str, CorrelationAtBudget]:
    """Each hypothesis' correlation over the cell means at one budget, Holm over the family."""
    means = {
        prop: [
            _cell_mean(runs, lambda r, p=prop, b=budget: measured(at(r, b), "sentences", p))
            for runs in grouped.values()
        ]
        for prop in (h["property"] for h in HYPOTHESES.values())
    }
    outcome = [_cell_mean(runs, lambda r, b=budget: at(r, b).outcome) for runs in grouped.values()]
    both = [i for i, y in enumerate(outcome) if y is not None and all(m[i] is not None for m in means.values())]
    locality, symmetry = ([means[h["property"]][i] for i in both] for h in HYPOTHESES.values())
    confound = statistics.spearman(locality, symmetry)
    entries = {}
    for name, h in HYPOTHESES.items():
        xs, ys = [means[h["property"]][i] for i in both], [outcome[i] for i in both]
        result = statistics.spearman_test(xs, ys)
        entries[name] = CorrelationAtBudget(
            rho=result["rho"],
            p=result["p"],
            smallest_p=result["smallest_p"],
            exact=result["exact"],
            cells=len(both),
            interval=statistics.spearman_interval(result["rho"], len(both)),
            properties_rho=confound,
            confounded=confound is not None and abs(confound) >= CONFOUNDED,
            reason=None if result["rho"] is not None else "needs at least 3 grid cells with a spread",
        )
    _holm_family(list(entries.values()))
    return entries


def correlation_verdict(test: PaperFormTest) -> tuple[str, str]:
    """(verdict, one sentence) for a correlational test under the budget rule and the confound check."""
    budgets = test.budgets
    if not budgets:
        return "not testable", "Not testable: no pretrained run finished."
    for b, e in budgets.items():
        if e.p is None:
            return "not testable", f"Not testable: {e.reason} (at {int(b):,} steps)."
        if min(1.0, FAMILY_SIZE * e.smallest_p) >= PROTOCOL.alpha:
            return "not testable", (
                f"Not testable: the smallest p this design can give over {e.cells} cells is "
                f"{e.smallest_p:.3g}, {FAMILY_SIZE * e.smallest_p:.3g} after Holm (≥ {PROTOCOL.alpha}), "
                "whatever the models do."
            )

    def found(b: str) -> str:
        e = budgets[b]
        ci = f" [{e.interval[0]:.2f}, {e.interval[1]:.2f}]" if e.interval else ""
        return f"ρ = {e.rho:.2f}{ci} at {int(b):,} steps (Holm p = {_p_text(e)})"

    confounded = [b for b, e in budgets.items() if e.confounded]
    if confounded:
        return "confounded", (
            "Measured locality and symmetry move together across the cells ("
            + ", ".join(f"ρ = {budgets[b].properties_rho:.2f} at {int(b):,} steps" for b in confounded)
            + "), so a correlation of either with the outcome cannot be credited to it: "
            + "; ".join(map(found, budgets))
            + ". The primary tests, on the knobs, separate the two."
        )
    significant = [b for b, e in budgets.items() if e.significant]
    signs = {np.sign(budgets[b].rho) for b in significant}
    if len(significant) == len(budgets) and len(signs) == 1:
        word = "supported" if signs == {1.0} else "contradicted"
        more = "more" if signs == {1.0} else "less"
        return word, (
            f"{more.capitalize()} {test.hypothesis} goes with a higher {OUTCOME} at every budget: "
            + "; ".join(map(found, budgets))
            + "."
        )
    if significant:
        return "budget-dependent", (
            f"Significant at {_budget_words(significant)} only: " + "; ".join(map(found, budgets)) + "."
        )
    return "bounded null", "Not significant at any budget: " + "; ".join(map(found, budgets)) + "."


# ------------------------------------------------------------------------------------------------ secondary


def distance_analysis(records: list[RunRecord], tasks: list[str]) -> list[DistanceRow]:
    """Secondary: does locality still help when the dependency is far? For each twin task whose examples carry a
    dependency distance (words between the two nouns), at the final budget: the test examples grouped into
    distance bins of at least MIN_DISTANCE_EXAMPLES, and in each bin the ANOVA's main effect of w on the runs'
    accuracy there (its level means, spread and p), Holm over every bin of every task."""
    grouped = cells(records)
    budgets = budgets_of(records)
    if not grouped or not budgets:
        return []
    final = budgets[-1]
    rows = []
    for task in tasks:
        sizes: dict[int, int] = {}
        for runs in grouped.values():
            entry = (at(runs[0], final).probing.get(task) or {}).get("by_distance") or {}
            sizes = {int(d): e["n"] for d, e in entry.items()}
            break
        if not sizes:
            continue
        for low, high in _distance_bins(sizes):

            def accuracy(r, low=low, high=high, task=task):
                entry = (at(r, final).probing.get(task) or {}).get("by_distance") or {}
                parts = [(e["accuracy"], e["n"]) for d, e in entry.items() if low <= int(d) <= high]
                n = sum(k for _, k in parts)
                return sum(a * k for a, k in parts) / n if n else None

            anova = statistics.two_way_anova(
                [(level(w), level(s), accuracy(r)) for (w, s), runs in grouped.items() for r in runs], FACTORS
            )
            if anova is None:
                continue
            w = anova["w"]
            rows.append(
                DistanceRow(
                    task=task,
                    distance=[low, high],
                    examples=sum(n for d, n in sizes.items() if low <= d <= high),
                    w_means=w["means"],
                    best=w["best"],
                    worst=w["worst"],
                    spread=w["spread"],
                    interval=w["spread_ci95"],
                    most_local_minus_least_local=w["means"][level(max(k for k, _ in grouped))]
                    - w["means"][level(min(k for k, _ in grouped))],
                    p=w["p"],
                    p_bound=w["p_bound"],
                )
            )
    _holm_table(rows)
    return rows


def _distance_bins(sizes: dict[int, int]) -> list[tuple[int, int]]:
    """Consecutive distances merged until each bin holds MIN_DISTANCE_EXAMPLES examples (the last bin absorbs a
    short tail)."""
    bins, start, count = [], None, 0
    for d in sorted(sizes):
        start = d if start is None else start
        count += sizes[d]
        if count >= MIN_DISTANCE_EXAMPLES:
            bins.append((start, d))
            start, count = None, 0
    if start is not None:
        if bins:
            bins[-1] = (bins[-1][0], max(sizes))
        else:
            bins.append((start, max(sizes)))
    return bins


# ------------------------------------------------------------------------------------------------ exploratory


def exploratory_correlations(records: list[RunRecord]) -> list[ExploratoryCorrelation]:
    """Spearman ρ of each measured property vs the outcome over every pretrained variant's seed mean (anchors
    included), at the final budget, measured on sentences and on identical tokens; labelled exploratory."""
    by_variant: dict[str, list[RunRecord]] = {}
    for r in finished(records):
        by_variant.setdefault(r.variant, []).append(r)
    rows = []
    for source in MEASURED_ON:
        for prop in ("locality", "symmetry_mass", "symmetry"):
            kept = []
            for label, runs in by_variant.items():
                x = _values(runs, lambda r, source=source, p=prop: measured(r, source, p))
                y = _values(runs, lambda r: r.outcome)
                if x and y:
                    kept.append((float(np.mean(x)), float(np.mean(y)), label))
            result = statistics.spearman_test([x for x, _, _ in kept], [y for _, y, _ in kept])
            rows.append(
                ExploratoryCorrelation(
                    property=prop,
                    measured_on=source,
                    variants=[label for *_, label in kept],
                    rho=result["rho"],
                    p=result["p"],
                    smallest_p=result["smallest_p"],
                    interval=statistics.spearman_interval(result["rho"], len(kept)),
                )
            )
    _holm_table(rows)
    return rows


def _holm_table(rows: list) -> None:
    """Set each row's Holm p over the table (or family) it belongs to."""
    for row, adjusted in zip(rows, statistics.holm([r.p for r in rows])):
        row.p_holm = adjusted


def exploratory_anovas(records: list[RunRecord]) -> list[ExploratoryAnova]:
    """The same two-way ANOVA at every budget on each probe task, the masked-token share and the measured
    properties."""
    grouped = cells(records)
    out = []
    for budget in budgets_of(records):
        tasks = sorted({t for runs in grouped.values() for r in runs for t in at(r, budget).probing})
        measures = {
            **{f"probe: {t}": (lambda n, t=t: (n.probing.get(t) or {}).get("accuracy")) for t in tasks},
            "masked-token share (points)": _share_points,
            **{
                f"{name} ({source})": lambda n, source=source, p=prop: measured(n, source, p)
                for source in MEASURED_ON
                for name, prop in (("locality", "locality"), ("symmetry, mass", "symmetry_mass"))
            },
        }
        for name, getter in measures.items():
            rows = [(level(w), level(s), getter(at(r, budget))) for (w, s), runs in grouped.items() for r in runs]
            anova = statistics.two_way_anova(rows, FACTORS)
            if anova is None:
                continue
            out.append(
                ExploratoryAnova(
                    budget=budget,
                    measure=name,
                    w_p=anova["w"]["p"],
                    s_p=anova["s"]["p"],
                    interaction_p=anova["interaction"]["p"],
                    w_means=anova["w"]["means"],
                    s_means=anova["s"]["means"],
                )
            )
    return out


def _share_points(numbers: BudgetNumbers) -> float | None:
    first = next(iter(numbers.mlm or {}), None)
    share = None if first is None else numbers.mlm[first].get("share")
    return None if share is None else 100 * share


def _per_seed(records: list[RunRecord], label: str, getter) -> dict[int, float]:
    values = {}
    for r in finished(records):
        if r.variant != label:
            continue
        value = getter(r)
        if value is not None and math.isfinite(value):
            values[r.seed] = value
    return values


def sentence_sign_counts(entries: list[ZeroShotProbe]) -> tuple[int, int, int]:
    """Wins, losses and ties over *sentences*: each sentence's pair outcomes (+1, -1, 0) averaged over the seeds
    that scored it, then its sign. Seeds see the same sentences, so they are not independent samples of them."""
    by_sentence: dict[int, list[int]] = {}
    for entry in entries:
        for sentence, outcome in zip(entry.sentences or [], entry.outcomes or []):
            by_sentence.setdefault(int(sentence), []).append(int(outcome))
    means = [float(np.mean(v)) for v in by_sentence.values()]
    return sum(m > 0 for m in means), sum(m < 0 for m in means), sum(m == 0 for m in means)


def exploratory_effect_tests(records: list[RunRecord], variants: dict[str, VariantSummary]) -> list[EffectTest]:
    """Exploratory tests of probe and length effects, Holm-corrected within each family (kind):

    * zero-shot PLL preference: a two-sided sign test over sentences (each sentence's outcome averaged over the
      seeds, `sentence_sign_counts`); ties (all a model without positions gives) are dropped and counted;
    * NLI probe Δ ≠ 0: one-sample t-test over seeds;
    * change of masked-token loss at k× the pretraining length: paired t-test over seeds.
    """
    tests = []
    for label, v in variants.items():
        if not v.trained:
            continue
        for p in v.zero_shot_pll_preference:
            entries = [
                r.probe_zero_shot[p]
                for r in finished(records)
                if r.variant == label and p in r.probe_zero_shot and r.probe_zero_shot[p].outcomes is not None
            ]
            tests.append(
                ZeroShotSignTest(
                    kind="zero_shot_pll_preference",
                    variant=label,
                    perturbation=p,
                    null=50.0,
                    summary=v.zero_shot_pll_preference[p],
                    **statistics.sign_test(*sentence_sign_counts(entries)),
                )
            )
        for p in v.probe_nli_deltas:
            values = list(_per_seed(records, label, lambda r, p=p: r.probe_nli.deltas.get(p)).values())
            tests.append(
                NliDeltaTest(
                    kind="probe_nli_delta",
                    variant=label,
                    perturbation=p,
                    null=0.0,
                    summary=v.probe_nli_deltas[p],
                    p=statistics.one_sample_t_p(values, 0.0),
                )
            )
        multiples = [m for m, e in v.mlm.items() if e["applicable"]]
        for m in multiples[1:]:
            base = _per_seed(records, label, lambda r, first=multiples[0]: (r.mlm.get(first) or {}).get("loss"))
            longer = _per_seed(records, label, lambda r, m=m: (r.mlm.get(m) or {}).get("loss"))
            differences = [longer[s] - base[s] for s in sorted(set(base) & set(longer))]
            tests.append(
                LengthLossTest(
                    kind="length_loss_change",
                    variant=label,
                    multiple=m,
                    null=0.0,
                    summary=statistics.summarize(differences),
                    p=statistics.one_sample_t_p(differences, 0.0),
                )
            )
    for kind in dict.fromkeys(t.kind for t in tests):
        _holm_table([t for t in tests if t.kind == kind])
    return tests


# ------------------------------------------------------------------------------------------------ controls


def _twin_tasks(records: list[RunRecord]) -> list[str]:
    from ..data.probing import PROBING_TASKS

    tasks = {t for r in finished(records) for b in r.budgets.values() for t in b.probing}
    return [t for t in PROBING_TASKS if t in tasks and PROBING_TASKS[t].order_sensitive]


def controls(records: list[RunRecord], variants: dict[str, VariantSummary], floors: dict) -> list[Check]:
    """Checks that must hold for the other numbers to mean anything; each can fail."""
    budgets = budgets_of(records)
    twin_tasks = _twin_tasks(records)
    blind = [r for r in finished(records) if r.variant == ORDER_BLIND_VARIANT]
    others = [r for r in finished(records) if r.variant != ORDER_BLIND_VARIANT]
    return [
        *_order_blind_control(_twin_entries(blind, budgets, twin_tasks)),
        *_no_ties_control(_twin_entries(others, budgets, twin_tasks)),
        *_pretraining_control(records, budgets),
        *_content_probe_control(records, budgets),
        *_zero_shot_tie_control(blind),
        *_floors_control(records, floors),
    ]


def _twin_entries(runs: list[RunRecord], budgets: list[str], twin_tasks: list[str]) -> list[tuple]:
    """(run, budget, task, probing entry) of every twin task each run was probed on."""
    return [(r, b, t, at(r, b).probing[t]) for r in runs for b in budgets for t in twin_tasks if t in at(r, b).probing]


def _order_blind_control(entries: list[tuple]) -> list[Check]:
    """The model without positions scores exactly ORDER_BLIND_SCORE on every twin task, every twin pair tied."""
    if not entries:
        return []
    return [
        Check(
            name="order-blind control",
            passed=all(e["accuracy"] == ORDER_BLIND_SCORE and e["tied"] == e["n_test"] for *_, e in entries),
            statement=f"`{ORDER_BLIND_VARIANT}` (no position information) scores exactly "
            f"{ORDER_BLIND_SCORE:g} on every twin task at every budget, every twin pair tied",
            detail=f"{sum(e['tied'] for *_, e in entries):,} of {sum(e['n_test'] for *_, e in entries):,} "
            f"twin examples tied; scores {sorted({e['accuracy'] for *_, e in entries})}",
        )
    ]


def _no_ties_control(entries: list[tuple]) -> list[Check]:
    """Every model with position information tells every twin pair apart."""
    if not entries:
        return []
    tied = [f"{r.name} {t} @{b}" for r, b, t, e in entries if e["tied"]]
    distances = [e["min_twin_distance"] for *_, e in entries if e.get("min_twin_distance") is not None]
    return [
        Check(
            name="no ties with positions",
            passed=not tied,
            statement="every model with position information tells every twin pair apart: no twin "
            f"representations within the tie tolerance ({PROTOCOL.twin_tie_atol:g}, float32 noise)",
            detail=(f"tied: {', '.join(tied[:5])}" if tied else "0 tied twins")
            + (f"; smallest twin distance {min(distances):.2e}" if distances else ""),
            measures={"smallest_twin_distance": min(distances) if distances else None},
        )
    ]


def _content_probe_control(records: list[RunRecord], budgets: list[str]) -> list[Check]:
    """Every run's probe reads the CONTROL_TASK (order-free) above chance: a check of the probe itself."""
    topic = [
        (r, b, at(r, b).probing[CONTROL_TASK])
        for r in finished(records)
        for b in budgets
        if CONTROL_TASK in at(r, b).probing
    ]
    if not topic:
        return []
    from ..data.probing import get_probing_task

    chance = 1 / get_probing_task(CONTROL_TASK).num_labels
    tests = [
        statistics.binomial_greater_p(round(e["accuracy"] / 100 * e["n_test"]), e["n_test"], chance)
        for _, _, e in topic
    ]
    adjusted = statistics.holm([t["p"] for t in tests])
    low = min(topic, key=lambda item: item[2]["accuracy"])
    blank = [at(r, "0").probing.get(CONTROL_TASK, {}).get("accuracy") for r in untrained(records)]
    blank = [v for v in blank if v is not None]
    return [
        Check(
            name="content probe",
            passed=max(adjusted) < PROTOCOL.alpha,
            statement=f"every run's probe reads the {CONTROL_TASK} (order-free, decided by the nouns) above "
            f"chance ({100 * chance:.1f}), binomial test, Holm over runs and budgets. It checks the probe, not "
            "the pretraining: untrained models read it too",
            detail=f"lowest: {low[0].name} at {int(low[1]):,} steps "
            f"{low[2]['accuracy']:.1f}; largest Holm p {max(adjusted):.2g}"
            + (f"; untrained {min(blank):.1f}–{max(blank):.1f}" if blank else ""),
        )
    ]


def _zero_shot_tie_control(blind: list[RunRecord]) -> list[Check]:
    """The model without positions ties every original with its perturbation (zero-shot probe)."""
    zero_shot = [e for r in blind for e in r.probe_zero_shot.values() if e.ties is not None]
    if not zero_shot:
        return []
    return [
        Check(
            name="zero-shot tie control",
            passed=all(e.ties == e.n_changed for e in zero_shot),
            statement=f"`{ORDER_BLIND_VARIANT}` gives every original and its perturbation the same "
            "pseudo-log-likelihood (a tie, not a win)",
            detail=f"{sum(e.ties for e in zero_shot)} of {sum(e.n_changed for e in zero_shot)} pairs tied",
        )
    ]


def _floors_control(records: list[RunRecord], floors: dict) -> list[Check]:
    """Every masked-token loss lies above the Bayes-optimal floor of its length (a check of the floors)."""
    first = next(iter(floors), None)
    if first is None or floors[first].get("bayes_loss") is None:
        return []
    losses = [
        (r, b, (at(r, b).mlm.get(first) or {}).get("loss"))
        for r in finished(records) + untrained(records)
        for b in r.budgets
    ]
    losses = [loss for *_, loss in losses if loss is not None]
    bayes, unigram = floors[first]["bayes_loss"], floors[first]["unigram_loss"]
    return [
        Check(
            name="floors",
            passed=all(loss >= bayes for loss in losses),
            statement="every masked-token loss lies above the Bayes-optimal floor (a check of the floors "
            "themselves: no model can beat it)",
            detail=f"Bayes {bayes:.3f} ≤ losses {min(losses, default=math.nan):.3f}–"
            f"{max(losses, default=math.nan):.3f}; unigram {unigram:.3f}",
        )
    ]


def _pretraining_control(records: list[RunRecord], budgets: list[str]) -> list[Check]:
    """Every pretrained run captures at least PROTOCOL.pretraining_share_min of the learnable signal (masked-token
    share) at every budget, and the untrained model of the same shape does not: a failed pretraining fails it."""
    trained = [(r, b, _share_points(at(r, b))) for r in finished(records) for b in budgets]
    trained = [(r, b, v) for r, b, v in trained if v is not None]
    blank = [(r, _share_points(at(r, "0"))) for r in untrained(records)]
    blank = [(r, v) for r, v in blank if v is not None]
    if not trained:
        return []
    threshold = 100 * PROTOCOL.pretraining_share_min
    low = min(trained, key=lambda item: item[2])
    failed = [f"{r.name} @{b}" for r, b, v in trained if v < threshold]
    discriminates = bool(blank) and all(v < threshold for _, v in blank)
    return [
        Check(
            name="pretraining control",
            passed=not failed and discriminates,
            statement=f"every pretrained run captures at least {threshold:g} % of the learnable signal "
            "(masked-token share) at every budget, and the untrained model of the same shape does not "
            "(the control can fail)",
            detail=f"lowest pretrained: {low[0].name} at {int(low[1]):,} steps "
            f"{low[2]:.1f} %"
            + (f"; below: {', '.join(failed[:5])}" if failed else "")
            + (
                "; untrained " + ", ".join(f"{r.name} {v:.1f} %" for r, v in blank)
                if blank
                else "; no untrained model was run (--untrained-control)"
            ),
        )
    ]


# ------------------------------------------------------------------------------------------------ design checks


def design_checks(
    records: list[RunRecord], variants: dict[str, VariantSummary], design: dict, baselines: dict, outcome_tasks
) -> list[Check]:
    """What the design needs to be able to decide: each knob moves its own property only (checked on identical
    tokens before pretraining), the outcome is not solved by a local shortcut, it is not saturated, the grid's
    cells differ by more than seed noise, the planned power, and every probe fit converged."""
    budgets = budgets_of(records)
    return [
        *_manipulation_check(design),
        *_local_shortcut_checks(baselines, outcome_tasks),
        *_saturation_checks(variants, budgets, outcome_tasks),
        *_signal_checks(records, budgets),
        *_probe_fit_check(records, budgets),
    ]


def _manipulation_check(design: dict) -> list[Check]:
    """Each knob moves its own property only, on identical tokens before pretraining (`design.py`)."""
    if not design:
        return []

    def moves(key: str, other: str) -> str:
        return ", ".join(f"{v:.3f} ({other} = {k})" for k, v in design[key].items())

    return [
        Check(
            name="manipulation (identical tokens)",
            passed=design["passed"],
            statement="checked before pretraining, on each cell's PE alone (identical tokens, "
            f"n = {design['seq_len']}): s moves locality by at most {design['max_cross_effect']:g} at every w, "
            f"w moves symmetry by at most {design['max_cross_effect']:g} at every s, and the prior decays by at "
            f"least {design['min_side_decay_nats']:g} nat on both sides of the query in every cell",
            detail=f"s moves locality by {moves('s_moves_locality', 'w')}; "
            f"w moves symmetry by {moves('w_moves_symmetry', 's')}; "
            f"w moves locality by {moves('w_moves_locality', 's')}; "
            f"s moves symmetry by {moves('s_moves_symmetry', 'w')}"
            f"; weakest side decay {design['weakest_side_decay_nats']:.2f} nats",
        )
    ]


def _local_shortcut_checks(baselines: dict, outcome_tasks) -> list[Check]:
    """A bag of words and bigrams stays near chance on every outcome task."""
    from ..data.probing import get_probing_task

    checks = []
    for task, baseline in baselines.items():
        if task not in outcome_tasks:
            continue
        chance = 100.0 / get_probing_task(task).num_labels
        accuracy = 100 * baseline["accuracy"]
        checks.append(
            Check(
                name=f"no local shortcut: {task}",
                passed=abs(accuracy - chance) <= LOCAL_SHORTCUT_MARGIN,
                statement=f"a bag of words and bigrams (same classifier, same split) stays within "
                f"{LOCAL_SHORTCUT_MARGIN:g} points of chance on the outcome task {task}",
                detail=f"{accuracy:.1f} (chance {chance:g}; {baseline['tied']} of {baseline['n_test']} twins "
                "with identical bags)",
            )
        )
    return checks


def best_variant(variants: dict[str, VariantSummary], budget: str, task: str) -> tuple[str, float] | None:
    """The pretrained variant with the highest mean on probing `task` at `budget` (None when none was probed)."""
    scores = {
        label: v.budgets[budget].probing[task]["mean"]
        for label, v in variants.items()
        if v.trained
        and v.seeds
        and budget in v.budgets
        and task in v.budgets[budget].probing
        and v.budgets[budget].probing[task]["mean"] is not None
    }
    if not scores:
        return None
    best = max(scores, key=scores.get)
    return best, scores[best]


def _saturation_checks(variants: dict[str, VariantSummary], budgets: list[str], outcome_tasks) -> list[Check]:
    """The best variant stays below the ceiling on every outcome task at every budget."""
    checks = []
    for task in outcome_tasks:
        for budget in budgets:
            found = best_variant(variants, budget, task)
            if found is None:
                continue
            best, score = found
            checks.append(
                Check(
                    name=f"not saturated: {task} @{int(budget):,}",
                    passed=score <= CEILING - SATURATION_MARGIN,
                    statement=f"the best variant stays ≥ {SATURATION_MARGIN:g} points below the ceiling "
                    f"({CEILING:g}) on {task} at {int(budget):,} steps",
                    detail=f"best: {best} {score:.1f}",
                )
            )
    return checks


def _signal_checks(records: list[RunRecord], budgets: list[str]) -> list[Check]:
    """The grid's cell means spread over more than seed noise at every budget (observed, not planned)."""
    grouped = cells(records)
    checks = []
    for budget in budgets if grouped else []:
        groups = [_values(runs, lambda r, b=budget: at(r, b).outcome) for runs in grouped.values()]
        sigma = pooled_seed_std(groups)
        means = [np.mean(g) for g in groups if g]
        spread = float(max(means) - min(means)) if means else None
        passed = None if sigma is None or spread is None else spread > 0 and spread >= SIGNAL_RATIO * sigma
        checks.append(
            Check(
                name=f"signal @{int(budget):,}",
                passed=passed,
                statement=f"the {OUTCOME}'s cell means spread over ≥ {SIGNAL_RATIO:g} seed std at "
                f"{int(budget):,} steps (observed here; the power was planned on the pilot's std, "
                f"{PROTOCOL.pilot_seed_std:.2f})",
                detail=("n/a" if spread is None else f"spread {spread:.1f} points")
                + ", pooled seed std "
                + ("n/a (one seed)" if sigma is None else f"{sigma:.2f}"),
                measures={"spread": spread, "seed_std": sigma},
            )
        )
    return checks


def _probe_fit_check(records: list[RunRecord], budgets: list[str]) -> list[Check]:
    """Every logistic-regression probe fit converged."""
    fits = [(r, b, t, e) for r in finished(records) for b in budgets for t, e in at(r, b).probing.items()]
    if not fits:
        return []
    failed = [f"{r.name} {t} @{b}" for r, b, t, e in fits if not e["converged"]]
    return [
        Check(
            name="probe fits converged",
            passed=not failed,
            statement="every logistic-regression probe reached its optimum (L-BFGS converged)",
            detail=f"{len(fits) - len(failed)} of {len(fits)} fits" + (f"; not: {', '.join(failed)}" if failed else ""),
        )
    ]


def power_check(primary: list[PrimaryTest]) -> list[Check]:
    """The planned power of each primary test (a design check: the design must have it before it runs)."""
    checks = []
    for test in primary:
        power = test.planned_power
        checks.append(
            Check(
                name=f"planned power: {test.hypothesis}",
                passed=power.all_budgets >= power.target,
                statement=f"power ≥ {power.target:g} to find a spread of {power.effect:g} points across the "
                f"levels of {HYPOTHESES[test.hypothesis]['factor']} at every budget, planned on the pilot's seed "
                f"std ({power.sigma:.2f} points), not on this run's",
                detail=f"{power.all_budgets:.3f} at every budget ({power.per_budget:.3f} per budget; "
                f"pilot budget correlation {power.budget_correlation:g}; ≥ {power.union_bound:.3f} whatever "
                f"the correlation), {test.seeds_per_cell} seeds × {test.cells} cells; detects "
                f"{test.detectable_spread or float('nan'):.1f} points with power {power.target:g}",
            )
        )
    return checks


__all__ = [
    "CONTROL_TASK",
    "HYPOTHESES",
    "OUTCOME",
    "budgets_of",
    "cells",
    "controls",
    "design_checks",
    "distance_analysis",
    "exploratory_anovas",
    "exploratory_correlations",
    "exploratory_effect_tests",
    "paper_form_tests",
    "power_check",
    "primary_tests",
]
