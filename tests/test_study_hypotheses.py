"""The study's pre-registered tests on synthetic runs with planted effects: verdicts at two budgets (supported,
budget-dependent, bounded null, not testable), Holm over the two primary hypotheses, the paper's correlational form
and its confound, the controls that can fail, the design checks and the distance analysis."""

import numpy as np
import pytest

from pe_bert.study import hypotheses
from pe_bert.study.protocol import PROTOCOL
from pe_bert.study.record_types import BudgetNumbers, RunRecord, ZeroShotProbe

from helpers import stub_run

WS, SS = (0.02, 0.1, 0.5, 2.0), (1.0, 0.5, 0.2)
BUDGETS = ("500", "1000")


def _numbers(outcome, locality, symmetry, tied=0, topic=60.0, share=0.6, n=1000, distances=None):
    probing = {
        "roles_far": {"accuracy": outcome, "tied": tied, "n_test": n, "converged": True, "min_twin_distance": 1e-2},
        "topic": {"accuracy": topic, "tied": 0, "n_test": n, "converged": True},
    }
    if distances:
        probing["roles_far"]["by_distance"] = distances
    return BudgetNumbers(
        probing=probing,
        outcome=outcome,
        pretrained_scores={"locality": locality, "symmetry": 0.6, "symmetry_mass": symmetry},
        position={"locality": locality, "symmetry_mass": symmetry},
        mlm={"1": {"share": share, "loss": 3.0, "applicable": True}},
    )


def _run(variant, seed, budgets: dict, pe="attenuated", overrides=None, trained=True):
    return stub_run(
        variant=variant, position_encoding=pe, overrides=overrides or {}, seed=seed, trained=trained, budgets=budgets
    )


def grid(effect_w, effect_s=0.0, seeds=2, noise=1.0, seed=0, late_effect_w=None, distance_effect=False):
    """Runs of the 4 x 3 grid whose outcome rises by `effect_w` points per level of w (at the second budget by
    `late_effect_w`, when given) and falls by `effect_s` per level of s, with seed noise; measured locality follows
    w, measured symmetry follows s."""
    rng = np.random.default_rng(seed)
    runs = []
    for i, w in enumerate(WS):
        for j, s in enumerate(SS):
            for k in range(seeds):
                budgets = {}
                for b, effect in zip(BUDGETS, (effect_w, effect_w if late_effect_w is None else late_effect_w)):
                    score = 70 + effect * i - effect_s * j + rng.normal(0, noise)
                    distances = None
                    if distance_effect:  # locality helps near dependencies, hurts far ones
                        near, far = 60 + 5 * i + rng.normal(0, noise), 80 - 5 * i + rng.normal(0, noise)
                        distances = {"3": {"accuracy": near, "n": 150}, "8": {"accuracy": far, "n": 150}}
                    budgets[b] = _numbers(score, 0.2 + 0.2 * i, 1.0 - 0.3 * j, distances=distances)
                runs.append(_run(f"attenuated-w{w:g}-s{s:g}", k, budgets, overrides={"locality_w": w, "symmetry_s": s}))
    return runs


def test_a_locality_effect_at_both_budgets_is_supported_and_a_null_symmetry_is_bounded():
    locality, symmetry = hypotheses.primary_tests(grid(effect_w=3.0))
    assert locality.verdict == "supported"
    for b in BUDGETS:
        entry = locality.budgets[b]
        assert entry.best == "2" and entry.worst == "0.02" and entry.interval[0] > 0
        assert entry.estimate == pytest.approx(9.0, abs=2.5)
        # Holm at m = 2 within each budget: the smaller p is doubled
        ps = [locality.budgets[b].p, symmetry.budgets[b].p]
        assert min(locality.budgets[b].p_holm, symmetry.budgets[b].p_holm) == pytest.approx(2 * min(ps))
    assert locality.p_holm == max(locality.budgets[b].p_holm for b in BUDGETS)  # significant at every budget
    assert symmetry.verdict == "bounded null"
    assert f"larger than {symmetry.budgets['500'].interval[1]:.1f} points at 500 steps" in symmetry.statement
    assert f"spread of {PROTOCOL.smallest_effect:g} points" in symmetry.statement
    # the power is planned from the pilot's std, not observed on the run
    power = symmetry.planned_power
    assert power.sigma == PROTOCOL.pilot_seed_std and power.union_bound == pytest.approx(
        max(0.0, 1 - 2 * (1 - power.per_budget))
    )
    assert power.union_bound <= power.all_budgets <= power.per_budget


