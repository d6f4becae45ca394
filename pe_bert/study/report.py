"""The study report: results.json (every number), report.md (the findings table, the controls, the design checks,
then the tables) and PNG plots. The science — outcome, hypotheses, tests, verdicts — is in `hypotheses.py`, the
runs' numbers are collected by `records.py`; this module puts them together and writes them out.

results.json is byte-identical between two runs with the same settings on the same machine, except its `metadata`
section (versions, platform, paths, wall and CPU times). report.md is rendered from the very dictionary written to
results.json.

Units: see `records.UNITS` (also in results.json).
"""

from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path

from ..analysis.capture import ATTENTION_SCORES, METRIC_TITLES
from ..analysis.probes.registry import display_name, perturbation_order
from ..jsonable import jsonable
from . import hypotheses, statistics
from .config import EXECUTION_SETTINGS
from .grid import level
from .hypotheses import OUTCOME
from .hypothesis_records import (
    Exploratory,
    LengthLossTest,
    Secondary,
    ZeroShotSignTest,
    exploratory_of,
    paper_form_tests_of,
    primary_tests_of,
    secondary_of,
)
from .protocol import PROTOCOL
from .record_types import Record, RunRecord, variants_of
from .records import UNITS, aggregate, run_record
from .sections import CellMeasures, Finding, GridCell, checks_of, findings_of, grid_of

# ---------------------------------------------------------------------------------------------------------------
# Formatting


def fmt(value, digits: int = 4) -> str:
    """The one number format of report.md and the model cards."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def fmt_summary(entry: dict | None, digits: int = 4, interval: bool = True) -> str:
    """'mean ± std [low, high]' (one seed: the value alone)."""
    if not entry or entry.get("mean") is None:
        return "n/a"
    text = fmt(entry["mean"], digits)
    if entry.get("std") is not None:
        text += f" ± {fmt(entry['std'], digits)}"
    if interval and entry.get("ci95"):
        text += f" [{fmt(entry['ci95'][0], digits)}, {fmt(entry['ci95'][1], digits)}]"
    return text


def fmt_p(p, entry: Record | None = None) -> str:
    """A p-value; `entry` (the record it belongs to) with `p_bound` set: the p is a floor (statistics.bounded_p),
    written "< floor"."""
    if p is None:
        return "n/a"
    if hypotheses.at_p_floor(p, entry):
        return hypotheses.P_FLOOR_TEXT
    return f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def metadata(study, wall_time: float, workers: int) -> dict:
    import torch
    import transformers

    from .. import __version__

    # Compute time of every stored stage (also those finished by an earlier, resumed run), by kind of stage.
    stored = study.store.stored_seconds()
    this_run: dict[str, dict] = {}
    timings = study.timings
    for line in timings.read_text().splitlines() if timings.exists() else []:
        event = json.loads(line)
        kind = event["stage"].split(":", 1)[0]
        entry = this_run.setdefault(kind, {"stages": 0, "wall_s": 0.0, "cpu_s": 0.0})
        entry["stages"] += 1
        entry["wall_s"] += event["wall_s"]
        entry["cpu_s"] += event.get("cpu_s") or 0.0  # cluster jobs' CPU time is their scheduler's to report
    return {
        "pe_bert": __version__,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "out": str(study.out),
        "workers": workers,
        "wall_time_s": wall_time,
        "stage_seconds_stored": stored,
        "stage_seconds_stored_total": sum(stored.values()),
        "this_run": this_run,
    }


# ---------------------------------------------------------------------------------------------------------------
# Writing


def build_summary(study, results, wall_time: float, workers: int, shared) -> dict:
    """Everything results.json holds; `shared` holds the shared stages' (verified) results."""
    from .plots import write_plots
    from .protocol import protocol_record

    config = study.config
    tasks = list(config.tasks)
    records = [run_record(r, config.outcome_tasks) for r in results]
    corpus = _corpus(config, shared.data)
    variants = aggregate(records, tasks)
    settings = {k: v for k, v in config.to_dict().items() if k not in EXECUTION_SETTINGS}
    baselines = {
        task: {**entry, "accuracy": 100 * entry["accuracy"]}
        for task, entry in (shared.probing.get("ngram_baselines") or {}).items()
    }
    primary = hypotheses.primary_tests(records)
    summary = {
        "units": UNITS,
        "protocol": protocol_record(config),
        "config": settings,
        "corpus": corpus,
        "outcome": {
            "name": OUTCOME,
            "tasks": list(config.outcome_tasks),
            "ceiling": hypotheses.CEILING,
            "order_blind": hypotheses.ORDER_BLIND_SCORE,
        },
        "budgets": [int(b) for b in hypotheses.budgets_of(records)],
        "probing_baselines": baselines,
        "design": shared.design,
        "variants": {label: v.to_dict() for label, v in variants.items()},
        "grid": _dicts(_grid(records)),
        "primary_tests": _dicts(primary),
        "paper_form_tests": _dicts(hypotheses.paper_form_tests(records)),
        "controls": _dicts(hypotheses.controls(records, variants, corpus.get("floors", {}))),
        "design_checks": _dicts(
            hypotheses.design_checks(
                records, variants, shared.design, shared.probing.get("ngram_baselines") or {}, config.outcome_tasks
            )
            + hypotheses.power_check(primary)
        ),
        "secondary": Secondary(distance=hypotheses.distance_analysis(records, _distance_tasks(records))).to_dict(),
        "exploratory": Exploratory(
            correlations=hypotheses.exploratory_correlations(records),
            anovas=hypotheses.exploratory_anovas(records),
            effect_tests=hypotheses.exploratory_effect_tests(records, variants),
        ).to_dict(),
        "runs": [r.to_dict() for r in records],
        "failures": [{"run": r.name, **r.failure} for r in records if r.failure],
    }
    summary["findings"] = [f.to_dict() for f in findings(summary)]
    summary["plots"] = write_plots(study.out, summary, tasks)
    summary = jsonable(summary)
    summary["metadata"] = jsonable(
        {**metadata(study, wall_time, workers), "execution": {k: getattr(config, k) for k in EXECUTION_SETTINGS}}
    )
    return summary


