"""A study's units as cluster jobs, through submitit (SLURM), one job per unit (variant x seed).

Why SLURM, through submitit: it is what academic and most industrial research clusters run; submitit is its Python
interface (pure Python: jobs are pickled functions, results come back pickled), it has a local executor that runs
the very same jobs as processes of this machine (how the tests run it), and it sets up data-parallel jobs (one task
per GPU) for `accelerate`/DDP inside a job.

The stage store on the shared filesystem is the only source of truth: a job computes the stages of its unit there
(each under its lease, `pe_bert.study.leases`), and what it returns is what it stored. A job that is pre-empted,
cancelled or killed leaves its stage without a DONE.json and its lease without a heartbeat: nothing it left is
trusted, and the next submission (the same command again) redoes that stage, keeping every finished one.

* **Following jobs without accounting.** submitit asks `sacct` how a job ended; on a cluster without accounting
  (no slurmdbd) `sacct` fails, and a job that died without writing its result (`scancel`, a node failure, the time
  limit) was waited for forever. The study follows its SLURM jobs with `squeue` instead, which every cluster
  answers: a job no longer in the queue and without a result has ended. `scontrol show job` says how (CANCELLED,
  TIMEOUT, ...: no result is coming, the unit failed at once); a job that COMPLETED, or that the controller has
  already forgotten, gets `RESULT_GRACE_SECONDS` for its result file to appear on the shared filesystem. A failure of
  `squeue` itself (the controller restarting) concludes nothing. `sacct` is never needed.
* **Local jobs end with their study.** submitit-local jobs are processes of this machine that would outlive a study
  killed by any signal. The study holds a lifeline (an exclusive `flock` on a file in OUT/jobs/, released by the
  kernel however the study dies) and each local job watches it: once it is released, the job stops its stage
  (releasing the stage's lease) and exits. On SIGINT/SIGTERM the study releases it itself and waits for its jobs;
  SLURM jobs are cancelled (`scancel`). Local jobs start with SIGINT blocked: a terminal's Ctrl-C reaches the study
  alone, which stops them.
* **A cancelled job stops at once.** submitit ignores SIGTERM; a unit's job stops at it instead (scancel, the time
  limit, a pre-emption), unwinding its stage and releasing its lease, instead of running on until SIGKILL.
* **One line per failed job.** A failed job is reported with its own last error line (the exception it raised, or
  SLURM's `*** JOB ... CANCELLED ... ***`), and its logs are moved to OUT/logs/<unit>/job-<id>.log; the folder of
  every collected job is removed, so OUT/jobs/ holds only the jobs still running. submitit's own log lines go to
  OUT/logs/submitit.log, not to the console. (A study killed by SIGKILL cannot collect: its jobs' folders stay, with
  their logs.)
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..errors import UsageError
from ..jsonable import jsonable
from .leases import release_leases_of

CLUSTERS = {"slurm": "slurm", "submitit-local": "local"}
JOBS_FOLDER = "jobs"  # OUT/jobs/<job id>/: submitit's scripts, pickles and logs, while the job runs
POLL_SECONDS = 2.0
QUEUE_POLL_SECONDS = 5.0  # how often squeue is asked (one call for every job of the study)
# After a job left the queue: how long its result file may take to appear on a shared filesystem (attribute caches).
RESULT_GRACE_SECONDS = float(os.environ.get("PE_BERT_RESULT_GRACE_SECONDS", 60))
# SLURM states after which no result file is coming (`scontrol show job`'s JobState).
ENDED_WITHOUT_RESULT = {
    "BOOT_FAIL",
    "CANCELLED",
    "DEADLINE",
    "FAILED",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "PREEMPTED",
    "TIMEOUT",
}
LIFELINE_POLL_SECONDS = 0.5
STOP_GRACE_SECONDS = 10.0  # a local job told to stop that has not unwound by then exits at once


def _submitit():
    try:
        import submitit
    except ImportError:
        raise UsageError(
            '--launcher slurm needs submitit, which is not installed: pip install "pe_bert[slurm]" '
            "(or pip install submitit)."
        ) from None
    return submitit


# ----------------------------------------------------------------------------------------------- in the job


class JobStopped(BaseException):
    """Raised in a job's main thread to stop it: a BaseException, so that the stage store does not record it as a
    failed stage but unwinds it, releasing the stage's lease."""


