"""The study report: results.json (every number), report.md (tables, controls, correlations, and only the findings
that survive correction) and PNG plots.

results.json is byte-identical between two runs with the same settings on the same machine, except its `metadata`
section (versions, platform, paths, wall and CPU times). report.md is rendered from the very dictionary written to
results.json.

Units: task scores, locality and symmetry are fractions in [0, 1] (as run_glue and the analysis report them); probe
effects are in percentage points (the paper's unit): the NLI probe's accuracy and its Δs, and the zero-shot PLL
preference (share of sentence pairs whose original scores higher, 50 = cannot tell the orders apart). Losses are
in nats per masked token. Every aggregate is over seeds: mean, sample std, n and a 95 % Student-t interval.
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
from . import statistics as st

PE_SCORES = METRIC_NAMES
TOPIC_TASK, ORDER_TASK, CONTROL_VARIANT = "builtin_topic", "builtin_order", "none"
CONTROL_THRESHOLD = 0.90  # topic: every variant; order: the best variant
CHANCE_ORDER = 0.5
POINTS = 100.0

UNITS = {
    "tasks": "task's main metric as a fraction (accuracy for the built-in tasks)",
    "locality, symmetry, symmetry_mass": "fraction in [0, 1]",
    "mlm_loss, unigram_loss, bayes_loss": "nats per masked token",
    "mlm_share": "share of the learnable signal captured: (unigram - model) / (unigram - Bayes)",
    "probe_nli_original, probe_nli_deltas": "accuracy points (percent); Δ = perturbed - original",
    "zero_shot_pll_preference": "percentage points: share of pairs whose original has the higher PLL (50 = chance)",
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
            "seeds": [r["seed"] for r in rows],
            "mlm": mlm,
            **{k: st.summarize([r["pretrained_scores"][k] for r in rows]) for k in PE_SCORES},
            "tasks": {t: st.summarize([r["tasks"].get(t, {}).get("score") for r in rows]) for t in tasks},
            "probe_nli_original": st.summarize([r["probe_nli"]["original"] for r in rows]),
            "probe_nli_deltas": {p: st.summarize([r["probe_nli"]["deltas"].get(p) for r in rows]) for p in nli},
            "zero_shot_pll_preference": {p: st.summarize([r["probe_zero_shot"].get(p, {}).get("pll_preference")
                                                          for r in rows]) for p in zero_shot},
            "zero_shot_drift": {p: st.summarize([r["probe_zero_shot"].get(p, {}).get("drift") for r in rows])
                                for p in zero_shot},
        }
    return variants


def _finished(records: list[dict], label: str) -> list[dict]:
    """The runs of one variant that did not fail."""
    return [r for r in records if r["variant"] == label and not r["failure"]]


def _per_seed(records: list[dict], label: str, getter) -> dict[int, float]:
    values = {}
    for r in _finished(records, label):
        value = getter(r)
        if value is not None and math.isfinite(value):
            values[r["seed"]] = value
    return values


def correlations(records: list[dict], variants: dict, tasks: list[str]) -> list[dict]:
    """Each PE score against each task score, one point per variant (its seed average): Pearson and Spearman with
    a two-level bootstrap interval, an exact permutation p-value, and Holm-corrected p-values per coefficient."""
    rows = []
    for score in PE_SCORES:
        for task in tasks:
            xs, ys, per_x, per_y, labels = [], [], [], [], []
            for label in variants:
                x = _per_seed(records, label, lambda r: r["pretrained_scores"][score])
                y = _per_seed(records, label, lambda r: r["tasks"].get(task, {}).get("score"))
                seeds = sorted(set(x) & set(y))
                if not seeds:
                    continue
                labels.append(label)
                per_x.append([x[s] for s in seeds])
                per_y.append([y[s] for s in seeds])
                xs.append(sum(per_x[-1]) / len(seeds))
                ys.append(sum(per_y[-1]) / len(seeds))
            entry = {"pe_score": score, "task": task, "n": len(xs), "variants": labels}
            for method, key in (("pearson", "pearson_r"), ("spearman", "spearman_rho")):
                entry[key] = st.correlation(xs, ys, method)
                entry[f"{key}_ci95"] = st.bootstrap_correlation_ci(per_x, per_y, method)
                entry[f"{method}_p"] = st.permutation_p(xs, ys, method)
            rows.append(entry)
    for method in ("pearson", "spearman"):
        for entry, adjusted in zip(rows, st.holm([r[f"{method}_p"] for r in rows])):
            entry[f"{method}_p_holm"] = adjusted
    return rows


def controls(variants: dict, tasks: list[str], floors: dict) -> list[dict]:
    """The checks that make the other numbers interpretable, each with its verdict."""
    checks = []
    ok = {k: v for k, v in variants.items() if v["seeds"]}
    if TOPIC_TASK in tasks and ok:
        scores = {k: v["tasks"][TOPIC_TASK]["mean"] for k, v in ok.items()}
        low = min(scores, key=lambda k: -1 if scores[k] is None else scores[k])
        checks.append({
            "name": "topic control",
            "statement": f"every variant scores ≥ {CONTROL_THRESHOLD:.2f} on {TOPIC_TASK} (order-free: a bag of words "
                         "solves it)",
            "passed": all(s is not None and s >= CONTROL_THRESHOLD for s in scores.values()),
            "detail": f"lowest: {low} {fmt(scores[low], 3)}"})
    if ORDER_TASK in tasks and CONTROL_VARIANT in ok:
        entry = ok[CONTROL_VARIANT]["tasks"][ORDER_TASK]
        interval = entry.get("ci95")
        checks.append({
            "name": "order control",
            "statement": f"`{CONTROL_VARIANT}` (no position information) is at chance on {ORDER_TASK}: its 95 % "
                         f"interval contains {CHANCE_ORDER}",
            "passed": bool(interval and interval[0] <= CHANCE_ORDER <= interval[1]),
            "detail": f"{CONTROL_VARIANT}: {fmt_summary(entry, 3)}"})
    if ORDER_TASK in tasks and ok:
        scores = {k: v["tasks"][ORDER_TASK]["mean"] for k, v in ok.items() if v["tasks"][ORDER_TASK]["mean"] is not None}
        if scores:
            best = max(scores, key=scores.get)
            checks.append({
                "name": "order is learnable",
                "statement": f"the best variant scores ≥ {CONTROL_THRESHOLD:.2f} on {ORDER_TASK}",
                "passed": scores[best] >= CONTROL_THRESHOLD, "detail": f"best: {best} {fmt(scores[best], 3)}"})
    first = next(iter(floors), None)
    if first is not None and floors[first].get("bayes_loss") is not None:
        losses = {k: v["mlm"][first]["loss"]["mean"] for k, v in ok.items()
                  if v["mlm"].get(first, {}).get("applicable") and v["mlm"][first]["loss"]["mean"] is not None}
        bayes, unigram = floors[first]["bayes_loss"], floors[first]["unigram_loss"]
        checks.append({
            "name": "floors",
            "statement": "every masked-token loss lies above the Bayes-optimal floor (a check of the floors "
                         "themselves: no model can beat it)",
            "passed": all(loss >= bayes for loss in losses.values()),
            "detail": f"Bayes {fmt(bayes, 3)} ≤ losses {fmt(min(losses.values(), default=None), 3)}–"
                      f"{fmt(max(losses.values(), default=None), 3)}; unigram {fmt(unigram, 3)}"})
    return checks


def effect_tests(records: list[dict], variants: dict) -> list[dict]:
    """Tests of the effects the report could claim, Holm-corrected within each family (kind):

    * zero-shot PLL preference ≠ 50 %: exact binomial test on the sentence pairs of every seed pooled (a tie, which
      a model without positions gives every pair, counts as half a win);
    * NLI probe Δ ≠ 0: one-sample t-test over seeds;
    * change of masked-token loss at k× the pretraining length: paired t-test over seeds.
    """
    from scipy.stats import binomtest

    tests = []
    for label, v in variants.items():
        for p in v["zero_shot_pll_preference"]:
            entries = [r["probe_zero_shot"][p] for r in _finished(records, label)
                       if r["probe_zero_shot"].get(p, {}).get("pll_preference") is not None]
            n = sum(e["n_changed"] or 0 for e in entries)
            wins = round(sum(e["pll_preference"] / POINTS * (e["n_changed"] or 0) for e in entries))
            tests.append({"kind": "zero_shot_pll_preference", "variant": label, "perturbation": p, "null": 50.0,
                          "summary": v["zero_shot_pll_preference"][p], "pairs": n,
                          "p": float(binomtest(wins, n, 0.5).pvalue) if n else None})
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


def findings(summary: dict) -> list[str]:
    """Plain-language statements, each backed by a check or a test that survives the Holm correction."""
    out = []
    for check in summary["controls"]:
        out.append(f"{'PASS' if check['passed'] else 'FAIL'} — {check['statement']} ({check['detail']}).")
    corpus = summary["corpus"]
    variants = {k: v for k, v in summary["variants"].items() if v["seeds"]}
    first = next(iter(corpus.get("floors", {})), None)
    shares = {k: v["mlm"][first]["share"]["mean"] for k, v in variants.items()
              if first and v["mlm"].get(first, {}).get("applicable") and v["mlm"][first]["share"]["mean"] is not None}
    if shares:
        low, high = min(shares, key=shares.get), max(shares, key=shares.get)
        out.append(f"At the pretraining length the models capture from {100 * shares[low]:.0f} % ({low}) to "
                   f"{100 * shares[high]:.0f} % ({high}) of the learnable signal of the corpus (unigram entropy "
                   f"{fmt(corpus['floors'][first]['unigram_loss'], 3)} → Bayes floor "
                   f"{fmt(corpus['floors'][first]['bayes_loss'], 3)} nats; measured, not tested).")
    significant = [c for c in summary["correlations"] if c["spearman_p_holm"] is not None
                   and c["spearman_p_holm"] < st.ALPHA]
    tested = [c for c in summary["correlations"] if c["spearman_p"] is not None]
    if significant:
        for c in significant:
            out.append(f"{METRIC_TITLES[c['pe_score']]} correlates with {c['task']} across variants: Spearman ρ = "
                       f"{fmt(c['spearman_rho'], 2)} (95 % interval {_interval(c['spearman_rho_ci95'])}), Holm-"
                       f"corrected p = {fmt(c['spearman_p_holm'], 3)}, n = {c['n']} variants.")
    elif tested:
        out.append(f"No correlation between a PE property and a task score survives the Holm correction "
                   f"({len(tested)} Spearman tests over {max(c['n'] for c in tested)} seed-averaged variants; "
                   f"smallest corrected p = {fmt(min(c['spearman_p_holm'] for c in tested), 3)}).")
    tests = summary["effect_tests"]
    surviving = [t for t in tests if t["p_holm"] is not None and t["p_holm"] < st.ALPHA]
    zero_shot = [t for t in surviving if t["kind"] == "zero_shot_pll_preference"]
    for perturbation in sorted({t["perturbation"] for t in zero_shot}, key=perturbation_order):
        chosen = [t for t in zero_shot if t["perturbation"] == perturbation]
        out.append(f"Zero-shot, the original sentence has the higher PLL than its {display_name(perturbation)} "
                   "version in " + ", ".join(f"{fmt(t['summary']['mean'], 1)} % ({t['variant']})" for t in chosen)
                   + f" of pairs (50 % = blind to the change; binomial test, Holm-corrected p < {st.ALPHA}).")
    blind = sorted({t["variant"] for t in tests if t["kind"] == "zero_shot_pll_preference"}
                   - {t["variant"] for t in zero_shot})
    if blind and zero_shot:
        out.append(f"Zero-shot: {', '.join(blind)} cannot be told from chance on any perturbation.")
    for kind, template, digits in (
        ("probe_nli_delta", "{variant}'s NLI accuracy changes by {value} points under {perturbation}", 1),
        ("length_loss_change", "{variant}'s masked-token loss changes by {value} nats at {multiple}× the "
                               "pretraining length", 3),
    ):
        chosen = [t for t in surviving if t["kind"] == kind]
        if chosen:
            out.append("; ".join(template.format(variant=t["variant"],
                                                 perturbation=display_name(t.get("perturbation", "")),
                                                 multiple=t.get("multiple"),
                                                 value=fmt_summary(t["summary"], digits, interval=False))
                                 for t in chosen)
                       + f" (t-test over seeds, Holm-corrected p < {st.ALPHA}).")
    for kind, name in (("zero_shot_pll_preference", "zero-shot probe"), ("probe_nli_delta", "NLI probe"),
                       ("length_loss_change", "length")):
        family = [t for t in tests if t["kind"] == kind]
        if family:
            kept = sum(t in surviving for t in family)
            untested = sum(t["p"] is None for t in family)
            out.append(f"{kept} of {len(family)} {name} effects survive the Holm correction"
                       + (f" ({untested} could not be tested: fewer than 2 seeds or no spread)" if untested else "")
                       + "; the others are not claimed.")
    return out


def _mlm_cell(entry: dict | None, key: str) -> str:
    if entry is None:
        return "n/a"
    return fmt_summary(entry.get(key), 3) if entry["applicable"] else "not applicable"


def _interval(ci) -> str:
    return "n/a" if not ci else f"[{fmt(ci[0], 2)}, {fmt(ci[1], 2)}]"


def metadata(study, wall_time: float, workers: int) -> dict:
    import torch
    import transformers

    from .. import __version__

    # Compute time of every stored stage (also those finished by an earlier, resumed run), by kind of stage.
    stored: dict[str, float] = {}
    for done in sorted(study.store.runs.glob("**/DONE.json")):
        kind = done.parent.name.split("-", 1)[0]
        stored[kind] = stored.get(kind, 0.0) + json.loads(done.read_text()).get("seconds", 0.0)
    this_run: dict[str, dict] = {}
    timings = study.out / "timings.jsonl"
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
    settings = {k: v for k, v in config.to_dict().items() if k != "out"}
    summary = {
        "units": UNITS,
        "config": settings,
        "corpus": corpus,
        "variants": variants,
        "controls": controls(variants, tasks, corpus.get("floors", {})),
        "correlations": correlations(records, variants, tasks),
        "effect_tests": effect_tests(records, variants),
        "runs": records,
        "failures": [{"run": f"{r['variant']}/seed{r['seed']}", **r["failure"]} for r in records if r["failure"]],
    }
    summary["findings"] = findings(summary)
    summary["plots"] = write_plots(study.out, summary, tasks)
    summary = jsonable(summary)
    summary["metadata"] = jsonable(metadata(study, wall_time, workers))
    return summary


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


def render_markdown(summary: dict, tasks: list[str]) -> str:
    config, variants, corpus, meta = summary["config"], summary["variants"], summary["corpus"], summary["metadata"]
    run = meta["this_run"]
    lines = [
        "# pe_bert study: locality, symmetry and downstream quality of positional encodings",
        "",
        f"{len(variants)} variants × {len(config['seeds'])} seeds {config['seeds']}; pretraining on the "
        f"{corpus.get('source', 'given data')} for {config['pretrain_steps']} steps (batch "
        f"{config['pretrain_batch_size']}, length {config['max_seq_length']}), fine-tuning {config['finetune_steps']} "
        f"steps per task. This run: {meta['wall_time_s']:.0f} s wall time, "
        + ", ".join(f"{kind} {e['cpu_s']:.0f} s CPU" for kind, e in run.items())
        + f" ({meta['workers']} worker process(es)); every stored stage took {meta['stage_seconds_stored_total']:.0f} s "
        "to compute, when it ran (stages stored by an earlier run are reused, at 0 s). "
        f"pe_bert {meta['pe_bert']}, transformers {meta['transformers']}, "
        f"torch {meta['torch']}. Every number is in `results.json`; every cell is mean ± std over seeds "
        "[95 % interval].",
        "",
        "## Findings",
        "",
        "Only what a control establishes or what survives the Holm correction is stated here.",
        "",
        *(f"- {f}" for f in summary["findings"]),
    ]
    floors = corpus.get("floors", {})
    multiples = sorted({m for v in variants.values() for m in v["mlm"]}, key=int)
    if multiples:
        first = multiples[0]
        lines += ["", "## Masked-token loss and the corpus floors", ""]
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
        lines += ["", "Longer inputs pack more held-out sentences into one block; absolute PEs (`learned`, "
                  "`sinusoidal`) cannot encode positions beyond `max_position_embeddings` "
                  f"({config['max_position_embeddings']}) and are not applicable there."]

    lines += ["", "## Positional properties and task scores", "",
              "Locality and symmetry: means over all layers, heads and held-out sentences of each pretrained model's "
              "attention (special tokens kept). Task scores: dev-set main metric after fine-tuning.", ""]
    header = ["variant", "PE", *[METRIC_TITLES[k] for k in PE_SCORES], *tasks]
    rows = [[label, v["position_encoding"], *[fmt_summary(v[k], 3) for k in PE_SCORES],
             *[fmt_summary(v["tasks"][t], 3) for t in tasks]] for label, v in variants.items()]
    lines += _table(header, rows)

    zero_shot = sorted({p for v in variants.values() for p in v["zero_shot_pll_preference"]}, key=perturbation_order)
    if zero_shot:
        lines += ["", "## Word-order probes", "", "Zero-shot, on the pretrained MLM: share of held-out sentences whose "
                  "pseudo-log-likelihood is higher than that of their perturbed version, in percent (50 = blind to "
                  "the perturbation).", ""]
        rows = [[label, *[fmt_summary(v["zero_shot_pll_preference"].get(p), 1) for p in zero_shot]]
                for label, v in variants.items()]
        lines += _table(["variant", *[display_name(p) for p in zero_shot]], rows)
    nli = sorted({p for v in variants.values() for p in v["probe_nli_deltas"]}, key=perturbation_order)
    if nli:
        lines += ["", "The paper's probe on the fine-tuned NLI model: accuracy on the original pairs and its change "
                  "(Δ, accuracy points) on each perturbed set of hypotheses.", ""]
        rows = [[label, fmt_summary(v["probe_nli_original"], 1),
                 *[fmt_summary(v["probe_nli_deltas"].get(p), 1) for p in nli]] for label, v in variants.items()]
        lines += _table(["variant", "original (%)", *[f"Δ {display_name(p)}" for p in nli]], rows)

    lines += ["", "## Correlations", "", "One point per variant (its seed average). Intervals: bootstrap over "
              "variants and, within each, seeds. p: exact permutation test; Holm: corrected over the "
              f"{len(summary['correlations'])} tests of the same coefficient.", ""]
    rows = [[METRIC_TITLES[c["pe_score"]], c["task"], str(c["n"]),
             f"{fmt(c['pearson_r'], 2)} {_interval(c['pearson_r_ci95'])}", fmt(c["pearson_p"], 3),
             fmt(c["pearson_p_holm"], 3), f"{fmt(c['spearman_rho'], 2)} {_interval(c['spearman_rho_ci95'])}",
             fmt(c["spearman_p"], 3), fmt(c["spearman_p_holm"], 3)] for c in summary["correlations"]]
    lines += _table(["PE property", "task", "n", "Pearson r [95 %]", "p", "Holm p", "Spearman ρ [95 %]", "p",
                     "Holm p"], rows)
    lines += ["", "## What this cannot show", "",
              "These are tiny models trained for minutes on a synthetic language, so absolute scores are far from the "
              "paper's. Correlations over a handful of variants say nothing about causation (the attenuated grid, "
              "which sets locality and symmetry directly, is the closest thing to an intervention here), and a "
              "correlation that does not survive correction is not evidence either way. Run the study at scale "
              "(README) before drawing conclusions about BERT-sized models."]
    if summary["failures"]:
        lines += ["", "## Failed runs", "", "These did not finish; the others are reported without them.", ""]
        for f in summary["failures"]:
            lines.append(f"- `{f['run']}` failed at stage `{f['stage']}`: {f['error']}")
    lines += ["", "## Plots", ""]
    for name, path in summary["plots"].items():
        lines.append(f"![{name}]({path})")
    return "\n".join(lines) + "\n"


__all__ = ["PE_SCORES", "UNITS", "build_summary", "fmt", "fmt_summary", "perturbation_order", "render_markdown",
           "run_record", "save_results", "write_report"]
