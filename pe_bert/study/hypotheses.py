"""The science of the study: what it tests, how, and what it may conclude (the paper's claim 2, "locality and
symmetry correlate with downstream performance").

Pre-registered before any model is trained (docs/study.md gives the design's power):

* **Primary outcome** — the word-order score: the mean accuracy, in points, of the two order-sensitive
  frozen-feature probes (`order`, `roles`). Its ceiling is 100; a model without position information scores
  exactly 50 by construction.
* **Exactly two primary hypotheses**, Holm-corrected at m = 2: H1 locality and H2 symmetry affect the primary
  outcome. Each is tested on the intervention, the attenuated prior's grid: a two-way ANOVA of the outcome on the
  locality knob w and the symmetry knob s, seeds as replicates (H1: the main effect of w; H2: of s).
* **The paper's correlational form**, its own Holm family of two: Spearman's ρ between a grid cell's measured
  locality (resp. symmetry, the well-behaved mass variant) of attention on held-out sentences and its outcome, over
  the cell means, with a permutation p-value.
* Everything else is exploratory: the correlation over every variant (anchors included), each probe task and the
  masked-token share on their own, the identical-token (PE-only) properties.

Verdicts: **supported** (corrected p < α; for a correlation, "contradicted" when its sign is negative), **bounded
null** (not significant: the upper end of the effect's 95 % interval is the largest effect the data allow), **not
testable** (the design cannot reach p < α after correction whatever the models do, or the test is undefined).
"""

from __future__ import annotations

import math

import numpy as np

from . import statistics as st

ATTENUATED = "attenuated"
OUTCOME = "word-order score"
OUTCOME_TASKS = ("order", "roles")
CONTROL_TASK = "topic"
ORDER_BLIND_VARIANT = "none"
ORDER_BLIND_SCORE = 50.0  # points: what a model without positions scores on a twin task, exactly
CEILING = 100.0
SATURATION_MARGIN = 3.0  # points below the ceiling the best variant must stay
SIGNAL_RATIO = 3.0  # spread of the grid's cell means over the pooled seed std
FAMILY_SIZE = 2
POWER_TARGET = 0.8
CONFOUNDED = 0.7  # |ρ| between the measured properties across cells beyond which the correlational form is confounded
HYPOTHESES = {
    "locality": {
        "factor": "w",
        "knob": "locality_w",
        "property": "locality",
        "claim": "Locality affects the word-order score",
    },
    "symmetry": {
        "factor": "s",
        "knob": "symmetry_s",
        "property": "symmetry_mass",
        "claim": "Symmetry affects the word-order score",
    },
}


def finished(records: list[dict]) -> list[dict]:
    """The pretrained runs that finished (untrained controls are checked on their own)."""
    return [r for r in records if not r["failure"] and r["trained"]]


def level(value: float) -> str:
    """A knob's level as it is written in labels and tables."""
    return f"{value:g}"


def grid_runs(records: list[dict]) -> list[dict]:
    """The finished runs of the attenuated grid (the intervention), each with its (w, s) cell."""
    return [
        r
        for r in finished(records)
        if r["position_encoding"] == ATTENUATED and "locality_w" in r["overrides"] and "symmetry_s" in r["overrides"]
    ]


def cells(records: list[dict]) -> dict[tuple[float, float], list[dict]]:
    """Grid runs grouped by cell (w, s), in the order of the grid."""
    grouped: dict[tuple[float, float], list[dict]] = {}
    for r in grid_runs(records):
        grouped.setdefault((r["overrides"]["locality_w"], r["overrides"]["symmetry_s"]), []).append(r)
    return grouped


def _values(runs: list[dict], getter) -> list[float]:
    values = [getter(r) for r in runs]
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def pooled_seed_std(groups: list[list[float]]) -> float | None:
    """Within-group (seed) standard deviation pooled over groups (None without replicates)."""
    squares = sum(((np.asarray(g) - np.mean(g)) ** 2).sum() for g in groups if len(g) > 1)
    df = sum(len(g) - 1 for g in groups if len(g) > 1)
    return float(math.sqrt(squares / df)) if df else None


# ------------------------------------------------------------------------------------------------ primary tests


