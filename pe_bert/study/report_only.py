"""`pe-bert study --report-only`: the report, results.json, plots and model cards rebuilt from the stored stages
alone; nothing is computed, and units with a stage not stored are reported as missing."""

from __future__ import annotations

from ..errors import UsageError
from .store import NotStored


def report_from_store(study) -> dict:
    """The results dictionary of `study`'s folder, from what it stores (refused for another study's folder)."""
    from .folder import check_same_study
    from .publish import publish

    check_same_study(study.config)  # never overwrite a report with one of other settings
    study.store.read_only = True
    try:
        shared = study.engine.shared()
    except NotStored as missing:
        raise UsageError(
            f"{study.out} holds no finished shared stage {missing.stage!r} of this study: run the "
            "study first (with the same settings), then --report-only."
        ) from None
    results = [study.engine.run_unit(unit, shared) for unit in study.units()]
    return publish(study, results, 0.0, 0, shared)


__all__ = ["report_from_store"]
