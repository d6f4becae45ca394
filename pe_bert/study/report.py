"""The study report: results.json (every number), report.md (the findings table, the controls, the design checks,
then the tables) and PNG plots. The science — outcome, hypotheses, tests, verdicts — is in `hypotheses.py`; this
module collects the runs' numbers and writes them out.

results.json is byte-identical between two runs with the same settings on the same machine, except its `metadata`
section (versions, platform, paths, wall and CPU times). report.md is rendered from the very dictionary written to
results.json.

Units: probe accuracies and the word-order score are in points (percent, the paper's unit), as are probe effects;
fine-tuned task scores are fractions as run_glue reports them; locality and symmetry are fractions in [0, 1];
losses are in nats per masked token. Every aggregate over seeds has mean, sample std, n and a 95 % t interval.
"""

from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path

from ..analysis.capture import METRIC_NAMES, METRIC_TITLES
from ..analysis.probes import DEFAULT_ZERO_SHOT_PERTURBATIONS
from ..analysis.probes.report import display_name
from ..jsonable import jsonable
from . import hypotheses as hy
from .config import EXECUTION_SETTINGS
from . import statistics as st

PE_SCORES = METRIC_NAMES
POINTS = 100.0

UNITS = {
    "probing, outcome": "accuracy points (percent) on the probing tasks' shared test split; word-order score = mean "
                        "of the order and roles probes (50 = order-blind, exactly; 100 = ceiling)",
    "tasks": "fine-tuned task's main metric as a fraction (accuracy for the built-in tasks)",
    "locality, symmetry, symmetry_mass": "fraction in [0, 1]",
    "mlm_loss, unigram_loss, bayes_loss": "nats per masked token",
    "mlm_share": "share of the learnable signal captured: (unigram - model) / (unigram - Bayes)",
    "probe_nli_original, probe_nli_deltas": "accuracy points (percent); Δ = perturbed - original",
    "zero_shot_pll_preference": "percentage points: share of pairs whose original has the higher PLL, a tie counting "
                                "half (50 = chance)",
    "zero_shot_drift": "1 - cosine similarity of mean-pooled states (fraction)",
    "ci95": "95 % Student-t interval of the mean over seeds",
}


def perturbation_order(name: str):
    """Perturbations in the probes' registry order (unknown names last, alphabetically)."""
    order = list(DEFAULT_ZERO_SHOT_PERTURBATIONS)
    return (order.index(name) if name in order else len(order), name)


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


# ---------------------------------------------------------------------------------------------------------------
# Collecting numbers


def _points(value):
    return None if value is None else POINTS * value


def run_record(result) -> dict:
    """The numbers of one (variant, seed) from its stage results."""
    stages = result.stages
    record = {"variant": result.variant, "position_encoding": result.position_encoding,
              "overrides": result.overrides, "seed": result.seed, "failure": result.failure}
    record["pretrain"] = {"train_loss": stages.get("pretrain", {}).get("metrics", {}).get("train_loss"),
                          "eval_loss": stages.get("pretrain", {}).get("metrics", {}).get("eval_loss")}
    record["mlm"] = stages.get("mlm", {}).get("lengths", {})
    record["probing"] = {task: {**entry, "accuracy": _points(entry["accuracy"])}
                         for task, entry in stages.get("probing", {}).get("tasks", {}).items()}
    record["outcome"] = hy.outcome(record["probing"])
    record["tasks"] = {name.split(":", 1)[1]: {"metric": r.get("metric"), "score": r.get("score")}
                       for name, r in stages.items() if name.startswith("finetune:")}
    score = stages.get("score", {})
    record["pretrained_scores"] = {k: score.get("pretrained", {}).get(k) for k in PE_SCORES}
    record["finetuned_scores"] = {task: {k: v.get(k) for k in PE_SCORES} for task, v in score.items()
                                  if task not in ("pretrained", "position")}
    record["position"] = score.get("position", {}).get("overall", {})
    record["position_matrix"] = score.get("position", {}).get("mean_matrix")
    probe = stages.get("probe", {})
    nli = probe.get("nli", {})
    results = {n: r for n, r in nli.get("results", {}).items() if "delta" in r}
    record["probe_nli"] = {
        "original": _points(nli.get("original", {}).get("accuracy")),
        "deltas": {n: _points(r["delta"]) for n, r in results.items()},
        "delta_ci": {n: [_points(v) for v in r["delta_ci"]] if r.get("delta_ci") else None for n, r in results.items()},
    }
    zero = {n: r for n, r in probe.get("zero_shot", {}).get("results", {}).items() if "skipped" not in r}
    record["probe_zero_shot"] = {
        n: {"pll_preference": _points(r.get("pll", {}).get("preference")),
            "pll_preference_ci": [_points(v) for v in r["pll"]["preference_ci"]]
            if r.get("pll", {}).get("preference_ci") else None,
            **{k: r.get("pll", {}).get(k) for k in ("wins", "losses", "ties")},
            "drift": r.get("drift", {}).get("mean"), "n_changed": r.get("n_changed")}
        for n, r in zero.items()}
    return record


