"""Where a study's units run. Each launcher implements `base.Launcher` (`run(units, sink) -> results`) and registers
under the name the `launcher` setting gives (`register_launcher`); a new engine is one module imported here."""

from __future__ import annotations

from . import local, submitit_jobs
from .base import LAUNCHERS, Launcher, LaunchSetup, get_launcher, launcher_names, register_launcher

__all__ = [
    "LAUNCHERS",
    "LaunchSetup",
    "Launcher",
    "get_launcher",
    "launcher_names",
    "local",
    "register_launcher",
    "submitit_jobs",
]
