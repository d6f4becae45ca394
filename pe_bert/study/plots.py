"""The study's plots, drawn from the summary that results.json holds (so a plot never shows another number)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..analysis.capture import METRIC_TITLES
from ..analysis.probes.report import display_name

DPI = 110


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> str:
    fig.savefig(path, dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    return path.name


def _colours(plt, labels):
    return {label: plt.cm.tab10(i % 10) for i, label in enumerate(labels)}


def _mean_and_error(entry):
    if not entry or entry.get("mean") is None:
        return None, 0.0
    return entry["mean"], entry.get("std") or 0.0


def scatter(out: Path, summary: dict, tasks: list[str], plt, colours) -> dict:
    """Each PE property against each task score: seed-averaged points with seed-std error bars."""
    plots = {}
    variants = summary["variants"]
    correlation = {(c["pe_score"], c["task"]): c for c in summary["correlations"]}
    for score in ("locality", "symmetry", "symmetry_mass"):
        fig, axes = plt.subplots(1, max(len(tasks), 1), figsize=(4.6 * max(len(tasks), 1), 4.2), squeeze=False)
        for ax, task in zip(axes[0], tasks):
            points = []
            for label, v in variants.items():
                x, xe = _mean_and_error(v[score])
                y, ye = _mean_and_error(v["tasks"].get(task))
                if x is None or y is None:
                    continue
                points.append((x, y))
                ax.errorbar(x, y, xerr=xe, yerr=ye, fmt="o", color=colours[label], label=label, markersize=6,
                            markeredgecolor="black", markeredgewidth=0.4, capsize=2)
            c = correlation.get((score, task))
            if c and c["spearman_rho"] is not None:
                ax.set_title(f"{task}\nSpearman ρ={c['spearman_rho']:.2f}, Holm p={c['spearman_p_holm']:.2g} "
                             f"(n={c['n']})", fontsize=9)
            else:
                ax.set_title(task, fontsize=9)
            ax.set_xlabel(f"{METRIC_TITLES[score]} of the pretrained model")
            ax.set_ylabel(f"{task} dev score")
            ax.grid(alpha=0.3)
        handles, names = axes[0][0].get_legend_handles_labels()
        unique = dict(zip(names, handles))
        fig.legend(unique.values(), unique.keys(), loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
        fig.suptitle(f"{METRIC_TITLES[score]} vs downstream score (mean ± std over seeds)")
        fig.tight_layout()
        plots[f"{score} vs score"] = _save(fig, out / f"scatter_{score}.png")
        plt.close(fig)
    return plots


def position_attention(out: Path, summary: dict, plt) -> dict:
    """Identical-token attention of each variant's pretrained model (mean over layers, heads and seeds)."""
    matrices: dict[str, list] = {}
    for r in summary["runs"]:
        if not r["failure"] and r["position_matrix"] is not None:
            matrices.setdefault(r["variant"], []).append(np.array(r["position_matrix"]))
    if not matrices:
        return {}
    columns = min(4, len(matrices))
    rows = math.ceil(len(matrices) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.0 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (label, stack) in zip(axes.flat, matrices.items()):
        ax.axis("on")
        image = ax.imshow(np.mean(stack, axis=0), cmap="viridis", vmin=0)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("key position", fontsize=8)
        ax.set_ylabel("query position", fontsize=8)
        fig.colorbar(image, ax=ax, fraction=0.046, label="attention")
    fig.suptitle("Identical-token attention, mean over layers, heads and seeds (pretrained models)")
    fig.tight_layout()
    name = _save(fig, out / "position_attention.png")
    plt.close(fig)
    return {"position attention": name}


def _bars(ax, variants: dict, key: str, names: list[str], colours, baseline: float):
    width = 0.8 / max(len(variants), 1)
    for i, (label, v) in enumerate(variants.items()):
        means, errors = [], [[], []]
        for p in names:
            entry = v[key].get(p) or {}
            mean = entry.get("mean")
            means.append(baseline if mean is None else mean)
            ci = entry.get("ci95") or [mean, mean]
            errors[0].append(0.0 if mean is None or ci[0] is None else mean - ci[0])
            errors[1].append(0.0 if mean is None or ci[1] is None else ci[1] - mean)
        xs = np.arange(len(names)) + i * width - 0.4 + width / 2
        ax.bar(xs, np.array(means) - baseline, width, bottom=baseline, yerr=errors, label=label,
               color=colours.get(label), capsize=2)
    ax.axhline(baseline, color="black", linewidth=0.8)
    ax.set_xticks(np.arange(len(names)), [display_name(p) for p in names])
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="best")


