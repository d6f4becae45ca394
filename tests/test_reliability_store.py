"""The study folder's records are data, never instructions, and its leases have one holder: a stored path that
leaves its folder (a stage's result, a checkpoint's manifest) is refused and the stage redone; a lease is broken
only by whoever saw it die, a holder that lost its lease discards its work, and anything odd at a lease's name is
removed instead of spun on; a folder holds one study; `runs/` may be a link to a scratch disk."""

import json
import logging
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest
from test_reliability_resume import _checkpoint

from pe_bert import cli
from pe_bert.errors import InvalidInputError
from pe_bert.study import Study
from pe_bert.study.folder import check_same_study, record_settings
from pe_bert.study.leases import HOST, Lease
from pe_bert.study.store import OutsideStudy, StageFailed
from pe_bert.training import resume
from pe_bert.training.resume import CHECKSUMS, file_sha256, last_complete_checkpoint, write_checksums

from test_reliability_integrity import _forge, _store, _tiny_config

# ----------------------------------------------------------------------------------------------- stored paths


def _stage_with_a_path(store, calls: list) -> dict:
    """A stage whose result stores a path (its folder, as the pretraining stage does)."""

    def work(folder):
        calls.append(folder)
        (folder / "model.bin").write_bytes(b"weights")
        return {"path": store.relative(folder)}

    return store.run("u", "s", {}, work, paths=lambda result: [result["path"]])


@pytest.mark.parametrize("forged", ["parent", "absolute", "other stage", "link out", "checksum name"])
def test_a_stored_path_outside_its_stage_is_refused_and_the_stage_redone(tmp_path, forged):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "README.md").write_text("not the study's")
    store, calls = _store(tmp_path / "study"), []

    def run():
        return _stage_with_a_path(_store(tmp_path / "study"), calls)

    assert run() == {"path": "runs/u/s"}
    folder = store.folder("u", "s")
    stored = {"parent": "../victim", "absolute": str(victim), "other stage": "runs/u/t", "link out": "runs/u/s/m"}
    if forged == "checksum name":
        _forge(folder, checksums={"../../../victim/README.md": file_sha256(victim / "README.md")})
    else:
        if forged == "link out":
            (folder / "m").symlink_to(victim, target_is_directory=True)
        _forge(folder, result={"path": stored[forged]})
        if forged != "other stage":  # inside the study, but not this stage's: resolving it is harmless
            with pytest.raises(OutsideStudy, match=f"names {stored[forged]!r}, outside the study folder"):
                store.resolve(stored[forged])
    assert run() == {"path": "runs/u/s"} and len(calls) == 2  # not stored: redone
    assert (victim / "README.md").read_text() == "not the study's" and sorted(p.name for p in victim.iterdir()) == [
        "README.md"
    ]


def _outside_reads(monkeypatch, root: Path) -> list[Path]:
    """Every file hashed while checking checkpoints, outside `root`."""
    outside, real = [], resume.file_sha256

    def hashing(path):
        if root.resolve() not in Path(path).resolve().parents:
            outside.append(Path(path))
        return real(path)

    monkeypatch.setattr(resume, "file_sha256", hashing)
    return outside


@pytest.mark.parametrize(
    "manifest, problem",
    [
        ({"../../outside.txt": "0" * 64}, f"{CHECKSUMS} names '../../outside.txt', outside the checkpoint"),
        ({"/etc/passwd": "0" * 64}, f"{CHECKSUMS} names '/etc/passwd', outside the checkpoint"),
        ({"link": "0" * 64}, f"{CHECKSUMS} names 'link', outside the checkpoint"),
        (["model.safetensors"], f"{CHECKSUMS} is not a mapping of file names to checksums"),
        ({"model.safetensors": 7}, f"{CHECKSUMS} is not a mapping of file names to checksums"),
        ("folder", f"{CHECKSUMS} is not a file"),
    ],
)
def test_checkpoint_manifests_that_leave_the_checkpoint_or_are_malformed_skip_it(
    tmp_path, caplog, monkeypatch, manifest, problem
):
    runs = tmp_path / "out"
    good = _checkpoint(runs / "checkpoint-4")
    write_checksums(good)
    bad = _checkpoint(runs / "checkpoint-8")
    (tmp_path / "outside.txt").write_text("outside")
    (bad / "link").symlink_to(tmp_path / "outside.txt")
    if manifest == "folder":
        (bad / CHECKSUMS).mkdir()
    else:
        (bad / CHECKSUMS).write_text(json.dumps(manifest))
    outside = _outside_reads(monkeypatch, runs)
    with caplog.at_level(logging.WARNING, logger="pe_bert.training"):
        assert last_complete_checkpoint(runs) == str(good)
    assert f"Skipping the incomplete checkpoint {bad}: {problem}" in caplog.text and not outside