def _stop_on(signum: int, why: str) -> None:
    """Stop this job (`JobStopped`) when it receives `signum`; once: a second signal must not interrupt the
    unwinding (a lease half released)."""

    def stop(received, frame):
        signal.signal(signum, signal.SIG_IGN)
        raise JobStopped(why)

    signal.signal(signum, stop)


def _watch_lifeline(path: str, runs: Path) -> None:
    """Stop this job (see the module docstring) as soon as the study holding `path` is gone; `runs`: the study's
    stages, whose leases this job holds."""
    try:
        handle = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        handle = None  # released and removed before this job started

    _stop_on(signal.SIGUSR1, "the study that started this job is gone (killed or interrupted): stopping")

    def watch():
        import fcntl

        while handle is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
                break  # the study's exclusive lock is gone
            except BlockingIOError:
                time.sleep(LIFELINE_POLL_SECONDS)
        os.kill(os.getpid(), signal.SIGUSR1)  # unwinds the main thread at its next instruction
        time.sleep(STOP_GRACE_SECONDS)
        # Still here (stuck in native code, or starved on a busy machine): end anyway, leaving no lease behind.
        print(f"pe-bert: not stopped {STOP_GRACE_SECONDS:.0f} s after its study's end: exiting", file=sys.stderr)
        release_leases_of(runs, {os.getpid()})
        os._exit(1)

    threading.Thread(target=watch, name="pe-bert-lifeline", daemon=True).start()


def _say_time_limit(minutes: int) -> None:
    """submitit ends a job warned of its time limit (SIGUSR2) with "Job not requeued because: timed-out and not
    checkpointable" (a pre-empted one it requeues, which stays as it is): say which setting to change."""
    usr_signal = _submitit().JobEnvironment._usr_sig()
    submitit_handler = signal.getsignal(usr_signal)
    if not callable(submitit_handler):
        return

    def handler(signum, frame):
        try:
            submitit_handler(signum, frame)
        except Exception as error:  # noqa: BLE001 - submitit's UncompletedJobError, timed out
            raise TimeoutError(
                f"the job reached its time limit (--job-time-min {minutes}): give it more time and run the same "
                "command again (finished stages are kept)"
            ) from error

    signal.signal(usr_signal, handler)


def run_unit_job(config: dict, unit: str, spec, seed: int, lifeline: str | None = None):
    """What one job runs: the unit's stages into the shared study folder (with the study's `unit_threads`; with
    several GPUs, one task per GPU, data-parallel through accelerate). `lifeline`: a local job's study (module
    docstring)."""
    from ..pe_plugins import import_position_encoding_modules
    from .config import StudyConfig
    from .runner import set_unit_threads
    from .stages.engine import open_engine
    from .units import Unit

    # submitit ignores SIGTERM (it checkpoints on SIGUSR2): a unit cannot checkpoint, and running on for the
    # cluster's KillWait seconds after scancel, a time limit or a pre-emption would only hold the stage's lease
    # (from another host, a killed holder's lease waits a minute to be taken over) or even finish the unit that was
    # cancelled. Stop at once instead.
    _stop_on(signal.SIGTERM, "stopped by SIGTERM (scancel, a time limit or a pre-emption)")
    if lifeline is not None:
        _watch_lifeline(lifeline, Path(config["out"]) / "runs")
    settings = StudyConfig(**{**config, "workers": 1})
    _say_time_limit(settings.job_time_min)
    if settings.job_gpus > 1:  # the task's rank, world size and rendezvous, for accelerate's PartialState
        _submitit().helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
    set_unit_threads(settings.unit_threads)
    import_position_encoding_modules(settings.pe_modules)
    return open_engine(settings, progress=False).run_unit(Unit(unit, spec, seed))