def minimum_detectable_spread(levels: tuple[int, int], seeds: int, sigma: float) -> float | None:
    """The spread of a factor's level means that the ANOVA detects with POWER_TARGET at the first Holm step."""
    if not sigma or seeds < 2:
        return None
    low, high = 0.0, 20 * sigma
    for _ in range(14):
        middle = (low + high) / 2
        if st.anova_power(levels, seeds, middle, sigma, simulations=1000) >= POWER_TARGET:
            high = middle
        else:
            low = middle
    return high


def primary_tests(records: list[dict]) -> list[dict]:
    """H1 and H2 on the intervention: two-way ANOVA of the outcome on w and s, Holm over the two."""
    grouped = cells(records)
    rows = [(level(w), level(s), r["outcome"]) for (w, s), runs in grouped.items() for r in runs]
    outcomes = [y for *_, y in rows if y is not None]
    levels = (len({w for w, _ in grouped}), len({s for _, s in grouped}))
    seeds = min((len(runs) for runs in grouped.values()), default=0)
    designed = min(levels) >= 2 and seeds >= 2
    constant = designed and max(outcomes) - min(outcomes) < 1e-9
    anova = st.two_way_anova(rows, ("w", "s")) if designed and not constant else None
    tests = []
    for name, h in HYPOTHESES.items():
        test = {
            "hypothesis": name,
            "claim": h["claim"],
            "kind": "primary",
            "test": f"two-way ANOVA of the {OUTCOME} on w × s, main effect of {h['factor']}",
            "cells": len(grouped),
            "seeds_per_cell": seeds,
        }
        entry = anova.get(h["factor"]) if anova else None
        if entry is None:
            test.update(
                {
                    "p": None,
                    "estimate": None,
                    "interval": None,
                    "smallest_p": None,
                    "reason": f"every run scores {outcomes[0]:g}: the outcome does not vary"
                    if constant
                    else "needs the attenuated grid with at least 2 values of w and of s and 2 seeds per cell",
                }
            )
        else:
            own_levels = levels if h["factor"] == "w" else levels[::-1]
            test.update(
                {
                    "F": entry["F"],
                    "df": [entry["df"], anova["residual_df"]],
                    "p": entry["p"],
                    "estimate": entry["spread"],
                    "interval": entry["spread_ci95"],
                    "means": entry["means"],
                    "best": entry["best"],
                    "worst": entry["worst"],
                    "interaction_p": anova["interaction"]["p"],
                    "smallest_p": 0.0,
                    "residual_std": math.sqrt(anova["mse"]),
                    "detectable_spread": minimum_detectable_spread(own_levels, seeds, math.sqrt(anova["mse"])),
                }
            )
        tests.append(test)
    return _correct(tests)


def paper_form_tests(records: list[dict], prefix: str = "") -> list[dict]:
    """The paper's correlational form: Spearman ρ of measured property vs outcome over the grid's cell means, with
    a permutation p-value and a bootstrap interval over seeds within cells; Holm over the two."""
    grouped = cells(records)
    cell_means = {
        prop: [
            np.mean(_values(runs, lambda r, p=prop: r["pretrained_scores"].get(p)) or [np.nan])
            for runs in grouped.values()
        ]
        for prop in (h["property"] for h in HYPOTHESES.values())
    }
    confound = st.spearman(*cell_means.values()) if all(np.isfinite(v).all() for v in cell_means.values()) else None
    tests = []
    for name, h in HYPOTHESES.items():
        prop = h["property"]
        per_cell_x = [_values(runs, lambda r, p=prop: r["pretrained_scores"].get(p)) for runs in grouped.values()]
        per_cell_y = [_values(runs, lambda r: r["outcome"]) for runs in grouped.values()]
        kept = [(x, y) for x, y in zip(per_cell_x, per_cell_y) if x and y]
        xs, ys = [float(np.mean(x)) for x, _ in kept], [float(np.mean(y)) for _, y in kept]
        result = st.spearman_test(xs, ys)
        tests.append(
            {
                "hypothesis": name,
                "claim": h["claim"].replace("affects", "correlates with"),
                "kind": "paper's form",
                "test": f"Spearman ρ of measured {prop.replace('_', ' ')} vs the "
                f"{OUTCOME} over {len(kept)} cell means, permutation p",
                "cells": len(kept),
                "estimate": result["rho"],
                "p": result["p"],
                "smallest_p": result["smallest_p"],
                "exact": result["exact"],
                "interval": st.cell_bootstrap_ci([x for x, _ in kept], [y for _, y in kept]),
                "properties_rho": confound,
                "reason": None if result["rho"] is not None else "needs at least 3 grid cells with a spread",
            }
        )
    tests = _correct(tests)
    if confound is not None and abs(confound) >= CONFOUNDED:
        for test in tests:
            test["statement"] += (
                f" Caution: measured locality and symmetry are themselves correlated across the "
                f"cells (ρ = {confound:.2f}), so this form cannot tell the two properties apart; "
                "the intervention (the primary tests) can."
            )
    return tests