def aggregate(records: list[dict], tasks: list[str]) -> dict:
    """Per variant: every number summarised over its seeds (failed runs left out)."""
    variants: dict[str, dict] = {}
    for label in dict.fromkeys(r["variant"] for r in records):
        all_rows = [r for r in records if r["variant"] == label]
        rows = [r for r in all_rows if not r["failure"]]
        multiples = sorted({m for r in rows for m in r["mlm"]}, key=int)
        nli = sorted({p for r in rows for p in r["probe_nli"]["deltas"]}, key=perturbation_order)
        zero_shot = sorted({p for r in rows for p in r["probe_zero_shot"]}, key=perturbation_order)
        probing = list(dict.fromkeys(t for r in rows for t in r["probing"]))
        mlm = {}
        for m in multiples:
            entries = [r["mlm"].get(m, {}) for r in rows]
            applicable = all(e.get("applicable", False) for e in entries)
            mlm[m] = {"length": next((e["length"] for e in entries if "length" in e), None), "applicable": applicable}
            if applicable:
                mlm[m]["loss"] = st.summarize([e.get("loss") for e in entries])
                mlm[m]["share"] = st.summarize([e.get("share") for e in entries])
            else:
                mlm[m]["reason"] = next((e.get("reason") for e in entries if e.get("reason")), "not measured")
        variants[label] = {
            "position_encoding": all_rows[0]["position_encoding"],
            "overrides": all_rows[0]["overrides"],
            "seeds": [r["seed"] for r in rows],
            "mlm": mlm,
            **{k: st.summarize([r["pretrained_scores"][k] for r in rows]) for k in PE_SCORES},
            "position": {k: st.summarize([r["position"].get(k) for r in rows]) for k in PE_SCORES},
            "probing": {t: st.summarize([(r["probing"].get(t) or {}).get("accuracy") for r in rows]) for t in probing},
            "outcome": st.summarize([r["outcome"] for r in rows]),
            "tasks": {t: st.summarize([r["tasks"].get(t, {}).get("score") for r in rows]) for t in tasks},
            "probe_nli_original": st.summarize([r["probe_nli"]["original"] for r in rows]),
            "probe_nli_deltas": {p: st.summarize([r["probe_nli"]["deltas"].get(p) for r in rows]) for p in nli},
            "zero_shot_pll_preference": {p: st.summarize([r["probe_zero_shot"].get(p, {}).get("pll_preference")
                                                          for r in rows]) for p in zero_shot},
            "zero_shot_drift": {p: st.summarize([r["probe_zero_shot"].get(p, {}).get("drift") for r in rows])
                                for p in zero_shot},
        }
    return variants


def _per_seed(records: list[dict], label: str, getter) -> dict[int, float]:
    values = {}
    for r in hy.finished(records):
        if r["variant"] != label:
            continue
        value = getter(r)
        if value is not None and math.isfinite(value):
            values[r["seed"]] = value
    return values


