"""Studies beyond one machine, tested in submitit's local mode and on a real one-node SLURM cluster (`.ci/slurm/start`;
skipped, saying why, where none answers): one job per unit gives the same results as the local pool, and so do units
run in the study's own process (unit_threads); a job killed or cancelled mid-stage fails in one line and is
resubmitted and resumes; slurmd restarted mid-run changes nothing; a job that reaches its time limit says so; local
jobs end with their study; two launchers on one folder compute each stage once; a
folder moves between them; `--dry-run` plans without training; `--report-only` rebuilds from the store."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pe_bert.study import StageStore, Study
from pe_bert.study.store import KILL_HOOK

from test_reliability_integrity import _env, _flags, _store, _tiny_config

pytest.importorskip("submitit")


def _config(out, **overrides):
    return _tiny_config(out, **{"variants": ["none", "rope"], "tasks": [], "workers": 2, **overrides})


def _results(out) -> dict:
    results = json.loads((out / "results.json").read_text())
    results.pop("metadata")
    return results


def _statuses(out, since=0) -> list[tuple]:
    return [(e["unit"], e["stage"], e["status"]) for e in _store(out).log_entries()[since:]]


@pytest.fixture(scope="module")
def local_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "study"
    Study(_config(out), progress=False).run()
    return out


@pytest.mark.slow
def test_one_job_per_unit_gives_the_results_of_the_local_pool(local_study, tmp_path):
    out = tmp_path / "jobs"
    summary = Study(_config(out, launcher="submitit-local", job_cpus=1), progress=False).run()
    assert not summary["failures"]
    assert _results(out) == _results(local_study)  # one torch thread per unit on both sides
    assert not (out / "jobs").exists()  # every job's folder removed once its result was collected
    assert not list(out.glob("runs/**/*.lease"))


@pytest.mark.slow
def test_a_job_killed_mid_stage_is_resubmitted_and_resumes(local_study, tmp_path):
    out = tmp_path / "killed"
    command = [
        sys.executable,
        "-m",
        "pe_bert.cli",
        "study",
        *_flags(_config(out, launcher="submitit-local")),
        "--quiet",
    ]
    killed = subprocess.run(
        command, env=_env(**{KILL_HOOK: "before-done@rope/seed0/probing"}), capture_output=True, text=True, timeout=600
    )
    assert killed.returncode == 0, killed.stderr[-3000:]  # one unit failed, the other finished
    failures = json.loads((out / "results.json").read_text())["failures"]
    assert [f["run"] for f in failures] == ["rope/seed0"] and "job" in failures[0]["error"]
    (stage,) = (out / "runs" / "rope" / "seed0").glob("probing.partial-*")  # begun in its partial folder
    assert not (stage / "DONE.json").exists() and not stage.with_name("probing").exists()  # never sealed
    before = len(_store(out).log_entries())
    again = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    ran = {(unit, stage) for unit, stage, status in _statuses(out, before) if status == "ran"}
    assert ran == {("rope/seed0", "probing"), ("rope/seed0", "score"), ("rope/seed0", "probe")}
    assert _results(out) == _results(local_study)

    # The first run's failure: one line; the SIGKILLed job left no error line in its log, which is kept in logs/.
    error = failures[0]["error"]
    assert "ended without a result, and without an error in its log (killed by a signal?)" in error
    log = re.search(r"its log is (\S+)$", error).group(1)
    assert log.startswith("logs/rope/seed0/job-") and "Loading pickle" in (out / log).read_text()
    assert not (out / "jobs").exists()


@pytest.mark.slow
@pytest.mark.parametrize("how", ["sigkill", "ctrl-c"])
def test_killing_a_study_ends_its_local_jobs(tmp_path, how):
    """submitit-local jobs are processes of this machine: SIGKILL of their study releases its lifeline (they stop,
    releasing their stage leases); Ctrl-C, which a terminal sends to every process of the group, reaches the study
    alone, which stops them and says so in one line."""
    from test_reliability_processes import _alive, _descendants, _gone

    out = tmp_path / "study"
    config = _config(out, launcher="submitit-local", pretrain_steps=400)
    command = [sys.executable, "-m", "pe_bert.cli", "study", *_flags(config), "--quiet"]
    process = subprocess.Popen(command, env=_env(), stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 300
    while len(list(out.glob("runs/*/seed0/pretrain.lease"))) < 2:  # both jobs are training
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.1)
    jobs = _descendants(process.pid)  # the jobs' controllers and the jobs themselves
    assert len(jobs) >= 4
    process.kill() if how == "sigkill" else os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert _gone(jobs, timeout=30), f"jobs left running: {_alive(jobs)}"
    assert not list(out.glob("runs/**/*.lease"))
    if how == "ctrl-c":
        assert process.returncode == 130 and "Traceback" not in stderr, stderr[-3000:]
        assert [line for line in stderr.splitlines() if line.strip()] == [
            f"pe-bert study: interrupted by SIGINT; finished stages are kept in {out}: run the same command again "
            "to resume."
        ]
        assert not (out / "jobs").exists()  # the stopped jobs' folders too


def test_a_failed_job_is_one_line_its_own_last_error():
    from pe_bert.study.jobs import _trace, last_error_line

    failed = (  # submitit's FailedJobError, around the job's traceback
        "Job (task=0) failed during processing with trace:\n----------------------\nTraceback (most recent call "
        'last):\n  File "x.py", line 1, in <module>\nValueError: no such tokenizer\n\n----------------------\n'
        "You can check full logs with 'job.stderr(0)' and 'job.stdout(0)'or at paths:\n  - /o/jobs/1/1_0_log.err"
    )
    assert last_error_line(_trace(Exception(failed))) == "ValueError: no such tokenizer"
    cancelled = (
        "submitit INFO (2026-01-01 10:00:00,000) - Loading pickle: /o/jobs/12_0/12_0_submitted.pkl\n"
        "slurmstepd: error: *** JOB 12 ON vm CANCELLED AT 2026-01-01T10:00:05 DUE TO TIME LIMIT ***\n"
        "srun: error: vm: task 0: Killed\n"
        "submitit WARNING (2026-01-01 10:00:05,000) - Bypassing signal SIGTERM\n"
    )
    assert last_error_line(cancelled) == (
        "slurmstepd: error: *** JOB 12 ON vm CANCELLED AT 2026-01-01T10:00:05 DUE TO TIME LIMIT ***"
    )
    assert last_error_line("submitit INFO (2026-01-01) - Loading pickle: x\n") is None


@pytest.mark.slow
def test_two_launchers_at_once_on_one_folder_compute_each_stage_once(local_study, tmp_path):
    out = tmp_path / "shared"
    commands = [
        [sys.executable, "-m", "pe_bert.cli", "study", *_flags(_config(out, launcher=launcher)), "--quiet"]
        for launcher in ("local", "submitit-local")
    ]
    processes = [
        subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for command in commands
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=900)
        assert process.returncode == 0, stderr[-3000:]
    ran = [(unit, stage) for unit, stage, status in _statuses(out) if status == "ran"]
    assert len(ran) == len(set(ran)) == 2 + 2 * 5  # data, probing split; 5 stages for each of the 2 units
    assert _results(out) == _results(local_study)


@pytest.mark.slow
def test_a_study_moves_between_launchers(local_study, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(local_study, moved)
    before = len(_store(moved).log_entries())
    Study(_config(moved, launcher="submitit-local"), progress=False).run()
    assert {status for *_, status in _statuses(moved, before)} == {"skipped"}
    assert _results(moved) == _results(local_study)


@pytest.mark.slow
def test_dry_run_plans_without_training_and_report_only_names_what_is_missing(local_study, tmp_path, capsys):
    from pe_bert import cli

    partial = tmp_path / "partial"
    shutil.copytree(local_study, partial)
    shutil.rmtree(StageStore(partial, processes=_store(partial).processes).folder("rope/seed0", "score"))
    (partial / "report.md").unlink()
    assert cli.main(["study", *_flags(_config(partial)), "--dry-run"]) == 0
    plan = capsys.readouterr().out
    rows = {tuple(line.split()[:3]) for line in plan.splitlines() if line.startswith(("_shared", "none", "rope"))}
    assert ("rope/seed0", "score", "to") in rows and ("rope/seed0", "probe", "to") in rows
    assert ("rope/seed0", "pretrain", "stored") in rows and ("none/seed0", "probe", "stored") in rows
    assert (
        "To run: 2 stages (10 stored)" in plan and "GPU-hours at 100 TFLOP/s" in plan and "Nothing was trained" in plan
    )
    assert not (partial / "report.md").exists() and not (partial / "runs" / "rope" / "seed0" / "score").exists()

    assert cli.main(["study", *_flags(_config(partial)), "--report-only"]) == 0
    assert "1 unit(s) missing: rope/seed0" in capsys.readouterr().out
    report = (partial / "report.md").read_text()
    assert "`rope/seed0` failed at stage `score`" in report and "not in the store yet" in report
    assert not (partial / "runs" / "rope" / "seed0" / "score").exists()  # nothing computed

    empty = tmp_path / "empty"
    assert cli.main(["study", *_flags(_config(empty)), "--report-only"]) == 2
    assert "holds no finished shared stage 'data'" in capsys.readouterr().err


@pytest.mark.slow
def test_where_a_unit_runs_changes_no_number(local_study, tmp_path):
    """The pool (local_study), --workers 1 (units in the study's own process) and one variant alone (its one unit
    in the study's process too) give the same numbers: every unit computes with the study's unit_threads."""
    in_process = tmp_path / "in-process"
    Study(_config(in_process, workers=1), progress=False).run()
    assert _results(in_process) == _results(local_study)
    assert _results(local_study)["config"]["unit_threads"] == 1  # a setting that changes numbers: in the config
    alone = tmp_path / "alone"
    Study(_config(alone, variants=["rope"]), progress=False).run()

    def rope(out):
        return next(run for run in _results(out)["runs"] if run["variant"] == "rope")

    assert rope(alone) == rope(local_study)


def test_unit_threads_identify_stages_and_fit_the_jobs(tmp_path):
    def stage_settings(threads) -> dict:
        out = tmp_path / f"threads{threads}"
        Study(_config(out, unit_threads=threads), progress=False).engine.run_stage("u", "s", {"x": 1}, lambda f: {})
        return json.loads((out / "runs" / "u" / "s" / "DONE.json").read_text())["settings"]

    assert stage_settings(1) == {"x": 1}  # the default: stages stored before the setting existed are kept
    assert stage_settings(2) == {"x": 1, "threads": 2}
    with pytest.raises(ValueError, match="--unit-threads is 0: give a positive number of threads"):
        _config(tmp_path, unit_threads=0)
    with pytest.raises(ValueError, match="--job-cpus 1 is fewer than --unit-threads 2.*Give --job-cpus 2 or more"):
        _config(tmp_path, launcher="slurm", unit_threads=2)


def test_units_flush_denormals_and_give_the_setting_back():
    """A unit computes with denormal floats flushed to zero (the attenuated prior at large w puts attention weights
    there, where the CPU is ~100x slower); the process gets its own mode back afterwards."""
    import torch

    from pe_bert.study.runner import set_unit_threads

    tiny = torch.tensor([1e-39])  # a float32 denormal
    assert tiny.item() > 0 and (tiny * 1.5).item() > 0
    restore = set_unit_threads(1)
    try:
        if not torch.set_flush_denormal(True):
            pytest.skip("this CPU cannot flush denormals")
        assert (tiny * 1.5).item() == 0.0
    finally:
        restore()
    assert (tiny * 1.5).item() > 0


def _no_slurm() -> str | None:
    """Why the SLURM tests cannot run here, or None when a cluster answers."""
    if shutil.which("sbatch") is None:
        return "no SLURM here (no sbatch); .ci/slurm/start starts a one-node cluster (root, Debian's slurm-wlm)"
    try:
        nodes = subprocess.run(["sinfo", "--noheader", "--states=idle,mixed,allocated"], capture_output=True, text=True)
    except OSError as error:
        return f"sinfo failed: {error}"
    if nodes.returncode != 0 or not nodes.stdout.strip():
        return "no SLURM node answers (sinfo): start one with .ci/slurm/start (root, Debian's slurm-wlm)"
    config = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True).stdout
    if not re.search(r"^ClusterName\s*=\s*pe-bert-ci$", config, re.MULTILINE):
        return "the SLURM cluster here is not .ci/slurm/start's (ClusterName pe-bert-ci): these tests kill its slurmd"
    if os.geteuid() != 0:
        return "not root: these tests restart the cluster's slurmd"
    return None


NO_SLURM = _no_slurm()
slurm = pytest.mark.skipif(NO_SLURM is not None, reason=NO_SLURM or "")


def _slurm_study(out, **overrides) -> list[str]:
    config = _config(out, launcher="slurm", job_mem_gb=1, **overrides)
    return [sys.executable, "-m", "pe_bert.cli", "study", *_flags(config)]


def _console_is_clean(*streams: str) -> None:
    """What a SLURM study printed: no submitit warnings, no progress-bar frames (its stderr is not a terminal)."""
    for text in streams:
        assert "Bypassing" not in text and "submitit" not in text and "\r" not in text, text[-3000:]


@slurm
@pytest.mark.slow
def test_slurm_jobs_survive_slurmd_and_a_cancelled_one_fails_in_one_line_then_resumes(local_study, tmp_path):
    out = tmp_path / "slurm"
    command = _slurm_study(out)
    process = subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_for(condition, what: str) -> None:
        deadline = time.monotonic() + 300
        while not condition():
            assert process.poll() is None and time.monotonic() < deadline, (what, process.communicate())
            time.sleep(0.05)

    def running() -> list[str]:
        queue = subprocess.run(["squeue", "--noheader", "--array", "--states=R", "--format=%i"], capture_output=True)
        return queue.stdout.decode().split()

    # Both jobs in their stages (a step being launched would fail with slurmd gone: SLURM's own limit).
    wait_for(lambda: all(list(out.glob(f"runs/{unit}/seed0/*")) for unit in ("none", "rope")), "both units")
    none, rope = sorted(running(), key=lambda job: job.endswith("_1"))  # array index = unit order
    subprocess.run(["scancel", rope], check=True)  # no accounting here: sacct cannot say how it ended
    wait_for(lambda: rope not in running(), "the cancel")
    # Then slurmd dies and comes back while the other job runs (a cancel sent while it restarts can be lost: the job
    # then finishes and is collected as finished, not what this test is about): that job runs on.
    assert none in running() and not (out / "runs" / "none" / "seed0" / "probe" / "DONE.json").exists()
    os.kill(int(Path("/run/slurmd.pid").read_text()), signal.SIGKILL)
    subprocess.run([shutil.which("slurmd") or "/usr/sbin/slurmd"], check=True)
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]  # one unit failed, not both
    _console_is_clean(stdout, stderr)
    failures = json.loads((out / "results.json").read_text())["failures"]
    assert [f["run"] for f in failures] == ["rope/seed0"]
    assert re.match(
        rf"job {rope} ended without a result \(CANCELLED\): slurmstepd\S*: error: \*\*\* JOB ", failures[0]["error"]
    )
    assert not (out / "jobs").exists() and (out / "logs" / "rope" / "seed0" / f"job-{rope}.log").is_file()
    assert not list(out.glob("runs/**/*.lease"))  # the cancelled job stopped at SIGTERM, releasing its lease

    before = len(_store(out).log_entries())
    again = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    ran = [stage for unit, stage, status in _statuses(out, before) if status == "ran" and unit == "rope/seed0"]
    assert ran and {status for unit, _, status in _statuses(out, before) if unit != "rope/seed0"} == {"skipped"}
    stages = Study(_config(out), progress=False).unit_stage_names()
    assert ran == stages[stages.index(ran[0]) :]  # from the stage it was cancelled in, on
    assert _results(out) == _results(local_study)
    assert not (out / "jobs").exists()


@slurm
@pytest.mark.slow
def test_a_slurm_job_that_reaches_its_time_limit_fails_saying_so(tmp_path):
    out = tmp_path / "slurm"
    command = _slurm_study(out, variants=["rope"], pretrain_steps=100_000, job_time_min=1)
    result = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stderr[-3000:]  # every unit failed
    _console_is_clean(result.stdout, result.stderr)
    [failure] = json.loads((out / "results.json").read_text())["failures"]
    assert failure["stage"] == "pretrain"
    assert failure["error"].startswith("TimeoutError: the job reached its time limit (--job-time-min 1)")
    assert not (out / "jobs").exists()


def test_launcher_errors_are_one_line(tmp_path, capsys, monkeypatch):
    from pe_bert import cli

    assert cli.main(["study", "--out", str(tmp_path / "s"), "--launcher", "kubernetes"]) == 2
    assert "--launcher 'kubernetes' is not one of local, slurm, submitit-local" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "submitit", None)  # not installed
    from pe_bert.study.jobs import executor

    with pytest.raises(Exception, match=r'pip install "pe_bert\[slurm\]"'):
        executor(_config(tmp_path / "s", launcher="slurm"), tmp_path)
