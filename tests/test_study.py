"""`pe-bert study`: resumable stages, the miniature study end to end, its report, model cards and the Hub push."""

import contextlib
import io
import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from huggingface_hub import ModelCard

from pe_bert.study import StageFailed, StageStore, Study, StudyConfig
from pe_bert.study.hypothesis_records import (
    EFFECT_TESTS,
    AnovaAtBudget,
    LengthLossTest,
    ZeroShotSignTest,
    exploratory_of,
    paper_form_tests_of,
    primary_tests_of,
    secondary_of,
)
from pe_bert.study.record_types import RunRecord, VariantSummary
from pe_bert.study.report import fmt, fmt_summary
from pe_bert.study.sections import Check, Finding, grid_of

from helpers import accelerate_launch, run_script

# ----------------------------------------------------------------------------------------------- stage store


def _counting_work(calls):
    def work(folder):
        calls.append(folder)
        (folder / "output.txt").write_text("done")
        return {"value": len(calls)}

    return work


def test_finished_stage_is_skipped_and_logged(tmp_path):
    store, calls = StageStore(tmp_path), []
    first = store.run("unit", "stage", {"a": 1}, _counting_work(calls))
    second = store.run("unit", "stage", {"a": 1}, _counting_work(calls))
    assert first == second == {"value": 1} and len(calls) == 1
    assert [e["status"] for e in store.log_entries()] == ["ran", "skipped"]


def test_changed_settings_rerun_the_stage(tmp_path):
    store, calls = StageStore(tmp_path), []
    store.run("unit", "stage", {"a": 1}, _counting_work(calls))
    assert store.run("unit", "stage", {"a": 2}, _counting_work(calls)) == {"value": 2}


@pytest.mark.parametrize("damage", ["delete_output", "corrupt_result", "remove_done_marker", "truncate_marker"])
def test_damaged_stage_is_detected_and_redone(tmp_path, damage):
    store, calls = StageStore(tmp_path), []
    store.run("unit", "stage", {"a": 1}, _counting_work(calls))
    folder = store.folder("unit", "stage")
    (folder / "stale.tmp").write_text("left over by a killed run")
    if damage == "delete_output":
        (folder / "output.txt").unlink()
    elif damage == "corrupt_result":
        (folder / "result.json").write_text('{"value": ')
    elif damage == "remove_done_marker":  # killed after writing outputs, before finishing
        (folder / "DONE.json").unlink()
    else:
        (folder / "DONE.json").write_text("{")
    assert store.run("unit", "stage", {"a": 1}, _counting_work(calls)) == {"value": 2}
    assert (folder / "output.txt").exists() and not (folder / "stale.tmp").exists()


def test_failing_stage_raises_with_context_and_stores_nothing(tmp_path):
    store = StageStore(tmp_path)

    def broken(folder):
        raise RuntimeError("out of tea")

    with pytest.raises(StageFailed, match="unit/stage failed: RuntimeError: out of tea") as error:
        store.run("unit", "stage", {}, broken)
    assert "out of tea" in error.value.traceback
    assert store.cached("unit", "stage", {}) is None
    assert store.log_entries()[-1]["status"] == "failed"


def test_study_config_validation_and_variants(tmp_path):
    config = StudyConfig(variants=["learned", "rope"], attenuated_w=[0.1, 1.0], attenuated_s=[1.0, 0.5])
    labels = [spec.label for spec in config.variant_specs()]
    assert labels == [
        "learned",
        "rope",
        "attenuated-w0.1-s1",
        "attenuated-w0.1-s0.5",
        "attenuated-w1-s1",
        "attenuated-w1-s0.5",
    ]
    with pytest.raises(ValueError, match="Unknown variant.*rotary"):
        StudyConfig(variants=["rotary"])
    with pytest.raises(ValueError, match="--hub_org"):
        StudyConfig(push_to_hub=True)
    path = tmp_path / "study.yaml"
    path.write_text("variants: [none]\nseeds: [1, 2]\npretrain_steps: 7\n")
    loaded = StudyConfig.from_file(path, pretrain_steps=9)
    assert loaded.variants == ["none"] and loaded.seeds == [1, 2] and loaded.pretrain_steps == 9
    path.write_text("varients: [none]\n")
    with pytest.raises(ValueError, match="Unknown study setting.*varients"):
        StudyConfig.from_file(path)
    with pytest.raises(ValueError, match="--builtin-grammar 'fancy'"):
        StudyConfig(builtin_grammar="fancy")
    with pytest.raises(ValueError, match="attenuated_w.*list of float"):
        StudyConfig(attenuated_w=["wide"])