def probes(out: Path, summary: dict, plt, colours, order) -> dict:
    plots = {}
    variants = summary["variants"]
    for key, baseline, ylabel, title, name, file in (
        ("zero_shot_pll_preference", 50.0, "original preferred (%, 50 = chance)",
         "Zero-shot word-order probe: PLL preference for the original", "zero-shot probe", "probe_zero_shot.png"),
        ("probe_nli_deltas", 0.0, "Δ accuracy vs original (points)",
         "NLI probe: change in accuracy per perturbation", "NLI probe", "probe_deltas.png"),
    ):
        perturbations = sorted({p for v in variants.values() for p in v[key]}, key=order)
        if not perturbations:
            continue
        fig, ax = plt.subplots(figsize=(max(8, 1.3 * len(perturbations) + 0.3 * len(variants)), 4.5))
        _bars(ax, variants, key, perturbations, colours, baseline)
        ax.set_ylabel(ylabel)
        ax.set_title(f"{title} (95 % interval over seeds)")
        fig.tight_layout()
        plots[name] = _save(fig, out / file)
        plt.close(fig)
    return plots


def length_generalisation(out: Path, summary: dict, plt, colours) -> dict:
    """Masked-token loss against input length (multiples of the pretraining length), with the corpus floors."""
    variants = summary["variants"]
    multiples = sorted({m for v in variants.values() for m in v["mlm"]}, key=int)
    if not multiples:
        return {}
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for label, v in variants.items():
        xs, ys, errors = [], [], []
        for m in multiples:
            entry = v["mlm"].get(m, {})
            if entry.get("applicable") and entry.get("loss", {}).get("mean") is not None:
                xs.append(int(m))
                ys.append(entry["loss"]["mean"])
                errors.append(entry["loss"].get("std") or 0.0)
        if xs:
            bounded = len(xs) < len(multiples)
            ax.errorbar(xs, ys, yerr=errors, marker="o", capsize=2, color=colours[label],
                        linestyle=":" if bounded else "-",
                        label=label + (" (absolute: longer n/a)" if bounded else ""))
    floors = summary["corpus"].get("floors", {})
    first = floors.get(multiples[0], {})
    if first.get("bayes_loss") is not None:
        ax.axhline(first["unigram_loss"], color="grey", linestyle="--", linewidth=1, label="unigram (no context)")
        ax.axhline(first["bayes_loss"], color="black", linestyle="--", linewidth=1, label="Bayes-optimal floor")
    ax.set_xscale("log", base=2)
    ax.set_xticks([int(m) for m in multiples], [f"{m}×" for m in multiples])
    ax.set_xlabel(f"input length (× the pretraining length, {summary['config']['max_seq_length']} tokens)")
    ax.set_ylabel("masked-token loss (nats)")
    ax.set_title("Length generalisation (mean ± std over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    name = _save(fig, out / "length_generalisation.png")
    plt.close(fig)
    return {"length generalisation": name}


def write_plots(out: Path, summary: dict, tasks: list[str]) -> dict:
    from .report import perturbation_order

    plt = _pyplot()
    colours = _colours(plt, list(summary["variants"]))
    plots = {}
    plots.update(length_generalisation(out, summary, plt, colours))
    plots.update(scatter(out, summary, tasks, plt, colours))
    plots.update(position_attention(out, summary, plt))
    plots.update(probes(out, summary, plt, colours, perturbation_order))
    return plots


__all__ = ["write_plots"]