def _dicts(records: list[Record]) -> list[dict]:
    return [r.to_dict() for r in records]


# The measures of a grid cell, by their field of `CellMeasures`: the outcome, and the measured properties of
# attention on held-out sentences and (prefixed `position_`) on identical tokens.
_GRID_MEASURES = {
    "outcome": lambda n: n.outcome,
    **{
        f"{prefix}{prop}": lambda n, source=source, prop=prop: hypotheses.measured(n, source, prop)
        for prefix, source in (("", "sentences"), ("position_", "identical tokens"))
        for prop in ("locality", "symmetry_mass")
    },
}


def _grid(records: list[RunRecord]) -> list[GridCell]:
    """Per grid cell, every measure summarised over seeds at each budget (`budgets`) and at the final one."""
    grid = []
    for (w, s), runs in hypotheses.cells(records).items():
        budgets = sorted({b for r in runs for b in r.budgets}, key=int)
        by_budget = {
            b: CellMeasures(
                **{
                    key: statistics.summarize([get(hypotheses.at(r, b)) for r in runs])
                    for key, get in _GRID_MEASURES.items()
                }
            )
            for b in budgets
        }
        grid.append(
            GridCell(
                w=w, s=s, variants=sorted({r.variant for r in runs}), final=by_budget[budgets[-1]], budgets=by_budget
            )
        )
    return grid


def _distance_tasks(records: list[RunRecord]) -> list[str]:
    """The probing tasks whose examples carry a dependency distance."""
    tasks = {t: e for r in hypotheses.finished(records) for t, e in r.probing.items() if e.get("by_distance")}
    return sorted(tasks)


def findings(summary: dict) -> list[Finding]:
    """The findings table: one row per pre-registered test (primary first), its estimate at every budget."""
    rows = []
    for test in primary_tests_of(summary) + paper_form_tests_of(summary):
        estimates = {}
        for budget, entry in test.budgets.items():
            if entry.p is None:
                estimates[budget] = "n/a"
            elif test.kind == "primary":
                low, high = entry.interval
                p = fmt_p(entry.p_holm, entry)
                estimates[budget] = f"spread {entry.estimate:.1f} [{low:.1f}, {high:.1f}], p {p}"
            else:
                ci = f" [{entry.interval[0]:.2f}, {entry.interval[1]:.2f}]" if entry.interval else ""
                estimates[budget] = f"ρ = {entry.rho:.2f}{ci}, p {fmt_p(entry.p_holm, entry)}"
        rows.append(
            Finding(
                claim=test.claim,
                kind=test.kind,
                test=test.test,
                estimates=estimates,
                p_holm=test.p_holm,
                verdict=test.verdict,
                statement=test.statement,
            )
        )
    return rows


