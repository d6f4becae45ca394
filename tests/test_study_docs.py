"""The study's numbers in README.md and docs/study.md come from committed artifacts through a script: the
reference run (docs/reference/results.json) is the confirmatory run of the current protocol, its verdicts are what
the code computes from its own runs, and every generated block of the docs matches its artifact."""

import json
from pathlib import Path

import pytest

from pe_bert.study import docs, hypotheses
from pe_bert.study.hypothesis_records import paper_form_tests_of, primary_tests_of
from pe_bert.study.protocol import PROTOCOL, protocol_digest
from pe_bert.study.record_types import runs_of

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = json.loads((ROOT / docs.REFERENCE).read_text())


def test_every_generated_block_matches_its_artifact():
    stale = docs.update(ROOT, check=True)
    assert not stale, f"run `python -m pe_bert.study.docs` (stale: {stale})"


def test_the_reference_is_the_confirmatory_run_of_the_current_protocol():
    protocol = REFERENCE["protocol"]
    assert protocol["kind"] == "confirmatory" and not protocol["deviations"]
    assert protocol["version"] == PROTOCOL.version and protocol["sha256"] == protocol_digest()
    assert REFERENCE["config"]["seeds"] == list(PROTOCOL.seeds)
    assert REFERENCE["budgets"] == [m * PROTOCOL.pretrain_steps for m in PROTOCOL.budget_multiples]


@pytest.mark.parametrize(
    "family, stored_of", [("primary_tests", primary_tests_of), ("paper_form_tests", paper_form_tests_of)]
)
def test_the_references_verdicts_are_what_the_code_computes_from_its_runs(family, stored_of):
    tests = getattr(hypotheses, family)(runs_of(REFERENCE))
    stored = stored_of(REFERENCE)
    assert [t.verdict for t in tests] == [t.verdict for t in stored]
    assert [t.statement for t in tests] == [t.statement for t in stored]
    for test, kept in zip(tests, stored):
        for budget, entry in test.budgets.items():
            assert entry.p_holm == pytest.approx(kept.budgets[budget].p_holm, rel=1e-9)


def test_the_protocols_pilot_values_are_the_pilots():
    """What the protocol took from the pilot is what the committed pilot artifacts say."""
    import math

    lr = json.loads((ROOT / docs.PILOT_LR).read_text())
    plan = json.loads((ROOT / docs.PILOT_DESIGN).read_text())["planning"]
    assert PROTOCOL.learning_rate == lr["chosen"]
    assert PROTOCOL.pilot_seed_std == math.ceil(10 * max(plan["seed_std"].values())) / 10
    assert PROTOCOL.pilot_budget_correlation == round(plan["budget_correlation"], 2)
    pilot = json.loads((ROOT / docs.PILOT_DESIGN).read_text())
    assert pilot["config"]["seeds"] == list(PROTOCOL.pilot_seeds) and pilot["protocol"]["kind"] == "pilot"


def test_a_changed_number_is_caught(tmp_path):
    """A block edited by hand (or left behind by a new reference) fails the check, naming the block."""
    for file in docs.FILES:
        (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / file).write_text((ROOT / file).read_text())
    for artifact in (docs.REFERENCE, docs.QUICKSTART, docs.PILOT_LR, docs.PILOT_DESIGN):
        (tmp_path / artifact).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / artifact).write_text((ROOT / artifact).read_text())
    readme = tmp_path / "README.md"
    text = readme.read_text()
    begin = text.index("<!-- BEGIN generated: study-findings -->")
    first_row = text.index("| Locality", begin)
    readme.write_text(text[:first_row] + "| Locality (typed by hand) " + text[first_row + len("| Locality") :])
    assert docs.update(tmp_path, check=True) == ["README.md: study-findings"]
    docs.update(tmp_path)  # regenerating restores it
    assert docs.update(tmp_path, check=True) == [] and readme.read_text() == (ROOT / "README.md").read_text()


def test_the_quickstart_timing_is_of_readmes_current_command():
    """quickstart.json timed a command: README's first command must still be that command, or the time is stale."""
    timing = json.loads((ROOT / docs.QUICKSTART).read_text())
    assert timing["command"] == docs.quickstart_command(ROOT / "README.md"), (
        "README's first command changed: rerun `python benchmarks/bench_quickstart.py --save`"
    )
    assert timing["total_s"] == pytest.approx(timing["install_s"] + timing["study_s"], abs=0.2)
    assert timing["pip_cache"] is False  # what a fresh machine has


def test_the_quickstart_block_says_when_a_run_is_over_budget_or_differs():
    timing = json.loads((ROOT / docs.QUICKSTART).read_text())
    text = " ".join(docs.quickstart_block(timing))
    assert f"{timing['total_s'] / 60:.1f} minutes" in text and "within the budget of 15 minutes" in text
    slow = {**timing, "total_s": timing["budget_s"] + 60.0, "identical_to_reference": False}
    text = " ".join(docs.quickstart_block(slow))
    assert "over the budget of 15 minutes" in text and "was not identical to the reference's" in text


def test_an_unknown_block_name_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match=r"No generated block is named 'study-typo'.*study-findings"):
        docs.render("study-typo", read=lambda path: {})
