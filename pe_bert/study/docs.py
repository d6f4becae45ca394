"""The numbers of README.md and docs/study.md, generated from committed artifacts, never typed by hand.

    python -m pe_bert.study.docs           # rewrite every generated block from the artifacts
    python -m pe_bert.study.docs --check   # exit 1 (naming the blocks) when a block differs from its artifact

The artifacts: `docs/reference/results.json`, the confirmatory run of the default study (what `pe-bert study`
writes, committed with its plots in docs/img/), `docs/reference/quickstart.json`, README's first command timed on a
fresh clone (`benchmarks/bench_quickstart.py`), and `docs/pilot/lr.json` / `docs/pilot/design.json`, the pilot
that the protocol was tuned on (`benchmarks/pilot_study.py`). A generated block sits between
`<!-- BEGIN generated: NAME -->` and `<!-- END generated: NAME -->`; everything between is replaced. The blocks
reuse the report's own sections (`pe_bert.study.report`), so README, docs and report.md cannot disagree.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
from pathlib import Path

REFERENCE = Path("docs/reference/results.json")
PILOT_LR = Path("docs/pilot/lr.json")
PILOT_DESIGN = Path("docs/pilot/design.json")
QUICKSTART = Path("docs/reference/quickstart.json")
FILES = ("README.md", "docs/study.md")
_BLOCK = re.compile(
    r"(<!-- BEGIN generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- END generated: (?P=name) -->)", re.S
)


def _body(lines: list[str]) -> list[str]:
    """A report section without its heading."""
    while lines and (not lines[0].strip() or lines[0].startswith("#")):
        lines = lines[1:]
    return lines


def _steps(budget) -> str:
    return f"{int(budget):,} steps"


def findings_block(summary: dict) -> list[str]:
    from .report import _findings_section

    rows = _body(_findings_section(summary, []))
    start = next(i for i, line in enumerate(rows) if line.startswith("|"))
    return rows[start:]


def verdicts_block(summary: dict) -> list[str]:
    from .report import verdict_lines

    return ["```", *verdict_lines(summary), "```"]


def run_block(summary: dict) -> list[str]:
    """What the reference run was: its protocol, scale, machine and time."""
    from .record_types import runs_of

    meta, config, protocol = summary["metadata"], summary["config"], summary["protocol"]
    runs = runs_of(summary)
    units = len(runs)
    pretrained = sum(1 for r in runs if r.trained)
    cpu = sum(e["cpu_s"] for e in meta["this_run"].values())
    return [
        f"The reference run (`docs/reference/results.json`) is the {protocol['kind']} run of protocol "
        f"{protocol['version']} (SHA-256 `{protocol['sha256'][:16]}…`): {pretrained} pretrainings and "
        f"{units - pretrained} untrained controls over seeds {config['seeds']}, budgets "
        f"{' and '.join(_steps(b) for b in summary['budgets'])}; {meta['wall_time_s'] / 60:.1f} minutes of wall time "
        f"and {cpu / 60:.1f} minutes of CPU with {meta['workers']} worker processes on {meta['cpu_count']} cores "
        f"(pe_bert {meta['pe_bert']}, transformers {meta['transformers']}, torch {meta['torch']}, Python "
        f"{meta['python']}).",
    ]


def quickstart_command(readme: Path) -> str:
    """The first command of README's Quickstart (its first ```bash block): what `quickstart.json` timed."""
    text = readme.read_text()
    section = text[text.index("## Quickstart") :]
    match = re.search(r"```bash\n(.+?)\n```", section, re.S)
    if match is None:
        raise ValueError(f"{readme}: no ```bash block under '## Quickstart'.")
    return match.group(1).strip()


def quickstart_block(timing: dict) -> list[str]:
    """How long README's first command took on a fresh clone, installation and study apart, against the budget."""
    within = "within" if timing["total_s"] <= timing["budget_s"] else "over"
    same = "identical" if timing["identical_to_reference"] else "not identical"
    cache = "with pip's cache" if timing["pip_cache"] else "no pip cache"
    return [
        f"Timed on a fresh clone by `benchmarks/bench_quickstart.py` (a new virtual environment, {cache}; "
        f"{timing['date']}, commit `{timing['commit'][:8]}`): {timing['total_s'] / 60:.1f} minutes on "
        f"{timing['cpu_count']} CPU cores, {timing['install_s'] / 60:.1f} to install and "
        f"{timing['study_s'] / 60:.1f} for the study, {within} the budget of {timing['budget_s'] / 60:.0f} minutes; "
        f"its results.json was {same} to the reference's apart from metadata.",
    ]