def _corpus(config, data: dict) -> dict:
    """What the shared data stage measured of the corpus (floors per length)."""
    corpus = {
        "source": f"built-in {config.builtin_grammar} language"
        if config.builtin_corpus
        else (config.dataset_name or Path(config.train_file).name)
    }
    for key in ("num_train_sentences", "unigram_entropy", "expected_sentence_length"):
        if key in data:
            corpus[key] = data[key]
    if "floors" in data:
        corpus["floors"] = data["floors"]
    return corpus


def dumps(value, level: int = 0) -> str:
    """JSON as `json.dumps(indent=2)` writes it, except that a list of numbers or strings stays on one line: a
    study's per-pair and per-position lists would otherwise take one line per number (and megabytes)."""
    pad = "  " * (level + 1)
    if isinstance(value, dict) and value:
        items = ",\n".join(f"{pad}{json.dumps(str(k))}: {dumps(v, level + 1)}" for k, v in value.items())
        return "{\n" + items + "\n" + "  " * level + "}"
    if isinstance(value, list) and value and any(isinstance(v, (dict, list)) for v in value):
        return "[\n" + ",\n".join(pad + dumps(v, level + 1) for v in value) + "\n" + "  " * level + "]"
    return json.dumps(value, allow_nan=False, ensure_ascii=True)


def save_results(out: Path, summary: dict) -> None:
    """Write results.json: once per study run, last (`publish.publish`), with every step's metadata."""
    (Path(out) / "results.json").write_text(dumps(summary) + "\n")


def write_report(study, results, wall_time: float, workers: int, shared) -> dict:
    """Build the results dictionary and write report.md and the plots from it (results.json is `save_results`')."""
    summary = build_summary(study, results, wall_time, workers, shared)
    (study.out / "report.md").write_text(render_markdown(summary, list(study.config.tasks)))
    return summary


def verdict_lines(summary: dict) -> list[str]:
    """One line per pre-registered test (what the console ends with)."""
    return [f"{row.verdict.upper():<16} {row.claim} ({row.kind}): {row.statement}" for row in findings_of(summary)]


def _mark(passed) -> str:
    return "—" if passed is None else ("PASS" if passed else "FAIL")


def _steps(budget) -> str:
    return f"{int(budget):,} steps"


def render_markdown(summary: dict, tasks: list[str]) -> str:
    sections = (
        _header_section,
        _findings_section,
        _protocol_section,
        _controls_section,
        _design_section,
        _grid_section,
        _variants_section,
        _secondary_section,
        _exploratory_section,
        _zero_shot_section,
        _mlm_section,
        _limits_section,
        _failures_section,
        _plots_section,
    )
    lines = []
    for section in sections:
        lines += section(summary, tasks)
    return "\n".join(lines) + "\n"


def _header_section(summary: dict, tasks: list[str]) -> list[str]:
    config, corpus, meta, grid = summary["config"], summary["corpus"], summary["metadata"], grid_of(summary)
    anchors = [label for label, v in variants_of(summary).items() if v.trained and not v.overrides]
    run = meta["this_run"]
    return [
        "# pe_bert study: do the locality and symmetry of positional encodings decide word-order performance?",
        "",
        f"The intervention: the attenuated prior over a grid of {len({g.w for g in grid})} localities w × "
        f"{len({g.s for g in grid})} symmetries s ({len(grid)} cells), anchors {', '.join(anchors) or 'none'}; "
        f"{len(config['seeds'])} seeds {config['seeds']} each. Pretraining on the {corpus.get('source', 'given data')} "
        f"at budgets of {' and '.join(_steps(b) for b in summary['budgets']) or 'n/a'}; the {OUTCOME} is the "
        f"mean accuracy (points) of the frozen-feature probe(s) {', '.join(summary['outcome']['tasks'])} "
        f"(logistic regression on each model's last hidden states, one split for every model; "
        f"{hypotheses.ORDER_BLIND_SCORE:g} = order-blind, exactly). This run: {meta['wall_time_s']:.0f} s wall time, "
        + ", ".join(f"{kind} {e['cpu_s']:.0f} s CPU" for kind, e in run.items())
        + f" ({meta['workers']} worker process(es)); the stored stages took "
        f"{meta['stage_seconds_stored_total']:.0f} s to compute. pe_bert {meta['pe_bert']}, transformers "
        f"{meta['transformers']}, torch {meta['torch']}. Every number is in `results.json`.",
    ]