def test_a_weight_index_naming_shards_outside_the_checkpoint_is_refused(tmp_path):
    folder = _checkpoint(tmp_path / "checkpoint-2", weights=False)
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"w": "../../shard.safetensors"}}))
    assert resume.checkpoint_problem(folder) == (
        "model.safetensors.index.json names '../../shard.safetensors', outside the checkpoint"
    )


# ----------------------------------------------------------------------------------------------- leases


def _dead_pid() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_a_late_breaker_breaks_only_the_lease_it_saw_die(tmp_path):
    """Two waiters see the same dead lease; one breaks it and takes the lease, the other is delayed 0.3 s between
    its look and its break (a slow filesystem): it must not break the live winner's lease."""
    path = tmp_path / "s.lease"
    path.write_text(f"host {HOST} pid {_dead_pid()} since 2026-01-01 00:00:00 claim dead\n")

    class LateBreaker(Lease):
        def _break(self, holder):
            time.sleep(0.3)
            return super()._break(holder)

    late, acquired = LateBreaker(path, ttl=600), threading.Event()
    threading.Thread(target=lambda: (late.acquire(poll=0.02), acquired.set()), daemon=True).start()
    time.sleep(0.1)  # the late breaker has seen the dead lease and is on its way to break it
    winner = Lease(path, ttl=600)
    winner.acquire(poll=0.02)
    time.sleep(0.5)  # the late breaker has had its turn
    assert winner.held() and not acquired.is_set()  # one holder
    winner.release()
    assert acquired.wait(5) and late.held()  # and the late one gets it once it is free
    late.release()


def test_a_holder_paused_past_its_lease_discards_its_work_and_uses_the_new_holders(tmp_path, monkeypatch):
    """Study A's process is stopped (SIGSTOP) while it computes a stage; B takes the lease over once A's heartbeat
    is stale and computes the stage; A, continued, must not seal the stage: it discards its work and returns B's."""
    monkeypatch.setenv("PE_BERT_LEASE_SECONDS", "0.4")
    out, started, answer = tmp_path / "study", tmp_path / "started", tmp_path / "a.json"

    def work(by):
        def compute(folder):
            started.touch()
            time.sleep(1.0)  # A is stopped in here
            (folder / "out.txt").write_text(by)
            return {"by": by}

        return compute

    pid = os.fork()
    if pid == 0:  # study A: never return into pytest
        status = 1
        try:
            answer.write_text(json.dumps(_store(out).run("u", "s", {}, work("A"))))
            status = 0
        finally:
            os._exit(status)
    try:
        deadline = time.monotonic() + 30
        while not started.exists():
            assert time.monotonic() < deadline, "study A did not start its stage"
            time.sleep(0.01)
        os.kill(pid, signal.SIGSTOP)
        started.unlink()
        assert _store(out).run("u", "s", {}, work("B")) == {"by": "B"}  # B took the lease over and computed it
    finally:
        os.kill(pid, signal.SIGCONT)
        _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert json.loads(answer.read_text()) == {"by": "B"}  # A used B's result
    store = _store(out)
    assert (store.folder("u", "s") / "out.txt").read_text() == "B" and store.cached("u", "s", {}) == {"by": "B"}
    assert [e["status"] for e in store.log_entries()] == ["ran", "skipped"]  # sealed once, by B
    assert not list(store.folder("u", "s").parent.glob("s.partial-*"))  # A's work is gone


