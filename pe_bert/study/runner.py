"""Running a study's units (variant x seed) in local worker processes, so that no process outlives the study and
one dead worker does not take the study with it.

* **Workers die with their study.** Each worker watches its parent (Linux: the kernel's parent-death signal; every
  platform: a thread that exits the worker once its parent is gone), so a study killed by any signal, SIGKILL
  included, leaves no worker writing into its folder. Workers ignore SIGINT: Ctrl-C reaches the whole process
  group, and only the study itself answers it (one line, no worker tracebacks).
* **A study survives a worker's death.** A worker killed mid-unit (the OOM killer, a stray `kill`) breaks the
  process pool; the units it interrupted are run again, one at a time in a fresh worker (their finished stages are
  kept, so only the interrupted stage is redone). A unit whose worker dies again is recorded as failed, naming how
  it died, and the other units finish; the report lists it to rerun.
* **Interrupted studies stop cleanly.** On SIGINT/SIGTERM the study kills its workers and removes the stage leases
  they held before it releases its own, so nothing writes into the folder after another run could take a stage.
  Workers are started with SIGINT blocked, so a Ctrl-C that reaches the whole process group (a terminal's) while
  they import reaches the study alone; a second signal while the study stops is ignored.
* **Threads are the study's.** Every unit runs with the study's `unit_threads` torch and BLAS threads, in a worker or
  in the study's own process (`set_unit_threads`, `with_unit_threads`): float sums depend on the thread count, and
  where a unit ran must not change its numbers.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
import queue as queues
import signal
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .leases import release_leases_of

if TYPE_CHECKING:
    from .config import StudyConfig
    from .events import EventSink

PARENT_POLL_SECONDS = 0.5
_PR_SET_PDEATHSIG = 1  # linux/prctl.h

_WORKER = None  # the worker process's StageEngine


class StudyInterrupted(BaseException):
    """The study received SIGINT or SIGTERM; `exit_status` is 130 or 143 (128 + the signal).

    A BaseException, like KeyboardInterrupt: the stage store and the libraries catch `Exception` to record a failed
    stage and go on, and an interruption must stop the study instead."""

    def __init__(self, signum: int):
        self.signum = signum
        self.exit_status = 128 + signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}")


@contextlib.contextmanager
def sigint_blocked():
    """Processes started in this block inherit a blocked SIGINT (a blocked signal stays blocked across fork and exec;
    Python leaves the mask alone): a terminal's Ctrl-C, sent to the whole process group, never reaches them, not even
    while they import, before they could install a handler. The study answers it and stops them. A SIGINT that
    arrives meanwhile is delivered to this process when the block ends."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _die_with_parent(parent: int) -> None:
    """Exit this process as soon as `parent` is gone, however it died."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):  # no prctl: the thread below still does it
            pass

    def watch():
        while os.getppid() == parent:
            threading.Event().wait(PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="pe-bert-parent-watch", daemon=True).start()
    if os.getppid() != parent:  # the parent died before the watch began
        os._exit(1)


def set_unit_threads(threads: int):
    """Set torch's and the BLAS libraries' threads of this process to `threads`; returns a function that puts the
    previous numbers back.

    Every unit runs with the study's `unit_threads`, in a worker, a job or the study's own process: float sums
    depend on how many threads share them (1,018 numbers of a tiny study differed between one and two threads).
    numpy's BLAS too (the probes' logistic regressions): two workers each with every core's BLAS threads ran a
    0.3 s fit in 11 s on two cores.

    Denormal floats (below 1.2e-38) are flushed to zero (x86 FTZ/DAZ, on this thread: all of a unit's compute at one
    thread): the attenuated prior at w >= 0.5 puts attention weights in that range, where the CPU computes about
    100 times slower (a w = 2 pretraining took twice as long), and their contribution to any sum is far below
    float32's resolution."""
    import torch
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    limits = threadpool_limits(threads)
    flushing = torch.set_flush_denormal(True)  # False where the CPU cannot (then nothing changed)

    def restore():
        if flushing:
            torch.set_flush_denormal(False)
        limits.restore_original_limits()
        torch.set_num_threads(previous)

    return restore


def with_unit_threads(method):
    """A `Study` method run with the study's `unit_threads` (`set_unit_threads`): the shared stages, and the units
    the study runs in its own process, compute what workers and jobs would."""

    @functools.wraps(method)
    def run(study, *args, **kwargs):
        restore = set_unit_threads(study.config.unit_threads)
        try:
            return method(study, *args, **kwargs)
        finally:
            restore()

    return run


