"""Processes of a parallel study: workers die with the study whatever kills it, SIGINT/SIGTERM stop it with one line
and no stage lease left behind (exit 130/143) — Ctrl-C as a terminal sends it, to the whole process group, at any
moment, start-up included —, and a worker that dies does not take the study with it."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pe_bert.study.store import KILL_HOOK, KILL_ONCE

from test_reliability_integrity import _env, _flags, _store, _tiny_config

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the workers")


def _descendants(pid: int) -> set[int]:
    """Every live process below `pid` (from /proc)."""
    children: dict[int, list[int]] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("State", "").startswith("Z"):
            continue
        children.setdefault(int(fields["PPid"]), []).append(int(fields["Pid"]))
    found, stack = set(), [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def _alive(pids) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        if "State:\tZ" not in state:
            alive.add(pid)
    return alive


def _start(out, **overrides):
    """A study in a session of its own, as a terminal runs a command: its process group is the study's alone."""
    settings = {"variants": ["none", "rope"], "seeds": [0, 1], "workers": 2, "pretrain_steps": 400, "tasks": []}
    settings.update(overrides)
    return subprocess.Popen(
        [sys.executable, "-m", "pe_bert.cli", "study", *_flags(_tiny_config(out, **settings)), "--quiet"],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _ctrl_c(process) -> None:
    """What a terminal does on Ctrl-C: SIGINT to every process of the foreground process group."""
    os.killpg(process.pid, signal.SIGINT)


def _wait_for(condition, process, what: str, timeout=120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{what} did not happen"
        time.sleep(0.02)


def _wait_for_workers(process, count=2, timeout=120, settle=3.0) -> set[int]:
    """The study's processes once `count` workers exist and `settle` seconds later (to import and start a unit)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = {
            pid
            for pid in _descendants(process.pid)
            if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
        }
        if len(workers) >= count:
            time.sleep(settle)
            return _descendants(process.pid)
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    raise AssertionError("the study's workers did not start")


def _workers(pids) -> set[int]:
    """The unit workers among `pids` (not multiprocessing's resource tracker, which writes nothing)."""
    workers = set()
    for pid in pids:
        try:
            if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"):
                workers.add(pid)
        except OSError:
            pass
    return workers


def _gone(pids, timeout=15) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not _alive(pids)


@pytest.mark.slow
def test_sigkill_of_the_study_kills_its_workers(tmp_path):
    process = _start(tmp_path / "study")
    workers = _wait_for_workers(process)
    process.kill()
    process.wait()
    assert _gone(workers), f"orphaned workers: {_alive(workers)}"


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr[-3000:]
    return lines[0]


@pytest.mark.slow
@pytest.mark.parametrize(
    "signum, status, ctrl_c", [(signal.SIGTERM, 143, False), (signal.SIGINT, 130, True)], ids=["sigterm", "ctrl-c"]
)
def test_sigterm_and_sigint_stop_the_study_in_one_line_leaving_no_lease(tmp_path, signum, status, ctrl_c):
    """SIGTERM once the workers run units; Ctrl-C while they are still importing (their start-up)."""
    out = tmp_path / "study"
    process = _start(out)
    workers = _wait_for_workers(process, settle=1.0 if ctrl_c else 3.0)
    units = _workers(workers)
    assert len(units) == 2
    _ctrl_c(process) if ctrl_c else process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == status, stderr[-3000:]
    line = _one_line(stderr)
    assert line.startswith(f"pe-bert study: interrupted by {signal.Signals(signum).name}")
    assert "run the same command again to resume" in line
    assert not list(out.glob("runs/**/*.lease"))  # the workers' leases removed, the study's own released
    assert not _alive(units)  # killed before the study released its leases
    assert _gone(workers)  # and the rest (multiprocessing's resource tracker) soon after


def test_ctrl_c_while_the_command_starts_is_one_line(tmp_path):
    out = tmp_path / "study"
    process = _start(out)

    def importing_torch():  # deep in the imports, long before any handler of the command could be in place
        return "libtorch" in Path(f"/proc/{process.pid}/maps").read_text()

    _wait_for(importing_torch, process, "the import of torch")
    _ctrl_c(process)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr[-3000:]
    assert _one_line(stderr) == "pe-bert: interrupted while starting; nothing was done."
    assert not out.exists()


@pytest.mark.slow
def test_ctrl_c_while_the_study_runs_a_unit_itself_stops_it(tmp_path):
    """One worker: units run in the study's own process, where the stage store records a failed stage and goes on
    for any Exception. Ctrl-C must stop the study instead: no run reported failed, no report."""
    out = tmp_path / "study"
    process = _start(out, workers=1, seeds=[0])
    _wait_for(lambda: list(out.glob("runs/*/seed0/pretrain.lease")), process, "the first pretraining")
    _ctrl_c(process)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr[-3000:]
    assert _one_line(stderr).startswith("pe-bert study: interrupted by SIGINT") and not stdout
    assert not (out / "report.md").exists() and not list(out.glob("runs/**/*.lease"))
    assert not [e for e in _store(out).log_entries() if e["status"] == "failed"]


@pytest.mark.slow
def test_a_worker_that_dies_once_is_retried_and_one_that_dies_again_is_reported(tmp_path):
    out = tmp_path / "once"
    config = _tiny_config(out, variants=["none", "rope"], workers=2, tasks=[])
    command = [sys.executable, "-m", "pe_bert.cli", "study", *_flags(config), "--quiet"]
    hook = {KILL_HOOK: "before-done@rope/seed0/score"}
    once = subprocess.run(
        command, env=_env(**hook, **{KILL_ONCE: str(tmp_path / "killed")}), capture_output=True, text=True, timeout=600
    )
    assert once.returncode == 0, once.stderr[-3000:]
    assert (tmp_path / "killed").exists()  # the worker did die
    results = json.loads((out / "results.json").read_text())
    assert not results["failures"] and len(results["runs"]) == 2  # its unit was rerun and finished

    # The same study again with that unit's score deleted, and a worker that dies there every time.
    shutil.rmtree(out / "runs" / "rope" / "seed0" / "score")
    always = subprocess.run(command, env=_env(**hook), capture_output=True, text=True, timeout=600)
    assert always.returncode == 0, always.stderr[-3000:]  # not every unit failed
    results = json.loads((out / "results.json").read_text())
    assert [f["run"] for f in results["failures"]] == ["rope/seed0"]
    assert "worker process died twice" in results["failures"][0]["error"]
    assert {r["variant"] + str(r["seed"]) for r in results["runs"] if not r["failure"]} == {"none0"}
    assert "`rope/seed0` failed" in (out / "report.md").read_text()
    assert "1 run(s) failed" in always.stdout