def _correct(tests: list[dict]) -> list[dict]:
    """Holm over the family, then each test's verdict."""
    for test, adjusted in zip(tests, st.holm([t["p"] for t in tests])):
        test["p_holm"] = adjusted
        test["verdict"], test["statement"] = verdict(test, len(tests))
    return tests


def verdict(test: dict, family: int) -> tuple[str, str]:
    """(verdict, one sentence saying what the test found or rules out)."""
    correlation = test["kind"] != "primary"
    if test["p"] is None:
        return "not testable", f"Not testable: {test.get('reason') or 'the test is undefined on these runs'}."
    if test["smallest_p"] is not None and min(1.0, family * test["smallest_p"]) >= st.ALPHA:
        return "not testable", (
            f"Not testable: the smallest p this design can give is {test['smallest_p']:.3g}, "
            f"{family * test['smallest_p']:.3g} after Holm (≥ {st.ALPHA}) whatever the models do."
        )
    low, high = test["interval"] or (None, None)
    if test["p_holm"] < st.ALPHA:
        if correlation:
            word = "supported" if test["estimate"] > 0 else "contradicted"
            return word, (
                f"ρ = {test['estimate']:.2f}: {'more' if test['estimate'] > 0 else 'less'} "
                f"{test['hypothesis']} goes with a higher {OUTCOME} (Holm p = {test['p_holm']:.2g})."
            )
        return "supported", (
            f"The {OUTCOME} depends on {HYPOTHESES[test['hypothesis']]['factor']}: best at "
            f"{HYPOTHESES[test['hypothesis']]['factor']} = {test['best']}, worst at {test['worst']}, "
            f"{test['estimate']:.1f} points apart [{low:.1f}, {high:.1f}] (Holm p = "
            f"{test['p_holm']:.2g})."
        )
    if correlation:
        bound = None if low is None else max(abs(low), abs(high))
        excluded = (
            f"a correlation stronger than |ρ| = {bound:.2f} is excluded (95 %)"
            if bound is not None
            else "no interval could be formed"
        )
        return "bounded null", f"Not significant (Holm p = {test['p_holm']:.2g}): {excluded}."
    detectable = test.get("detectable_spread")
    power = f"; the design detects a spread of {detectable:.1f} points with 80 % power" if detectable else ""
    return "bounded null", (
        f"Not significant (Holm p = {test['p_holm']:.2g}): a spread larger than {high:.1f} points "
        f"across the levels of {HYPOTHESES[test['hypothesis']]['factor']} is excluded "
        f"(95 %){power}."
    )


# ------------------------------------------------------------------------------------------------ exploratory


def exploratory_correlations(records: list[dict]) -> list[dict]:
    """Spearman ρ of each measured property vs the outcome over every variant's seed mean (anchors included);
    labelled exploratory. Measured on sentences and on identical tokens (the PE alone)."""
    by_variant: dict[str, list[dict]] = {}
    for r in finished(records):
        by_variant.setdefault(r["variant"], []).append(r)
    rows = []
    for source, key in (("sentences", "pretrained_scores"), ("identical tokens", "position")):
        for prop in ("locality", "symmetry_mass", "symmetry"):
            per_x = [_values(runs, lambda r, k=key, p=prop: (r.get(k) or {}).get(p)) for runs in by_variant.values()]
            per_y = [_values(runs, lambda r: r["outcome"]) for runs in by_variant.values()]
            kept = [(x, y, label) for x, y, label in zip(per_x, per_y, by_variant) if x and y]
            result = st.spearman_test([float(np.mean(x)) for x, _, _ in kept], [float(np.mean(y)) for _, y, _ in kept])
            rows.append(
                {
                    "property": prop,
                    "measured_on": source,
                    "variants": [label for *_, label in kept],
                    "rho": result["rho"],
                    "p": result["p"],
                    "smallest_p": result["smallest_p"],
                    "interval": st.cell_bootstrap_ci([x for x, _, _ in kept], [y for _, y, _ in kept]),
                }
            )
    for row, adjusted in zip(rows, st.holm([r["p"] for r in rows])):
        row["p_holm"] = adjusted
    return rows


