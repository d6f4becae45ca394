#!/usr/bin/env python
"""The default study as a benchmark: wall and CPU time, and whether its budgets are converged.

    python benchmarks/bench_study.py                     # the default, then the default with doubled budgets
    python benchmarks/bench_study.py --only-default      # just the timing of the default (the 15-minute target)
    python benchmarks/bench_study.py --seeds 0 --variants rope,none   # any study flag narrows both runs

Prints, for each run, wall time, CPU time (this process and its workers) per kind of stage, the machine's load
average before and after, and the controls. Then, per variant and task, the change of the mean score when
pretraining and fine-tuning budgets are doubled, against the seed std: at a converged default no change exceeds
max(2 points, 1 seed std). Stages already stored in --out are reused (and said so): delete the folders for a clean
timing. Exit status 1 when the convergence check fails.
"""

from __future__ import annotations

import argparse
import json
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

    load_before = os.getloadavg()
    stored = sum(1 for _ in Path(config.out).glob("runs/**/DONE.json"))
    wall, cpu = time.perf_counter(), _cpu_seconds()
    summary = Study(config, progress=True).run()
    wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
    load_after = os.getloadavg()
    print(f"\n=== {label}: {config.out}")
    if stored:
        print(f"    NOTE: {stored} stages were already stored and were reused: times below are not a clean run.")
    print(f"    wall {wall:.0f} s ({wall / 60:.1f} min; target {TARGET_SECONDS / 60:.0f} min: "
          f"{'met' if wall <= TARGET_SECONDS else 'NOT met'}), CPU {cpu:.0f} s, {summary['metadata']['workers']} "
          f"worker(s) on {os.cpu_count()} cores; load average before {load_before[0]:.2f}, after "
          f"{load_after[0]:.2f} (1 min)")
    print(f"    {'stage kind':<12} {'stages':>6} {'wall s':>9} {'CPU s':>9}")
    for kind, entry in summary["metadata"]["this_run"].items():
        print(f"    {kind:<12} {entry['stages']:>6} {entry['wall_s']:>9.1f} {entry['cpu_s']:>9.1f}")
    for check in summary["controls"]:
        print(f"    control {'PASS' if check['passed'] else 'FAIL'}: {check['statement']} ({check['detail']})")
    return summary


def convergence(default: dict, doubled: dict) -> bool:
    """Per variant and task: change of the mean (points) vs max(2 points, the default's seed std)."""
    print("\n=== Convergence: doubled pretraining and fine-tuning budgets vs the default")
    header = f"{'variant':<22} {'task':<16} {'default':>8} {'doubled':>8} {'change':>8} {'seed std':>8} {'limit':>7}"
    print(header)
    print("-" * len(header))
    ok = True
    for label, variant in default["variants"].items():
        rows = [(task, entry, doubled["variants"].get(label, {}).get("tasks", {}).get(task, {}))
                for task, entry in variant["tasks"].items()]
        for task, before, after in rows:
            if before.get("mean") is None or after.get("mean") is None:
                print(f"{label:<22} {task:<16} {'n/a':>8}")
                continue
            change = 100 * (after["mean"] - before["mean"])
            std = 100 * (before.get("std") or 0.0)
            limit = max(TOLERANCE_POINTS, std)
            passed = abs(change) <= limit
            ok &= passed
            print(f"{label:<22} {task:<16} {100 * before['mean']:>8.1f} {100 * after['mean']:>8.1f} "
                  f"{change:>+8.1f} {std:>8.1f} {limit:>7.1f}  {'ok' if passed else 'NOT CONVERGED'}")
        first = next(iter(variant["mlm"]), None)
        if first and variant["mlm"][first].get("applicable"):
            share = variant["mlm"][first]["share"]["mean"]
            share_doubled = doubled["variants"][label]["mlm"][first]["share"]["mean"]
            if share is not None and share_doubled is not None:
                print(f"{label:<22} {'(MLM share)':<16} {100 * share:>8.1f} {100 * share_doubled:>8.1f} "
                      f"{100 * (share_doubled - share):>+8.1f}   (informative, not a criterion)")
    print(f"\nConvergence {'holds' if ok else 'FAILS'}: every change within max({TOLERANCE_POINTS:g} points, 1 seed std).")
    return ok


def main(argv=None) -> int:
    from pe_bert.study import StudyConfig
    from pe_bert.study.cli import register

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--only-default", action="store_true", help="Time the default only (no doubled run).")
    parser.add_argument("--out-doubled", default=None, help="Folder of the doubled run (default: OUT-doubled).")
    study_flags = argparse.ArgumentParser(add_help=False)
    register(study_flags.add_subparsers())
    known, rest = parser.parse_known_args(argv)
    study_parser = study_flags._subparsers._group_actions[0].choices["study"]
    study_args = study_parser.parse_args(rest)
    overrides = {k: v for k, v in vars(study_args).items()
                 if v is not None and k in StudyConfig.__dataclass_fields__}
    overrides.setdefault("out", "bench_study")
    config = (StudyConfig.from_file(study_args.config, **overrides) if study_args.config
              else StudyConfig(**overrides))
    default = run(config, "default")
    if known.only_default:
        return 0
    settings = {**config.to_dict(), "out": known.out_doubled or f"{config.out}-doubled",
                "pretrain_steps": 2 * config.pretrain_steps, "finetune_steps": 2 * config.finetune_steps}
    doubled = run(StudyConfig(**settings), "doubled budgets")
    return 0 if convergence(default, doubled) else 1


if __name__ == "__main__":
    raise SystemExit(main())
