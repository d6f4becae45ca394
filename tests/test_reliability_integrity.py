"""Study folders: nothing corrupt is trusted (checksums, content-based invalidation), a moved or copied folder reruns
by skipping every stage and writes into itself, one process at a time (lock), torn log lines, and real SIGKILLs at
points named by the stage store's test hook."""

import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pe_bert.study import StageStore, Study, StudyConfig, stages
from pe_bert.study.leases import Lease
from pe_bert.study.store import KILL_HOOK, OutsideStudy
from pe_bert.training.resume import file_sha256

from helpers import MICRO_SHAPE

ROOT = Path(__file__).resolve().parents[1]


class _SingleProcess:
    count, is_main = 1, True

    def barrier(self):
        pass


def _store(path) -> StageStore:
    return StageStore(path, processes=_SingleProcess())


def _env(**extra):
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        **extra,
    }


# ----------------------------------------------------------------------------------------------- checksums


def _writer(content, calls):
    def work(folder):
        calls.append(folder)
        (folder / "model.bin").write_bytes(content())
        (folder / "sub").mkdir()
        (folder / "sub" / "metrics.json").write_text('{"loss": 1.5}')
        return {"n": len(calls)}

    return work


@pytest.mark.parametrize("damage", ["truncate_output", "edit_nested_output", "edit_result"])
def test_a_stage_whose_content_changed_is_redone(tmp_path, damage):
    store, calls = _store(tmp_path), []
    store.run("u", "s", {}, _writer(lambda: b"weights" * 100, calls))
    folder = store.folder("u", "s")
    done = json.loads((folder / "DONE.json").read_text())
    assert set(done["checksums"]) == {"model.bin", "sub/metrics.json", "result.json"}
    if damage == "truncate_output":  # still there, still the right name: only its content says it is broken
        (folder / "model.bin").write_bytes(b"weights" * 50)
    elif damage == "edit_nested_output":
        (folder / "sub" / "metrics.json").write_text('{"loss": 0.1}')
    else:
        (folder / "result.json").write_text('{"n": 99}')  # valid JSON, wrong content
    assert store.cached("u", "s", {}) is None
    assert store.run("u", "s", {}, _writer(lambda: b"weights" * 100, calls)) == {"n": 2}
    assert [e["status"] for e in store.log_entries()] == ["ran", "ran"]


def test_downstream_stages_are_invalidated_by_content_not_by_path(tmp_path):
    store, calls, downstream = _store(tmp_path), [], []
    content = {"bytes": b"first model"}

    def upstream():
        def work(folder):
            calls.append(folder)
            (folder / "model.bin").write_bytes(content["bytes"])
            return {"path": store.relative(folder)}

        return store.run("u", "pretrain", {}, work)

    def finetune():
        settings = {"pretrained": store.content_id(store.folder("u", "pretrain"))}
        assert settings["pretrained"].startswith("sha256:")
        return store.run("u", "finetune", settings, lambda folder: downstream.append(folder) or {})

    upstream(), finetune()
    upstream(), finetune()
    assert len(calls) == len(downstream) == 1
    # Upstream redone with the same content (e.g. a deterministic rerun after a truncation): nothing downstream moves.
    (store.folder("u", "pretrain") / "model.bin").write_bytes(b"first")
    upstream(), finetune()
    assert len(calls) == 2 and len(downstream) == 1
    # Redone with different content: its fine-tune is stale and redone, though every path is the same.
    (store.folder("u", "pretrain") / "model.bin").write_bytes(b"first")
    content["bytes"] = b"second model"
    upstream(), finetune()
    assert len(calls) == 3 and len(downstream) == 2
    # A path that is not a stage folder (a user's model, a Hub id) stands for itself.
    assert store.content_id("google-bert/bert-base-uncased") == "google-bert/bert-base-uncased"
    assert store.content_id(None) is None


def test_timing_files_are_verified_but_do_not_change_the_content_digest(tmp_path):
    store = _store(tmp_path)
    clock = iter(range(100))

    def work(folder):
        (folder / "model.bin").write_bytes(b"same weights")
        (folder / "trainer_state.json").write_text(f'{{"train_runtime": {next(clock)}}}')
        return {"loss": 1.0}

    store.run("u", "train", {}, work, volatile=("trainer_state.json",))
    digest = store.digest("u", "train")
    (store.folder("u", "train") / "DONE.json").unlink()  # redo it: same weights, another runtime
    store.run("u", "train", {}, work, volatile=("trainer_state.json",))
    assert store.digest("u", "train") == digest
    (store.folder("u", "train") / "trainer_state.json").write_text("{}")  # still verified: a damaged one is redone
    assert _store(tmp_path).cached("u", "train", {}) is None