def exploratory_anovas(records: list[dict]) -> list[dict]:
    """The same two-way ANOVA on each probe task, the masked-token share and the measured properties."""
    grouped = cells(records)
    measures = {
        **{
            f"probe: {t}": (lambda r, t=t: (r["probing"].get(t) or {}).get("accuracy"))
            for t in sorted({t for runs in grouped.values() for r in runs for t in r["probing"]})
        },
        "masked-token share (points)": lambda r: (
            None if (r["mlm"].get("1") or {}).get("share") is None else 100 * r["mlm"]["1"]["share"]
        ),
        "locality (sentences)": lambda r: r["pretrained_scores"].get("locality"),
        "symmetry, mass (sentences)": lambda r: r["pretrained_scores"].get("symmetry_mass"),
        "locality (identical tokens)": lambda r: (r.get("position") or {}).get("locality"),
        "symmetry, mass (identical tokens)": lambda r: (r.get("position") or {}).get("symmetry_mass"),
    }
    out = []
    for name, getter in measures.items():
        rows = [(level(w), level(s), getter(r)) for (w, s), runs in grouped.items() for r in runs]
        anova = st.two_way_anova(rows, ("w", "s"))
        if anova is None:
            continue
        out.append(
            {
                "measure": name,
                "w_p": anova["w"]["p"],
                "s_p": anova["s"]["p"],
                "interaction_p": anova["interaction"]["p"],
                "w_means": anova["w"]["means"],
                "s_means": anova["s"]["means"],
            }
        )
    return out


def _per_seed(records: list[dict], label: str, getter) -> dict[int, float]:
    values = {}
    for r in finished(records):
        if r["variant"] != label:
            continue
        value = getter(r)
        if value is not None and math.isfinite(value):
            values[r["seed"]] = value
    return values


def exploratory_effect_tests(records: list[dict], variants: dict) -> list[dict]:
    """Exploratory tests of probe and length effects, Holm-corrected within each family (kind):

    * zero-shot PLL preference: a two-sided sign test of the pairs whose original wins against those it loses, over
      the pairs of every seed pooled; ties (equal PLL, all a model without positions gives) are dropped and counted;
    * NLI probe Δ ≠ 0: one-sample t-test over seeds;
    * change of masked-token loss at k× the pretraining length: paired t-test over seeds.
    """
    tests = []
    for label, v in variants.items():
        for p in v["zero_shot_pll_preference"]:
            entries = [
                r["probe_zero_shot"][p]
                for r in finished(records)
                if r["variant"] == label and r["probe_zero_shot"].get(p, {}).get("wins") is not None
            ]
            counts = [sum(e[k] for e in entries) for k in ("wins", "losses", "ties")]
            tests.append(
                {
                    "kind": "zero_shot_pll_preference",
                    "variant": label,
                    "perturbation": p,
                    "null": 50.0,
                    "summary": v["zero_shot_pll_preference"][p],
                    **st.sign_test(*counts),
                }
            )
        for p in v["probe_nli_deltas"]:
            values = list(_per_seed(records, label, lambda r, p=p: r["probe_nli"]["deltas"].get(p)).values())
            tests.append(
                {
                    "kind": "probe_nli_delta",
                    "variant": label,
                    "perturbation": p,
                    "null": 0.0,
                    "summary": v["probe_nli_deltas"][p],
                    "p": st.one_sample_t_p(values, 0.0),
                }
            )
        multiples = [m for m, e in v["mlm"].items() if e["applicable"]]
        for m in multiples[1:]:
            base = _per_seed(records, label, lambda r, first=multiples[0]: (r["mlm"].get(first) or {}).get("loss"))
            longer = _per_seed(records, label, lambda r, m=m: (r["mlm"].get(m) or {}).get("loss"))
            differences = [longer[s] - base[s] for s in sorted(set(base) & set(longer))]
            tests.append(
                {
                    "kind": "length_loss_change",
                    "variant": label,
                    "multiple": m,
                    "null": 0.0,
                    "summary": st.summarize(differences),
                    "p": st.one_sample_t_p(differences, 0.0),
                }
            )
    for kind in dict.fromkeys(t["kind"] for t in tests):
        family = [t for t in tests if t["kind"] == kind]
        for test, adjusted in zip(family, st.holm([t["p"] for t in family])):
            test["p_holm"] = adjusted
    return tests