def _init_worker(config, verbose: bool, events, parent: int) -> None:
    from ..pe_plugins import import_position_encoding_modules
    from .events import ForwardingSink
    from .stages.engine import open_engine

    global _WORKER
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the study answers Ctrl-C; its workers are killed by it
    set_unit_threads(config.unit_threads)
    # A spawned process starts with pe_bert's own PEs only: register the user's before any unit runs.
    import_position_encoding_modules(config.pe_modules)
    _WORKER = open_engine(config, verbose=verbose, sink=ForwardingSink(config.out, events))


def _run_unit_in_worker(unit):
    return _WORKER.run_unit(unit)


def _kill_workers(pool: ProcessPoolExecutor, runs) -> None:
    """Kill the pool's worker processes now (`shutdown` would wait for their running units to finish), then remove
    the stage leases they held in `runs`, so that the next run need not wait for them to go stale."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        if process.is_alive():
            process.kill()
    for process in processes:
        process.join(timeout=10)
    pool.shutdown(wait=False, cancel_futures=True)
    release_leases_of(runs, {process.pid for process in processes})


@dataclass
class _UnitsRun:
    """One `run_units` call: what each of its pools (the first, then one per retried unit) shares."""

    config: StudyConfig
    runs: Path
    verbose: bool
    units: list
    sink: EventSink
    context: multiprocessing.context.SpawnContext
    events: multiprocessing.queues.Queue
    results: dict = field(default_factory=dict)


def run_units(config, runs: Path, verbose: bool, units: list, workers: int, sink) -> list:
    """Run `units` of the study of `config` (its stages in `runs`) in `workers` spawned processes, each unit with the
    study's `unit_threads` (`set_unit_threads`); stage events are shown on `sink` as they come and
    `sink.unit_finished(result)` is called per finished unit. Returns the UnitResults in the order of `units` (module
    docstring for deaths and interruptions)."""
    context = multiprocessing.get_context("spawn")
    run = _UnitsRun(config, runs, verbose, units, sink, context, context.Queue())
    interrupted = _run_pool(run, list(range(len(units))), workers)
    for index in interrupted:  # each alone, in a fresh worker: a unit that kills its worker again is found
        if _run_pool(run, [index], 1):
            run.results[index] = _died(units[index])  # its worker died twice: give up on it, keep the others
            sink.unit_finished(run.results[index])
    _drain(run)
    return [run.results[i] for i in range(len(units))]


def _run_pool(run: _UnitsRun, indices, workers) -> list[int]:
    """One pool over `indices`; returns the indices whose units a dead worker interrupted."""
    pool = ProcessPoolExecutor(
        workers,
        mp_context=run.context,
        initializer=_init_worker,
        initargs=(run.config, run.verbose, run.events, os.getpid()),
    )
    interrupted = []
    try:
        with sigint_blocked():  # submit() spawns the workers
            futures = {pool.submit(_run_unit_in_worker, run.units[i]): i for i in indices}
        waiting = set(futures)
        while waiting:
            try:
                run.sink.show(run.events.get(timeout=0.2))
                continue
            except queues.Empty:
                pass
            for future in [f for f in waiting if f.done()]:
                waiting.discard(future)
                index = futures[future]
                try:
                    run.results[index] = future.result()
                except BrokenProcessPool:
                    interrupted.append(index)
                    continue
                run.sink.unit_finished(run.results[index])
    except BaseException:
        _kill_workers(pool, run.runs)  # before this process releases its own leases (unwinding)
        raise
    pool.shutdown(wait=True)
    return sorted(interrupted)


def _drain(run: _UnitsRun) -> None:
    while True:  # events sent just before the last unit finished
        try:
            run.sink.show(run.events.get(timeout=0.05))
        except queues.Empty:
            break


def _died(unit):
    """The result of a unit whose worker died twice."""
    from .units import UnitResult

    return UnitResult.of(unit).fail(
        "(worker)",
        "its worker process died twice while running it (killed by a signal or by the out-of-memory killer); rerun "
        "the study to retry it (finished stages are kept)",
    )


def raise_on_termination():
    """Install handlers that turn SIGTERM (and SIGINT) into `StudyInterrupted` in the main thread; returns a
    function that restores the previous handlers."""
    previous = {}

    def handler(signum, frame):
        for other in previous:  # once: a second Ctrl-C must not interrupt the study's clean-up with a traceback
            signal.signal(other, signal.SIG_IGN)
        raise StudyInterrupted(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, handler)

    def restore():
        for signum, old in previous.items():
            signal.signal(signum, old)

    return restore


__all__ = [
    "StudyInterrupted",
    "raise_on_termination",
    "run_units",
    "sigint_blocked",
    "set_unit_threads",
    "with_unit_threads",
]