def test_inputs_are_fingerprinted_by_content(tmp_path):
    from pe_bert.study.store import input_fingerprint

    (tmp_path / "a.txt").write_text("one sentence .\n")
    (tmp_path / "b.txt").write_text("one sentence .\n")
    assert input_fingerprint(tmp_path / "a.txt") == input_fingerprint(tmp_path / "b.txt")
    assert input_fingerprint(tmp_path / "a.txt").startswith("sha256:")
    folder = tmp_path / "tokenizer"
    folder.mkdir()
    (folder / "vocab.txt").write_text("[PAD]\n")
    before = input_fingerprint(folder)
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n")
    assert input_fingerprint(folder) != before
    assert input_fingerprint("google-bert/bert-base-uncased") == "google-bert/bert-base-uncased"
    assert input_fingerprint(None) is None


def test_the_corpus_is_identified_by_content_and_pinned_revision(tmp_path):
    from pe_bert.study.stages.training import corpus_identity

    # The default study's identity is the one stored studies were built with (their stages stay valid).
    assert list(corpus_identity(StudyConfig()).values()) == [None, None, None, 50000]
    hub = corpus_identity(StudyConfig(dataset_name="wikitext", dataset_config_name="wikitext-2-raw-v1"))
    assert hub["dataset_name"] == "wikitext" and "dataset_revision" not in hub
    pinned = corpus_identity(StudyConfig(dataset_name="wikitext", dataset_revision="b08601e"))
    assert pinned["dataset_revision"] == "b08601e" and pinned != corpus_identity(StudyConfig(dataset_name="wikitext"))
    # A local dataset folder by content: editing it changes the identity, moving it does not.
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "train.txt").write_text("one sentence .\n")
    before = corpus_identity(StudyConfig(dataset_name=str(folder)))
    assert before["dataset_name"].startswith("sha256:")
    moved = folder.rename(tmp_path / "elsewhere")
    assert corpus_identity(StudyConfig(dataset_name=str(moved))) == before
    (moved / "train.txt").write_text("another sentence .\n")
    assert corpus_identity(StudyConfig(dataset_name=str(moved))) != before


@pytest.mark.parametrize("fault", ["stage_is_a_file", "stage_is_a_link", "unit_is_a_file", "done_is_a_folder"])
def test_filesystem_faults_in_the_store_are_corruption_and_redone(tmp_path, fault):
    store, calls = _store(tmp_path), []
    store.run("u", "s", {}, _writer(lambda: b"weights", calls))
    folder = store.folder("u", "s")
    if fault == "stage_is_a_file":
        shutil.rmtree(folder)
        folder.write_text("not a stage")
    elif fault == "stage_is_a_link":  # a link could point at content that changes outside the study
        elsewhere = tmp_path / "elsewhere"
        shutil.move(folder, elsewhere)
        folder.symlink_to(elsewhere, target_is_directory=True)
    elif fault == "unit_is_a_file":
        shutil.rmtree(folder.parent)
        folder.parent.write_text("not a unit")
    else:
        (folder / "DONE.json").unlink()
        (folder / "DONE.json").mkdir()
    assert _store(tmp_path).run("u", "s", {}, _writer(lambda: b"weights", calls)) == {"n": 2}
    assert folder.is_dir() and not folder.is_symlink() and (folder / "model.bin").read_bytes() == b"weights"


def test_stored_compute_time_skips_records_that_do_not_parse(tmp_path):
    store, calls = _store(tmp_path), []
    store.run("u", "pretrain", {}, _writer(lambda: b"w", calls))
    stray = tmp_path / "runs" / "gone-variant" / "seed0" / "pretrain"
    stray.mkdir(parents=True)
    (stray / "DONE.json").write_text('{"seconds": ')  # a variant not in this study, torn
    assert set(store.stored_seconds()) == {"pretrain"}


def test_results_store_paths_relative_to_the_study(tmp_path):
    store = _store(tmp_path)
    folder = store.folder("rope/seed0", "finetune:builtin_nli")
    assert store.relative(folder) == "runs/rope/seed0/finetune-builtin_nli"
    assert store.resolve("runs/rope/seed0/finetune-builtin_nli") == folder


# ----------------------------------------------------------------------------------------------- stage log