# ----------------------------------------------------------------------------------------------- in the study


def executor(config, out: Path):
    """A submitit executor for `config.launcher`, with the study's per-job resources."""
    submitit = _submitit()
    executor = submitit.AutoExecutor(folder=str(out / JOBS_FOLDER / "%j"), cluster=CLUSTERS[config.launcher])
    tasks = max(1, config.job_gpus)
    parameters = {
        "name": f"pe-bert-{Path(config.out).name}",
        "timeout_min": config.job_time_min,
        "nodes": 1,
        "tasks_per_node": tasks,
        "cpus_per_task": config.job_cpus,
        "mem_gb": config.job_mem_gb,
    }
    if config.job_gpus:
        parameters["gpus_per_node"] = config.job_gpus
    if config.launcher == "slurm":
        parameters.update(
            {
                f"slurm_{key}": value
                for key, value in (("partition", config.slurm_partition), ("account", config.slurm_account))
                if value
            }
        )
        # submitit warns a job 90 s before its time limit (SIGUSR2) and, since a unit cannot checkpoint, ends it
        # there as timed out; a job shorter than that would be ended as it starts: warn it at 3/4 of its time.
        parameters["slurm_signal_delay_s"] = min(90, config.job_time_min * 15)
    executor.update_parameters(**parameters)
    return executor


class Lifeline:
    """The study's end of its local jobs' lifeline: an exclusive `flock` on OUT/jobs/lifeline-<pid>, which the
    kernel releases however this process ends."""

    def __init__(self, folder: Path):
        import fcntl

        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"lifeline-{os.getpid()}"
        self._handle = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._handle, fcntl.LOCK_EX)

    def release(self) -> None:
        if self._handle is not None:
            os.close(self._handle)
            self._handle = None
            self.path.unlink(missing_ok=True)


@contextlib.contextmanager
def _submitit_log(path: Path):
    """submitit's log lines (its INFO to stdout, "Bypassing sacct error" warnings, ...) into `path`, not the
    console, while the study follows its jobs."""
    logger = logging.getLogger("submitit")
    saved = logger.handlers[:], logger.propagate
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s - %(levelname)s - %(name)s - %(message)s"))
    logger.handlers, logger.propagate = [handler], False
    try:
        yield
    finally:
        handler.close()
        logger.handlers, logger.propagate = saved