def _findings_section(summary: dict, tasks: list[str]) -> list[str]:
    budgets = [str(b) for b in summary["budgets"]]
    lines = [
        "",
        "## Findings",
        "",
        "Pre-registered (see Protocol): two primary hypotheses tested on the intervention at every budget (two-way "
        "ANOVA, Holm over the two at each budget; supported only when significant at every budget), and the "
        "paper's correlational form (Spearman over the grid's cell means, its own Holm family). Everything else "
        "in this report is secondary or exploratory.",
        "",
    ]
    found = findings_of(summary)
    rows = [[f.claim, f.kind, *[f.estimates.get(b, "n/a") for b in budgets], f"**{f.verdict}**"] for f in found]
    lines += _table(["claim", "", *[f"{_steps(b)}: estimate [95 %], p (Holm)" for b in budgets], "verdict"], rows)
    lines += [""] + [f"- {f.claim} ({f.kind}): {f.statement}" for f in found]
    return lines


def _protocol_section(summary: dict, tasks: list[str]) -> list[str]:
    protocol = summary["protocol"]
    kind = {
        "confirmatory": "the confirmatory run of the protocol: every setting is the protocol's",
        "pilot": "the pilot of the protocol (its seeds and probing split, which the confirmatory run never uses)",
        "exploratory": "an exploratory run: it departs from the protocol, so its p-values are not the "
        "pre-registered tests'",
    }[protocol["kind"]]
    lines = [
        "",
        "## Protocol",
        "",
        f"Protocol {protocol['version']} (`pe_bert/study/protocol.py`), SHA-256 `{protocol['sha256']}`. This is "
        f"{kind}.",
    ]
    if protocol["deviations"]:
        lines += ["", "Settings that differ from the protocol's:", ""]
        lines += _table(
            ["setting", "protocol", "this run"],
            [[k, f"`{v['protocol']}`", f"`{v['run']}`"] for k, v in protocol["deviations"].items()],
        )
    return lines


def _controls_section(summary: dict, tasks: list[str]) -> list[str]:
    lines = ["", "## Controls", ""]
    return lines + _table(
        ["control", "result", "what must hold", "measured"],
        [[c.name, _mark(c.passed), c.statement, c.detail] for c in checks_of(summary, "controls")],
    )


def _design_section(summary: dict, tasks: list[str]) -> list[str]:
    lines = [
        "",
        "## Design checks",
        "",
        "Whether this design can decide: each knob moves its own property only, on the PE alone and before any "
        "pretraining (manipulation); the outcome is not solved by a local shortcut; it has room above it "
        "(saturation); the grid's cells differ by more than seed noise (signal); the planned power; the probes "
        "reached their optimum.",
        "",
    ]
    lines += _table(
        ["check", "result", "what", "measured"],
        [[c.name, _mark(c.passed), c.statement, c.detail] for c in checks_of(summary, "design_checks")],
    )
    design = summary.get("design") or {}
    if design.get("cells"):
        lines += [
            "",
            f"The manipulation on identical tokens (n = {design['seq_len']}): each cell's PE alone, measured on "
            "its model at initialisation (the prior does not change with training).",
            "",
        ]
        lines += _table(
            ["w", "s", "locality", "symmetry (mass)", "symmetry (published)", "decay left / right (nats)"],
            [
                [
                    level(c["w"]),
                    level(c["s"]),
                    fmt(c["locality"], 3),
                    fmt(c["symmetry_mass"], 3),
                    fmt(c["symmetry"], 3),
                    f"{c['decay_left_nats']:.2f} / {c['decay_right_nats']:.2f}",
                ]
                for c in design["cells"]
            ],
        )
    baselines = summary.get("probing_baselines") or {}
    if baselines:
        lines += [
            "",
            "What a local shortcut achieves: a bag of words and bigrams (sentence boundaries included) with the same "
            "classifier on the same split, beside the best pretrained variant at the final budget (points).",
            "",
        ]
        final = str(summary["budgets"][-1]) if summary["budgets"] else None
        rows = []
        for task, baseline in baselines.items():
            label, score = hypotheses.best_variant(variants_of(summary), final, task) or ("n/a", None)
            outcome = " (outcome)" if task in summary["outcome"]["tasks"] else ""
            rows.append([f"{task}{outcome}", fmt(baseline["accuracy"], 1), f"{fmt(score, 1)} ({label})"])
        lines += _table(["task", "bag of n-grams (n ≤ 2)", "best model"], rows)
    return lines


