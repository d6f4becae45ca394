"""Resumable stages: each finished stage is stored and skipped on rerun; a partial or corrupt one is redone.

A stage writes into its own folder `runs/<unit>/<stage>/`. Its result (a JSON-able dict) goes to `result.json`, and
only after everything is written does `DONE.json` appear (atomically renamed), holding the stage's fingerprint (a
hash of the settings it depends on) and the files it produced. On rerun a stage is skipped only if `DONE.json`
parses, its fingerprint matches the current settings, its result parses and every listed file exists; otherwise
its folder is wiped and it runs again. Every decision is appended to `stage_log.jsonl` with timings.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import traceback
from collections.abc import Callable
from pathlib import Path


def fingerprint(settings: dict) -> str:
    """Stable hash of a stage's settings (sorted JSON)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _write_json_atomically(path: Path, value) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(value, indent=2, default=str) + "\n")
    os.replace(temporary, path)


class StageFailed(RuntimeError):
    """A stage raised; carries the unit, the stage and the original traceback text."""

    def __init__(self, unit: str, stage: str, error: BaseException):
        self.unit, self.stage = unit, stage
        self.error = f"{type(error).__name__}: {error}"
        self.traceback = "".join(traceback.format_exception(error))[-4000:]
        super().__init__(f"{unit}/{stage} failed: {self.error}")


class Processes:
    """Which process this is under `accelerate launch` (one process otherwise), and a barrier."""

    def __init__(self):
        from accelerate import PartialState
        from accelerate.utils import parse_flag_from_env

        # PartialState (unlike the Trainer's AcceleratorState) does not read ACCELERATE_USE_CPU itself: without
        # `cpu=True` every CPU process of a data-parallel launch would believe it is alone.
        self._state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))
        self.count = self._state.num_processes
        self.is_main = self._state.is_main_process

    def barrier(self) -> None:
        if self.count > 1:
            self._state.wait_for_everyone()


class StageStore:
    """Stores stage results under `root`. Under `accelerate launch`, only the main process writes: a `collective`
    stage (training, which the Trainer spreads over the processes) runs on every process, any other stage on the
    main process only while the others wait and then read its stored result."""

    def __init__(self, root: str | Path, processes: Processes | None = None):
        self.root = Path(root)
        self.runs = self.root / "runs"
        self.log_path = self.root / "stage_log.jsonl"
        self.processes = processes or Processes()
        if self.processes.is_main:
            self.runs.mkdir(parents=True, exist_ok=True)
        self.processes.barrier()

    def folder(self, unit: str, stage: str) -> Path:
        return self.runs / unit / stage.replace(":", "-")

    def cached(self, unit: str, stage: str, settings: dict) -> dict | None:
        """The stored result if the stage finished with these settings and its outputs are intact, else None."""
        folder = self.folder(unit, stage)
        try:
            done = json.loads((folder / "DONE.json").read_text())
            result = json.loads((folder / "result.json").read_text())
        except (OSError, ValueError):
            return None
        if done.get("fingerprint") != fingerprint(settings):
            return None
        if not all((folder / name).exists() for name in done.get("files", [])):
            return None
        return result

    def run(self, unit: str, stage: str, settings: dict, work: Callable[[Path], dict],
            files: Callable[[Path], list[str]] | None = None, collective: bool = False) -> dict:
        """Return the stored result, or run `work(folder) -> result` and store it.

        `files(folder)` lists the outputs (relative to the folder) whose presence a rerun checks; by default, every
        file the stage wrote. `collective`: run `work` on every process (see the class docstring).
        """
        main = self.processes.is_main
        result = self.cached(unit, stage, settings)
        self.processes.barrier()  # everyone has looked before the main process touches the folder
        if result is not None:
            if main:
                self._log(unit, stage, "skipped", 0.0)
            return result
        folder = self.folder(unit, stage)
        if main:
            if folder.exists():
                shutil.rmtree(folder)  # partial or stale: start clean
            folder.mkdir(parents=True)
        self.processes.barrier()
        failure = None
        if main or collective:
            start = time.perf_counter()
            try:
                result = work(folder)
            except Exception as error:
                failure = StageFailed(unit, stage, error)
                failure.__cause__ = error
                if main:
                    self._log(unit, stage, "failed", time.perf_counter() - start, error=failure.error)
            if main and failure is None:
                seconds = time.perf_counter() - start
                produced = files(folder) if files else sorted(
                    str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()
                )
                _write_json_atomically(folder / "result.json", result)
                _write_json_atomically(folder / "DONE.json", {
                    "fingerprint": fingerprint(settings), "settings": settings, "files": produced,
                    "seconds": seconds,
                })
                self._log(unit, stage, "ran", seconds)
        self.processes.barrier()
        if failure is not None:
            raise failure
        if not main and not collective:
            result = self.cached(unit, stage, settings)
            if result is None:
                raise StageFailed(unit, stage, RuntimeError("the stage failed on the main process"))
        return result

    def _log(self, unit: str, stage: str, status: str, seconds: float, **extra) -> None:
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "unit": unit, "stage": stage, "status": status,
                 "seconds": round(seconds, 3), **extra}
        with self.log_path.open("a") as log:
            log.write(json.dumps(entry) + "\n")

    def log_entries(self) -> list[dict]:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.strip()]
