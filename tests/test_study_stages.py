"""The study's stages as data: one ordered declaration that the run, the dry-run plan and the progress bar read;
typed stage results that store exactly the dicts they stored before; the event sink; the launcher registry."""

import json
import queue

import pytest

from pe_bert.errors import InvalidInputError
from pe_bert.study import Study, StudyConfig, stages
from pe_bert.study.events import EventSink, ForwardingSink
from pe_bert.study.launchers import LaunchSetup, get_launcher, launcher_names, register_launcher
from pe_bert.study.launchers.base import LAUNCHERS as REGISTRY
from pe_bert.study.units import Unit, UnitResult


def _config(tmp_path, **overrides) -> StudyConfig:
    settings = dict(
        out=str(tmp_path / "study"),
        variants=["none", "rope"],
        seeds=[0, 1],
        tasks=["builtin_order", "builtin_nli"],
        budget_multiples=[1, 2],
        untrained_control="rope",
    )
    return StudyConfig(**{**settings, **overrides})


def test_one_declaration_gives_the_run_the_plan_and_the_progress_total(tmp_path):
    config = _config(tmp_path)
    study = Study(config, progress=False)
    trained, control = study.units()[0].spec, study.units()[-1].spec
    final = config.budgets()[-1]
    first = f"steps{config.budgets()[0]}"
    assert study.unit_stage_names(trained) == [
        "pretrain",
        f"mlm:{first}",
        f"probing:{first}",
        "mlm",
        "probing",
        "finetune:builtin_order",
        "finetune:builtin_nli",
        "score",
        "probe",
    ]
    assert final > 0 and not control.trained
    assert study.unit_stage_names(control) == ["init", "mlm", "probing"]
    assert [call.name for call in stages.unit_calls(config, trained)] == study.unit_stage_names(trained)
    # the shared stages: data, the probing split and the built-in tasks' files of each seed (no grid: no design)
    calls = stages.shared_calls(config)
    assert [(call.stage.unit(call), call.name) for call in calls] == [
        ("_shared", "data"),
        ("_shared", "probing"),
        ("_shared/seed0", "tasks"),
        ("_shared/seed1", "tasks"),
    ]
    assert study.shared_stage_count() == 4
    # a user's corpus has no evaluation blocks: no masked-token stage, in the plan as in the run
    user_corpus = _config(tmp_path, dataset_name="wikitext", tasks=[])
    assert "mlm" not in Study(user_corpus, progress=False).unit_stage_names()


def test_a_new_stage_is_a_module_and_one_line(tmp_path, monkeypatch):
    class Ablation(stages.UnitStage):
        name = "ablation"
        result = stages.StageResult

    class Lexicon(stages.SharedStage):
        name = "lexicon"
        result = stages.StageResult

    monkeypatch.setattr(stages, "UNIT_STAGES", (*stages.UNIT_STAGES, Ablation()))
    monkeypatch.setattr(stages, "SHARED_STAGES", (*stages.SHARED_STAGES, Lexicon()))
    study = Study(_config(tmp_path), progress=False)
    assert study.unit_stage_names()[-1] == "ablation" and study.stages_per_unit() == 10
    assert "ablation" not in study.unit_stage_names(study.units()[-1].spec)  # a trained variant's only
    assert study.shared_stage_count() == 5
    shared, [call] = stages.SharedResults(), Lexicon().calls(study.config)
    call.stage.absorb(shared, call, stages.StageResult())
    assert shared.others == {("_shared", "lexicon"): stages.StageResult()}


STORED = {
    stages.data.DataResult: [
        {"tokenizer": "bert-base-uncased"},
        {
            "tokenizer": "runs/_shared/data/tokenizer",
            "train_file": "runs/_shared/data/corpus/train.txt",
            "validation_file": "runs/_shared/data/corpus/validation.txt",
            "blocks": {"1": "runs/_shared/data/blocks_x1.npz"},
            "floors": {"1": {"unigram_loss": 3.0, "bayes_loss": 1.0}},
            "num_train_sentences": 10,
            "unigram_entropy": 2.5,
            "expected_sentence_length": 7.0,
        },
    ],
    stages.pretrain.ModelResult: [
        {"path": "runs/a/pretrain", "checkpoints": {"5": "runs/a/pretrain/steps-5"}, "metrics": {"train_loss": 2.0}},
        {"path": "runs/a/init", "checkpoints": {"0": "runs/a/init"}},
    ],
    stages.score.AttentionScores: [
        {
            "steps10": {
                "locality": 0.5,
                "symmetry": 0.25,
                "symmetry_mass": 0.75,
                "num_matrices": 4,
                "position": {"overall": {"locality": 0.1}, "mean_matrix": [[1.0]]},
            },
            "builtin_nli": {"locality": 0.4, "symmetry": None, "symmetry_mass": 0.7, "num_matrices": 4},
        }
    ],
    stages.probe.WordOrderProbes: [
        {"nli": {"results": {}}, "zero_shot": {"results": {}}},
        {"zero_shot": {"results": {"shuffle-sr": {}}}},
    ],
    stages.finetune.FineTuned: [{"path": "runs/a/f", "metric": "accuracy", "score": 0.5, "metrics": {}}],
    stages.mlm.MaskedLoss: [{"lengths": {"1": {"length": 8, "applicable": True, "loss": 1.5}}}],
    stages.probing.ProbeAccuracies: [{"tasks": {"agreement": {"accuracy": 0.9}}}],
    stages.probing_split.ProbingSplit: [
        {"files": {"t": "x.json"}, "examples": {"t": {"train": 1}}, "ngram_baselines": {}}
    ],
    stages.tasks.TaskFiles: [{"files": {"builtin_nli": {"train": "a", "validation": "b"}}}],
}