def _grid_section(summary: dict, tasks: list[str]) -> list[str]:
    grid = grid_of(summary)
    if not grid:
        return []
    budgets = [str(b) for b in summary["budgets"]]
    lines = [
        "",
        "## The grid",
        "",
        f"Cell means over seeds: the {OUTCOME} (points) at each budget, and at the final budget the measured "
        "locality and symmetry (mass) of attention on held-out sentences / on identical tokens (the PE alone).",
        "",
    ]
    rows = [
        [
            level(g.w),
            level(g.s),
            *[fmt_summary(g.budgets[b].outcome if b in g.budgets else None, 1, False) for b in budgets],
            fmt_summary(g.final.locality, 3, False),
            fmt_summary(g.final.symmetry_mass, 3, False),
            fmt(g.final.position_locality["mean"], 3),
            fmt(g.final.position_symmetry_mass["mean"], 3),
        ]
        for g in grid
    ]
    header = ["w", "s", *[f"{OUTCOME} @{_steps(b)}" for b in budgets]]
    return lines + _table(header + ["locality", "symmetry (mass)", "locality, PE alone", "symmetry, PE alone"], rows)


def _variants_section(summary: dict, tasks: list[str]) -> list[str]:
    variants = variants_of(summary)
    probing = list(dict.fromkeys(t for v in variants.values() for t in v.probing))
    lines = [
        "",
        "## Every variant",
        "",
        "At the final budget (untrained controls: at initialisation): frozen-feature probe accuracies (points, on "
        f"the shared test split), the {OUTCOME}, the measured properties of the model's attention on held-out "
        "sentences, and the masked-token share of the learnable signal.",
        "",
    ]
    header = ["variant", *probing, OUTCOME, *[METRIC_TITLES[k] for k in ATTENTION_SCORES], "share"]
    rows = [
        [
            label,
            *[fmt_summary(v.probing.get(t), 1, False) for t in probing],
            fmt_summary(v.outcome, 1, False),
            *[fmt_summary(v.attention[k], 3, False) for k in ATTENTION_SCORES],
            fmt_summary((v.mlm.get(next(iter(v.mlm), "")) or {}).get("share"), 2, False),
        ]
        for label, v in variants.items()
    ]
    lines += _table(header, rows)
    if tasks:
        lines += ["", "Fine-tuned task scores (dev-set main metric):", ""]
        lines += _table(
            ["variant", *tasks],
            [[label, *[fmt_summary(v.tasks[t], 3) for t in tasks]] for label, v in variants.items() if v.trained],
        )
    return lines


def _secondary_section(summary: dict, tasks: list[str]) -> list[str]:
    rows = secondary_of(summary).distance
    if not rows:
        return []
    lines = [
        "",
        "## Secondary: locality by dependency distance",
        "",
        "Does locality still help when the dependency is far? For each twin task whose examples carry the number "
        "of words between the two nouns, at the final budget: the test examples in distance bins, and in each bin "
        "the main effect of w (two-way ANOVA on w × s, Holm over every bin). `local − global`: the mean at the "
        "most local w minus the mean at the least local w (points).",
        "",
    ]
    return lines + _table(
        ["task", "words between the nouns", "examples", "means by w", "local − global", "p (Holm)"],
        [
            [
                r.task,
                f"{r.distance[0]}–{r.distance[1]}" if r.distance[0] != r.distance[1] else str(r.distance[0]),
                str(r.examples),
                ", ".join(f"{k}: {fmt(v, 1)}" for k, v in r.w_means.items()),
                f"{r.most_local_minus_least_local:+.1f}",
                fmt_p(r.p_holm, r),
            ]
            for r in rows
        ],
    )


