"""A study's outputs once its units are done: report.md and the plots, the model cards, the Hub push (if asked),
and results.json, written once, last, holding what the steps before it recorded in its metadata."""

from __future__ import annotations


def publish(study, results: list, wall_time: float, workers: int, shared, push: bool = False) -> dict:
    """Write the report, the model cards and (with `push`) upload the checkpoints; then results.json, even when a
    step failed (its metadata then lacks that step). Returns the results dictionary."""
    from .hub import push_checkpoints, write_model_cards
    from .report import save_results, write_report

    summary = write_report(study, results, wall_time, workers, shared)
    try:
        summary["metadata"]["model_cards"] = write_model_cards(study, results, summary)
        if push:
            summary["metadata"]["pushed"] = push_checkpoints(study, results, summary)
    finally:
        save_results(study.out, summary)
    return summary


__all__ = ["publish"]
