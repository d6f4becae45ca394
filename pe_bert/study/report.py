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
from ..analysis.probes.registry import perturbation_order
from ..analysis.probes.report import display_name
from ..jsonable import jsonable
from . import hypotheses as hy
from . import statistics as st
from .config import EXECUTION_SETTINGS
from .records import UNITS, aggregate, run_record

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


def fmt_p(p) -> str:
    if p is None:
        return "n/a"
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

    config = study.config
    tasks = list(config.tasks)
    data = shared.data
    records = [run_record(r, config.outcome_tasks) for r in results]
    corpus = _corpus(config, data)
    variants = aggregate(records, tasks)
    settings = {k: v for k, v in config.to_dict().items() if k not in EXECUTION_SETTINGS}
    summary = {
        "units": UNITS,
        "config": settings,
        "corpus": corpus,
        "outcome": {
            "name": hy.OUTCOME,
            "tasks": list(hy.OUTCOME_TASKS),
            "ceiling": hy.CEILING,
            "order_blind": hy.ORDER_BLIND_SCORE,
        },
        "variants": variants,
        "grid": [
            {
                "w": w,
                "s": s,
                "variants": sorted({r["variant"] for r in runs}),
                **{key: st.summarize([getter(r) for r in runs]) for key, getter in _GRID_MEASURES.items()},
            }
            for (w, s), runs in hy.cells(records).items()
        ],
        "primary_tests": hy.primary_tests(records),
        "paper_form_tests": hy.paper_form_tests(records),
        "controls": hy.controls(records, variants, corpus.get("floors", {})),
        "design_checks": hy.design_checks(records, variants),
        "exploratory": {
            "correlations": hy.exploratory_correlations(records),
            "anovas": hy.exploratory_anovas(records),
            "effect_tests": hy.exploratory_effect_tests(records, variants),
        },
        "runs": records,
        "failures": [{"run": f"{r['variant']}/seed{r['seed']}", **r["failure"]} for r in records if r["failure"]],
    }
    summary["findings"] = findings(summary)
    summary["plots"] = write_plots(study.out, summary, tasks)
    summary = jsonable(summary)
    summary["metadata"] = jsonable(
        {**metadata(study, wall_time, workers), "execution": {k: getattr(config, k) for k in EXECUTION_SETTINGS}}
    )
    return summary


_GRID_MEASURES = {
    "outcome": lambda r: r["outcome"],
    "locality": lambda r: r["pretrained_scores"].get("locality"),
    "symmetry_mass": lambda r: r["pretrained_scores"].get("symmetry_mass"),
    "position_locality": lambda r: (r.get("position") or {}).get("locality"),
    "position_symmetry_mass": lambda r: (r.get("position") or {}).get("symmetry_mass"),
}