def _section(name: str):
    def render(summary: dict) -> list[str]:
        from . import report

        return _body(getattr(report, name)(summary, []))

    return render


def pilot_block(lr: dict, design: dict) -> list[str]:
    """What the pilot measured and what the protocol took from it."""
    from .protocol import PROTOCOL

    budgets = [str(b) for b in lr["budgets"]]
    lines = [
        f"Learning-rate pilot (seed {lr['seed']}, variants {', '.join(lr['variants'])}; constant rate after warmup; "
        "held-out masked-token loss, nats, mean over the variants). Rule: "
        f"{lr['rule']}.",
        "",
        "| learning rate | " + " | ".join(f"loss @{_steps(b)}" for b in budgets) + " |",
        "|---|" + "---|" * len(budgets),
    ]
    for rate, losses in lr["mean_loss"].items():
        mark = " (chosen)" if float(rate) == lr["chosen"] else ""
        lines.append(f"| {rate}{mark} | " + " | ".join(f"{losses[b]:.3f}" for b in budgets) + " |")
    plan = design["planning"]
    baselines = design.get("probing_baselines", {})
    lines += [
        "",
        f"Design pilot (`pe-bert study --pilot`: the default design on the pilot seeds {design['config']['seeds']} "
        f"and the pilot probing split, seed {design['config']['probing_seed']}): the outcome's pooled seed std "
        + ", ".join(
            f"{v:.2f} points at {_steps(b)}" for b, v in sorted(plan["seed_std"].items(), key=lambda i: int(i[0]))
        )
        + f" ({plan['degrees_of_freedom']} degrees of freedom), the correlation of a run's deviations between the "
        f"budgets {plan['budget_correlation']:.2f}; bag-of-n-gram baselines "
        + ", ".join(f"{t} {e['accuracy']:.1f}" for t, e in baselines.items())
        + ". The protocol took from it: the learning rate "
        f"{PROTOCOL.learning_rate:g}, the seed std {PROTOCOL.pilot_seed_std:g} points (the larger over the budgets, "
        f"rounded up), the budget correlation {PROTOCOL.pilot_budget_correlation:g}, and with them "
        f"{len(PROTOCOL.seeds)} seeds, the fewest that give each primary test power ≥ {PROTOCOL.power_target:g} at a "
        f"spread of {PROTOCOL.smallest_effect:g} points at every budget.",
    ]
    return lines