def test_a_torn_log_line_is_skipped_and_never_glued_to_the_next(tmp_path, caplog):
    store = _store(tmp_path)
    store.run("u", "a", {}, lambda folder: {})
    with store.log_path.open("a") as log:
        log.write('{"time": "2026-01-01T00:00:00", "unit": "u", "sta')  # a kill during an append
    with caplog.at_level(logging.WARNING, logger="pe_bert.study.store"):
        assert [e["stage"] for e in store.log_entries()] == ["a"]
    assert "stage_log.jsonl line 2 is incomplete" in caplog.text
    store.run("u", "b", {}, lambda folder: {})
    assert [(e["stage"], e["status"]) for e in store.log_entries()] == [("a", "ran"), ("b", "ran")]
    assert store.log_path.read_text().splitlines()[-1].startswith('{"time"')


def _in_child(function, **env) -> int:
    """Run `function` in a forked child process (it inherits this process's imports: no start-up cost) and return
    how the child ended: minus the signal that killed it, or its exit status."""
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        status = 1
        try:
            os.environ.update(env)
            function()
            status = 0
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _three_stages(out):
    store = _store(out)
    for stage in ("first", "second", "third"):
        store.run("u", stage, {}, lambda folder, stage=stage: (folder / "out.txt").write_text(stage) and {})


@pytest.mark.parametrize("point", ["mid-log", "before-done"])
def test_sigkill_inside_the_stage_store_then_rerun(tmp_path, point):
    out = tmp_path / "study"
    assert _in_child(lambda: _three_stages(out), **{KILL_HOOK: f"{point}@u/second"}) == -signal.SIGKILL
    store = _store(out)
    log = store.log_path.read_text()
    if point == "mid-log":  # the stage finished (DONE.json), its log line is torn
        assert not log.endswith("\n") and (store.folder("u", "second") / "DONE.json").exists()
    else:  # outputs written in the stage's partial folder, not sealed, nothing at the stage's name
        (partial,) = store.folder("u", "second").parent.glob("second.partial-*")
        assert (partial / "out.txt").exists() and not (partial / "DONE.json").exists()
        assert not store.folder("u", "second").exists()
    assert [e["stage"] for e in store.log_entries()] == ["first"]

    _three_stages(out)
    assert not list(store.folder("u", "second").parent.glob("*.partial-*"))  # cleared when the stage was redone
    statuses = [(e["stage"], e["status"]) for e in store.log_entries()]
    second = "skipped" if point == "mid-log" else "ran"
    assert statuses == [("first", "ran"), ("first", "skipped"), ("second", second), ("third", "ran")]
    assert (store.folder("u", "third") / "out.txt").read_text() == "third"


# ----------------------------------------------------------------------------------------------- leases


def test_a_lease_has_one_holder_and_is_free_again_when_released(tmp_path):
    first, second = Lease(tmp_path / "s.lease", ttl=5), Lease(tmp_path / "s.lease", ttl=5)
    assert first.try_acquire() and not second.try_acquire()
    assert f"pid {os.getpid()}" in second.holder()
    first.release()
    assert not (tmp_path / "s.lease").exists() and second.try_acquire()
    second.release()


def test_a_waiting_contender_gets_the_lease_when_the_holder_releases_it(tmp_path):
    import threading

    holder = Lease(tmp_path / "s.lease", ttl=30)
    assert holder.try_acquire()
    waits = []
    threading.Timer(0.3, holder.release).start()
    with Lease(tmp_path / "s.lease", ttl=30).hold(poll=0.05, on_wait=waits.append):
        assert f"pid {os.getpid()}" in (tmp_path / "s.lease").read_text()
    assert len(waits) == 1  # told once whom it waited for


def test_a_dead_holders_lease_is_taken_over_at_once_on_its_host(tmp_path, caplog):
    def die_holding_the_lease():
        Lease(tmp_path / "s.lease").try_acquire()
        os.kill(os.getpid(), signal.SIGKILL)

    assert _in_child(die_holding_the_lease) == -signal.SIGKILL
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="pe_bert.study.leases"):
        with Lease(tmp_path / "s.lease", ttl=600).hold(poll=0.05):
            pass
    assert time.monotonic() - started < 5  # no need to wait for the heartbeat to go stale
    assert "Took over the lease" in caplog.text and "(killed?)" in caplog.text