def findings(summary: dict) -> list[dict]:
    """The findings table: one row per pre-registered test, primary first."""
    rows = []
    for test in summary["primary_tests"] + summary["paper_form_tests"]:
        interval = test["interval"]
        if test["estimate"] is None:
            estimate = "n/a"
        elif test["kind"] == "primary":
            estimate = f"spread of {test['estimate']:.1f} points" + (
                f" [{interval[0]:.1f}, {interval[1]:.1f}]" if interval else ""
            )
        else:
            estimate = f"ρ = {test['estimate']:.2f}" + (f" [{interval[0]:.2f}, {interval[1]:.2f}]" if interval else "")
        rows.append(
            {
                "claim": test["claim"],
                "kind": test["kind"],
                "test": test["test"],
                "estimate": estimate,
                "p": test["p"],
                "p_holm": test["p_holm"],
                "verdict": test["verdict"],
                "statement": test["statement"],
            }
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


def save_results(out: Path, summary: dict) -> None:
    (Path(out) / "results.json").write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")


def write_report(study, results, wall_time: float, workers: int, shared) -> dict:
    summary = build_summary(study, results, wall_time, workers, shared)
    save_results(study.out, summary)
    (study.out / "report.md").write_text(render_markdown(summary, list(study.config.tasks)))
    return summary


def verdict_lines(summary: dict) -> list[str]:
    """One line per pre-registered test (what the console ends with)."""
    return [
        f"{row['verdict'].upper():<13} {row['claim']} ({row['kind']}): {row['statement']}"
        for row in summary.get("findings", [])
    ]


def _mark(passed) -> str:
    return "—" if passed is None else ("PASS" if passed else "FAIL")


def render_markdown(summary: dict, tasks: list[str]) -> str:
    config, variants, corpus, meta = summary["config"], summary["variants"], summary["corpus"], summary["metadata"]
    run = meta["this_run"]
    grid = summary["grid"]
    anchors = [label for label, v in variants.items() if v["position_encoding"] != hy.ATTENUATED or not v["overrides"]]
    lines = [
        "# pe_bert study: does the locality and symmetry of positional encodings decide downstream quality?",
        "",
        f"The intervention: the attenuated prior over a grid of {len({g['w'] for g in grid})} localities w × "
        f"{len({g['s'] for g in grid})} symmetries s ({len(grid)} cells), anchors {', '.join(anchors) or 'none'}; "
        f"{len(config['seeds'])} seeds {config['seeds']} each. Pretraining on the {corpus.get('source', 'given data')} "
        f"for {config['pretrain_steps']} steps; the {hy.OUTCOME} is the mean accuracy (points) of frozen-feature "
        f"probes {' and '.join(hy.OUTCOME_TASKS)} (logistic regression on each model's last hidden states, one "
        f"split for every model; {hy.ORDER_BLIND_SCORE:g} = order-blind, exactly). This run: "
        f"{meta['wall_time_s']:.0f} s wall time, "
        + ", ".join(f"{kind} {e['cpu_s']:.0f} s CPU" for kind, e in run.items())
        + f" ({meta['workers']} worker process(es)); the stored stages took {meta['stage_seconds_stored_total']:.0f} s "
        f"to compute. pe_bert {meta['pe_bert']}, transformers {meta['transformers']}, torch {meta['torch']}. "
        "Every number is in `results.json`.",
        "",
        "## Findings",
        "",
        "Pre-registered: two primary hypotheses tested on the intervention (two-way ANOVA, Holm over the two), and "
        "the paper's correlational form (Spearman over the grid's cell means, permutation p, Holm over the two). "
        "Everything else in this report is exploratory.",
        "",
    ]
    rows = [
        [f["claim"], f["kind"], f["test"], f["estimate"], fmt_p(f["p_holm"]), f"**{f['verdict']}**"]
        for f in summary["findings"]
    ]
    lines += _table(["claim", "", "test", "estimate [95 %]", "p (Holm)", "verdict"], rows)
    lines += [""] + [f"- {f['claim']} ({f['kind']}): {f['statement']}" for f in summary["findings"]]
    smallest = [t for t in summary["paper_form_tests"] if t["smallest_p"] is not None]
    if smallest:
        t = smallest[0]
        lines += [
            "",
            f"Smallest p the design can give: the ANOVA's F test is continuous (not bounded by the design; "
            f"{summary['primary_tests'][0].get('df', ['n/a', 'n/a'])[1]} residual degrees of freedom); the "
            f"permutation test over {t['cells']} cells {fmt_p(t['smallest_p'])} "
            f"({'exact' if t['exact'] else 'randomised'}), {fmt_p(min(1.0, 2 * t['smallest_p']))} after Holm.",
        ]

    lines += ["", "## Controls", ""]
    lines += _table(
        ["control", "result", "what must hold", "measured"],
        [[c["name"], _mark(c["passed"]), c["statement"], c["detail"]] for c in summary["controls"]],
    )
    lines += [
        "",
        "## Design checks",
        "",
        "Whether this design can decide: the knobs move the measured properties "
        "(manipulation), the outcome has room above it (saturation), the grid's cells differ by more than seed "
        "noise (signal), the probes reached their optimum.",
        "",
    ]
    lines += _table(
        ["check", "result", "what", "measured"],
        [[c["name"], _mark(c["passed"]), c["statement"], c["detail"]] for c in summary["design_checks"]],
    )

    if grid:
        lines += [
            "",
            "## The grid",
            "",
            f"Cell means over seeds: the {hy.OUTCOME} (points), and the measured "
            "locality and symmetry (mass) of attention on held-out sentences / on identical tokens (what the "
            "PE alone does).",
            "",
        ]
        rows = [
            [
                fmt(g["w"], 3).rstrip("0").rstrip("."),
                fmt(g["s"], 3).rstrip("0").rstrip("."),
                fmt_summary(g["outcome"], 1, False),
                fmt_summary(g["locality"], 3, False),
                fmt_summary(g["symmetry_mass"], 3, False),
                fmt(g["position_locality"]["mean"], 3),
                fmt(g["position_symmetry_mass"]["mean"], 3),
            ]
            for g in grid
        ]
        lines += _table(
            ["w", "s", hy.OUTCOME, "locality", "symmetry (mass)", "locality, PE alone", "symmetry, PE alone"], rows
        )

    probing = list(dict.fromkeys(t for v in variants.values() for t in v["probing"]))
    lines += [
        "",
        "## Every variant",
        "",
        "Frozen-feature probe accuracies (points, on the shared test split), the "
        f"{hy.OUTCOME}, the measured properties of the pretrained model's attention on held-out sentences, and "
        "the masked-token share of the learnable signal.",
        "",
    ]
    header = ["variant", *probing, hy.OUTCOME, *[METRIC_TITLES[k] for k in ATTENTION_SCORES], "share"]
    rows = [
        [
            label,
            *[fmt_summary(v["probing"].get(t), 1, False) for t in probing],
            fmt_summary(v["outcome"], 1, False),
            *[fmt_summary(v[k], 3, False) for k in ATTENTION_SCORES],
            fmt_summary((v["mlm"].get(next(iter(v["mlm"]), "")) or {}).get("share"), 2, False),
        ]
        for label, v in variants.items()
    ]
    lines += _table(header, rows)
    if tasks:
        lines += ["", "Fine-tuned task scores (dev-set main metric):", ""]
        lines += _table(
            ["variant", *tasks],
            [[label, *[fmt_summary(v["tasks"][t], 3) for t in tasks]] for label, v in variants.items()],
        )

    exploratory = summary["exploratory"]
    lines += [
        "",
        "## Exploratory",
        "",
        f"Not pre-registered; Holm within each table. Spearman ρ of each measured "
        f"property vs the {hy.OUTCOME} over every variant's seed mean (anchors included):",
        "",
    ]
    lines += _table(
        ["property", "measured on", "n", "ρ [95 %]", "p", "p (Holm)"],
        [
            [
                c["property"].replace("_", " "),
                c["measured_on"],
                str(len(c["variants"])),
                f"{fmt(c['rho'], 2)} {_interval(c['interval'])}",
                fmt_p(c["p"]),
                fmt_p(c["p_holm"]),
            ]
            for c in exploratory["correlations"]
        ],
    )
    if exploratory["anovas"]:
        lines += ["", "The two-way ANOVA on each measure (uncorrected p of the main effects and the interaction):", ""]
        lines += _table(
            ["measure", "p (w)", "p (s)", "p (w × s)", "means by w", "means by s"],
            [
                [
                    a["measure"],
                    fmt_p(a["w_p"]),
                    fmt_p(a["s_p"]),
                    fmt_p(a["interaction_p"]),
                    ", ".join(f"{k}: {fmt(v, 2)}" for k, v in a["w_means"].items()),
                    ", ".join(f"{k}: {fmt(v, 2)}" for k, v in a["s_means"].items()),
                ]
                for a in exploratory["anovas"]
            ],
        )
    lines += _zero_shot_section(summary, variants)
    lines += _mlm_section(summary, variants, corpus, config)
    lines += [
        "",
        "## What this cannot show",
        "",
        "These are tiny models trained for minutes on a synthetic language, so absolute scores are far from the "
        "paper's. The grid varies locality and symmetry through one parametric prior; other ways of being "
        "local or symmetric (learned, rotary) are anchors, not part of the tests. A bounded null says which "
        "effects this design rules out at this scale, not that none exists at BERT's. Run the study at scale "
        "(README) before drawing conclusions about BERT-sized models.",
    ]
    if summary["failures"]:
        lines += [
            "",
            "## Failed runs",
            "",
            "These did not finish; the others are reported without them. Rerun the "
            "same command to redo them (finished stages are kept).",
            "",
        ]
        for f in summary["failures"]:
            lines.append(f"- `{f['run']}` failed at stage `{f['stage']}`: {f['error']}")
    lines += ["", "## Plots", ""]
    for name, path in summary["plots"].items():
        lines.append(f"![{name}]({path})")
    return "\n".join(lines) + "\n"


def _zero_shot_section(summary: dict, variants: dict) -> list[str]:
    lines = []
    zero_shot = sorted({p for v in variants.values() for p in v["zero_shot_pll_preference"]}, key=perturbation_order)
    if zero_shot:
        lines += [
            "",
            "Zero-shot word-order probes on the pretrained MLM: share of held-out sentences whose "
            "pseudo-log-likelihood is higher than that of their perturbed version, in percent (a tie counts "
            "half; 50 = blind to the perturbation). The sign test drops ties; ✓ = its Holm-corrected p < "
            f"{st.ALPHA} over every variant × perturbation.",
            "",
        ]
        tests = {
            (t["variant"], t["perturbation"]): t
            for t in summary["exploratory"]["effect_tests"]
            if t["kind"] == "zero_shot_pll_preference"
        }

        def cell(label, p):
            test = tests.get((label, p), {})
            mark = " ✓" if test.get("p_holm") is not None and test["p_holm"] < st.ALPHA else ""
            ties = f" ({test['ties']} ties)" if test.get("ties") else ""
            return fmt_summary(variants[label]["zero_shot_pll_preference"].get(p), 1, False) + mark + ties

        lines += _table(
            ["variant", *[display_name(p) for p in zero_shot]],
            [[label, *[cell(label, p) for p in zero_shot]] for label in variants],
        )
    nli = sorted({p for v in variants.values() for p in v["probe_nli_deltas"]}, key=perturbation_order)
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
                fmt_summary(v["probe_nli_original"], 1),
                *[fmt_summary(v["probe_nli_deltas"].get(p), 1) for p in nli],
            ]
            for label, v in variants.items()
        ]
        lines += _table(["variant", "original (%)", *[f"Δ {display_name(p)}" for p in nli]], rows)
    return lines


def _mlm_section(summary: dict, variants: dict, corpus: dict, config: dict) -> list[str]:
    floors = corpus.get("floors", {})
    multiples = sorted({m for v in variants.values() for m in v["mlm"]}, key=int)
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
        cells = [_mlm_cell(v["mlm"].get(m), "loss") for m in multiples]
        share = (v["mlm"].get(first) or {}).get("share")
        rows.append([label, v["position_encoding"], *cells, fmt_summary(share, 3)])
    lines += _table(header, rows)
    length = [
        t
        for t in summary["exploratory"]["effect_tests"]
        if t["kind"] == "length_loss_change" and t["p_holm"] is not None and t["p_holm"] < st.ALPHA
    ]
    lines += [
        "",
        "Longer inputs pack more held-out sentences into one block; absolute PEs (`learned`, "
        "`sinusoidal`) cannot encode positions beyond `max_position_embeddings` "
        f"({config['max_position_embeddings']}) and are not applicable there. Length changes that survive "
        "Holm (paired t over seeds): "
        + (
            ", ".join(f"{t['variant']} {fmt(t['summary']['mean'], 3)} nats at {t['multiple']}×" for t in length)
            or "none"
        )
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