@pytest.mark.parametrize("odd", ["dangling link", "link to a file", "folder", "fifo"])
def test_something_else_at_a_lease_path_is_removed_not_spun_on(tmp_path, caplog, odd):
    store = _store(tmp_path)
    lease = store.folder("u", "s").with_name("s.lease")
    lease.parent.mkdir(parents=True)
    target = tmp_path / "target.txt"
    target.write_text("keep me")
    kind = {"dangling link": "a link", "link to a file": "a link", "folder": "a folder", "fifo": "a FIFO"}[odd]
    if odd == "dangling link":
        lease.symlink_to(tmp_path / "nowhere")
    elif odd == "link to a file":
        lease.symlink_to(target)
    elif odd == "folder":
        (lease / "inside").mkdir(parents=True)
    else:
        os.mkfifo(lease)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="pe_bert.study.leases"):
        assert store.run("u", "s", {}, lambda folder: {"ok": 1}) == {"ok": 1}
    assert time.monotonic() - started < 10 and f"{lease} was {kind}, not a lease" in caplog.text
    assert not lease.exists() and not lease.is_symlink() and target.read_text() == "keep me"


def test_a_lease_name_that_can_neither_be_taken_nor_seen_is_an_error_not_a_spin(tmp_path, monkeypatch):
    from pe_bert.study import leases

    monkeypatch.setattr(leases, "MAX_VANISHED", 5)
    monkeypatch.setattr(Lease, "try_acquire", lambda self: False)  # `link` says the name exists ...
    monkeypatch.setattr(Lease, "_observe", lambda self: None)  # ... and nothing is seen there
    with pytest.raises(StageFailed, match=r"u/s failed: LeaseError: Cannot take the lease .*s.lease: the name is"):
        _store(tmp_path).run("u", "s", {}, lambda folder: {})


# ----------------------------------------------------------------------------------------------- the folder


def test_runs_as_a_link_to_a_scratch_folder_is_followed_and_links_below_it_are_not(tmp_path):
    out, calls = tmp_path / "study", []

    def run():
        return _stage_with_a_path(_store(out), calls)

    run()
    scratch = tmp_path / "scratch"
    shutil.move(out / "runs", scratch)
    (out / "runs").symlink_to(scratch, target_is_directory=True)
    assert run() == {"path": "runs/u/s"} and len(calls) == 1  # stored: skipped
    assert _store(out).resolve("runs/u/s/model.bin").read_bytes() == b"weights"
    elsewhere = tmp_path / "elsewhere"  # a link below runs/ is still not trusted
    shutil.move(scratch / "u" / "s", elsewhere)
    (scratch / "u" / "s").symlink_to(elsewhere, target_is_directory=True)
    assert run() == {"path": "runs/u/s"} and len(calls) == 2
    (out / "runs").unlink()
    (out / "runs").symlink_to(tmp_path / "unmounted")
    with pytest.raises(InvalidInputError, match=r"runs is a link to .*unmounted, which is not a folder"):
        _store(out)


def test_a_folder_holds_one_study_and_another_is_refused_at_once(tmp_path, capsys):
    out = tmp_path / "study"
    first = dict(variants=["learned", "rope"], tasks=[], pretrain_steps=20)
    record_settings(_tiny_config(out, **first))  # what the first study's run does before anything else
    other = _tiny_config(out, **{**first, "pretrain_steps": 40, "variants": ["learned"]})
    message = r"holds a study with other settings \(--variants learned,rope there, learned here; --pretrain-steps 20"
    for look in (lambda s: s.run(), lambda s: s.report_only(), lambda s: s.plan()):
        with pytest.raises(InvalidInputError, match=message):
            look(Study(other, progress=False))
    assert sorted(p.name for p in out.iterdir()) == ["study_config.json"]  # refused before anything was written
    # Where and how it runs, whether it is pushed, where its inputs lie: the same study.
    check_same_study(_tiny_config(out, **first, workers=3, job_cpus=4, push_to_hub=True, hub_org="org"))
    # Naming only the folder takes its settings; a flag that differs is refused in one line.
    assert cli.main(["study", "--out", str(out), "--dry-run"]) == 0
    plan = capsys.readouterr().out
    assert "learned/seed0" in plan and "rope/seed0" in plan and "none/seed0" not in plan
    assert cli.main(["study", "--out", str(out), "--max-steps", "40", "--dry-run"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "--pretrain-steps 20 there, 40 here" in error[0]
    assert sorted(p.name for p in out.iterdir()) == ["study_config.json"]