def _exploratory_section(summary: dict, tasks: list[str]) -> list[str]:
    exploratory = exploratory_of(summary)
    lines = [
        "",
        "## Exploratory",
        "",
        f"Not pre-registered; Holm within each table. Spearman ρ of each measured property vs the {OUTCOME} "
        "over every pretrained variant's seed mean at the final budget (anchors included):",
        "",
    ]
    lines += _table(
        ["property", "measured on", "n", "ρ [95 %]", "p", "p (Holm)"],
        [
            [
                c.property.replace("_", " "),
                c.measured_on,
                str(len(c.variants)),
                f"{fmt(c.rho, 2)} {_interval(c.interval)}",
                fmt_p(c.p),
                fmt_p(c.p_holm),
            ]
            for c in exploratory.correlations
        ],
    )
    if exploratory.anovas:
        lines += ["", "The two-way ANOVA on each measure (uncorrected p of the main effects and the interaction):", ""]
        lines += _table(
            ["budget", "measure", "p (w)", "p (s)", "p (w × s)", "means by w", "means by s"],
            [
                [
                    _steps(a.budget),
                    a.measure,
                    fmt_p(a.w_p),
                    fmt_p(a.s_p),
                    fmt_p(a.interaction_p),
                    ", ".join(f"{k}: {fmt(v, 2)}" for k, v in a.w_means.items()),
                    ", ".join(f"{k}: {fmt(v, 2)}" for k, v in a.s_means.items()),
                ]
                for a in exploratory.anovas
            ],
        )
    return lines


# BERT-base's shape: a study's models smaller than this are not evidence about BERT-sized ones.
BERT_BASE_SHAPE = {"num_hidden_layers": 12, "hidden_size": 768}


def _limits_section(summary: dict, tasks: list[str]) -> list[str]:
    config = summary["config"]
    below_bert = any(config[key] < size for key, size in BERT_BASE_SHAPE.items())
    scale = (
        "A bounded null says which effects this design rules out at this scale, not that none exists at "
        "BERT's. Run the study at scale (README) before drawing conclusions about BERT-sized models."
        if below_bert
        else "A bounded null says which effects this design rules out at this scale and these budgets, not that "
        "none exists with other data or longer pretraining."
    )
    return [
        "",
        "## What this cannot show",
        "",
        f"These are models of {config['num_hidden_layers']} layers and hidden size {config['hidden_size']}, "
        f"pretrained for {' and '.join(_steps(b) for b in summary['budgets']) or 'no steps'} on "
        f"{summary['corpus'].get('source', 'the given data')}. The grid varies locality and symmetry through one "
        "parametric prior; other ways of being local or symmetric (learned, rotary) are anchors, not part of the "
        f"tests. {scale}",
    ]


def _failures_section(summary: dict, tasks: list[str]) -> list[str]:
    if not summary["failures"]:
        return []
    lines = [
        "",
        "## Failed runs",
        "",
        "These did not finish; the others are reported without them. Rerun the same command to redo them "
        "(finished stages are kept).",
        "",
    ]
    return lines + [f"- `{f['run']}` failed at stage `{f['stage']}`: {f['error']}" for f in summary["failures"]]


def _plots_section(summary: dict, tasks: list[str]) -> list[str]:
    return ["", "## Plots", ""] + [f"![{name}]({path})" for name, path in summary["plots"].items()]