def protocol_table_block() -> list[str]:
    """The protocol's settings, from the code that freezes them (pe_bert/study/protocol.py)."""
    from .protocol import PROTOCOL, protocol_digest

    p = PROTOCOL
    rows = [
        (
            "version, SHA-256",
            f"{p.version}, `{protocol_digest()[:16]}…` (over the protocol and the default's settings)",
        ),
        (
            "grid",
            f"w ∈ {{{', '.join(f'{w:g}' for w in p.grid_w)}}} × s ∈ {{{', '.join(f'{s:g}' for s in p.grid_s)}}}, "
            f"{p.asymmetry} asymmetry, {p.bias} bias ({len(p.grid_w) * len(p.grid_s)} cells)",
        ),
        ("anchors, control", f"{', '.join(p.anchors)}; an untrained `{p.untrained_control}` of the same shape"),
        ("seeds", f"confirmatory {list(p.seeds)}, pilot {list(p.pilot_seeds)}"),
        (
            "probing split",
            f"confirmatory seed {p.probing_seed}, pilot seed {p.pilot_probing_seed}; "
            f"{p.probing_train_sentences:,} training and {p.probing_test_sentences:,} test sentences per task",
        ),
        (
            "budgets",
            f"{' and '.join(f'{b:,}' for b in p.budgets())} steps: one run to the largest, constant rate "
            f"{p.learning_rate:g} after {p.warmup_fraction:g} of the first budget's steps of warmup",
        ),
        ("probing tasks", f"{', '.join(p.probing_tasks)}; outcome: {', '.join(p.outcome_tasks)}"),
        ("tests", f"α = {p.alpha:g}; H1, H2 Holm at each budget; supported only when significant at every budget"),
        (
            "power",
            f"≥ {p.power_target:g} at a spread of {p.smallest_effect:g} points, planned on the pilot's seed std "
            f"{p.pilot_seed_std:g} and budget correlation {p.pilot_budget_correlation:g}",
        ),
        ("design checks", f"a knob may move the other property by ≤ {p.max_cross_effect:g} (identical tokens)"),
        (
            "controls",
            f"pretraining: ≥ {100 * p.pretraining_share_min:g} % of the learnable signal; twins tie within "
            f"{p.twin_tie_atol:g}",
        ),
    ]
    return ["| | |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)]


def power_block() -> list[str]:
    """The planned power of the default design (what `planned_power` computes before the confirmatory run)."""
    from .grid import LOCALITY, SYMMETRY
    from .hypotheses import FIRST_HOLM_ALPHA, HYPOTHESES, minimum_detectable_spread, planned_power
    from .protocol import PROTOCOL

    w_levels, s_levels = len(PROTOCOL.grid_w), len(PROTOCOL.grid_s)
    levels = {LOCALITY.factor: (w_levels, s_levels), SYMMETRY.factor: (s_levels, w_levels)}
    seeds, budgets = len(PROTOCOL.seeds), len(PROTOCOL.budget_multiples)
    lines = [
        f"| hypothesis | levels × other levels × seeds | power per budget | at every budget (union bound) | "
        f"detected with power {PROTOCOL.power_target:g} |",
        "|---|---|---|---|---|",
    ]
    for name, h in HYPOTHESES.items():
        own = levels[h["factor"]]
        power = planned_power(own, seeds, budgets)
        spread = minimum_detectable_spread(own, seeds, budgets)
        lines.append(
            f"| {name} ({h['factor']}) | {own[0]} × {own[1]} × {seeds} | {power.per_budget:.2f} | "
            f"{power.all_budgets:.2f} ({power.union_bound:.2f}) | {spread:.1f} points |"
        )
    lines += [
        "",
        f"At a spread of {PROTOCOL.smallest_effect:g} points (α = {FIRST_HOLM_ALPHA:g}, the first Holm step of "
        f"two), seed std {PROTOCOL.pilot_seed_std:g}, correlation between budgets "
        f"{PROTOCOL.pilot_budget_correlation:g}; the union bound holds whatever that correlation.",
    ]
    return lines


# Every block: the artifacts it is generated from (parsed, passed in this order) and the function that writes it.
BLOCKS = {
    "study-findings": ((REFERENCE,), findings_block),
    "study-verdicts": ((REFERENCE,), verdicts_block),
    "study-run": ((REFERENCE,), run_block),
    "study-protocol": ((REFERENCE,), _section("_protocol_section")),
    "study-controls": ((REFERENCE,), _section("_controls_section")),
    "study-design-checks": ((REFERENCE,), _section("_design_section")),
    "study-grid": ((REFERENCE,), _section("_grid_section")),
    "study-secondary": ((REFERENCE,), _section("_secondary_section")),
    "study-quickstart": ((QUICKSTART,), quickstart_block),
    "study-pilot": ((PILOT_LR, PILOT_DESIGN), pilot_block),
    "study-protocol-table": ((), protocol_table_block),
    "study-power": ((), power_block),
}


def render(name: str, read) -> str:
    """Block `name`'s body; `read(path)` gives an artifact's parsed JSON."""
    if name not in BLOCKS:
        raise ValueError(f"No generated block is named {name!r}; the blocks are: {', '.join(BLOCKS)}.")
    artifacts, block = BLOCKS[name]
    return "\n".join(block(*(read(path) for path in artifacts))) + "\n"


def update(root: Path, check: bool = False) -> list[str]:
    """Rewrite (or with `check`, compare) every generated block of FILES; returns the blocks that differed."""
    read = functools.cache(lambda path: json.loads((root / path).read_text()))  # each artifact parsed once
    stale = []
    for file in FILES:
        path = root / file
        text = path.read_text()

        def replace(match: re.Match, file=file) -> str:
            body = render(match["name"], read)
            if body != match["body"]:
                stale.append(f"{file}: {match['name']}")
            return match.group(1) + body + match.group(4)

        new = _BLOCK.sub(replace, text)
        if not check and new != text:
            path.write_text(new)
    return stale


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 when a block is stale")
    parser.add_argument("--root", default=".", help="the repository root")
    args = parser.parse_args(argv)
    stale = update(Path(args.root), check=args.check)
    if stale:
        verb = "differ from their artifacts" if args.check else "were rewritten"
        print(f"{len(stale)} generated block(s) {verb}: " + ", ".join(stale), file=sys.stderr)
        return 1 if args.check else 0
    print("Every generated block matches its artifact.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
