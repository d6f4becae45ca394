"""Where a study's events go: one `EventSink` holds the progress bar, the console lines (one per finished stage),
and this run's stage timings (OUT/logs/timings-<host>-<pid>.jsonl, which the report's metadata sums). The stage
engine reports each finished stage to it; launchers report each finished unit and show what their workers and jobs
send. A worker process's sink (`ForwardingSink`) sends its events to the study that started it instead."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
from pathlib import Path


class EventSink:
    """The study's console and timings. `progress`: show lines (and, in a terminal, a bar); `is_main`: this is the
    process that shows and records (under `accelerate launch`, the others stay silent)."""

    def __init__(self, out: str | Path, progress: bool = True, is_main: bool = True):
        self.progress = progress
        self.is_main = is_main
        # This run's stage timings (several runs may share the folder: each its own file; stored stages: 0 s).
        self.timings = Path(out) / "logs" / f"timings-{socket.gethostname()}-{os.getpid()}.jsonl"
        self._bar = None
        self._planned: dict[str, int] = {}

    def stage_finished(self, unit: str, stage: str, status: str, text: str, wall: float, cpu: float) -> None:
        """A stage of `unit` finished ("done" or "failed"), after `wall` and `cpu` seconds; `text`: its headline or
        error."""
        self.emit(
            {
                "unit": unit,
                "stage": stage,
                "status": status,
                "text": text,
                "wall_s": round(wall, 3),
                "cpu_s": round(cpu, 3),
                "pid": os.getpid(),
            }
        )

    def emit(self, event: dict) -> None:
        """Where this process's events go: here, shown."""
        self.show(event)

    def show(self, event: dict) -> None:
        """Record a finished stage's times in this run's timings and show its line (the study's main process)."""
        if not self.is_main:
            return
        self.timings.parent.mkdir(parents=True, exist_ok=True)
        with self.timings.open("a") as timings:
            timings.write(json.dumps(event) + "\n")
        if not self.progress:
            return
        line = f"{event['unit']:<28} {event['stage']:<24} {event['text']}  [{event['wall_s']:.0f} s]"
        if event["status"] == "failed":
            line = f"{event['unit']:<28} {event['stage']:<24} FAILED: {event['text']}"
        if self._bar is not None:
            self._bar.write(line, file=sys.stderr)
            self._bar.update()
        else:
            print(line, file=sys.stderr)

    def say(self, line: str) -> None:
        """A line of the study's own (unless --quiet)."""
        if self.progress:
            print(line, file=sys.stderr)

    @contextlib.contextmanager
    def progress_bar(self, total: int, planned: dict[str, int]):
        """A bar over `total` stages while the block runs; `planned`: each variant's stages per unit (a failed unit
        counts the stages it will not run, keeping the total honest)."""
        from tqdm.auto import tqdm

        with tqdm(
            total=total,
            desc="Study",
            unit="stage",
            file=sys.stderr,
            # a bar only in a terminal: elsewhere (a pipe, a file, a SLURM log) its frames would be lines of "\r"
            disable=not self.progress or not self.is_main or not sys.stderr.isatty(),
            dynamic_ncols=True,
        ) as bar:
            self._bar, self._planned = bar, planned
            try:
                yield bar
            finally:
                self._bar, self._planned = None, {}

    def unit_finished(self, result) -> None:
        """A unit finished (its `UnitResult`); a failed one's unrun stages are counted as done."""
        if result.failure and self._bar is not None:
            planned = self._planned.get(result.variant, 0)
            self._bar.update(max(0, planned - len(result.stages) - 1))


class ForwardingSink(EventSink):
    """A worker process's sink: its stage events go to the study that started it (a queue), which shows them."""

    def __init__(self, out: str | Path, queue):
        super().__init__(out, progress=False)
        self.queue = queue

    def emit(self, event: dict) -> None:
        self.queue.put(event)


__all__ = ["EventSink", "ForwardingSink"]