def test_an_effect_at_one_budget_only_is_budget_dependent_and_says_which_way():
    fading = hypotheses.primary_tests(grid(effect_w=3.0, late_effect_w=0.0))[0]
    assert fading.verdict == "budget-dependent" and "fades with more pretraining" in fading.statement
    assert fading.budgets["500"].significant and not fading.budgets["1000"].significant
    emerging = hypotheses.primary_tests(grid(effect_w=0.0, late_effect_w=3.0))[0]
    assert emerging.verdict == "budget-dependent" and "appears only with more pretraining" in emerging.statement


def test_the_paper_form_correlates_cell_means_with_an_interval_and_a_sign():
    locality, symmetry = hypotheses.paper_form_tests(grid(effect_w=3.0))
    assert locality.cells == 12 and locality.verdict == "supported"
    entry = locality.budgets["1000"]
    assert entry.rho > 0.8 and entry.interval[0] < entry.rho < entry.interval[1]
    assert not entry.exact and entry.smallest_p == pytest.approx(2 / 10_000)
    assert symmetry.verdict == "bounded null"
    assert hypotheses.paper_form_tests(grid(effect_w=-3.0))[0].verdict == "contradicted"


def test_properties_that_move_together_make_both_correlations_confounded():
    runs = grid(effect_w=3.0)
    for r in runs:  # measured symmetry falls as locality rises (local attention is content-asymmetric)
        for numbers in r.budgets.values():
            numbers.pretrained_scores["symmetry_mass"] = 1.0 - numbers.pretrained_scores["locality"]
    tests = hypotheses.paper_form_tests(runs)
    assert [t.verdict for t in tests] == ["confounded", "confounded"]  # both rows, by code, the same way
    assert all("cannot be credited" in t.statement for t in tests)
    assert "confounded" not in [t.verdict for t in hypotheses.paper_form_tests(grid(effect_w=3.0))]


def test_designs_that_cannot_decide_say_so():
    one_seed = hypotheses.primary_tests(grid(effect_w=3.0, seeds=1))
    assert all(t.verdict == "not testable" for t in one_seed)
    assert "2 seeds per cell" in one_seed[0].statement
    # 4 cells: the smallest permutation p is 2/4! = 0.083, 0.17 after Holm, whatever the models do
    small = [
        r
        for r in grid(effect_w=3.0)
        if r.overrides["locality_w"] in (0.02, 2.0) and r.overrides["symmetry_s"] in (1.0, 0.2)
    ]
    correlation = hypotheses.paper_form_tests(small)[0]
    assert correlation.verdict == "not testable" and "0.0833" in correlation.statement
    constant = hypotheses.primary_tests(grid(effect_w=0.0, noise=0.0))
    assert constant[0].verdict == "not testable" and "does not vary" in constant[0].statement
    assert all(t.verdict == "not testable" for t in hypotheses.primary_tests([]))


def _zero_shot(**numbers) -> ZeroShotProbe:
    """A zero-shot probe's record with the given numbers (the others not measured)."""
    return ZeroShotProbe(**{name: None for name in ZeroShotProbe.stored_fields()} | numbers)


def _blind_and_control(blind_tied=1000, untrained_share=-0.3):
    blind = [
        _run("none", k, {b: _numbers(50.0, 0.2, 0.9, tied=blind_tied) for b in BUDGETS}, pe="none") for k in range(2)
    ]
    for r in blind:
        r.probe_zero_shot = {"shuffle-3": _zero_shot(ties=100, n_changed=100)}
    control = [
        _run("untrained-rope", k, {"0": _numbers(50.0, 0.2, 0.9, share=untrained_share)}, pe="rope", trained=False)
        for k in range(2)
    ]
    return blind, control