def _zero_shot_section(summary: dict, tasks: list[str]) -> list[str]:
    variants = variants_of(summary)
    lines = []
    zero_shot = sorted({p for v in variants.values() for p in v.zero_shot_pll_preference}, key=perturbation_order)
    if zero_shot:
        lines += [
            "",
            "Zero-shot word-order probes on the pretrained MLM: share of held-out sentences whose "
            "pseudo-log-likelihood is higher than that of their perturbed version, in percent (a tie counts "
            "half; 50 = blind to the perturbation). The sign test drops ties; ✓ = its Holm-corrected p < "
            f"{PROTOCOL.alpha} over every variant × perturbation.",
            "",
        ]
        tests = {
            (t.variant, t.perturbation): t
            for t in exploratory_of(summary).effect_tests
            if isinstance(t, ZeroShotSignTest)
        }

        def cell(label, p):
            test = tests.get((label, p))
            mark = " ✓" if test and test.p_holm is not None and test.p_holm < PROTOCOL.alpha else ""
            ties = f" ({test.ties} ties)" if test and test.ties else ""
            return fmt_summary(variants[label].zero_shot_pll_preference.get(p), 1, False) + mark + ties

        lines += _table(
            ["variant", *[display_name(p) for p in zero_shot]],
            [[label, *[cell(label, p) for p in zero_shot]] for label in variants],
        )
    nli = sorted({p for v in variants.values() for p in v.probe_nli_deltas}, key=perturbation_order)
    if nli:
        lines += [
            "",
            "The paper's probe on the fine-tuned NLI model: accuracy on the original pairs and its change "
            "(Δ, accuracy points) on each perturbed set of hypotheses.",
            "",
        ]
        rows = [
            [
                label,
                fmt_summary(v.probe_nli_original, 1),
                *[fmt_summary(v.probe_nli_deltas.get(p), 1) for p in nli],
            ]
            for label, v in variants.items()
        ]
        lines += _table(["variant", "original (%)", *[f"Δ {display_name(p)}" for p in nli]], rows)
    return lines


def _mlm_section(summary: dict, tasks: list[str]) -> list[str]:
    variants, corpus, config = variants_of(summary), summary["corpus"], summary["config"]
    floors = corpus.get("floors", {})
    multiples = sorted({m for v in variants.values() for m in v.mlm}, key=int)
    if not multiples:
        return []
    first = multiples[0]
    lines = ["", "## Masked-token loss and the corpus floors", ""]
    if floors.get(first, {}).get("bayes_loss") is not None:
        f = floors[first]
        lines += [
            f"On {f['masked_tokens']:,} masked tokens of held-out blocks ({f['blocks']} blocks of "
            f"{f['length']} tokens): the best context-free prediction (unigram) loses "
            f"{fmt(f['unigram_loss'], 3)} nats per token (corpus unigram entropy "
            f"{fmt(corpus.get('unigram_entropy'), 3)}), the Bayes-optimal prediction from the visible "
            f"tokens {fmt(f['bayes_loss'], 3)} ± {fmt(f['bayes_loss_se'], 3)} (standard error). Both are "
            "exact for these tokens (docs/study.md). Share = (unigram − model) / (unigram − Bayes).",
            "",
        ]
    header = ["variant", "PE", *[f"loss @{m}×" for m in multiples], f"share @{first}×"]
    rows = []
    for label, v in variants.items():
        cells = [_mlm_cell(v.mlm.get(m), "loss") for m in multiples]
        share = (v.mlm.get(first) or {}).get("share")
        rows.append([label, v.position_encoding, *cells, fmt_summary(share, 3)])
    lines += _table(header, rows)
    length = [
        t
        for t in exploratory_of(summary).effect_tests
        if isinstance(t, LengthLossTest) and t.p_holm is not None and t.p_holm < PROTOCOL.alpha
    ]
    lines += [
        "",
        "Longer inputs pack more held-out sentences into one block; absolute PEs (`learned`, "
        "`sinusoidal`) cannot encode positions beyond `max_position_embeddings` "
        f"({config['max_position_embeddings']}) and are not applicable there. Length changes that survive "
        "Holm (paired t over seeds): "
        + (", ".join(f"{t.variant} {fmt(t.summary['mean'], 3)} nats at {t.multiple}×" for t in length) or "none")
        + ".",
    ]
    return lines


def _mlm_cell(entry: dict | None, key: str) -> str:
    if entry is None:
        return "n/a"
    return fmt_summary(entry.get(key), 3) if entry["applicable"] else "not applicable"


def _interval(ci) -> str:
    return "n/a" if not ci else f"[{fmt(ci[0], 2)}, {fmt(ci[1], 2)}]"


__all__ = [
    "UNITS",
    "build_summary",
    "fmt",
    "fmt_p",
    "fmt_summary",
    "render_markdown",
    "run_record",
    "save_results",
    "verdict_lines",
    "write_report",
]
