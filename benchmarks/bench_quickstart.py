#!/usr/bin/env python
"""README's first command, timed as a new user meets it: a fresh clone, a fresh virtual environment, no pip cache.

    python benchmarks/bench_quickstart.py                 # clone HEAD, run the command, print the times
    python benchmarks/bench_quickstart.py --save          # ... and write docs/reference/quickstart.json
    python benchmarks/bench_quickstart.py --pip-cache     # let pip use its cache (not what a fresh machine has)
    python benchmarks/bench_quickstart.py --save --update-reference   # ... and make this run the reference
                                                          # (its metadata and plots), when its results equal it

The command is read from README.md (the first ```bash block of its Quickstart), split at `&&`, and each part is run
and timed in the clone with the new environment first on PATH: the installation (the venv and the `pip` parts) and the
study are timed apart, and their sum is compared with the budget (15 minutes on 2 CPU cores). The study's
results.json apart from `metadata` is compared with the committed reference (docs/reference/results.json): a fresh
install must reproduce it byte for byte. Full output goes to a log file beside the clone; the console shows one line
per part. Exit status 1 when a part fails or the results differ from the reference.

What this writes (--save) is the artifact the README's and docs/study.md's quickstart time is generated from
(`python -m pe_bert.study.docs`); commit it with the code it timed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from pe_bert.interrupts import INTERRUPTED_STATUS
from pe_bert.study.docs import QUICKSTART, REFERENCE, quickstart_command

ROOT = Path(__file__).resolve().parents[1]
# The study's plots that README and docs/study.md show, as docs/img/study_<name>.
PLOTS = ("grid_heatmaps.png", "scatter_properties.png", "length_generalisation.png")
BUDGET_S = 15 * 60


def _without_metadata(path: Path) -> str:
    results = json.loads(path.read_text())
    results.pop("metadata", None)
    return json.dumps(results, sort_keys=True)


def _run_part(part: str, clone: Path, env: dict, log) -> float:
    log.write(f"\n$ {part}\n")
    log.flush()
    start = time.perf_counter()
    done = subprocess.run(["bash", "-c", part], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"`{part}` failed (exit {done.returncode}) after {seconds:.0f} s: see {log.name}")
    return seconds


def timed_quickstart(work: Path, pip_cache: bool, root: Path = ROOT) -> dict:
    """Clone `root`'s HEAD into `work`, make a fresh venv and run README's first command there, part by part (the
    `pip` parts are the installation, the rest the run); returns what was measured."""
    clone, venv = work / "clone", work / "venv"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(root), str(clone)], check=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True, check=True)
    command = quickstart_command(clone / "README.md")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    venv_s = time.perf_counter() - start
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv))
    if not pip_cache:
        env["PIP_NO_CACHE_DIR"] = "1"
    parts, load_before = [], os.getloadavg()
    with open(work / "quickstart.log", "w") as log:
        for part in (p.strip() for p in command.split("&&")):
            print(f"running: {part}", flush=True)
            seconds = _run_part(part, clone, env, log)
            parts.append({"command": part, "seconds": round(seconds, 1)})
            print(f"  {seconds / 60:.1f} min", flush=True)
    study = [p for p in parts if not p["command"].startswith("pip ")]
    results = clone / "study" / "results.json"
    return {
        "command": command,
        "commit": commit.stdout.strip(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "pip_cache": pip_cache,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "venv_s": round(venv_s, 1),
        "parts": parts,
        "install_s": round(venv_s + sum(p["seconds"] for p in parts if p not in study), 1),
        "study_s": round(sum(p["seconds"] for p in study), 1),
        "total_s": round(venv_s + sum(p["seconds"] for p in parts), 1),
        "budget_s": BUDGET_S,
        "identical_to_reference": results.exists()
        and _without_metadata(results) == _without_metadata(root / REFERENCE),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--save", action="store_true", help=f"write the measurement to {QUICKSTART}")
    parser.add_argument("--pip-cache", action="store_true", help="let pip use its cache (default: none, as fresh)")
    parser.add_argument("--keep", action="store_true", help="keep the clone, the venv and the log")
    parser.add_argument(
        "--update-reference",
        action="store_true",
        help="when the results equal the reference's apart from metadata, copy this run's results.json and plots "
        "over the reference's (then run `python -m pe_bert.study.docs`)",
    )
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="pe-bert-quickstart-"))
    print(f"working in {work} (full output: {work / 'quickstart.log'})")
    try:
        measured = timed_quickstart(work, args.pip_cache)
        if args.update_reference and measured["identical_to_reference"]:
            study = work / "clone" / "study"
            shutil.copyfile(study / "results.json", ROOT / REFERENCE)
            for name in PLOTS:
                shutil.copyfile(study / name, ROOT / "docs" / "img" / f"study_{name}")
            print(f"updated {REFERENCE} and docs/img/study_*.png from this run")
    except KeyboardInterrupt:  # Ctrl-C reached the running part too (one process group), which has stopped
        print(f"interrupted; nothing saved (log: {work / 'quickstart.log'})", file=sys.stderr)
        return INTERRUPTED_STATUS
    finally:
        if not args.keep:
            shutil.rmtree(work / "venv", ignore_errors=True)
            shutil.rmtree(work / "clone", ignore_errors=True)
    within = "within" if measured["total_s"] <= BUDGET_S else "OVER"
    print(
        f"\ninstall {measured['install_s'] / 60:.1f} min + study {measured['study_s'] / 60:.1f} min = "
        f"{measured['total_s'] / 60:.1f} min on {measured['cpu_count']} cores: {within} the "
        f"{BUDGET_S // 60}-minute budget; results.json "
        + ("identical to the reference" if measured["identical_to_reference"] else "DIFFERS from the reference")
        + f" apart from metadata (load average before {measured['load_average_before'][0]}, after "
        f"{measured['load_average_after'][0]})"
    )
    if args.save:
        (ROOT / QUICKSTART).write_text(json.dumps(measured, indent=2) + "\n")
        print(f"wrote {QUICKSTART}")
    return 0 if measured["identical_to_reference"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
