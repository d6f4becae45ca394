"""A study's units as cluster jobs, through submitit (SLURM), one job per unit (variant x seed).

Why SLURM, through submitit: it is what academic and most industrial research clusters run; submitit is its Python
interface (pure Python: jobs are pickled functions, results come back pickled), it has a local executor that runs
the very same jobs as processes of this machine (how the tests run it), and it sets up data-parallel jobs (one task
per GPU) for `accelerate`/DDP inside a job.

The stage store on the shared filesystem is the only source of truth: a job computes the stages of its unit there
(each under its lease, `pe_bert.study.leases`), and what it returns is what it stored. A job that is pre-empted,
cancelled or killed leaves its stage without a DONE.json and its lease without a heartbeat: nothing it left is
trusted, and the next submission (the same command again) redoes that stage, keeping every finished one.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

from ..errors import UsageError
from ..jsonable import jsonable

CLUSTERS = {"slurm": "slurm", "submitit-local": "local"}
JOBS_FOLDER = "jobs"  # OUT/jobs/: submitit's scripts, pickles and logs, one set per job
POLL_SECONDS = 2.0


def _submitit():
    try:
        import submitit
    except ImportError:
        raise UsageError(
            '--launcher slurm needs submitit, which is not installed: pip install "pe_bert[slurm]" '
            "(or pip install submitit)."
        ) from None
    return submitit


def run_unit_job(config: dict, unit: str, spec, seed: int):
    """What one job runs: the unit's stages into the shared study folder (with the study's `unit_threads`; with
    several GPUs, one task per GPU, data-parallel through accelerate)."""
    from ..pe_plugins import import_position_encoding_modules
    from .config import StudyConfig
    from .pipeline import Study
    from .runner import set_unit_threads

    settings = StudyConfig(**{**config, "workers": 1})
    if settings.job_gpus > 1:  # the task's rank, world size and rendezvous, for accelerate's PartialState
        _submitit().helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
    set_unit_threads(settings.unit_threads)
    import_position_encoding_modules(settings.pe_modules)
    return Study(settings, progress=False, worker=True).run_unit(unit, spec, seed)


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
    executor.update_parameters(**parameters)
    return executor


def run_jobs(study, units: list, on_result) -> list:
    """Submit one job per unit, show the stages they finish (from the store's log) and collect their results in
    the order of `units`; a job that fails or is killed makes its unit a failure, the others go on."""
    from .pipeline import UnitResult

    config_dict = jsonable(dataclasses.asdict(study.config))
    submitted = []
    pool = executor(study.config, study.out)
    with pool.batch():
        for unit, spec, seed in units:
            submitted.append(pool.submit(run_unit_job, config_dict, unit, spec, seed))
    print(
        f"Submitted {len(submitted)} jobs ({study.config.launcher}): "
        + ", ".join(job.job_id for job in submitted[:5])
        + (" ..." if len(submitted) > 5 else "")
        + f"; their logs are in {study.out / JOBS_FOLDER}/.",
        file=sys.stderr,
    )
    results: dict[int, UnitResult] = {}
    seen = len(study.store.log_entries())
    while len(results) < len(submitted):
        for index, job in enumerate(submitted):
            if index in results or not job.done():
                continue
            try:
                results[index] = job.results()[0]  # task 0 of a multi-GPU job (every task returns the same)
            except Exception as error:  # noqa: BLE001 - whatever ended the job, the unit failed and the others go on
                unit, spec, seed = units[index]
                results[index] = UnitResult(spec.label, spec.position_encoding, spec.overrides, seed)
                results[index].failure = {
                    "stage": "(job)",
                    "error": f"job {job.job_id} failed: "
                    f"{type(error).__name__}: {str(error).strip().splitlines()[-1:]}; its "
                    f"log is {Path(job.paths.stderr)}",
                    "traceback": str(error)[-4000:],
                }
            on_result(results[index])
        entries = study.store.log_entries()
        for entry in entries[seen:]:  # the stages jobs finished since the last look: one line each
            if entry["status"] in ("ran", "failed"):
                study._show(
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
    return [results[i] for i in range(len(units))]


__all__ = ["CLUSTERS", "executor", "run_jobs", "run_unit_job"]