def test_variants_run_exactly_as_named_and_the_attenuated_grid_only_when_asked():
    def labels(**settings):
        return [spec.label for spec in StudyConfig(**settings).variant_specs()]

    assert labels(variants=["learned", "rope"]) == ["learned", "rope"]
    assert labels(variants=["rope", "attenuated"], attenuated_w=[0.5]) == [
        "rope",
        "attenuated-w0.5-s1",
        "attenuated-w0.5-s0.5",
        "attenuated-w0.5-s0.2",
    ]
    assert labels(variants=["rope"], attenuated_w=[0.5], attenuated_s=[1.0]) == ["rope", "attenuated-w0.5-s1"]
    assert len(labels(variants=["rope"], attenuated_s=[1.0])) == 5  # a grid flag adds the grid: 4 w x 1 s
    assert labels(variants=["rope", "attenuated"], attenuated_w=[]) == ["rope"]  # an empty grid removes it
    with pytest.raises(ValueError, match="would share a label"):
        StudyConfig(attenuated_w=[0.5, 0.5000001])


def test_default_study_is_the_protocols_confirmatory_run():
    from pe_bert.study.protocol import PROTOCOL, protocol_record

    config = StudyConfig()
    labels = [spec.label for spec in config.variant_specs()]
    assert "none" in labels  # the order-blind control
    grid = [spec.overrides for spec in config.variant_specs() if spec.position_encoding == "attenuated"]
    ws, ss = {g["locality_w"] for g in grid}, {g["symmetry_s"] for g in grid}
    assert len(ws) >= 4 and len(ss) >= 3 and len(grid) == len(ws) * len(ss) and 1.0 in ss
    # nearly global to strongly local; symmetric to strongly asymmetric with information on both sides (s > 0)
    assert max(ws) / min(ws) >= 50 and 0 < min(ss) <= 0.2
    assert all(g["attenuated_asymmetry"] == "balanced" for g in grid)
    assert len(config.seeds) >= 2 and config.tasks == [] and "roles_far" in config.outcome_tasks
    assert config.builtin_grammar == "compact" and config.max_seq_length <= config.max_position_embeddings
    assert config.budgets() == [PROTOCOL.pretrain_steps, 2 * PROTOCOL.pretrain_steps]
    assert protocol_record(config)["kind"] == "confirmatory"
    # pilot and confirmatory seeds and probing splits are disjoint
    assert not set(PROTOCOL.seeds) & set(PROTOCOL.pilot_seeds) and PROTOCOL.probing_seed != PROTOCOL.pilot_probing_seed