def test_a_lease_from_another_host_is_taken_over_once_its_heartbeat_stops(tmp_path):
    lease = tmp_path / "s.lease"
    lease.write_text("host some-other-node pid 4242 since 2026-01-01 00:00:00 claim x\n")
    started = time.monotonic()
    with Lease(lease, ttl=1.0).hold(poll=0.05):  # its mtime does not move for the ttl (this process's clock)
        pass
    assert 1.0 <= time.monotonic() - started < 10


def test_two_processes_on_one_stage_compute_it_once(tmp_path):
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        results = pool.starmap(_slow_stage, [(str(tmp_path), i) for i in range(2)])
    assert results[0] == results[1]  # the second waited for the first and used its stored result
    statuses = sorted(e["status"] for e in _store(tmp_path).log_entries())
    assert statuses == ["ran", "skipped"]


def _slow_stage(root: str, index: int) -> dict:
    def work(folder):
        time.sleep(1.0)
        (folder / "out.txt").write_text(str(index))
        return {"computed_by": index}

    return _store(root).run("u", "s", {}, work)


def _tiny_config(out, **overrides) -> StudyConfig:
    settings = dict(
        out=str(out),
        variants=["none"],
        attenuated_w=[],
        tasks=["builtin_nli"],
        **MICRO_SHAPE,
        max_position_embeddings=32,
        max_seq_length=32,
        builtin_num_sentences=300,
        tokenizer_vocab_size=300,
        pretrain_steps=3,
        pretrain_batch_size=16,
        finetune_steps=2,
        finetune_batch_size=16,
        builtin_task_size=64,
        analysis_sentences=8,
        position_seq_len=8,
        probe_examples=16,
        probe_zero_shot_sentences=4,
        seeds=[0],
        eval_sentences=20,
        probing_train_sentences=40,
        probing_test_sentences=20,
        workers=1,
        # one budget and no untrained control: these tests are about the store and the processes (the mini study
        # of test_study.py runs both budgets and the control)
        budget_multiples=[1],
        untrained_control=None,
    )
    settings.update(overrides)
    return StudyConfig(**settings)


def _flags(config: StudyConfig) -> list[str]:
    flags = []
    for key, value in config.to_dict().items():
        if key == "pe_modules":  # pe-bert's own --pe-module flag, once per module
            flags += [arg for module in value for arg in ("--pe-module", module)]
        elif isinstance(value, bool):
            flags += [f"--{key}"] if value else []
        elif isinstance(value, list):
            flags += [f"--{key}", ",".join(map(str, value))]
        elif value is not None:
            flags += [f"--{key}", str(value)]
        elif key == "untrained_control":  # None on the command line: an empty value
            flags += [f"--{key}", ""]
    return flags


# ----------------------------------------------------------------------------------------------- real studies


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny") / "study"
    summary = Study(_tiny_config(out), progress=False).run()
    assert not summary["failures"]
    return out


def _rerun(out) -> tuple[dict, dict]:
    store = _store(out)
    before = len(store.log_entries())
    summary = Study(_tiny_config(out), progress=False).run()
    return summary, {(e["unit"], e["stage"]): e["status"] for e in store.log_entries()[before:]}


def _forge(folder: Path, result: dict | None = None, checksums: dict | None = None) -> None:
    """Edit a stored stage as a careless or hostile hand would: its result and/or checksum names changed, and
    DONE.json's checksums and digest recomputed so that every checksum matches."""
    if result is not None:
        (folder / "result.json").write_text(json.dumps(result))
    done = json.loads((folder / "DONE.json").read_text())
    done["checksums"] = {**done["checksums"], **(checksums or {}), "result.json": file_sha256(folder / "result.json")}
    content = {name: sha for name, sha in done["checksums"].items() if name not in done["volatile"]}
    done["digest"] = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    (folder / "DONE.json").write_text(json.dumps(done))


def _stored_text(out: Path) -> str:
    return "\n".join(p.read_text() for p in out.rglob("*.json")) + (out / "stage_log.jsonl").read_text()


@pytest.mark.slow
def test_stored_records_hold_no_absolute_path(tiny_study):
    text = _stored_text(tiny_study)
    assert str(tiny_study) not in text.replace(f'"out": "{tiny_study}"', "")  # study_config.json echoes --out
    results = json.loads((tiny_study / "results.json").read_text())
    assert "out" not in results["config"]
    assert results["metadata"]["model_cards"] == {"bert-none": "runs/none/seed0/pretrain/README.md"}
    assert set(results["plots"].values()) <= {p.name for p in tiny_study.glob("*.png")}
    record = json.loads((tiny_study / "runs" / "none" / "seed0" / "finetune-builtin_nli" / "DONE.json").read_text())
    assert record["settings"]["pretrained"].startswith("sha256:")