def effect_tests(records: list[dict], variants: dict) -> list[dict]:
    """Exploratory tests of probe and length effects, Holm-corrected within each family (kind):

    * zero-shot PLL preference: a two-sided sign test of the pairs whose original wins against those it loses, over
      the pairs of every seed pooled; ties (equal PLL, all a model without positions gives) are dropped and counted;
    * NLI probe Δ ≠ 0: one-sample t-test over seeds;
    * change of masked-token loss at k× the pretraining length: paired t-test over seeds.
    """
    tests = []
    for label, v in variants.items():
        for p in v["zero_shot_pll_preference"]:
            entries = [r["probe_zero_shot"][p] for r in hy.finished(records)
                       if r["variant"] == label and r["probe_zero_shot"].get(p, {}).get("wins") is not None]
            counts = [sum(e[k] for e in entries) for k in ("wins", "losses", "ties")]
            tests.append({"kind": "zero_shot_pll_preference", "variant": label, "perturbation": p, "null": 50.0,
                          "summary": v["zero_shot_pll_preference"][p], **st.sign_test(*counts)})
        for p in v["probe_nli_deltas"]:
            values = list(_per_seed(records, label, lambda r: r["probe_nli"]["deltas"].get(p)).values())
            tests.append({"kind": "probe_nli_delta", "variant": label, "perturbation": p, "null": 0.0,
                          "summary": v["probe_nli_deltas"][p], "p": st.one_sample_t_p(values, 0.0)})
        multiples = [m for m, e in v["mlm"].items() if e["applicable"]]
        for m in multiples[1:]:
            base = _per_seed(records, label, lambda r: (r["mlm"].get(multiples[0]) or {}).get("loss"))
            longer = _per_seed(records, label, lambda r: (r["mlm"].get(m) or {}).get("loss"))
            differences = [longer[s] - base[s] for s in sorted(set(base) & set(longer))]
            tests.append({"kind": "length_loss_change", "variant": label, "multiple": m, "null": 0.0,
                          "summary": st.summarize(differences), "p": st.one_sample_t_p(differences, 0.0)})
    for kind in dict.fromkeys(t["kind"] for t in tests):
        family = [t for t in tests if t["kind"] == kind]
        for test, adjusted in zip(family, st.holm([t["p"] for t in family])):
            test["p_holm"] = adjusted
    return tests


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
        entry["cpu_s"] += event["cpu_s"]
    return {
        "pe_bert": __version__, "transformers": transformers.__version__, "torch": torch.__version__,
        "python": platform.python_version(), "platform": platform.platform(), "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "out": str(study.out), "workers": workers, "wall_time_s": wall_time,
        "stage_seconds_stored": stored, "stage_seconds_stored_total": sum(stored.values()),
        "this_run": this_run,
    }


# ---------------------------------------------------------------------------------------------------------------
# Writing


def build_summary(study, results, wall_time: float, workers: int) -> dict:
    from .plots import write_plots

    config = study.config
    tasks = list(config.tasks)
    records = [run_record(r) for r in results]
    corpus = _corpus(study)
    variants = aggregate(records, tasks)
    settings = {k: v for k, v in config.to_dict().items() if k not in EXECUTION_SETTINGS}
    summary = {
        "units": UNITS,
        "config": settings,
        "corpus": corpus,
        "outcome": {"name": hy.OUTCOME, "tasks": list(hy.OUTCOME_TASKS), "ceiling": hy.CEILING,
                    "order_blind": hy.ORDER_BLIND_SCORE},
        "variants": variants,
        "grid": [{"w": w, "s": s, "variants": sorted({r["variant"] for r in runs}),
                  **{key: st.summarize([getter(r) for r in runs]) for key, getter in _GRID_MEASURES.items()}}
                 for (w, s), runs in hy.cells(records).items()],
        "primary_tests": hy.primary_tests(records),
        "paper_form_tests": hy.paper_form_tests(records),
        "controls": hy.controls(records, variants, corpus.get("floors", {})),
        "design_checks": hy.design_checks(records, variants),
        "exploratory": {"correlations": hy.exploratory_correlations(records),
                        "anovas": hy.exploratory_anovas(records),
                        "effect_tests": effect_tests(records, variants)},
        "runs": records,
        "failures": [{"run": f"{r['variant']}/seed{r['seed']}", **r["failure"]} for r in records if r["failure"]],
    }
    summary["findings"] = findings(summary)
    summary["plots"] = write_plots(study.out, summary, tasks)
    summary = jsonable(summary)
    summary["metadata"] = jsonable({**metadata(study, wall_time, workers),
                                    "execution": {k: getattr(config, k) for k in EXECUTION_SETTINGS}})
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
                f" [{interval[0]:.1f}, {interval[1]:.1f}]" if interval else "")
        else:
            estimate = f"ρ = {test['estimate']:.2f}" + (f" [{interval[0]:.2f}, {interval[1]:.2f}]" if interval else "")
        rows.append({"claim": test["claim"], "kind": test["kind"], "test": test["test"], "estimate": estimate,
                     "p": test["p"], "p_holm": test["p_holm"], "verdict": test["verdict"],
                     "statement": test["statement"]})
    return rows


