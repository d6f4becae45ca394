"""The stage engine: runs the declared stages (`stages/__init__.py`) through the `StageStore`, each with its log
file and its event (`EventSink`), and a unit's stages in order (`run_unit`). A study, a worker process and a cluster
job each open one (`open_engine`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from ..console import stage_output
from ..events import EventSink
from ..store import StageFailed, StageStore
from ..units import Unit, UnitResult
from . import shared_calls, unit_calls
from .base import StageCall, StageResult
from .state import SharedResults, UnitState

logger = logging.getLogger(__name__)


class StageEngine:
    """Runs stages of `config`'s study in `store`, reporting them to `sink`; `verbose`: library output reaches the
    console too (it always goes to the stage's log file)."""

    def __init__(self, config, store: StageStore, sink: EventSink, verbose: bool = False):
        self.config = config
        self.store = store
        self.sink = sink
        self.verbose = verbose
        self.out = Path(config.out)

    def run_stage(
        self,
        unit: str,
        stage: str,
        settings: dict,
        work: Callable[[Path], dict],
        headline: Callable[[dict], str] | None = None,
        shown: bool = True,
        **store_options,
    ) -> dict:
        """Run (or look up) one stored stage, `StageStore.run(unit, stage, settings, work, **store_options)`: its
        output goes to its log file and an event (a console line, the progress bar) reports it when it finishes.
        `headline(result)` is that line's text; `shown=False` looks a stage up silently (a worker reading the shared
        stages)."""
        if self.config.unit_threads != 1:  # threads change float sums (runner.set_unit_threads); 1: as stored before
            settings = {**settings, "threads": self.config.unit_threads}

        def run():
            return self.store.run(unit, stage, settings, work, **store_options)

        if self.store.read_only or not shown:  # looking, not computing: no log, no line
            return run()
        log = self.out / "logs" / unit / f"{stage.replace(':', '-')}.log"
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        with stage_output(log, self.verbose):
            try:
                result = run()
            except StageFailed as failure:
                wall, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
                self.sink.stage_finished(unit, stage, "failed", failure.error, wall, cpu)
                raise
        wall, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
        text = ""
        if headline is not None:
            try:
                text = headline(result)
            except (AttributeError, KeyError, TypeError, ValueError):
                text = ""
        self.sink.stage_finished(unit, stage, "done", text, wall, cpu)
        return result

    def run_call(
        self, unit: str, call: StageCall, settings: dict, work: Callable[[Path], StageResult], shown: bool = True
    ) -> StageResult:
        """Run (or look up) one declared stage call: `work(folder)` returns its typed result, stored as its dict."""
        stage = call.stage

        def headline(stored: dict) -> str:
            return stage.headline(stage.result.from_dict(stored), call, self.config)

        stored = self.run_stage(
            unit,
            call.name,
            settings,
            lambda folder: work(folder).to_dict(),
            headline,
            shown,
            **stage.store_options(self.config),
        )
        return stage.result.from_dict(stored)

    # ------------------------------------------------------------------------------------------ shared stages

    def shared(self, shown: bool = True) -> SharedResults:
        """Every shared stage's result, computed or looked up."""
        return self._shared(shared_calls(self.config), shown)

    def shared_for_unit(self, seed: int) -> SharedResults:
        """The shared results a unit of `seed` reads, looked up (and verified) silently: a worker's or a job's."""
        calls = [call for call in shared_calls(self.config) if call.stage.serves(call, seed)]
        return self._shared(calls, shown=False)

    def shared_call(self, call: StageCall, shown: bool = True) -> StageResult:
        """One shared stage's result, computed or looked up."""
        stage = call.stage
        return self.run_call(
            stage.unit(call),
            call,
            stage.settings(self, call),
            lambda folder: stage.work(self, call, folder),
            shown,
        )

    def _shared(self, calls: list[StageCall], shown: bool) -> SharedResults:
        shared = SharedResults()
        for call in calls:
            call.stage.absorb(shared, call, self.shared_call(call, shown))
        return shared

    # ------------------------------------------------------------------------------------------ units

    def run_unit(self, unit: Unit, shared: SharedResults | None = None) -> UnitResult:
        """Every stage of one (variant, seed), in the declared order; a failing stage ends the unit, recorded in its
        result. `shared`: the shared stages' results, looked up (and verified) here when not given, as in a worker
        process."""
        result = UnitResult.of(unit)
        try:
            state = UnitState(unit, self.shared_for_unit(unit.seed) if shared is None else shared)
            for call in unit_calls(self.config, unit.spec):
                result.stages[call.name] = self.unit_call(state, call)
        except StageFailed as failure:
            logger.error("%s", failure)
            result.fail(failure.stage, failure.error, failure.traceback)
        return result

    def unit_call(self, state: UnitState, call: StageCall) -> StageResult:
        """Run (or look up) one stage of a unit, and pass what later stages read on to `state`."""
        stage = call.stage
        settings = stage.settings(self, state, call)
        result = self.run_call(state.unit.name, call, settings, lambda folder: stage.work(self, state, call, folder))
        stage.absorb(self, state, call, result)
        return result


def open_engine(config, progress: bool = True, verbose: bool = False, sink: EventSink | None = None) -> StageEngine:
    """The engine of `config`'s study folder: its store, and `sink` (by default this process's console and timings,
    with `progress` lines)."""
    from ...training.arguments import use_cpu_when_distributed_without_accelerator

    # Under `accelerate launch` on a machine without GPUs, data-parallel over CPU processes (gloo): this must be
    # decided before the first process group (StageStore's) is created.
    use_cpu_when_distributed_without_accelerator()
    store = StageStore(config.out)
    if sink is None:
        sink = EventSink(config.out, progress, store.processes.is_main)
    return StageEngine(config, store, sink, verbose)


__all__ = ["StageEngine", "open_engine"]