@pytest.mark.slow
@pytest.mark.parametrize("how", ["mv", "cp -r"])
def test_a_moved_or_copied_study_skips_every_stage_and_writes_into_itself(tiny_study, tmp_path, how):
    source = tmp_path / "source"
    shutil.copytree(tiny_study, source)
    target = tmp_path / "target"
    if how == "mv":
        source.rename(target)
    else:
        shutil.copytree(source, target)
        untouched = {p: p.read_bytes() for p in source.rglob("*") if p.is_file()}
    card = target / "runs" / "none" / "seed0" / "pretrain" / "README.md"
    card.write_text("stale card")
    (target / "report.md").unlink()
    summary, statuses = _rerun(target)
    assert not summary["failures"] and statuses and set(statuses.values()) == {"skipped"}
    assert (target / "report.md").is_file() and "| Locality |" in card.read_text()
    if how == "cp -r":
        assert {p: p.read_bytes() for p in source.rglob("*") if p.is_file()} == untouched
    assert str(source) not in _stored_text(target)


@pytest.mark.slow
def test_a_truncated_pretrained_model_is_redone_and_identical_weights_keep_everything_downstream(tiny_study, tmp_path):
    """The redone pretraining gives the same weights (its timing files differ): the content downstream stages
    depend on is unchanged, so they are kept."""
    out = tmp_path / "study"
    shutil.copytree(tiny_study, out)
    weights = out / "runs" / "none" / "seed0" / "pretrain" / "model.safetensors"
    intact = weights.read_bytes()
    weights.write_bytes(intact[:1000])
    summary, statuses = _rerun(out)
    assert not summary["failures"] and weights.read_bytes() == intact
    assert statuses.pop(("none/seed0", "pretrain")) == "ran" and set(statuses.values()) == {"skipped"}
    done = json.loads((weights.parent / "DONE.json").read_text())
    assert {"trainer_state.json", "training_args.bin", "train_results.json"} <= set(done["volatile"])
    _, statuses = _rerun(out)
    assert set(statuses.values()) == {"skipped"}


@pytest.mark.slow
def test_an_edited_training_file_redoes_what_was_built_on_it_and_a_moved_one_does_not(tmp_path):
    from pe_bert.data.compact import compact_sentences

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(s.text + "\n" for s in compact_sentences(300, seed=3)))
    out = tmp_path / "study"
    config = dict(train_file=str(corpus), tasks=[], probe_zero_shot_sentences=2)
    Study(_tiny_config(out, **config), progress=False).run()
    moved = tmp_path / "elsewhere.txt"
    corpus.rename(moved)
    store = _store(out)
    before = len(store.log_entries())
    Study(_tiny_config(out, **{**config, "train_file": str(moved)}), progress=False).run()
    assert {e["status"] for e in store.log_entries()[before:]} == {"skipped"}  # same content, another path
    moved.write_text(moved.read_text().replace(" the ", " a ", 50))
    before = len(store.log_entries())
    Study(_tiny_config(out, **{**config, "train_file": str(moved)}), progress=False).run()
    statuses = {(e["unit"], e["stage"]): e["status"] for e in store.log_entries()[before:]}
    assert statuses[("_shared", "data")] == statuses[("none/seed0", "pretrain")] == "ran"