def _corpus(study) -> dict:
    """What the shared data stage measured of the corpus (floors per length), from its stored result."""
    result_path = study.store.folder("_shared", "data") / "result.json"
    if not result_path.exists():
        return {}
    data = json.loads(result_path.read_text())
    config = study.config
    corpus = {"source": f"built-in {config.builtin_grammar} language" if config.builtin_corpus else
              (config.dataset_name or Path(config.train_file).name)}
    for key in ("num_train_sentences", "unigram_entropy", "expected_sentence_length"):
        if key in data:
            corpus[key] = data[key]
    if "floors" in data:
        corpus["floors"] = data["floors"]
    return corpus


def save_results(out: Path, summary: dict) -> None:
    (Path(out) / "results.json").write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")


def write_report(study, results, wall_time: float, workers: int = 1) -> dict:
    summary = build_summary(study, results, wall_time, workers)
    save_results(study.out, summary)
    (study.out / "report.md").write_text(render_markdown(summary, list(study.config.tasks)))
    return summary


def verdict_lines(summary: dict) -> list[str]:
    """One line per pre-registered test (what the console ends with)."""
    return [f"{row['verdict'].upper():<13} {row['claim']} ({row['kind']}): {row['statement']}"
            for row in summary.get("findings", [])]


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
        f"{meta['wall_time_s']:.0f} s wall time, " + ", ".join(f"{kind} {e['cpu_s']:.0f} s CPU" for kind, e in run.items())
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
    rows = [[f["claim"], f["kind"], f["test"], f["estimate"], fmt_p(f["p_holm"]), f"**{f['verdict']}**"]
            for f in summary["findings"]]
    lines += _table(["claim", "", "test", "estimate [95 %]", "p (Holm)", "verdict"], rows)
    lines += [""] + [f"- {f['claim']} ({f['kind']}): {f['statement']}" for f in summary["findings"]]
    smallest = [t for t in summary["paper_form_tests"] if t["smallest_p"] is not None]
    if smallest:
        t = smallest[0]
        lines += ["", f"Smallest p the design can give: the ANOVA's F test is continuous (not bounded by the design; "
                  f"{summary['primary_tests'][0].get('df', ['n/a', 'n/a'])[1]} residual degrees of freedom); the "
                  f"permutation test over {t['cells']} cells {fmt_p(t['smallest_p'])} "
                  f"({'exact' if t['exact'] else 'randomised'}), {fmt_p(min(1.0, 2 * t['smallest_p']))} after Holm."]

    lines += ["", "## Controls", ""]
    lines += _table(["control", "result", "what must hold", "measured"],
                    [[c["name"], _mark(c["passed"]), c["statement"], c["detail"]] for c in summary["controls"]])
    lines += ["", "## Design checks", "", "Whether this design can decide: the knobs move the measured properties "
              "(manipulation), the outcome has room above it (saturation), the grid's cells differ by more than seed "
              "noise (signal), the probes reached their optimum.", ""]
    lines += _table(["check", "result", "what", "measured"],
                    [[c["name"], _mark(c["passed"]), c["statement"], c["detail"]] for c in summary["design_checks"]])

    if grid:
        lines += ["", "## The grid", "", f"Cell means over seeds: the {hy.OUTCOME} (points), and the measured "
                  "locality and symmetry (mass) of attention on held-out sentences / on identical tokens (what the "
                  "PE alone does).", ""]
        rows = [[fmt(g["w"], 3).rstrip("0").rstrip("."), fmt(g["s"], 3).rstrip("0").rstrip("."),
                 fmt_summary(g["outcome"], 1, False), fmt_summary(g["locality"], 3, False),
                 fmt_summary(g["symmetry_mass"], 3, False), fmt(g["position_locality"]["mean"], 3),
                 fmt(g["position_symmetry_mass"]["mean"], 3)] for g in grid]
        lines += _table(["w", "s", hy.OUTCOME, "locality", "symmetry (mass)", "locality, PE alone",
                         "symmetry, PE alone"], rows)

    probing = list(dict.fromkeys(t for v in variants.values() for t in v["probing"]))
    lines += ["", "## Every variant", "", "Frozen-feature probe accuracies (points, on the shared test split), the "
              f"{hy.OUTCOME}, the measured properties of the pretrained model's attention on held-out sentences, and "
              "the masked-token share of the learnable signal.", ""]
    header = ["variant", *probing, hy.OUTCOME, *[METRIC_TITLES[k] for k in PE_SCORES], "share"]
    rows = [[label, *[fmt_summary(v["probing"].get(t), 1, False) for t in probing],
             fmt_summary(v["outcome"], 1, False), *[fmt_summary(v[k], 3, False) for k in PE_SCORES],
             fmt_summary((v["mlm"].get(next(iter(v["mlm"]), "")) or {}).get("share"), 2, False)]
            for label, v in variants.items()]
    lines += _table(header, rows)
    if tasks:
        lines += ["", "Fine-tuned task scores (dev-set main metric):", ""]
        lines += _table(["variant", *tasks], [[label, *[fmt_summary(v["tasks"][t], 3) for t in tasks]]
                                              for label, v in variants.items()])

    exploratory = summary["exploratory"]
    lines += ["", "## Exploratory", "", f"Not pre-registered; Holm within each table. Spearman ρ of each measured "
              f"property vs the {hy.OUTCOME} over every variant's seed mean (anchors included):", ""]
    lines += _table(["property", "measured on", "n", "ρ [95 %]", "p", "p (Holm)"],
                    [[c["property"].replace("_", " "), c["measured_on"], str(len(c["variants"])),
                      f"{fmt(c['rho'], 2)} {_interval(c['interval'])}", fmt_p(c["p"]), fmt_p(c["p_holm"])]
                     for c in exploratory["correlations"]])
    if exploratory["anovas"]:
        lines += ["", "The two-way ANOVA on each measure (uncorrected p of the main effects and the interaction):", ""]
        lines += _table(["measure", "p (w)", "p (s)", "p (w × s)", "means by w", "means by s"],
                        [[a["measure"], fmt_p(a["w_p"]), fmt_p(a["s_p"]), fmt_p(a["interaction_p"]),
                          ", ".join(f"{k}: {fmt(v, 2)}" for k, v in a["w_means"].items()),
                          ", ".join(f"{k}: {fmt(v, 2)}" for k, v in a["s_means"].items())]
                         for a in exploratory["anovas"]])
    lines += _zero_shot_section(summary, variants)
    lines += _mlm_section(summary, variants, corpus, config)
    lines += ["", "## What this cannot show", "",
              "These are tiny models trained for minutes on a synthetic language, so absolute scores are far from the "
              "paper's. The grid varies locality and symmetry through one parametric prior; other ways of being "
              "local or symmetric (learned, rotary) are anchors, not part of the tests. A bounded null says which "
              "effects this design rules out at this scale, not that none exists at BERT's. Run the study at scale "
              "(README) before drawing conclusions about BERT-sized models."]
    if summary["failures"]:
        lines += ["", "## Failed runs", "", "These did not finish; the others are reported without them. Rerun the "
                  "same command to redo them (finished stages are kept).", ""]
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
        lines += ["", "Zero-shot word-order probes on the pretrained MLM: share of held-out sentences whose "
                  "pseudo-log-likelihood is higher than that of their perturbed version, in percent (a tie counts "
                  "half; 50 = blind to the perturbation). The sign test drops ties; ✓ = its Holm-corrected p < "
                  f"{st.ALPHA} over every variant × perturbation.", ""]
        tests = {(t["variant"], t["perturbation"]): t for t in summary["exploratory"]["effect_tests"]
                 if t["kind"] == "zero_shot_pll_preference"}

        def cell(label, p):
            test = tests.get((label, p), {})
            mark = " ✓" if test.get("p_holm") is not None and test["p_holm"] < st.ALPHA else ""
            ties = f" ({test['ties']} ties)" if test.get("ties") else ""
            return fmt_summary(variants[label]["zero_shot_pll_preference"].get(p), 1, False) + mark + ties

        lines += _table(["variant", *[display_name(p) for p in zero_shot]],
                        [[label, *[cell(label, p) for p in zero_shot]] for label in variants])
    nli = sorted({p for v in variants.values() for p in v["probe_nli_deltas"]}, key=perturbation_order)
    if nli:
        lines += ["", "The paper's probe on the fine-tuned NLI model: accuracy on the original pairs and its change "
                  "(Δ, accuracy points) on each perturbed set of hypotheses.", ""]
        rows = [[label, fmt_summary(v["probe_nli_original"], 1),
                 *[fmt_summary(v["probe_nli_deltas"].get(p), 1) for p in nli]] for label, v in variants.items()]
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
        lines += [f"On {f['masked_tokens']:,} masked tokens of held-out blocks ({f['blocks']} blocks of "
                  f"{f['length']} tokens): the best context-free prediction (unigram) loses "
                  f"{fmt(f['unigram_loss'], 3)} nats per token (corpus unigram entropy "
                  f"{fmt(corpus.get('unigram_entropy'), 3)}), the Bayes-optimal prediction from the visible "
                  f"tokens {fmt(f['bayes_loss'], 3)} ± {fmt(f['bayes_loss_se'], 3)} (standard error). Both are "
                  "exact for these tokens (docs/study.md). Share = (unigram − model) / (unigram − Bayes).", ""]
    header = ["variant", "PE", *[f"loss @{m}×" for m in multiples], f"share @{first}×"]
    rows = []
    for label, v in variants.items():
        cells = [_mlm_cell(v["mlm"].get(m), "loss") for m in multiples]
        share = (v["mlm"].get(first) or {}).get("share")
        rows.append([label, v["position_encoding"], *cells, fmt_summary(share, 3)])
    lines += _table(header, rows)
    length = [t for t in summary["exploratory"]["effect_tests"] if t["kind"] == "length_loss_change"
              and t["p_holm"] is not None and t["p_holm"] < st.ALPHA]
    lines += ["", "Longer inputs pack more held-out sentences into one block; absolute PEs (`learned`, "
              "`sinusoidal`) cannot encode positions beyond `max_position_embeddings` "
              f"({config['max_position_embeddings']}) and are not applicable there. Length changes that survive "
              "Holm (paired t over seeds): " + (", ".join(
                  f"{t['variant']} {fmt(t['summary']['mean'], 3)} nats at {t['multiple']}×" for t in length)
                  or "none") + "."]
    return lines


def _mlm_cell(entry: dict | None, key: str) -> str:
    if entry is None:
        return "n/a"
    return fmt_summary(entry.get(key), 3) if entry["applicable"] else "not applicable"


def _interval(ci) -> str:
    return "n/a" if not ci else f"[{fmt(ci[0], 2)}, {fmt(ci[1], 2)}]"


__all__ = ["PE_SCORES", "UNITS", "build_summary", "fmt", "fmt_p", "fmt_summary", "perturbation_order",
           "render_markdown", "run_record", "save_results", "verdict_lines", "write_report"]