def test_controls_can_fail():
    runs = grid(effect_w=3.0)
    blind, control = _blind_and_control()
    checks = {c.name: c for c in hypotheses.controls(runs + blind + control, {}, {})}
    for name in ("order-blind control", "no ties with positions", "pretraining control", "zero-shot tie control"):
        assert checks[name].passed, name
    # one twin pair of `none` told apart: not order-blind; one tie of a model with positions: fails too
    blind[0].budgets["500"].probing["roles_far"].update(accuracy=50.1, tied=990)
    runs[0].budgets["1000"].probing["roles_far"]["tied"] = 2
    checks = {c.name: c for c in hypotheses.controls(runs + blind + control, {}, {})}
    assert not checks["order-blind control"].passed and not checks["no ties with positions"].passed
    # the pretraining control fails for a run that did not learn, and when the untrained model would pass it
    runs = grid(effect_w=3.0)
    runs[3].budgets["500"].mlm["1"]["share"] = PROTOCOL.pretraining_share_min / 2
    assert not {c.name: c for c in hypotheses.controls(runs + blind + control, {}, {})}["pretraining control"].passed
    blind, control = _blind_and_control(untrained_share=0.9)
    checks = {c.name: c for c in hypotheses.controls(grid(effect_w=3.0) + blind + control, {}, {})}
    assert (
        not checks["pretraining control"].passed
        and "untrained-rope/seed0 90.0 %" in checks["pretraining control"].detail
    )
    no_control = {c.name: c for c in hypotheses.controls(grid(effect_w=3.0) + blind, {}, {})}["pretraining control"]
    assert not no_control.passed and "no untrained model" in no_control.detail


def _variants(runs):
    from pe_bert.study.records import aggregate

    return aggregate(runs, [])


def test_design_checks_report_manipulation_shortcut_saturation_signal_and_power():
    runs = grid(effect_w=3.0)
    design = {
        "passed": False,
        "seq_len": 24,
        "max_cross_effect": 0.05,
        "min_side_decay_nats": 1.0,
        "s_moves_locality": {"2": 0.2},
        "w_moves_symmetry": {"1": 0.0},
        "w_moves_locality": {"1": 0.6},
        "s_moves_symmetry": {"2": 0.6},
        "weakest_side_decay_nats": 0.0,
    }
    baselines = {"roles_far": {"accuracy": 0.5, "tied": 1000, "n_test": 1000}, "roles": {"accuracy": 0.93}}
    checks = {c.name: c for c in hypotheses.design_checks(runs, _variants(runs), design, baselines, ["roles_far"])}
    assert (
        not checks["manipulation (identical tokens)"].passed
        and "0.200 (w = 2)" in checks["manipulation (identical tokens)"].detail
    )
    assert checks["no local shortcut: roles_far"].passed and "no local shortcut: roles" not in checks
    assert checks["not saturated: roles_far @1,000"].passed
    signal = checks["signal @500"]
    assert signal.passed and signal.measures["spread"] > 3 * signal.measures["seed_std"]
    baselines["roles_far"]["accuracy"] = 0.79  # a bag of bigrams solves it: the outcome rewards a local prior
    checks = {c.name: c for c in hypotheses.design_checks(runs, _variants(runs), design, baselines, ["roles_far"])}
    assert not checks["no local shortcut: roles_far"].passed
    power = {c.name: c for c in hypotheses.power_check(hypotheses.primary_tests(runs))}
    assert set(power) == {"planned power: locality", "planned power: symmetry"}
    assert "planned on the pilot's seed std" in power["planned power: locality"].statement


def test_the_distance_analysis_finds_where_locality_helps_and_where_it_hurts():
    rows = hypotheses.distance_analysis(grid(effect_w=0.0, distance_effect=True), ["roles_far"])
    near, far = rows
    assert near.distance == [3, 3] and far.distance == [8, 8] and near.examples == 150
    assert near.most_local_minus_least_local == pytest.approx(15.0, abs=3.0) and near.p_holm < 0.05
    assert far.most_local_minus_least_local == pytest.approx(-15.0, abs=3.0) and far.p_holm < 0.05
    assert hypotheses._distance_bins({2: 30, 3: 80, 4: 120, 5: 10}) == [(2, 3), (4, 5)]


def test_zero_shot_sign_tests_count_sentences_not_seeds():
    """Two seeds scoring the same 3 sentences: each sentence is one observation (its outcomes averaged)."""
    seed0 = _zero_shot(sentences=[0, 1, 2], outcomes=[1, 1, -1])
    seed1 = _zero_shot(sentences=[0, 1, 2], outcomes=[1, -1, -1])
    assert hypotheses.sentence_sign_counts([seed0, seed1]) == (1, 1, 1)  # wins, losses, ties


