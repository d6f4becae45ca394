"""Cluster launchers through submitit (`pe_bert.study.jobs`): one job per unit, on SLURM or as submitit-local
processes of this machine (the very same jobs, as the tests run them)."""

from __future__ import annotations

from .base import LaunchSetup, register_launcher


@register_launcher("submitit-local")
@register_launcher("slurm")
class SubmititLauncher:
    """One submitit job per unit, where the study's `launcher` setting says (`jobs.CLUSTERS`)."""

    def __init__(self, setup: LaunchSetup):
        self.setup = setup

    def run(self, units, sink) -> list:
        from ..jobs import run_jobs

        return run_jobs(self.setup.engine, units, sink)


__all__ = ["SubmititLauncher"]