# ------------------------------------------------------------------------------------------------ controls and design


def controls(records: list[dict], variants: dict, floors: dict) -> list[dict]:
    """Checks that hold by construction or that make the other numbers interpretable, each with its verdict."""
    from scipy.stats import binomtest

    from ..data.probing import PROBING_TASKS

    checks = []
    blind = [r for r in finished(records) if r["variant"] == ORDER_BLIND_VARIANT]
    twin_tasks = [t for t in OUTCOME_TASKS if any(t in r["probing"] for r in blind)]
    if blind and twin_tasks:
        entries = [(r["seed"], t, r["probing"][t]) for r in blind for t in twin_tasks if t in r["probing"]]
        exact = all(e["accuracy"] == ORDER_BLIND_SCORE and e["tied"] == e["n_test"] for _, _, e in entries)
        checks.append(
            {
                "name": "order-blind control",
                "passed": exact,
                "statement": f"`{ORDER_BLIND_VARIANT}` (no position information) scores exactly "
                f"{ORDER_BLIND_SCORE:g} on every twin task, every twin pair tied",
                "detail": "; ".join(
                    f"seed {seed} {t}: {e['accuracy']:g} ({e['tied']}/{e['n_test']} tied)" for seed, t, e in entries
                ),
            }
        )
    topic = [(r, r["probing"][CONTROL_TASK]) for r in finished(records) if CONTROL_TASK in r["probing"]]
    if topic:
        chance = 1 / PROBING_TASKS[CONTROL_TASK].num_labels
        p = [
            binomtest(round(e["accuracy"] / 100 * e["n_test"]), e["n_test"], chance, alternative="greater").pvalue
            for _, e in topic
        ]
        adjusted = st.holm([float(v) for v in p])
        low = min(topic, key=lambda item: item[1]["accuracy"])
        checks.append(
            {
                "name": "content control",
                "passed": max(adjusted) < st.ALPHA,
                "statement": f"every run reads the {CONTROL_TASK} (order-free, decided by the nouns) from its "
                f"frozen representations above chance ({100 * chance:.1f}), binomial test, Holm "
                "over runs",
                "detail": f"lowest: {low[0]['variant']}/seed{low[0]['seed']} "
                f"{low[1]['accuracy']:.1f}; largest Holm p "
                f"{max(adjusted):.2g}",
            }
        )
    zero_shot = [e for r in blind for e in r["probe_zero_shot"].values() if e.get("ties") is not None]
    if zero_shot:
        checks.append(
            {
                "name": "zero-shot tie control",
                "passed": all(e["ties"] == e["n_changed"] for e in zero_shot),
                "statement": f"`{ORDER_BLIND_VARIANT}` gives every original and its perturbation the same "
                "pseudo-log-likelihood (a tie, not a win)",
                "detail": f"{sum(e['ties'] for e in zero_shot)} of {sum(e['n_changed'] for e in zero_shot)} pairs tied",
            }
        )
    first = next(iter(floors), None)
    if first is not None and floors[first].get("bayes_loss") is not None:
        ok = {k: v for k, v in variants.items() if v["seeds"]}
        losses = {
            k: v["mlm"][first]["loss"]["mean"]
            for k, v in ok.items()
            if v["mlm"].get(first, {}).get("applicable") and v["mlm"][first]["loss"]["mean"] is not None
        }
        bayes, unigram = floors[first]["bayes_loss"], floors[first]["unigram_loss"]
        checks.append(
            {
                "name": "floors",
                "passed": all(loss >= bayes for loss in losses.values()),
                "statement": "every masked-token loss lies above the Bayes-optimal floor (a check of the floors "
                "themselves: no model can beat it)",
                "detail": f"Bayes {bayes:.3f} ≤ losses {min(losses.values(), default=math.nan):.3f}–"
                f"{max(losses.values(), default=math.nan):.3f}; unigram {unigram:.3f}",
            }
        )
    return checks


