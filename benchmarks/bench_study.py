#!/usr/bin/env python
"""The default study as a benchmark: wall and CPU time, and whether its budgets are converged.

    python benchmarks/bench_study.py                     # the default, then doubled budgets on the check's variants
    python benchmarks/bench_study.py --only-default      # just the timing of the default (the 15-minute target)
    python benchmarks/bench_study.py --seeds 0 --variants rope,none   # any study flag narrows both runs

Prints, for each run, wall time, CPU time (this process and its workers) per kind of stage, the machine's load
average before and after, the controls and the verdicts. Then the convergence check: the anchors and the grid's
extreme cells (smallest and largest w x smallest and largest s) are run again with pretraining and fine-tuning
budgets doubled, and per variant the change of the mean primary outcome (the word-order score, points) is compared
with the seed std: at a converged default no change exceeds max(2 points, 1 seed std). The separate probe tasks
and the masked-token share are printed too (informative). Stages already stored in --out are reused (and said
so): delete the folders for a clean timing. Exit status 1 when the convergence check fails.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TOLERANCE_POINTS = 2.0
TARGET_SECONDS = 15 * 60


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run(config, label: str) -> dict:
    from pe_bert.study import Study
    from pe_bert.study.report import fmt_p

    load_before = os.getloadavg()
    stored = sum(1 for _ in Path(config.out).glob("runs/**/DONE.json"))
    wall, cpu = time.perf_counter(), _cpu_seconds()
    summary = Study(config, progress=True).run()
    wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
    load_after = os.getloadavg()
    print(f"\n=== {label}: {config.out}")
    if stored:
        print(f"    NOTE: {stored} stages were already stored and were reused: times below are not a clean run.")
    print(
        f"    wall {wall:.0f} s ({wall / 60:.1f} min; target {TARGET_SECONDS / 60:.0f} min: "
        f"{'met' if wall <= TARGET_SECONDS else 'NOT met'}), CPU {cpu:.0f} s, {summary['metadata']['workers']} "
        f"worker(s) on {os.cpu_count()} cores; load average before {load_before[0]:.2f}, after "
        f"{load_after[0]:.2f} (1 min)"
    )
    print(f"    {'stage kind':<12} {'stages':>6} {'wall s':>9} {'CPU s':>9}")
    for kind, entry in summary["metadata"]["this_run"].items():
        print(f"    {kind:<12} {entry['stages']:>6} {entry['wall_s']:>9.1f} {entry['cpu_s']:>9.1f}")
    for check in summary["controls"] + summary["design_checks"]:
        mark = {True: "PASS", False: "FAIL", None: "----"}[check["passed"]]
        print(f"    {check['name']:<28} {mark}: {check['detail']}")
    for row in summary["findings"]:
        print(
            f"    {row['verdict'].upper():<13} {row['claim']} ({row['kind']}): {row['estimate']}, Holm p "
            f"{fmt_p(row['p_holm'])}"
        )
    return summary


def _measures(variant: dict) -> list[tuple[str, dict, float, bool]]:
    """(name, summary, scale to points, criterion?) of what the convergence check compares."""
    rows = [("word-order score", variant["outcome"], 1.0, True)]
    rows += [(f"probe: {task}", entry, 1.0, False) for task, entry in variant["probing"].items()]
    rows += [(f"task: {task}", entry, 100.0, True) for task, entry in variant["tasks"].items()]
    first = next(iter(variant["mlm"]), None)
    if first and variant["mlm"][first].get("applicable"):
        rows.append(("MLM share", variant["mlm"][first]["share"], 100.0, False))
    return rows


def convergence(default: dict, doubled: dict) -> bool:
    """Per variant of the doubled run: change of each mean (points) vs max(2 points, the default's seed std); the
    primary outcome and fine-tuned task scores are the criterion, the rest is informative."""
    print("\n=== Convergence: doubled pretraining and fine-tuning budgets vs the default")
    header = f"{'variant':<24} {'measure':<18} {'default':>8} {'doubled':>8} {'change':>8} {'seed std':>8} {'limit':>7}"
    print(header)
    print("-" * len(header))
    ok = True
    for label in doubled["variants"]:
        before_rows = _measures(default["variants"][label])
        after_rows = {name: entry for name, entry, *_ in _measures(doubled["variants"][label])}
        for name, before, scale, criterion in before_rows:
            after = after_rows.get(name) or {}
            if before.get("mean") is None or after.get("mean") is None:
                print(f"{label:<24} {name:<18} {'n/a':>8}")
                continue
            change = scale * (after["mean"] - before["mean"])
            std = scale * (before.get("std") or 0.0)
            limit = max(TOLERANCE_POINTS, std)
            verdict = "(informative)"
            if criterion:
                passed = abs(change) <= limit
                ok &= passed
                verdict = "ok" if passed else "NOT CONVERGED"
            print(
                f"{label:<24} {name:<18} {scale * before['mean']:>8.1f} {scale * after['mean']:>8.1f} "
                f"{change:>+8.1f} {std:>8.1f} {limit:>7.1f}  {verdict}"
            )
    print(
        f"\nConvergence {'holds' if ok else 'FAILS'}: every primary outcome within max({TOLERANCE_POINTS:g} points, "
        "1 seed std)."
    )
    print(
        "\nThe primary tests at both budgets (the doubled run has the grid's corners only: its estimates compare "
        "extreme levels):"
    )
    for before, after in zip(default["primary_tests"], doubled["primary_tests"]):

        def show(test):
            if test["estimate"] is None:
                return f"{test['verdict']}"
            low, high = test["interval"]
            return (
                f"{test['verdict']}, spread {test['estimate']:.1f} [{low:.1f}, {high:.1f}] points, Holm p "
                f"{test['p_holm']:.2g}, means {', '.join(f'{k}: {v:.1f}' for k, v in test['means'].items())}"
            )

        print(f"  {before['claim']}:\n    default  {show(before)}\n    doubled  {show(after)}")
    return ok


def check_variants(config) -> dict:
    """The doubled run's variants: the anchors and the grid's extreme cells."""
    ws, ss = zip(*config.attenuated_grid()) if config.attenuated_grid() else ((), ())
    extremes = {
        "attenuated_w": sorted({min(ws), max(ws)}) if ws else [],
        "attenuated_s": sorted({min(ss), max(ss)}, reverse=True) if ss else [],
    }
    return {"variants": list(config.variants), **extremes}


def main(argv=None) -> int:
    from pe_bert.study import StudyConfig
    from pe_bert.study.cli import register

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False
    )
    parser.add_argument("--only-default", action="store_true", help="Time the default only (no doubled run).")
    parser.add_argument("--out-doubled", default=None, help="Folder of the doubled run (default: OUT-doubled).")
    study_flags = argparse.ArgumentParser(add_help=False)
    register(study_flags.add_subparsers())
    known, rest = parser.parse_known_args(argv)
    study_parser = study_flags._subparsers._group_actions[0].choices["study"]
    study_args = study_parser.parse_args(rest)
    overrides = {k: v for k, v in vars(study_args).items() if v is not None and k in StudyConfig.__dataclass_fields__}
    overrides.setdefault("out", "bench_study")
    config = StudyConfig.from_file(study_args.config, **overrides) if study_args.config else StudyConfig(**overrides)
    default = run(config, "default")
    if known.only_default:
        return 0
    settings = {
        **config.to_dict(),
        **check_variants(config),
        "out": known.out_doubled or f"{config.out}-doubled",
        "pretrain_steps": 2 * config.pretrain_steps,
        "finetune_steps": 2 * config.finetune_steps,
    }
    doubled = run(StudyConfig(**settings), "doubled budgets")
    return 0 if convergence(default, doubled) else 1


if __name__ == "__main__":
    raise SystemExit(main())