def test_a_stored_record_with_other_fields_is_refused_naming_them():
    """from_dict reads only what to_dict writes: a results.json of another version fails loudly, not as n/a."""
    from pe_bert.errors import InvalidInputError
    from pe_bert.study.record_types import VariantSummary
    from pe_bert.study.sections import Check

    run = grid(effect_w=3.0, seeds=1)[0]
    stored = run.to_dict()
    assert RunRecord.from_dict(stored) == run
    missing = {k: v for k, v in stored.items() if k != "outcome"}
    with pytest.raises(
        InvalidInputError, match=r"RunRecord: missing field\(s\) \['outcome'\], unknown field\(s\) \[\]"
    ):
        RunRecord.from_dict(missing)
    stored["budgets"]["500"]["accuracy"] = 70.0
    with pytest.raises(InvalidInputError, match=r"BudgetNumbers: .*unknown field\(s\) \['accuracy'\]"):
        RunRecord.from_dict(stored)
    variant = _variants(grid(effect_w=3.0))["attenuated-w0.02-s1"].to_dict()
    del variant["symmetry_mass"]  # an attention score is a field of its own in results.json
    with pytest.raises(InvalidInputError, match=r"VariantSummary: missing field\(s\) \['symmetry_mass'\]"):
        VariantSummary.from_dict(variant)
    with pytest.raises(InvalidInputError, match="expected a dict"):
        RunRecord.from_dict([stored])
    with pytest.raises(InvalidInputError, match=r"Check: missing field\(s\) \['statement', 'detail'\]"):
        Check.from_dict({"name": "floors", "passed": True})


def test_a_stored_test_or_row_with_other_fields_is_refused_naming_them():
    """The pre-registered tests, their entries per budget, the secondary and exploratory rows and the grid's cells
    read back only what to_dict wrote, as the run records do."""
    from pe_bert.errors import InvalidInputError
    from pe_bert.study import statistics
    from pe_bert.study.hypothesis_records import PaperFormTest, PrimaryTest, Secondary, effect_test
    from pe_bert.study.sections import CellMeasures, GridCell

    runs = grid(effect_w=3.0)
    primary = hypotheses.primary_tests(runs)[0]
    assert PrimaryTest.from_dict(primary.to_dict()) == primary
    stored = primary.to_dict()
    stored["budgets"]["500"]["rho"] = 0.5  # a correlation's number in an ANOVA's entry
    with pytest.raises(InvalidInputError, match=r"AnovaAtBudget: .*unknown field\(s\) \['rho'\]"):
        PrimaryTest.from_dict(stored)
    stored = primary.to_dict()
    del stored["planned_power"]["target"]
    with pytest.raises(InvalidInputError, match=r"PlannedPower: missing field\(s\) \['target'\]"):
        PrimaryTest.from_dict(stored)
    untested = hypotheses.primary_tests(grid(effect_w=3.0, seeds=1))[0]
    stored = untested.to_dict()
    assert PrimaryTest.from_dict(stored) == untested and "2 seeds per cell" in untested.budgets["500"].reason
    del stored["budgets"]["500"]["significant"]
    with pytest.raises(InvalidInputError, match=r"UntestedAtBudget: missing field\(s\) \['significant'\]"):
        PrimaryTest.from_dict(stored)
    paper = hypotheses.paper_form_tests(runs)[0]
    stored = paper.to_dict()
    assert PaperFormTest.from_dict(stored) == paper
    del stored["smallest_p"]
    with pytest.raises(InvalidInputError, match=r"PaperFormTest: missing field\(s\) \['smallest_p'\]"):
        PaperFormTest.from_dict(stored)
    secondary = Secondary(distance=hypotheses.distance_analysis(grid(0.0, distance_effect=True), ["roles_far"]))
    stored = secondary.to_dict()
    assert Secondary.from_dict(stored) == secondary
    stored["distance"][0]["n"] = 150
    with pytest.raises(InvalidInputError, match=r"DistanceRow: .*unknown field\(s\) \['n'\]"):
        Secondary.from_dict(stored)
    with pytest.raises(InvalidInputError, match=r"unknown kind 'perplexity'; the kinds are \['zero_shot_pll_prefer"):
        effect_test({"kind": "perplexity", "variant": "none"})
    measures = CellMeasures(**{name: statistics.summarize([1.0, 2.0]) for name in CellMeasures.stored_fields()})
    cell = GridCell(w=0.5, s=1.0, variants=["attenuated-w0.5-s1"], final=measures, budgets={"500": measures})
    stored = cell.to_dict()
    assert list(stored) == ["w", "s", "variants", *CellMeasures.stored_fields(), "budgets"]
    assert GridCell.from_dict(stored) == cell
    del stored["position_locality"]  # a final measure is a field of its own in results.json
    with pytest.raises(InvalidInputError, match=r"GridCell: missing field\(s\) \['position_locality'\]"):
        GridCell.from_dict(stored)