def test_cli_flags_reach_the_config_and_help_documents_the_variant_semantics(monkeypatch, tmp_path, capsys):
    from pe_bert import cli

    seen = {}
    monkeypatch.setattr(Study, "run", lambda self: seen.setdefault("study", self) and {"failures": [], "runs": []})
    assert (
        cli.main(
            [
                "study",
                "--variants",
                "rope,alibi",
                "--out",
                str(tmp_path),
                "--seeds",
                "3,4",
                "--max-steps",
                "12",
                "--attenuated-w",
                "",
                "--quiet",
                "--verbose",
            ]
        )
        == 0
    )
    config = seen["study"].config
    assert config.variants == ["rope", "alibi"] and config.seeds == [3, 4] and config.pretrain_steps == 12
    assert config.attenuated_w == [] and config.out == str(tmp_path) and seen["study"].verbose
    with pytest.raises(SystemExit):
        cli.main(["study", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "run exactly as given" in text and "adds the grid even when `attenuated` is not among --variants" in text
    assert "--verbose" in text and "logs" in text


# ----------------------------------------------------------------------------------------------- end to end


def _mini_config(out, **overrides) -> StudyConfig:
    settings = dict(
        out=str(out),
        variants=["none", "learned"],
        attenuated_w=[0.3, 1.5],
        attenuated_s=[1.0, 0.2],
        seeds=[0, 1],
        tasks=["builtin_order"],
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=24,  # the longest probing sentence: 21 words and [CLS], [SEP]
        max_seq_length=16,
        builtin_num_sentences=600,
        pretrain_steps=15,
        pretrain_batch_size=16,
        pretrain_learning_rate=1e-2,
        finetune_steps=6,
        finetune_batch_size=16,
        builtin_task_size=64,
        eval_sentences=40,
        analysis_sentences=12,
        position_seq_len=8,
        probe_examples=16,
        probe_zero_shot_sentences=8,
        probing_train_sentences=80,
        probing_test_sentences=40,
        workers=2,
    )
    settings.update(overrides)
    return StudyConfig(**settings)


@pytest.fixture(scope="module")
def mini_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    summary = Study(_mini_config(out), progress=False).run()
    return out, summary


def _without_metadata(path):
    results = json.loads(path.read_text())
    results.pop("metadata")
    return results


@pytest.mark.slow
def test_mini_study_writes_report_results_and_plots(mini_study):
    out, summary = mini_study
    assert not summary["failures"]
    for name in (
        "report.md",
        "results.json",
        "grid_heatmaps.png",
        "scatter_properties.png",
        "position_attention.png",
        "probe_zero_shot.png",
        "length_generalisation.png",
        "stage_log.jsonl",
    ):
        assert (out / name).exists() and (out / name).stat().st_size > 0, name
    results = json.loads((out / "results.json").read_text())
    grid = {f"attenuated-w{w}-s{s}" for w in ("0.3", "1.5") for s in ("1", "0.2")}
    assert set(results["variants"]) == {"none", "learned", "untrained-rope"} | grid and len(results["grid"]) == 4
    assert results["config"]["seeds"] == [0, 1] and results["metadata"]["wall_time_s"] > 0
    stages = {"pretrain", "finetune", "score", "probe", "mlm", "probing", "init", "design", "data"}
    assert stages <= set(results["metadata"]["this_run"])
    # every pretrained run is measured at both budgets; the untrained control at initialisation only
    assert results["budgets"] == [15, 30]
    for run in results["runs"]:
        assert set(run["budgets"]) == ({"15", "30"} if run["trained"] else {"0"})
        final = run["budgets"]["30" if run["trained"] else "0"]
        assert set(final["probing"]) == {"topic", "order", "roles", "roles_far"}
        if run["trained"]:  # before the final budget: the outcome's probe, what the budget rule tests
            assert set(run["budgets"]["15"]["probing"]) == {"roles_far"}
    # the manipulation check ran before pretraining, and the local shortcut is measured on every probing task
    assert [c["locality"] for c in results["design"]["cells"]] and results["design"]["checks"]
    assert results["probing_baselines"]["roles_far"]["accuracy"] == 50.0
    assert results["protocol"]["kind"] == "exploratory" and len(results["protocol"]["sha256"]) == 64
    # The attenuated prior makes attention far more local than no PE at all: a real spread, not a constant.
    locality = {k: v["locality"]["mean"] for k, v in results["variants"].items()}
    assert locality["attenuated-w1.5-s1"] > locality["none"] + 0.1
    # every cell: mean, std, n and a 95 % interval around the mean
    cell = results["variants"]["none"]["tasks"]["builtin_order"]
    assert cell["n"] == 2 and cell["ci95"][0] <= cell["mean"] <= cell["ci95"][1]


@pytest.mark.slow
def test_mini_study_tests_its_hypotheses_and_its_exact_controls(mini_study):
    out, summary = mini_study
    results = json.loads((out / "results.json").read_text())
    # a model without positions is order-blind on every twin task, exactly, by construction
    for run in (r for r in results["runs"] if r["variant"] == "none"):
        assert run["probing"]["order"]["accuracy"] == run["probing"]["roles"]["accuracy"] == 50.0
        assert run["outcome"] == 50.0
    controls = {c["name"]: c for c in results["controls"]}
    assert controls["order-blind control"]["passed"] and controls["zero-shot tie control"]["passed"]
    # exactly two primary tests (Holm at m = 2), each with a verdict; the paper's form over 4 cells is not testable
    assert [t["hypothesis"] for t in results["primary_tests"]] == ["locality", "symmetry"]
    assert all(
        t["verdict"] in ("supported", "budget-dependent", "bounded null", "not testable")
        for t in results["primary_tests"]
    )
    assert all(t["verdict"] == "not testable" for t in results["paper_form_tests"])
    report = (out / "report.md").read_text()
    findings = report.split("## Findings")[1].split("\n## ")[0]
    for row in results["findings"]:
        assert f"| {row['claim']} | {row['kind']} |" in findings and f"**{row['verdict']}**" in findings
    assert "## Controls" in report and "## Design checks" in report and "## The grid" in report


@pytest.mark.slow
def test_floors_bracket_every_model_and_absolute_pes_do_not_extrapolate(mini_study):
    out, _ = mini_study
    results = json.loads((out / "results.json").read_text())
    floors = results["corpus"]["floors"]
    assert set(floors) == {"1", "2", "4"}
    assert all(f["bayes_loss"] < f["unigram_loss"] for f in floors.values())
    assert results["corpus"]["unigram_entropy"] == pytest.approx(4.85, abs=0.05)
    learned, none = results["variants"]["learned"]["mlm"], results["variants"]["none"]["mlm"]
    assert learned["1"]["applicable"] and not learned["2"]["applicable"] and not learned["4"]["applicable"]
    assert "max_position_embeddings (24)" in learned["4"]["reason"]
    assert all(none[m]["applicable"] and none[m]["loss"]["mean"] > floors[m]["bayes_loss"] for m in none)
    report = (out / "report.md").read_text()
    assert "not applicable" in report and "## Masked-token loss and the corpus floors" in report
    assert any(c["name"] == "floors" and c["passed"] for c in results["controls"])


@pytest.mark.slow
def test_report_numbers_equal_results_json(mini_study):
    out, _ = mini_study
    results = json.loads((out / "results.json").read_text())
    report = (out / "report.md").read_text()
    table, tasks = report.split("## Every variant")[1].split("\n## ")[0].split("Fine-tuned task scores")
    rows = {
        line.split("|")[1].strip(): [c.strip() for c in line.strip().strip("|").split("|")]
        for line in table.splitlines()
        if line.startswith("| ") and not line.startswith("| variant")
    }
    probing = ("topic", "order", "roles", "roles_far")
    for label, variant in results["variants"].items():
        row = rows[label]
        assert row[1:5] == [fmt_summary(variant["probing"][t], 1, False) for t in probing]
        assert row[5] == fmt_summary(variant["outcome"], 1, False)
        assert row[6:9] == [fmt_summary(variant[k], 3, False) for k in ("locality", "symmetry", "symmetry_mass")]
        if variant["trained"]:
            assert f"| {label} | {fmt_summary(variant['tasks']['builtin_order'], 3)} |" in tasks
    for label, variant in results["variants"].items():  # a cell's mean is the mean of its runs
        if not variant["trained"]:  # an untrained control: probed and evaluated, its attention not scored
            continue
        per_seed = [r["pretrained_scores"]["locality"] for r in results["runs"] if r["variant"] == label]
        assert variant["locality"]["mean"] == pytest.approx(sum(per_seed) / len(per_seed), rel=1e-12)
        outcomes = [r["outcome"] for r in results["runs"] if r["variant"] == label]
        assert variant["outcome"]["mean"] == pytest.approx(sum(outcomes) / len(outcomes), rel=1e-12)
    assert "## What this cannot show" in report and "## Exploratory" in report and "## Findings" in report
    probe = report.split("Zero-shot word-order probes")[1].split("\n## ")[0]
    for label, variant in results["variants"].items():
        if not variant["trained"]:
            continue
        row = next(line for line in probe.splitlines() if line.startswith(f"| {label} |"))
        assert f"| {fmt_summary(variant['zero_shot_pll_preference']['shuffle-sr'], 1, False)}" in row
    # probe effects are in points (the paper's unit), declared as such
    assert "points" in results["units"]["zero_shot_pll_preference"]
    assert all(0 <= r["probe_zero_shot"]["shuffle-3"]["pll_preference"] <= 100 for r in results["runs"] if r["trained"])


def test_run_records_variant_summaries_and_checks_round_trip_through_results_json(mini_study):
    """results.json's runs, variants, checks, findings, grid cells, pre-registered tests, secondary and exploratory
    rows read back as typed records whose dicts are results.json's, key for key and in order (results.json is written
    from them)."""
    out, _ = mini_study
    results = json.loads((out / "results.json").read_text())
    for stored in results["runs"]:
        record = RunRecord.from_dict(stored)
        assert RunRecord.from_dict(record.to_dict()) == record
        assert json.dumps(record.to_dict()) == json.dumps(stored)
        final = record.budgets[max(record.budgets, key=int)]
        assert (record.outcome, record.probing, record.mlm) == (final.outcome, final.probing, final.mlm)
    for label, stored in results["variants"].items():
        summary = VariantSummary.from_dict(stored)
        assert VariantSummary.from_dict(summary.to_dict()) == summary
        assert json.dumps(summary.to_dict()) == json.dumps(stored)
        assert summary.attention["locality"] == stored["locality"], label
    checks = results["controls"] + results["design_checks"]
    assert json.dumps([Check.from_dict(c).to_dict() for c in checks]) == json.dumps(checks)
    assert json.dumps([Finding.from_dict(f).to_dict() for f in results["findings"]]) == json.dumps(results["findings"])
    signal = next(Check.from_dict(c) for c in checks if c["name"].startswith("signal"))
    assert set(signal.measures) == {"spread", "seed_std"}  # a check's own numbers, after its detail
    lists = {"grid": grid_of, "primary_tests": primary_tests_of, "paper_form_tests": paper_form_tests_of}
    for key, read in lists.items():
        records = read(results)
        assert [type(r).from_dict(r.to_dict()) for r in records] == records
        assert json.dumps([r.to_dict() for r in records]) == json.dumps(results[key]), key
    for key, read in (("secondary", secondary_of), ("exploratory", exploratory_of)):
        section = read(results)
        assert type(section).from_dict(section.to_dict()) == section
        assert json.dumps(section.to_dict()) == json.dumps(results[key]), key
    effect_tests = exploratory_of(results).effect_tests  # each read back through the record of its kind
    assert all(type(t) is EFFECT_TESTS[t.kind] for t in effect_tests)
    assert {type(t) for t in effect_tests} == {ZeroShotSignTest, LengthLossTest}  # the mini study has no NLI task
    assert all(isinstance(e, AnovaAtBudget) for t in primary_tests_of(results) for e in t.budgets.values())


@pytest.fixture(scope="module")
def reruns(mini_study):
    """The mini study run twice more in its folder (two runs, not one per test: each starts workers and writes a
    report): as it stands, every stage stored, pushed to a (mocked) Hub; then with two stages deleted, its console
    captured. Returns what each run logged, printed and pushed."""
    import huggingface_hub

    out, _ = mini_study
    store = StageStore(out)
    calls = []

    def upload(self, **kw):
        card = (Path(kw["folder_path"]) / "README.md").read_text()
        calls.append(("upload", kw["repo_id"], kw, (out / "report.md").exists() and "| Locality |" in card))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            huggingface_hub.HfApi, "create_repo", lambda self, repo_id, **kw: calls.append(("create", repo_id, kw))
        )
        patch.setattr(huggingface_hub.HfApi, "upload_folder", upload)
        before = len(store.log_entries())
        pushed = Study(_mini_config(out, push_to_hub=True, hub_org="my-org"), progress=False).run()
        stored_run = store.log_entries()[before:]
        pushed_on_disk = json.loads((out / "results.json").read_text())["metadata"].get("pushed")

    shutil.rmtree(store.folder("none/seed0", "score"))
    shutil.rmtree(store.folder("learned/seed1", "finetune:builtin_order"))
    before = len(store.log_entries())
    console = io.StringIO()
    with contextlib.redirect_stderr(console), contextlib.redirect_stdout(console):
        Study(_mini_config(out), progress=True).run()
    redone = store.log_entries()[before:]
    return SimpleNamespace(
        out=out,
        pushed=pushed,
        pushed_on_disk=pushed_on_disk,
        calls=calls,
        stored_run=stored_run,
        redone=redone,
        console=console.getvalue(),
    )


@pytest.mark.slow
def test_rerun_skips_finished_stages_and_recomputes_deleted_ones(reruns):
    assert reruns.stored_run and all(entry["status"] == "skipped" for entry in reruns.stored_run)
    statuses = {(e["unit"], e["stage"]): e["status"] for e in reruns.redone}
    assert statuses[("none/seed0", "score")] == "ran"
    assert statuses[("none/seed0", "pretrain")] == "skipped"
    assert statuses[("learned/seed1", "finetune:builtin_order")] == "ran"
    assert statuses[("learned/seed1", "pretrain")] == "skipped"
    ran = {stage for stage, status in statuses.items() if status == "ran"}
    # nothing else than the deleted stages and what is built on the redone fine-tuning (its attention scores)
    assert ran - {("learned/seed1", "score")} == {("none/seed0", "score"), ("learned/seed1", "finetune:builtin_order")}


@pytest.mark.slow
def test_same_flags_and_seeds_give_identical_results_apart_from_metadata(mini_study, tmp_path):
    """A second, independent run (fresh folder, same flags): results.json is byte-identical outside `metadata`
    (tokenizer, corpus, initialisation, masking, fine-tuning order and statistics are all seeded)."""
    first, _ = mini_study
    second = tmp_path / "again"
    Study(_mini_config(second), progress=False).run()
    assert _without_metadata(second / "results.json") == _without_metadata(first / "results.json")
    text = (second / "results.json").read_text()
    assert str(second) not in text.split('"metadata"')[0]  # no path outside metadata


@pytest.mark.slow
def test_console_shows_a_line_per_stage_and_the_logs_go_to_files(reruns):
    console = reruns.console
    assert "learned/seed1" in console and "builtin_order accuracy" in console
    assert "train_runtime" not in console and "Loading weights" not in console and "INFO" not in console
    log = (reruns.out / "logs" / "learned" / "seed1" / "finetune-builtin_order.log").read_text()
    assert "train_runtime" in log and "INFO" in log


@pytest.mark.slow
def test_model_card_has_measured_numbers_and_hub_metadata(mini_study):
    out, summary = mini_study
    card_path = out / "runs" / "none" / "seed0" / "pretrain" / "README.md"
    card = ModelCard.load(card_path)
    assert card.data.library_name == "transformers"
    assert "pe_bert" in card.data.tags
    record = next(r for r in summary["runs"] if r["variant"] == "none" and r["seed"] == 0)
    assert f"| Locality | {fmt(record['pretrained_scores']['locality'])} |" in card.text
    assert f"{fmt(record['tasks']['builtin_order']['score'])}" in card.text
    assert (
        f"| frozen-feature probe: roles accuracy (%) | {fmt(record['probing']['roles']['accuracy'], 1)} |" in card.text
    )


@pytest.mark.slow
def test_push_to_hub_is_a_step_after_the_report(reruns):
    calls = reruns.calls
    labels = ["none", "learned", *(f"attenuated-w{w}-s{s}" for w in ("0.3", "1.5") for s in ("1", "0.2"))]
    expected = [f"my-org/bert-{v}-seed{s}" for v in labels for s in (0, 1)]
    assert reruns.pushed["metadata"]["pushed"] == expected
    uploads = [c for c in calls if c[0] == "upload"]
    assert [c[1] for c in uploads] == expected
    assert all(after_the_report for *_, after_the_report in uploads)  # the report and the measured card exist
    folder = Path(uploads[0][2]["folder_path"])
    shipped = {p.name for p in folder.iterdir()}
    assert {"model.safetensors", "config.json", "modeling.py", "configuration.py", "README.md"} <= shipped
    assert json.loads((folder / "config.json").read_text())["auto_map"]["AutoModel"]
    assert reruns.pushed_on_disk == expected  # results.json says what was pushed


@pytest.mark.slow
def test_failing_variant_is_reported_while_others_finish(tmp_path, monkeypatch):
    from pe_bert.training import pretrain

    real_main = pretrain.main

    def flaky_main(model_args, data_args, training_args, *args, **kwargs):
        if kwargs["config"].position_encoding == "none":  # the study gives pretraining its model config
            raise RuntimeError("simulated crash in pretraining")
        return real_main(model_args, data_args, training_args, *args, **kwargs)

    monkeypatch.setattr(pretrain, "main", flaky_main)
    config = _mini_config(
        tmp_path,
        tasks=[],
        seeds=[0],
        variants=["none"],
        attenuated_w=[0.3],
        attenuated_s=[1.0],
        pretrain_steps=3,
        analysis_sentences=6,
        probe_zero_shot_sentences=4,
        workers=1,
    )
    summary = Study(config, progress=False).run()
    assert [f["run"] for f in summary["failures"]] == ["none/seed0"]
    assert "simulated crash" in summary["failures"][0]["error"]
    assert summary["variants"]["attenuated-w0.3-s1"]["locality"]["mean"] is not None
    report = (tmp_path / "report.md").read_text()
    assert re.search(r"`none/seed0` failed at stage `pretrain`: RuntimeError: simulated crash", report)


@pytest.mark.slow
def test_study_under_accelerate_launch_with_two_cpu_processes(tmp_path):
    """Training stages run data-parallel on both processes; only the main process writes stages and the report."""
    out = tmp_path / "ddp-study"
    command = [
        *accelerate_launch(),
        "-m",
        "pe_bert.cli",
        "study",
        "--quiet",
        "--out",
        str(out),
        "--variants",
        "rope",
        "--attenuated-w",
        "",
        "--max-steps",
        "4",
        *TINY_STUDY_FLAGS,
    ]
    run_script(command, timeout=600)
    results = json.loads((out / "results.json").read_text())
    assert not results["failures"] and "rope" in results["variants"]
    log = StageStore(out, processes=_SingleProcess()).log_entries()
    stages = [(e["unit"], e["stage"]) for e in log if e["status"] == "ran"]
    # data, probing split, tasks, pretrain, mlm, probing, finetune, score, probe: each once
    assert len(stages) == len(set(stages)) == 9
    state = json.loads((out / "runs" / "rope" / "seed0" / "pretrain" / "trainer_state.json").read_text())
    assert state["global_step"] == 4


# A study of one seed and one task, small enough for a subprocess in a test.
TINY_STUDY_FLAGS = [
    "--tasks",
    "builtin_topic",
    "--seeds",
    "0",
    "--hidden-size",
    "32",
    "--num-hidden-layers",
    "1",
    "--num-attention-heads",
    "2",
    "--intermediate-size",
    "64",
    "--max-position-embeddings",
    "32",
    "--max-seq-length",
    "32",
    "--builtin-num-sentences",
    "600",
    "--tokenizer-vocab-size",
    "400",
    "--finetune-steps",
    "2",
    "--builtin-task-size",
    "64",
    "--eval-sentences",
    "40",
    "--analysis-sentences",
    "8",
    "--probe-zero-shot-sentences",
    "4",
    "--probing-train-sentences",
    "40",
    "--probing-test-sentences",
    "20",
    # the process tests need one budget and no untrained control (both are tested on the mini study)
    "--budget-multiples",
    "1",
    "--untrained-control",
    "",
]


class _SingleProcess:
    count, is_main = 1, True

    def barrier(self):
        pass


@pytest.mark.slow
def test_study_runs_a_pe_of_ones_own_from_pe_module_in_worker_processes(tmp_path):
    """`pe-bert study --pe-module FILE --variants mine,...`: the user's PE is trained in spawned workers, and editing
    its file invalidates its stored stages (and only those)."""
    import subprocess
    import sys

    module = tmp_path / "study_decay_pe.py"
    module.write_text((Path(__file__).parents[1] / "examples" / "decay_position_encoding.py").read_text())
    out = tmp_path / "study"
    command = [
        sys.executable,
        "-m",
        "pe_bert.cli",
        "study",
        "--quiet",
        "--pe-module",
        str(module),
        "--out",
        str(out),
        "--variants",
        "decay,none",
        "--workers",
        "2",
        "--max-steps",
        "3",
        *TINY_STUDY_FLAGS,
        "--tasks",
        "",
    ]

    def run_study():
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
        return [(e["unit"], e["stage"], e["status"]) for e in StageStore(out, processes=_SingleProcess()).log_entries()]

    first = run_study()
    results = json.loads((out / "results.json").read_text())
    assert not results["failures"] and set(results["variants"]) == {"decay", "none"}
    assert results["config"]["pe_modules"] == [str(module)]
    assert ("decay/seed0", "pretrain", "ran") in first
    # the checkpoint ships the PE's code: it loads without the module
    assert "decay" in (out / "runs" / "decay" / "seed0" / "pretrain" / "config.json").read_text()

    module.write_text(module.read_text() + "\n# edited\n")
    second = run_study()[len(first) :]
    assert ("decay/seed0", "pretrain", "ran") in second and ("none/seed0", "pretrain", "skipped") in second