def design_checks(records: list[dict], variants: dict) -> list[dict]:
    """What the design needs to be able to decide: the knobs move the properties (manipulation), the outcome is not
    saturated, the grid's cells differ by more than seed noise, and every probe fit converged."""
    checks = []
    grouped = cells(records)
    if grouped:
        for h in HYPOTHESES.values():
            prop = h["property"]
            means = {
                key: np.mean(_values(runs, lambda r, p=prop: r["pretrained_scores"].get(p)) or [np.nan])
                for key, runs in grouped.items()
            }
            position = {
                key: np.mean(_values(runs, lambda r, p=prop: (r.get("position") or {}).get(p)) or [np.nan])
                for key, runs in grouped.items()
            }
            knob = 0 if h["factor"] == "w" else 1
            by_level = {}
            for key, value in position.items():
                by_level.setdefault(level(key[knob]), []).append(value)
            checks.append(
                {
                    "name": f"manipulation: {prop.replace('_', ' ')}",
                    "passed": None,
                    "statement": f"measured {prop.replace('_', ' ')} across the grid's cells",
                    "detail": f"on sentences {np.nanmin(list(means.values())):.3f}–"
                    f"{np.nanmax(list(means.values())):.3f}; "
                    f"on identical tokens (the PE alone) {np.nanmin(list(position.values())):.3f}–"
                    f"{np.nanmax(list(position.values())):.3f}, by {h['factor']}: "
                    + ", ".join(f"{lv} → {np.nanmean(v):.3f}" for lv, v in by_level.items()),
                    "range_sentences": [float(np.nanmin(list(means.values()))), float(np.nanmax(list(means.values())))],
                    "range_identical_tokens": [
                        float(np.nanmin(list(position.values()))),
                        float(np.nanmax(list(position.values()))),
                    ],
                }
            )
    for task in OUTCOME_TASKS:
        scores = {
            label: v["probing"][task]["mean"]
            for label, v in variants.items()
            if v["seeds"] and task in v["probing"] and v["probing"][task]["mean"] is not None
        }
        if scores:
            best = max(scores, key=scores.get)
            checks.append(
                {
                    "name": f"not saturated: {task}",
                    "passed": scores[best] <= CEILING - SATURATION_MARGIN,
                    "statement": f"the best variant stays ≥ {SATURATION_MARGIN:g} points below the ceiling "
                    f"({CEILING:g}) on {task}",
                    "detail": f"best: {best} {scores[best]:.1f}",
                }
            )
    if grouped:
        groups = [_values(runs, lambda r: r["outcome"]) for runs in grouped.values()]
        sigma = pooled_seed_std(groups)
        means = [np.mean(g) for g in groups if g]
        spread = float(max(means) - min(means)) if means else None
        passed = None if sigma is None or spread is None else spread > 0 and spread >= SIGNAL_RATIO * sigma
        checks.append(
            {
                "name": "signal",
                "passed": passed,
                "statement": f"the {OUTCOME}'s cell means spread over ≥ {SIGNAL_RATIO:g} seed std",
                "detail": f"spread {spread:.1f} points, pooled seed std "
                + ("n/a (one seed)" if sigma is None else f"{sigma:.2f}"),
                "spread": spread,
                "seed_std": sigma,
            }
        )
    fits = [(r, t, e) for r in finished(records) for t, e in r["probing"].items()]
    if fits:
        failed = [f"{r['variant']}/seed{r['seed']} {t}" for r, t, e in fits if not e["converged"]]
        checks.append(
            {
                "name": "probe fits converged",
                "passed": not failed,
                "statement": "every logistic-regression probe reached its optimum (L-BFGS converged)",
                "detail": f"{len(fits) - len(failed)} of {len(fits)} fits"
                + (f"; not: {', '.join(failed)}" if failed else ""),
            }
        )
    return checks


__all__ = [
    "CONTROL_TASK",
    "HYPOTHESES",
    "OUTCOME",
    "OUTCOME_TASKS",
    "cells",
    "controls",
    "design_checks",
    "exploratory_anovas",
    "exploratory_correlations",
    "exploratory_effect_tests",
    "outcome",
    "paper_form_tests",
    "primary_tests",
]
