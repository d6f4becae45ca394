"""The study: shared data (tokenizer, corpus, evaluation blocks and their floors, the frozen-feature probing split,
task files per seed), then for each PE variant and seed: pretrain -> masked-token evaluation at 1x/2x/4x the
pretraining length -> frozen-feature probing -> fine-tune on each task (if any) -> score attention -> word-order
probes; then the report, the model cards and (if asked) the Hub push, as separate steps.

The stages are declared once, in order, in `pe_bert.study.stages`, and run by its engine; each is a resumable
`StageStore` stage, and a failing variant is recorded while the others go on. Units (variant x seed) run where the
`launcher` setting says (`pe_bert.study.launchers`: local worker processes, `workers` of them, or cluster jobs);
every stage runs with the study's `unit_threads` torch and BLAS threads, wherever it runs, so results do not depend
on how units were scheduled. `Study` ties these together; the dry-run plan is `dry_run.py`, the report from the
store alone `report_only.py`, the report, cards and push `publish.py`.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from . import runner
from .config import StudyConfig, VariantSpec
from .stages import shared_calls, unit_calls
from .stages.engine import open_engine
from .units import Unit, study_units


class Study:
    """A study of `config` in its folder. `progress`: a line per finished stage (and a bar in a terminal);
    `verbose`: library output on the console too."""

    def __init__(self, config: StudyConfig, progress: bool = True, verbose: bool = False):
        self.config = config
        self.out = Path(config.out)
        self.progress = progress
        self.verbose = verbose
        self.engine = open_engine(config, progress, verbose)
        self.store = self.engine.store
        self.sink = self.engine.sink

    @property
    def timings(self) -> Path:
        """This run's stage timings (`EventSink.timings`)."""
        return self.sink.timings

    def units(self) -> list[Unit]:
        """(unit, spec, seed) of every variant and seed, then the untrained controls."""
        return study_units(self.config)

    def unit_stage_names(self, spec: VariantSpec | None = None) -> list[str]:
        """The stages of a unit of `spec` (a trained variant by default), in the order they run."""
        spec = spec or VariantSpec("trained", "none")  # the stages of a unit depend on whether it is trained
        return [call.name for call in unit_calls(self.config, spec)]

    def stages_per_unit(self, spec: VariantSpec | None = None) -> int:
        return len(self.unit_stage_names(spec))

    def shared_stage_count(self) -> int:
        return len(shared_calls(self.config))

    def worker_count(self) -> int:
        """Parallel unit processes: the setting, or (0) as many as the CPU cores hold units of `unit_threads` threads,
        on a CPU-only, single-process run."""
        import torch

        if self.store.processes.count > 1 or torch.cuda.is_available():
            return 1
        workers = self.config.workers or (os.cpu_count() or 1) // self.config.unit_threads
        return max(1, min(workers, len(self.units())))

    @runner.with_unit_threads
    def run(self) -> dict:
        """Run (or resume) every stage, then write the report, the model cards and (if asked) push to the Hub;
        returns the results dictionary.

        Each stage is computed under its lease: several studies (or launchers, on several hosts) can work on one
        folder, each stage computed once, the others waiting for it or using it."""
        from .folder import record_settings
        from .launchers import LaunchSetup, get_launcher
        from .publish import publish
        from .stages.sentence_fit import check_sentences_fit

        start = time.perf_counter()
        main = self.store.processes.is_main
        if main:  # the folder's one study: another study's settings are refused here, before anything runs
            record_settings(self.config)
        units = self.units()
        workers = self.worker_count()
        planned = {unit.spec.label: self.stages_per_unit(unit.spec) for unit in units}
        total = self.shared_stage_count() + sum(planned[unit.spec.label] for unit in units)
        with self.sink.progress_bar(total, planned):
            shared = self.engine.shared()
            check_sentences_fit(self.engine, shared)
            launcher = get_launcher(self.config.launcher, LaunchSetup(self.engine, shared, workers))
            results = launcher.run(units, self.sink)
        wall_time = time.perf_counter() - start
        summary = None
        if main:  # under `accelerate launch`, one process writes the report, the cards and pushes
            summary = publish(self, results, wall_time, workers, shared, push=self.config.push_to_hub)
        self.store.processes.barrier()
        return summary if summary is not None else json.loads((self.out / "results.json").read_text())

    @runner.with_unit_threads
    def report_only(self) -> dict:
        """Rebuild the report, results.json, plots and model cards from the stored stages alone (`report_only.py`)."""
        from .report_only import report_from_store

        return report_from_store(self)

    def plan(self) -> dict:
        """What `run` would do, without training (`dry_run.py`)."""
        from .dry_run import plan_study

        return plan_study(self)


__all__ = ["Study"]