@pytest.mark.parametrize("result_type", list(STORED), ids=lambda t: t.__name__)
def test_typed_results_store_the_very_dicts_stages_stored(result_type):
    for stored in STORED[result_type]:
        assert json.dumps(result_type.from_dict(stored).to_dict()) == json.dumps(stored)  # key order too


def test_every_declared_stage_has_a_typed_result():
    declared = [*stages.SHARED_STAGES]
    for entry in stages.UNIT_STAGES:
        declared += list(getattr(entry, "stages", [entry]))
    assert all(issubclass(stage.result, stages.StageResult) for stage in declared)
    assert {stage.result for stage in declared} - {stages.design.DesignResult} <= set(STORED)


def test_a_failed_unit_is_made_in_one_place():
    unit = Unit("rope/seed0", StudyConfig(variants=["rope"]).variant_specs()[0], 0)
    result = UnitResult.of(unit).fail("(worker)", "it died")
    assert (result.variant, result.seed, result.trained, result.stages) == ("rope", 0, True, {})
    assert result.failure == {"stage": "(worker)", "error": "it died", "traceback": ""}


def test_the_sink_records_shows_and_forwards_stage_events(tmp_path, capsys):
    sink = EventSink(tmp_path, progress=True)
    sink.stage_finished("rope/seed0", "score", "done", "locality 0.5", 2.0, 1.0)
    line = capsys.readouterr().err
    assert "rope/seed0" in line and "locality 0.5" in line and "[2 s]" in line
    [event] = [json.loads(text) for text in sink.timings.read_text().splitlines()]
    assert event["stage"] == "score" and event["cpu_s"] == 1.0
    events = queue.Queue()
    ForwardingSink(tmp_path, events).stage_finished("rope/seed0", "probe", "failed", "boom", 1.0, 1.0)
    assert events.get_nowait()["text"] == "boom" and len(sink.timings.read_text().splitlines()) == 1
    silent = EventSink(tmp_path, progress=True, is_main=False)  # another process of an accelerate launch
    silent.stage_finished("rope/seed0", "probe", "done", "", 1.0, 1.0)
    assert capsys.readouterr().err == ""


def test_launchers_are_found_by_the_setting_and_an_unknown_one_is_named(tmp_path):
    assert launcher_names() == ("local", "slurm", "submitit-local")
    with pytest.raises(InvalidInputError, match="--launcher 'slurn' is not one of local, slurm, submitit-local"):
        _config(tmp_path, launcher="slurn")
    setup = LaunchSetup(engine=None, shared=stages.SharedResults(), workers=1)
    with pytest.raises(InvalidInputError, match=r"Unknown launcher 'slurn'\. Did you mean 'slurm'\? Valid launchers: "):
        get_launcher("slurn", setup)
    try:

        @register_launcher("recording")
        class Recording:
            def __init__(self, setup):
                self.setup = setup

            def run(self, units, sink):
                results = [UnitResult.of(unit).fail("(recorded)", "not run") for unit in units]
                for result in results:
                    sink.unit_finished(result)
                return results

        launcher = get_launcher("recording", setup)
        assert isinstance(launcher, Recording) and "recording" in launcher_names()
        assert _config(tmp_path, launcher="recording").launcher == "recording"  # the setting accepts it
        units = Study(_config(tmp_path), progress=False).units()
        results = launcher.run(units, EventSink(tmp_path, progress=False))
        assert [r.failure["stage"] for r in results] == ["(recorded)"] * len(units)
    finally:
        REGISTRY.pop("recording", None)