@pytest.mark.slow
def test_study_killed_before_sealing_a_stage_redoes_only_that_stage(tmp_path):
    out = tmp_path / "study"
    config = _tiny_config(out)
    command = [sys.executable, "-m", "pe_bert.cli", "study", *_flags(config), "--quiet"]
    killed = subprocess.run(
        command,
        env=_env(**{KILL_HOOK: "before-done@none/seed0/finetune:builtin_nli"}),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    (partial,) = (out / "runs" / "none" / "seed0").glob("finetune-builtin_nli.partial-*")
    assert (partial / "model.safetensors").exists() and not (partial.parent / "finetune-builtin_nli").exists()
    summary, statuses = _rerun(out)  # the dead run's lock is taken over
    assert not summary["failures"]
    assert statuses == {
        ("_shared", "data"): "skipped",
        ("_shared", "probing"): "skipped",
        ("_shared/seed0", "tasks"): "skipped",
        ("none/seed0", "pretrain"): "skipped",
        ("none/seed0", "mlm"): "skipped",
        ("none/seed0", "probing"): "skipped",
        ("none/seed0", "finetune:builtin_nli"): "ran",
        ("none/seed0", "score"): "ran",
        ("none/seed0", "probe"): "ran",
    }


# ----------------------------------------------------------------------------------------------- round 4


@pytest.mark.slow
def test_a_forged_model_path_is_redone_and_nothing_outside_the_study_is_read_or_written(tiny_study, tmp_path):
    """A pretraining record pointing at a model folder outside --out (checksums recomputed, so it verifies): the
    rerun would load that model and write its model card there (and --push_to_hub upload it). The record is refused
    and the pretraining redone; the other folder is untouched."""
    out = tmp_path / "study"
    shutil.copytree(tiny_study, out)
    pretrain = out / "runs" / "none" / "seed0" / "pretrain"
    victim = tmp_path / "victim"
    shutil.copytree(pretrain, victim)  # a loadable model elsewhere
    (victim / "README.md").write_text("the victim's own card")
    _forge(pretrain, result={**json.loads((pretrain / "result.json").read_text()), "path": "../victim"})
    study = Study(_tiny_config(out), progress=False)
    (unit,) = study.units()
    engine = study.engine
    [data] = stages.data.STAGE.calls(study.config)
    shared = stages.SharedResults(corpus=engine.shared_call(data, shown=False))
    [pretrain] = stages.pretrain.STAGE.calls(study.config, unit.spec)
    assert engine.unit_call(stages.UnitState(unit, shared), pretrain).path == "runs/none/seed0/pretrain"
    assert [(e["stage"], e["status"]) for e in study.store.log_entries()[-2:]] == [
        ("data", "skipped"),
        ("pretrain", "ran"),
    ]
    assert (victim / "README.md").read_text() == "the victim's own card"  # never loaded, carded or uploaded
    with pytest.raises(OutsideStudy):  # and wherever such a record is read, it is refused
        study.store.resolve("../victim")


@pytest.mark.slow
def test_report_only_reports_the_folders_study_and_refuses_other_settings(tiny_study, tmp_path, capsys):
    from pe_bert import cli

    out = tmp_path / "study"
    shutil.copytree(tiny_study, out)
    (out / "report.md").unlink()
    card, victim = out / "runs" / "none" / "seed0" / "pretrain" / "README.md", tmp_path / "victim.md"
    victim.write_text("not the study's")
    card.unlink()
    card.symlink_to(victim)  # the card is rewritten, not checksummed: it must not be written through a link
    assert cli.main(["study", "--report-only", "--out", str(out)]) == 0  # the folder's settings, not the defaults
    results = json.loads((out / "results.json").read_text())
    assert list(results["variants"]) == ["none"] and results["config"]["tasks"] == ["builtin_nli"]
    assert not results["failures"] and "every unit stored" in capsys.readouterr().out
    assert victim.read_text() == "not the study's" and not card.is_symlink() and "| Locality |" in card.read_text()
    written = {name: (out / name).read_bytes() for name in ("report.md", "results.json")}
    assert cli.main(["study", "--report-only", "--out", str(out), "--max-steps", "7"]) == 2
    assert "(--pretrain-steps 3 there, 7 here)" in capsys.readouterr().err
    assert {name: (out / name).read_bytes() for name in written} == written  # not overwritten


def test_built_in_sentences_too_long_for_the_position_table_are_refused_before_any_model_trains(tmp_path):
    """A tokenizer trained on the user's text splits the built-in words of the probes into pieces: found once the
    data stage made it, in one line naming the length needed, before the first pretraining."""
    from transformers import AutoTokenizer

    from pe_bert.errors import InvalidInputError
    from pe_bert.study.validation import check_sentences_fit

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"lorem ipsum dolor sit amet {i} consectetur adipiscing elit\n" for i in range(300)))
    out = tmp_path / "study"
    config = _tiny_config(out, train_file=str(corpus), variants=["learned"], tasks=[], probe_zero_shot_sentences=2)
    with pytest.raises(
        InvalidInputError,
        match=r"splits the built-in .* into up to \d+ tokens, more than the 32 "
        r"positions of the absolute PE\(s\) learned: give --max-position-embeddings \d+ or more",
    ):
        Study(config, progress=False).run()
    assert not (out / "runs" / "learned").exists()  # no pretraining started
    tokenizer = AutoTokenizer.from_pretrained(out / "runs" / "_shared" / "data" / "tokenizer")
    relative = _tiny_config(out, train_file=str(corpus), variants=["rope"], tasks=[])
    check_sentences_fit(relative, tokenizer, "trained", {"sentences": [["a"] * 100]})  # rope takes any length
