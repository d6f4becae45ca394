#!/usr/bin/env python
"""The pilot of the default study: what the protocol (pe_bert/study/protocol.py) was tuned on, on seeds and a
probing split that the confirmatory run never uses.

    python benchmarks/pilot_study.py lr        # the learning-rate pilot -> docs/pilot/lr.json
    python benchmarks/pilot_study.py design    # the default design on the pilot seeds -> docs/pilot/design.json

`lr`: the anchors and the grid's corners, one pilot seed, pretrained to the largest budget at each candidate rate
(constant after warmup); the held-out masked-token loss at every budget. The chosen rate is the one with the lowest
mean loss at the first budget: the fastest to converge (the rate is chosen on the pretraining objective, not on
the outcome).

`design`: the default study with `--pilot` (pilot seeds, pilot probing split): the outcome's pooled seed std at
each budget (what the power of the confirmatory design is planned on), the n-gram baselines, the controls and the
manipulation check. Its summary (not the models) is written to docs/pilot/design.json.

Extra study flags narrow either run (e.g. `--pretrain-steps 50` for a quick look); stages already stored under
--out are reused.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LEARNING_RATES = (1e-3, 3e-3, 1e-2, 3e-2)
DOCS = Path(__file__).resolve().parents[1] / "docs" / "pilot"


def _study_config(rest: list[str], **settings):
    from pe_bert.study import StudyConfig
    from pe_bert.study.cli import register

    flags = argparse.ArgumentParser(add_help=False)
    register(flags.add_subparsers())
    parser = flags._subparsers._group_actions[0].choices["study"]
    given = {
        k: v
        for k, v in vars(parser.parse_args(rest)).items()
        if v is not None and k in StudyConfig.__dataclass_fields__
    }
    return StudyConfig(**{**settings, **given})


def learning_rate_pilot(out: str, rest: list[str]) -> dict:
    from pe_bert.study import Study
    from pe_bert.study.protocol import PROTOCOL

    rows = {}
    for rate in LEARNING_RATES:
        config = _study_config(
            rest,
            out=f"{out}/lr-{rate:g}",
            variants=list(PROTOCOL.anchors),
            attenuated_w=[min(PROTOCOL.grid_w), max(PROTOCOL.grid_w)],
            attenuated_s=[max(PROTOCOL.grid_s), min(PROTOCOL.grid_s)],
            seeds=[PROTOCOL.pilot_seeds[0]],
            probing_seed=PROTOCOL.pilot_probing_seed,
            pretrain_learning_rate=rate,
            probing_tasks=[],
            outcome_tasks=[],
            untrained_control=None,
            length_multiples=[1],
        )
        summary = Study(config, progress=True).run()
        losses = {}
        for run in summary["runs"]:
            losses[run["variant"]] = {b: numbers["mlm"]["1"]["loss"] for b, numbers in run["budgets"].items()}
        rows[f"{rate:g}"] = losses
    budgets = sorted({b for losses in rows.values() for per in losses.values() for b in per}, key=int)
    mean = {
        rate: {b: sum(per[b] for per in losses.values()) / len(losses) for b in budgets}
        for rate, losses in rows.items()
    }
    chosen = min(mean, key=lambda rate: mean[rate][budgets[0]])
    print(f"\n{'rate':>8} " + " ".join(f"{'loss @' + b:>12}" for b in budgets))
    for rate in rows:
        print(f"{rate:>8} " + " ".join(f"{mean[rate][b]:>12.4f}" for b in budgets))
    print(f"\nFastest to converge (lowest mean held-out masked-token loss at {budgets[0]} steps): {chosen}")
    return {
        "rule": "the rate with the lowest mean held-out masked-token loss at the first budget",
        "seed": PROTOCOL.pilot_seeds[0],
        "variants": sorted(next(iter(rows.values()))),
        "budgets": [int(b) for b in budgets],
        "loss": rows,
        "mean_loss": mean,
        "chosen": float(chosen),
    }


def design_pilot(out: str, rest: list[str]) -> dict:
    from pe_bert.study import Study
    from pe_bert.study.protocol import PROTOCOL

    config = _study_config(rest, out=out, seeds=list(PROTOCOL.pilot_seeds), probing_seed=PROTOCOL.pilot_probing_seed)
    summary = Study(config, progress=True).run()
    keep = (
        "protocol",
        "config",
        "corpus",
        "probing_baselines",
        "grid",
        "primary_tests",
        "paper_form_tests",
        "controls",
        "design_checks",
        "findings",
        "variants",
        "secondary",
    )
    return {**{key: summary[key] for key in keep if key in summary}, "planning": planning(summary["runs"])}


def planning(runs: list[dict]) -> dict:
    """What the confirmatory design's power is planned on: the outcome's pooled seed std at each budget (seed
    deviations from their grid cell's mean) and the correlation of a run's deviations between the budgets."""
    import numpy as np

    from pe_bert.study import hypotheses as hy

    budgets = hy.budgets_of(runs)
    deviations = []
    for cell in hy.cells(runs).values():
        values = np.array([[hy.at(r, b)["outcome"] for b in budgets] for r in cell])
        deviations.append(values - values.mean(axis=0))
    deviations = np.concatenate(deviations)
    df = len(deviations) - len(hy.cells(runs))
    std = np.sqrt((deviations**2).sum(axis=0) / df)
    return {
        "seed_std": {b: float(v) for b, v in zip(budgets, std)},
        "budget_correlation": float(np.corrcoef(deviations.T)[0, 1]) if len(budgets) == 2 else None,
        "degrees_of_freedom": int(df),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pilot", choices=("lr", "design"))
    parser.add_argument("--out-root", default="pilot", help="folder of the pilot studies")
    parser.add_argument("--no-write", action="store_true", help="print only; do not write docs/pilot/")
    known, rest = parser.parse_known_args(argv)
    if known.pilot == "lr":
        result = learning_rate_pilot(known.out_root, rest)
    else:
        result = design_pilot(f"{known.out_root}/design", rest)
    if not known.no_write:
        DOCS.mkdir(parents=True, exist_ok=True)
        path = DOCS / f"{known.pilot}.json"
        path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        print(f"Wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
