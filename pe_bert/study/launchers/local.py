"""Local launchers: the units in this process one after the other (`InProcessLauncher`), or in a pool of local worker
processes (`ProcessPoolLauncher`, `pe_bert.study.runner`). `--launcher local` is the pool when the study may use
more than one worker process, else this process."""

from __future__ import annotations

from .base import LaunchSetup, register_launcher


class InProcessLauncher:
    """Each unit in the study's own process, in order (with the shared results it already has)."""

    def __init__(self, setup: LaunchSetup):
        self.setup = setup

    def run(self, units, sink) -> list:
        results = []
        for unit in units:
            results.append(self.setup.engine.run_unit(unit, self.setup.shared))
            sink.unit_finished(results[-1])
        return results


class ProcessPoolLauncher:
    """The units in `setup.workers` spawned worker processes (`pe_bert.study.runner.run_units`: workers die with the
    study, a dead worker's units are retried once)."""

    def __init__(self, setup: LaunchSetup):
        self.setup = setup

    def run(self, units, sink) -> list:
        from ..runner import run_units

        engine = self.setup.engine
        return run_units(engine.config, engine.store.runs, engine.verbose, units, self.setup.workers, sink)


@register_launcher("local")
class LocalLauncher:
    """This machine: a pool of worker processes, or the study's own process when it has one worker."""

    def __init__(self, setup: LaunchSetup):
        self.launcher = ProcessPoolLauncher(setup) if setup.workers > 1 else InProcessLauncher(setup)

    def run(self, units, sink) -> list:
        return self.launcher.run(units, sink)


__all__ = ["InProcessLauncher", "LocalLauncher", "ProcessPoolLauncher"]
