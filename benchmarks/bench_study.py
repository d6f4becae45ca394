#!/usr/bin/env python
"""The default study as a benchmark: its time on this machine, and whether its verdicts survive a change of machine
setup.

    python benchmarks/bench_study.py                              # time the default; controls and verdicts
    python benchmarks/bench_study.py --reference docs/reference/results.json   # ... and compare with the reference
    python benchmarks/bench_study.py --threads 1                  # ... rerun with another torch thread count
    python benchmarks/bench_study.py --python /tmp/newest/bin/python   # ... rerun in another environment
    python benchmarks/bench_study.py --seeds 0 --variants rope,none   # any study flag narrows every run

Prints, for each run, wall time, CPU time (this process and its workers) per kind of stage, the machine's load
average before and after, the controls, the design checks and the verdicts; then, for each comparison (the
reference, another thread count, another environment such as one with the newest transformers), whether every
verdict agrees and how far the cell means of the outcome moved. Stages already stored in an --out folder are
reused (and said so): delete the folders for a clean timing. Exit status 1 when a verdict differs.

Another environment: `python -m venv /tmp/newest && /tmp/newest/bin/pip install torch==2.13.0 && /tmp/newest/bin/pip
install -e . -U transformers`, then `--python /tmp/newest/bin/python`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_SECONDS = 15 * 60


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run(flags: list[str], out: str, label: str, python: str = sys.executable) -> dict:
    """Run `pe-bert study FLAGS --out OUT` with `python` and print what it cost and found."""
    load_before = os.getloadavg()
    stored = sum(1 for _ in Path(out).glob("runs/**/DONE.json"))
    wall, cpu = time.perf_counter(), _cpu_seconds()
    subprocess.run([python, "-m", "pe_bert.cli", "study", *flags, "--out", out], check=True)
    wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
    summary = json.loads((Path(out) / "results.json").read_text())
    meta = summary["metadata"]
    print(
        f"\n=== {label}: {out} (pe_bert {meta['pe_bert']}, transformers {meta['transformers']}, torch {meta['torch']})"
    )
    if stored:
        print(f"    NOTE: {stored} stages were already stored and were reused: times below are not a clean run.")
    print(
        f"    wall {wall:.0f} s ({wall / 60:.1f} min; target {TARGET_SECONDS / 60:.0f} min: "
        f"{'met' if wall <= TARGET_SECONDS else 'NOT met'}), CPU {cpu:.0f} s, {meta['workers']} worker(s) on "
        f"{os.cpu_count()} cores; load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f} (1 min)"
    )
    print(f"    {'stage kind':<12} {'stages':>6} {'wall s':>9} {'CPU s':>9}")
    for kind, entry in meta["this_run"].items():
        print(f"    {kind:<12} {entry['stages']:>6} {entry['wall_s']:>9.1f} {entry['cpu_s']:>9.1f}")
    for check in summary["controls"] + summary["design_checks"]:
        mark = {True: "PASS", False: "FAIL", None: "----"}[check["passed"]]
        print(f"    {check['name']:<34} {mark}: {check['detail']}")
    for row in summary["findings"]:
        print(f"    {row['verdict'].upper():<16} {row['claim']} ({row['kind']}): Holm p {row['p_holm']}")
    return summary


def compare(first: dict, second: dict, label: str) -> bool:
    """Do the two runs reach the same verdicts? Also how far the grid's cell means of the outcome moved."""
    agree = True
    print(f"\n=== Verdicts: {label}")
    for a, b in zip(first["findings"], second["findings"]):
        same = a["verdict"] == b["verdict"]
        agree &= same
        print(f"    {'same' if same else 'DIFFERENT':<9} {a['claim']} ({a['kind']}): {a['verdict']} / {b['verdict']}")
    moves = [
        abs(x["budgets"][k]["outcome"]["mean"] - y["budgets"][k]["outcome"]["mean"])
        for x, y in zip(first["grid"], second["grid"])
        for k in x["budgets"]
        if k in y["budgets"] and x["budgets"][k]["outcome"]["mean"] is not None
    ]
    if moves:
        median = sorted(moves)[len(moves) // 2]
        print(f"    cell means of the outcome moved by at most {max(moves):.2f} points (median {median:.2f})")
    print(f"    verdicts {'agree' if agree else 'DIFFER'}")
    return agree


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False
    )
    parser.add_argument("--out", default="bench_study", help="folder of the default run")
    parser.add_argument("--reference", help="a committed results.json whose verdicts the run must reproduce")
    parser.add_argument("--threads", type=int, help="rerun with this many torch threads per unit (--unit-threads)")
    parser.add_argument("--python", help="rerun with this Python (another environment, e.g. the newest transformers)")
    known, flags = parser.parse_known_args(argv)
    default = run(flags, known.out, "default")
    agree = True
    if known.reference:
        agree &= compare(json.loads(Path(known.reference).read_text()), default, f"reference {known.reference}")
    if known.threads:
        other = run([*flags, "--unit-threads", str(known.threads)], f"{known.out}-threads{known.threads}", "threads")
        agree &= compare(default, other, f"{known.threads} torch thread(s) per unit")
    if known.python:
        other = run(flags, f"{known.out}-env", "other environment", python=known.python)
        meta = other["metadata"]
        agree &= compare(default, other, f"transformers {meta['transformers']}, torch {meta['torch']}")
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
