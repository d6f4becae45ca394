"""`pe-bert study --dry-run`: every stage the study declares (`pe_bert.study.stages`), shared and per unit, whether
it is stored (verified as a real run would) or to run; `plan.describe` adds sizes and estimates. Nothing is
computed."""

from __future__ import annotations

from .stages import SharedResults, shared_calls, unit_calls
from .store import NotStored


def plan_study(study) -> dict:
    """What `study.run()` would do (`plan.describe`'s dictionary)."""
    from .folder import check_same_study
    from .plan import describe

    check_same_study(study.config)
    study.store.read_only = True
    engine, rows = study.engine, []
    shared, complete = SharedResults(), True
    for call in shared_calls(study.config):
        try:
            call.stage.absorb(shared, call, engine.shared_call(call))
            stored = True
        except NotStored:
            stored = False
            complete = complete and not call.stage.read_by_units
        rows.append({"unit": call.stage.unit(call), "stage": call.name, "stored": stored})
    for unit in study.units():
        # a unit's stages read the shared ones: without every shared stage they read, none of its stages is stored
        stored = engine.run_unit(unit, shared).stages if complete else {}
        rows += [
            {"unit": unit.name, "stage": call.name, "stored": call.name in stored, "spec": unit.spec}
            for call in unit_calls(study.config, unit.spec)
        ]
    return describe(study.config, rows)


__all__ = ["plan_study"]
