"""The study report: results.json (every number + run metadata), report.md (tables, correlations, a plain-language
reading) and PNG plots. report.md is rendered from the very dictionary written to results.json, so its numbers are
those of results.json (rounded to 4 decimals)."""

from __future__ import annotations

import json
import math
import platform
import statistics
from pathlib import Path

import numpy as np

PE_SCORES = ("locality", "symmetry", "symmetry_mass")
SCORE_TITLES = {"locality": "locality", "symmetry": "symmetry (published)", "symmetry_mass": "symmetry (mass)"}


def fmt(value) -> str:
    """The one number format of report.md."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    text = f"{value:.4f}"
    return "0.0000" if text == "-0.0000" else text


def mean_std(values: list[float]) -> dict:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "n": len(values)}


def fmt_mean_std(entry: dict) -> str:
    if entry["mean"] is None:
        return "n/a"
    return fmt(entry["mean"]) if entry["n"] < 2 else f"{fmt(entry['mean'])} ± {fmt(entry['std'])}"


# ---------------------------------------------------------------------------------------------------------------
# Collecting numbers


def unit_record(result) -> dict:
    """The flat numbers of one (variant, seed) from its stage results."""
    stages = result.stages
    record = {"variant": result.variant, "position_encoding": result.position_encoding,
              "overrides": result.overrides, "seed": result.seed, "failure": result.failure}
    pretrain = stages.get("pretrain", {}).get("metrics", {})
    record["pretrain"] = {"eval_loss": pretrain.get("eval_loss"), "perplexity": pretrain.get("perplexity")}
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
    record["probe_nli"] = {"original": nli.get("original", {}).get("accuracy"),
                           "deltas": {name: r.get("delta") for name, r in nli.get("results", {}).items()},
                           "delta_ci": {name: r.get("delta_ci") for name, r in nli.get("results", {}).items()}}
    zero = probe.get("zero_shot", {}).get("results", {})
    record["probe_zero_shot"] = {name: {"drift": r.get("drift", {}).get("mean"),
                                        "pll_preference": r.get("pll", {}).get("preference")}
                                 for name, r in zero.items()}
    return record


def aggregate(records: list[dict], tasks: list[str]) -> dict:
    """Mean ± std over seeds, per variant."""
    variants: dict[str, dict] = {}
    for label in dict.fromkeys(r["variant"] for r in records):
        rows = [r for r in records if r["variant"] == label and not r["failure"]]
        perturbations = sorted({p for r in rows for p in r["probe_nli"]["deltas"]})
        zero_shot = sorted({p for r in rows for p in r["probe_zero_shot"]})
        variants[label] = {
            "position_encoding": records[[r["variant"] for r in records].index(label)]["position_encoding"],
            "seeds": [r["seed"] for r in rows],
            "pretrain_eval_loss": mean_std([r["pretrain"]["eval_loss"] for r in rows]),
            **{k: mean_std([r["pretrained_scores"][k] for r in rows]) for k in PE_SCORES},
            "tasks": {t: mean_std([r["tasks"].get(t, {}).get("score") for r in rows]) for t in tasks},
            "probe_original": mean_std([r["probe_nli"]["original"] for r in rows]),
            "probe_deltas": {p: mean_std([r["probe_nli"]["deltas"].get(p) for r in rows]) for p in perturbations},
            "zero_shot_drift": {p: mean_std([r["probe_zero_shot"][p]["drift"] for r in rows if p in
                                             r["probe_zero_shot"]]) for p in zero_shot},
        }
    return variants


def correlations(records: list[dict], tasks: list[str]) -> list[dict]:
    """Pearson and Spearman (with p-values) of each PE score against each task score, one point per model."""
    from scipy import stats

    rows = []
    ok = [r for r in records if not r["failure"]]
    for score in PE_SCORES:
        for task in tasks:
            pairs = [(r["pretrained_scores"][score], r["tasks"].get(task, {}).get("score")) for r in ok]
            pairs = [(x, y) for x, y in pairs if x is not None and y is not None]
            entry = {"pe_score": score, "task": task, "n": len(pairs), "pearson_r": None, "pearson_p": None,
                     "spearman_rho": None, "spearman_p": None}
            xs, ys = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
            if len(pairs) >= 3 and xs.std() > 0 and ys.std() > 0:
                pearson, spearman = stats.pearsonr(xs, ys), stats.spearmanr(xs, ys)
                entry.update(pearson_r=float(pearson.statistic), pearson_p=float(pearson.pvalue),
                             spearman_rho=float(spearman.statistic), spearman_p=float(spearman.pvalue))
            rows.append(entry)
    return rows


def metadata(study, wall_time: float) -> dict:
    import torch
    import transformers

    from .. import __version__

    # Compute time of every stored stage (also those finished by an earlier, resumed run), by kind of stage.
    timings: dict[str, float] = {}
    for done in sorted(study.store.runs.glob("**/DONE.json")):
        kind = done.parent.name.split("-", 1)[0] if done.parent.name.startswith("finetune") else done.parent.name
        timings[kind] = timings.get(kind, 0.0) + json.loads(done.read_text()).get("seconds", 0.0)
    return {
        "pe_bert": __version__, "transformers": transformers.__version__, "torch": torch.__version__,
        "python": platform.python_version(), "platform": platform.platform(),
        "seeds": study.config.seeds, "pretrain_steps": study.config.pretrain_steps,
        "finetune_steps": study.config.finetune_steps, "wall_time_s": wall_time,
        "stage_seconds": timings, "stage_seconds_total": sum(timings.values()),
        # Every path in results.json is relative to the folder holding it: where it was run is not recorded.
        "config": {k: v for k, v in study.config.to_dict().items() if k != "out"},
    }


# ---------------------------------------------------------------------------------------------------------------
# Writing


def write_report(study, results, wall_time: float) -> dict:
    from .. import analysis  # noqa: F401  (matplotlib backend set by analysis.plots)
    from .hub import write_model_cards

    out = study.out
    tasks = list(study.config.tasks)
    records = [unit_record(r) for r in results]
    failures = [{"unit": f"{r['variant']}/seed{r['seed']}", **r["failure"]} for r in records if r["failure"]]
    summary = {
        "metadata": metadata(study, wall_time),
        "variants": aggregate(records, tasks),
        "correlations": correlations(records, tasks),
        "units": records,
        "failures": failures,
    }
    summary["plots"] = write_plots(out, summary, tasks)
    summary["model_cards"] = write_model_cards(study, results, summary)
    (out / "results.json").write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
    (out / "report.md").write_text(render_markdown(summary, tasks))
    return summary


def render_markdown(summary: dict, tasks: list[str]) -> str:
    meta, variants = summary["metadata"], summary["variants"]
    lines = [
        "# pe_bert study: locality, symmetry and downstream quality of positional encodings",
        "",
        f"{len(variants)} variants x {len(meta['seeds'])} seed(s) {meta['seeds']}; pretraining "
        f"{meta['pretrain_steps']} steps, fine-tuning {meta['finetune_steps']} steps per task; compute time "
        f"{meta['stage_seconds_total']:.0f} s ("
        + ", ".join(f"{kind} {seconds:.0f} s" for kind, seconds in meta["stage_seconds"].items())
        + f"; this run's wall time {meta['wall_time_s']:.0f} s). pe_bert {meta['pe_bert']}, transformers {meta['transformers']}, "
        f"torch {meta['torch']}. Every number below is in `results.json`.",
        "",
        "## Positional properties and task scores per variant",
        "",
        "Locality and symmetry are means over all layers, heads and held-out sentences of each pretrained model's "
        "attention (special tokens kept). Task scores are dev-set scores after fine-tuning "
        "(mean ± std over seeds where there are several).",
        "",
    ]
    header = ["variant", "PE", "MLM eval loss", *[SCORE_TITLES[k] for k in PE_SCORES], *tasks]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, v in variants.items():
        cells = [label, v["position_encoding"], fmt_mean_std(v["pretrain_eval_loss"]),
                 *[fmt_mean_std(v[k]) for k in PE_SCORES], *[fmt_mean_std(v["tasks"][t]) for t in tasks]]
        lines.append("| " + " | ".join(cells) + " |")

    perturbations = sorted({p for v in variants.values() for p in v["probe_deltas"]}, key=_perturbation_order)
    if perturbations:
        lines += ["", "## Word-order probes (built-in NLI, perturbed hypothesis)", "",
                  "Accuracy of the fine-tuned NLI model on the original pairs, and its change (Δ, accuracy points "
                  "as a fraction) on each perturbed set, as in the paper's table.", ""]
        header = ["variant", "original", *[f"Δ {p}" for p in perturbations]]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for label, v in variants.items():
            cells = [label, fmt_mean_std(v["probe_original"]),
                     *[fmt_mean_std(v["probe_deltas"].get(p, {"mean": None, "n": 0})) for p in perturbations]]
            lines.append("| " + " | ".join(cells) + " |")
    zero_shot = sorted({p for v in variants.values() for p in v["zero_shot_drift"]}, key=_perturbation_order)
    if zero_shot:
        lines += ["", "Zero-shot representation drift (1 − cosine of mean-pooled states, pretrained MLM):", ""]
        header = ["variant", *zero_shot]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for label, v in variants.items():
            lines.append("| " + " | ".join([label, *[fmt_mean_std(v["zero_shot_drift"].get(p, {"mean": None, "n": 0}))
                                                   for p in zero_shot]]) + " |")

    lines += ["", "## Correlations (one point per model)", "",
              "| PE score | task | n | Pearson r | p | Spearman ρ | p |", "|---|---|---|---|---|---|---|"]
    for c in summary["correlations"]:
        lines.append(f"| {SCORE_TITLES[c['pe_score']]} | {c['task']} | {c['n']} | {fmt(c['pearson_r'])} | "
                     f"{fmt(c['pearson_p'])} | {fmt(c['spearman_rho'])} | {fmt(c['spearman_p'])} |")
    lines += ["", "## What this shows, and what it cannot", "", reading(summary, tasks)]
    if summary["failures"]:
        lines += ["", "## Failed variants", "", "These did not finish; the others are reported without them.", ""]
        for f in summary["failures"]:
            lines.append(f"- `{f['unit']}` failed at stage `{f['stage']}`: {f['error']}")
    lines += ["", "## Plots", ""]
    for name, path in summary["plots"].items():
        lines.append(f"![{name}]({Path(path).name})")
    return "\n".join(lines) + "\n"


def _perturbation_order(name: str):
    order = ["shuffle-3", "shuffle-4", "shuffle-5", "shuffle-6", "random", "swap-adjacent", "shuffle-sr"]
    return (order.index(name) if name in order else len(order), name)


def reading(summary: dict, tasks: list[str]) -> str:
    """A plain-language paragraph generated from the numbers (no claim the numbers do not carry)."""
    variants = {k: v for k, v in summary["variants"].items() if v["locality"]["mean"] is not None}
    if not variants:
        return "No variant finished, so there is nothing to read."
    by_locality = sorted(variants, key=lambda k: variants[k]["locality"]["mean"])
    low, high = by_locality[0], by_locality[-1]
    sentences = [
        f"Locality ranges from {fmt(variants[low]['locality']['mean'])} ({low}) to "
        f"{fmt(variants[high]['locality']['mean'])} ({high}); the published symmetry score ranges over "
        f"[{fmt(min(v['symmetry']['mean'] for v in variants.values()))}, "
        f"{fmt(max(v['symmetry']['mean'] for v in variants.values()))}] and the mass-based one over "
        f"[{fmt(min(v['symmetry_mass']['mean'] for v in variants.values()))}, "
        f"{fmt(max(v['symmetry_mass']['mean'] for v in variants.values()))}]."
    ]
    usable = [c for c in summary["correlations"] if c["spearman_rho"] is not None]
    if usable:
        strongest = max(usable, key=lambda c: abs(c["spearman_rho"]))
        sentences.append(
            f"The strongest rank correlation is between {SCORE_TITLES[strongest['pe_score']]} and "
            f"{strongest['task']} (Spearman ρ = {fmt(strongest['spearman_rho'])}, p = {fmt(strongest['spearman_p'])}, "
            f"n = {strongest['n']})."
        )
        significant = [c for c in usable if c["spearman_p"] < 0.05]
        sentences.append(
            f"{len(significant)} of {len(usable)} correlations have p < 0.05 before any correction for the "
            f"{len(usable)} tests made."
        )
    deltas = [(k, v["probe_deltas"]) for k, v in variants.items() if v["probe_deltas"]]
    if deltas:
        sr = [d["shuffle-sr"]["mean"] for _, d in deltas if d.get("shuffle-sr", {}).get("mean") is not None]
        local = [d[p]["mean"] for _, d in deltas for p in ("shuffle-3", "shuffle-4")
                 if d.get(p, {}).get("mean") is not None]
        if sr and local:
            sentences.append(
                f"On the NLI probe, local shuffles change accuracy by {fmt(statistics.fmean(local))} on average, "
                f"role swaps by {fmt(statistics.fmean(sr))}."
            )
    sentences.append(
        "What this cannot show: these are tiny models trained for minutes on a synthetic corpus, so absolute "
        "scores are far from the paper's; with one point per model and few models, a correlation is weak evidence "
        "and says nothing about causation (the attenuated grid, which sets locality and symmetry directly, is "
        "the closest thing to an intervention here). Run the study at scale (README) before drawing conclusions."
    )
    return " ".join(sentences)


def write_plots(out: Path, summary: dict, tasks: list[str]) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots = {}
    ok = [r for r in summary["units"] if not r["failure"]]
    labels = sorted({r["variant"] for r in ok})
    colours = {label: plt.cm.tab20(i % 20) for i, label in enumerate(labels)}
    correlation = {(c["pe_score"], c["task"]): c for c in summary["correlations"]}
    for score in ("locality", "symmetry", "symmetry_mass"):
        fig, axes = plt.subplots(1, max(len(tasks), 1), figsize=(4.6 * max(len(tasks), 1), 4.2), squeeze=False)
        for ax, task in zip(axes[0], tasks):
            points = [(r["pretrained_scores"][score], r["tasks"].get(task, {}).get("score"), r["variant"]) for r in ok]
            points = [p for p in points if p[0] is not None and p[1] is not None]
            for x, y, label in points:
                ax.scatter(x, y, color=colours[label], label=label, s=36, edgecolor="black", linewidth=0.4)
            c = correlation.get((score, task))
            if len(points) >= 2 and np.ptp([p[0] for p in points]) > 0:
                slope, intercept = np.polyfit([p[0] for p in points], [p[1] for p in points], 1)
                xs = np.linspace(min(p[0] for p in points), max(p[0] for p in points), 50)
                ax.plot(xs, slope * xs + intercept, color="grey", linestyle="--", label="least-squares fit")
            subtitle = "" if not c or c["pearson_r"] is None else \
                f"\nPearson r={c['pearson_r']:.2f} (p={c['pearson_p']:.2g}), Spearman ρ={c['spearman_rho']:.2f}"
            ax.set_title(f"{task}{subtitle}", fontsize=9)
            ax.set_xlabel(SCORE_TITLES[score] + " of the pretrained model")
            ax.set_ylabel(f"{task} dev score")
            ax.grid(alpha=0.3)
        handles, names = axes[0][0].get_legend_handles_labels()
        unique = dict(zip(names, handles))
        fig.legend(unique.values(), unique.keys(), loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
        fig.suptitle(f"{SCORE_TITLES[score].capitalize()} vs downstream score")
        fig.tight_layout()
        path = out / f"scatter_{score}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        plots[f"{score} vs score"] = path.name

    matrices = {}
    for r in ok:
        if r["position_matrix"] is not None and r["variant"] not in matrices:
            matrices[r["variant"]] = np.array(r["position_matrix"])
    if matrices:
        columns = min(4, len(matrices))
        rows = math.ceil(len(matrices) / columns)
        fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.0 * rows), squeeze=False)
        for ax in axes.flat:
            ax.axis("off")
        for ax, (label, matrix) in zip(axes.flat, matrices.items()):
            ax.axis("on")
            image = ax.imshow(matrix, cmap="viridis", vmin=0)
            ax.set_title(label, fontsize=9)
            ax.set_xlabel("key position", fontsize=8)
            ax.set_ylabel("query position", fontsize=8)
            fig.colorbar(image, ax=ax, fraction=0.046, label="attention")
        fig.suptitle("Identical-token attention, mean over layers and heads (pretrained models)")
        fig.tight_layout()
        path = out / "position_attention.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        plots["position attention"] = path.name

    variants = summary["variants"]
    perturbations = sorted({p for v in variants.values() for p in v["probe_deltas"]}, key=_perturbation_order)
    if perturbations:
        names = list(variants)
        width = 0.8 / max(len(names), 1)
        fig, ax = plt.subplots(figsize=(max(8, 1.4 * len(perturbations) + 0.3 * len(names)), 4.5))
        for i, label in enumerate(names):
            means = [variants[label]["probe_deltas"].get(p, {}).get("mean") for p in perturbations]
            stds = [variants[label]["probe_deltas"].get(p, {}).get("std") or 0.0 for p in perturbations]
            xs = np.arange(len(perturbations)) + i * width - 0.4 + width / 2
            ax.bar(xs, [m if m is not None else 0.0 for m in means], width, yerr=stds, label=label,
                   color=colours.get(label), capsize=2)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(np.arange(len(perturbations)), perturbations)
        ax.set_ylabel("Δ accuracy vs original (fraction)")
        ax.set_xlabel("perturbation of the hypothesis")
        ax.set_title("Word-order probes: change in NLI accuracy per perturbation (error bars: std over seeds)")
        ax.legend(fontsize=7, ncol=2, loc="lower left")
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        path = out / "probe_deltas.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        plots["probe deltas"] = path.name
    return plots