def _queue_states(jobs: list) -> dict[str, str] | None:
    """{job id: state} of the given SLURM jobs still in the queue (one `squeue` call); None when squeue fails."""
    ids = ",".join(job.job_id for job in jobs)
    try:
        output = subprocess.run(
            ["squeue", "--noheader", "--array", "--format=%i %T", f"--jobs={ids}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return dict(line.split(maxsplit=1) for line in output.splitlines() if len(line.split(maxsplit=1)) == 2)


def _end_state(job_id: str) -> str | None:
    """How SLURM says a job ended (`scontrol show job`: JobState, e.g. CANCELLED), None once it has forgotten it."""
    try:
        output = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\bJobState=(\S+)", output)
    return match.group(1) if match else None


def last_error_line(log: str) -> str | None:
    """A job's own last error line in its log: SLURM's `*** JOB ... ***` line when there is one (why the job was
    ended), else the last line that is not submitit's own logging (a traceback's exception line)."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for kind in ("JOB", "STEP"):  # the job's end first: only it says "DUE TO TIME LIMIT" for sure
        ended = [line for line in lines if re.search(rf"\*\*\* {kind} .* \*\*\*", line)]
        if ended:
            return ended[-1]
    return next((line for line in reversed(lines) if not line.startswith("submitit ")), None)


class _Follower:
    """Follows the study's jobs until each has a result or has ended without one."""

    def __init__(self, submitted: list, slurm: bool):
        self.submitted, self.slurm = submitted, slurm
        self.left_queue: dict[int, float] = {}  # job index -> when it was first seen out of the queue
        self.end_states: dict[int, str | None] = {}
        self._asked = float("-inf")

    def ended(self, waiting: set[int]) -> dict[int, bool]:
        """{index: has a result} of the jobs among `waiting` that have ended."""
        ended = {}
        for index in waiting:
            task = self.submitted[index].task(0)
            if task.paths.result_pickle.exists():
                ended[index] = True
            elif not self.slurm and self.submitted[index].done():
                ended[index] = task.paths.result_pickle.exists()
        if self.slurm:
            ended.update(self._left_the_queue(waiting - set(ended)))
        return ended

    def _left_the_queue(self, waiting: set[int]) -> dict[int, bool]:
        now = time.monotonic()
        if not waiting or now - self._asked < QUEUE_POLL_SECONDS:
            return {}
        self._asked = now
        states = _queue_states([self.submitted[i] for i in waiting])
        if states is None:  # the controller did not answer: conclude nothing
            return {}
        ended = {}
        for index in waiting:
            if self.submitted[index].job_id in states:
                self.left_queue.pop(index, None)
                continue
            first_seen = self.left_queue.setdefault(index, now)
            state = self.end_states[index] = _end_state(self.submitted[index].job_id)
            if (state or "").split()[0] in ENDED_WITHOUT_RESULT or now - first_seen >= RESULT_GRACE_SECONDS:
                ended[index] = False
        return ended


def _stop(submitted: list, running: set[int], lifeline: Lifeline | None) -> None:
    """The study is interrupted: local jobs stop (their lifeline released) and are waited for; SLURM jobs are
    cancelled."""
    if lifeline is not None:
        lifeline.release()
        deadline = time.monotonic() + STOP_GRACE_SECONDS + 5
        for index in running:
            process = getattr(submitted[index], "_process", None)  # submitit's controller of the local job
            if process is not None:
                try:
                    process.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
            shutil.rmtree(submitted[index].paths.folder, ignore_errors=True)  # a stopped job: nothing to keep
        return
    ids = [submitted[index].job_id for index in running]
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True, timeout=60)


def _collect(engine, job, unit: tuple, has_result: bool, end_state: str | None):
    """The job's UnitResult, or a failed one naming the job's last error line; its folder removed (a failed job's
    logs kept in OUT/logs/<unit>/)."""
    from .units import UnitResult

    task = job.task(0)  # task 0 of a multi-GPU job (every task returns the same)
    error = None
    if has_result:
        try:
            result = task.results()[0]
        except Exception as failure:  # noqa: BLE001 - whatever the job raised, the unit failed and the others go on
            error = failure
    folder = Path(task.paths.folder)
    if error is None and has_result:
        shutil.rmtree(folder, ignore_errors=True)
        return result
    stderr = task.stderr() or ""
    own = last_error_line(_trace(error) if error is not None else stderr)
    log = _keep_logs(engine.out, unit.name, job, folder)
    how = f"failed: {own}" if error is not None else "ended without a result" + (f" ({end_state})" if end_state else "")
    if error is None:
        how += f": {own}" if own else ", and without an error in its log (killed by a signal?)"
    return UnitResult.of(unit).fail(
        "(job)",
        f"job {job.job_id} {how}; its log is {engine.store.relative(log)}",
        str(error)[-4000:] if error is not None else stderr[-4000:],
    )


def _trace(error: BaseException) -> str:
    """The job's own traceback inside submitit's FailedJobError (between its two dashed lines)."""
    parts = re.split(r"\n-{10,}\n", str(error))
    return parts[1] if len(parts) >= 3 else str(error)


def _keep_logs(out: Path, unit: str, job, folder: Path) -> Path:
    """Move a failed job's stderr and stdout to OUT/logs/<unit>/job-<id>.log; remove its folder."""
    log = out / "logs" / unit / f"job-{job.job_id}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    task = job.task(0)
    with log.open("w", encoding="utf-8") as out:
        for name, text in (("stderr", task.stderr()), ("stdout", task.stdout())):
            out.write(f"--- {name} of job {job.job_id}\n{text or ''}\n")
    shutil.rmtree(folder, ignore_errors=True)
    return log


def _remove_leftovers(jobs_folder: Path, submitted: list) -> None:
    """What submitit leaves in OUT/jobs/ beside the job folders, once the study's jobs are collected or stopped: a
    SLURM array's folder holding only its submission script (and the link to it), the literal `%j` folder of local
    controllers, and lifelines whose study is gone. The folder itself goes when empty: another study's jobs may be
    running from it."""
    import fcntl

    for job in submitted:
        array = jobs_folder / str(job.job_id).split("_")[0]
        if array.is_dir() and all(path.name.endswith("_submission.sh") for path in array.iterdir()):
            shutil.rmtree(array, ignore_errors=True)
    for path in jobs_folder.glob("*submission_file_*.sh"):  # ".submission_file_*" too
        if path.is_symlink() and not path.exists():
            path.unlink()
    for path in jobs_folder.glob("lifeline-*"):
        with contextlib.suppress(OSError):
            handle = os.open(path, os.O_RDONLY)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody holds it: its study is gone
                path.unlink()
            finally:
                os.close(handle)
    for folder in (jobs_folder / "%j", jobs_folder):
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty


def run_jobs(engine, units: list, sink) -> list:
    """Submit one job per unit of the study of `engine`, show the stages they finish (from the store's log) on
    `sink` and collect their results in the order of `units`, calling `sink.unit_finished(result)` for each; a job
    that fails or is killed makes its unit a failure, the others go on."""
    from .runner import sigint_blocked

    config = engine.config
    config_dict = jsonable(dataclasses.asdict(config))
    slurm = config.launcher == "slurm"
    jobs_folder = engine.out / JOBS_FOLDER
    lifeline = None if slurm else Lifeline(jobs_folder)
    submitted: list = []
    results: dict[int, object] = {}
    try:
        with _submitit_log(engine.out / "logs" / "submitit.log"):
            pool = executor(config, engine.out)
            with sigint_blocked(), pool.batch():  # local jobs inherit it (module docstring)
                for unit, spec, seed in units:
                    lifeline_path = None if lifeline is None else str(lifeline.path)
                    submitted.append(pool.submit(run_unit_job, config_dict, unit, spec, seed, lifeline_path))
            sink.say(  # --quiet: nothing but errors
                f"Submitted {len(submitted)} jobs ({config.launcher}): "
                + ", ".join(job.job_id for job in submitted[:5])
                + (" ..." if len(submitted) > 5 else "")
                + f"; their logs are in {jobs_folder}/ while they run."
            )
            _follow(engine, units, submitted, slurm, results, sink)
    except BaseException:
        _stop(submitted, set(range(len(submitted))) - set(results), lifeline)
        raise
    finally:
        if lifeline is not None:
            lifeline.release()
        _remove_leftovers(jobs_folder, submitted)
    return [results[i] for i in range(len(units))]


def _follow(engine, units, submitted, slurm, results, sink) -> None:
    follower = _Follower(submitted, slurm)
    seen = len(engine.store.log_entries())
    while len(results) < len(submitted):
        waiting = set(range(len(submitted))) - set(results)
        for index, has_result in sorted(follower.ended(waiting).items()):
            end_state = follower.end_states.get(index)
            results[index] = _collect(engine, submitted[index], units[index], has_result, end_state)
            sink.unit_finished(results[index])
        entries = engine.store.log_entries()
        for entry in entries[seen:]:  # the stages jobs finished since the last look: one line each
            if entry["status"] in ("ran", "failed"):
                sink.show(
                    {
                        "unit": entry["unit"],
                        "stage": entry["stage"],
                        "status": entry["status"],
                        "text": entry.get("error", ""),
                        "wall_s": entry["seconds"],
                    }
                )
        seen = len(entries)
        if len(results) < len(submitted):
            time.sleep(POLL_SECONDS)


__all__ = ["CLUSTERS", "Lifeline", "executor", "last_error_line", "run_jobs", "run_unit_job"]
