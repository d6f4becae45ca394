"""The study's plots, drawn from the summary that results.json holds (so a plot never shows another number)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..analysis.capture import METRIC_TITLES
from ..analysis.probes.registry import display_name, perturbation_order
from .grid import level
from .record_types import Summary, runs_of, variants_of
from .sections import grid_of

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
    palette = plt.cm.tab20 if len(labels) > 10 else plt.cm.tab10
    return {label: palette(i % palette.N) for i, label in enumerate(labels)}


def _mean_and_error(entry):
    if not entry or entry.get("mean") is None:
        return None, 0.0
    return entry["mean"], entry.get("std") or 0.0


def scatter(out: Path, summary: dict, plt, colours) -> dict:
    """The word-order score of every variant against its measured locality and symmetry (seed means ± std)."""
    variants = {k: v for k, v in variants_of(summary).items() if v.outcome["mean"] is not None}
    if not variants:
        return {}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), squeeze=False)
    for ax, score in zip(axes[0], ("locality", "symmetry_mass")):
        for label, v in variants.items():
            x, xe = _mean_and_error(v.attention[score])
            y, ye = _mean_and_error(v.outcome)
            if x is None:
                continue
            anchor = not v.overrides
            ax.errorbar(
                x,
                y,
                xerr=xe,
                yerr=ye,
                fmt="s" if anchor else "o",
                color=colours[label],
                label=label,
                markersize=7 if anchor else 5,
                markeredgecolor="black",
                markeredgewidth=0.4,
                capsize=2,
            )
        ax.set_xlabel(f"{METRIC_TITLES[score]} of the pretrained model's attention (sentences)")
        ax.set_ylabel("word-order score (points)")
        ax.grid(alpha=0.3)
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7)
    fig.suptitle("Word-order score vs measured locality and symmetry (mean ± std over seeds; squares: anchors)")
    fig.tight_layout()
    name = _save(fig, out / "scatter_properties.png")
    plt.close(fig)
    return {"properties vs word-order score": name}


def grid_heatmaps(out: Path, summary: dict, plt) -> dict:
    """The (w, s) grid: the word-order score and the measured locality and symmetry, cell means over seeds."""
    grid = grid_of(summary)
    if not grid:
        return {}
    ws = sorted({g.w for g in grid})
    ss = sorted({g.s for g in grid}, reverse=True)
    panels = (
        ("outcome", "word-order score (points)", "viridis"),
        ("locality", "locality (sentences)", "magma"),
        ("symmetry_mass", "symmetry, mass (sentences)", "cividis"),
    )
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.8), squeeze=False)
    for ax, (key, title, cmap) in zip(axes[0], panels):
        values = np.full((len(ss), len(ws)), np.nan)
        for g in grid:
            mean = getattr(g.final, key)["mean"]
            if mean is not None:
                values[ss.index(g.s), ws.index(g.w)] = mean
        image = ax.imshow(values, cmap=cmap, aspect="auto")
        for (row, column), value in np.ndenumerate(values):
            if np.isfinite(value):
                ax.text(
                    column,
                    row,
                    f"{value:.1f}" if key == "outcome" else f"{value:.2f}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if value < np.nanmean(values) else "black",
                )
        ax.set_xticks(range(len(ws)), [level(w) for w in ws])
        ax.set_yticks(range(len(ss)), [level(s) for s in ss])
        ax.set_xlabel("w (larger: more local)")
        ax.set_ylabel("s (1: symmetric)")
        ax.set_title(title, fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.046)
    fig.suptitle("The attenuated grid: cell means over seeds")
    fig.tight_layout()
    name = _save(fig, out / "grid_heatmaps.png")
    plt.close(fig)
    return {"grid heatmaps": name}


def position_attention(out: Path, summary: dict, plt) -> dict:
    """Identical-token attention of each variant's pretrained model (mean over layers, heads and seeds)."""
    matrices: dict[str, list] = {}
    for r in runs_of(summary):
        if not r.failure and r.position_matrix is not None:
            matrices.setdefault(r.variant, []).append(np.array(r.position_matrix))
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


def _bars(ax, by_variant: dict[str, dict[str, Summary]], names: list[str], colours, baseline: float):
    """One bar per variant and perturbation (`by_variant`: label -> perturbation -> summary over seeds)."""
    width = 0.8 / max(len(by_variant), 1)
    for i, (label, summaries) in enumerate(by_variant.items()):
        means, errors = [], [[], []]
        for p in names:
            entry = summaries.get(p) or {}
            mean = entry.get("mean")
            means.append(baseline if mean is None else mean)
            ci = entry.get("ci95") or [mean, mean]
            errors[0].append(0.0 if mean is None or ci[0] is None else mean - ci[0])
            errors[1].append(0.0 if mean is None or ci[1] is None else ci[1] - mean)
        xs = np.arange(len(names)) + i * width - 0.4 + width / 2
        ax.bar(
            xs,
            np.array(means) - baseline,
            width,
            bottom=baseline,
            yerr=errors,
            label=label,
            color=colours.get(label),
            capsize=2,
        )
    ax.axhline(baseline, color="black", linewidth=0.8)
    ax.set_xticks(np.arange(len(names)), [display_name(p) for p in names])
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="best")


def probes(out: Path, summary: dict, plt, colours, order) -> dict:
    plots = {}
    variants = variants_of(summary)
    for numbers, baseline, ylabel, title, name, file in (
        (
            lambda v: v.zero_shot_pll_preference,
            50.0,
            "original preferred (%, 50 = chance)",
            "Zero-shot word-order probe: PLL preference for the original",
            "zero-shot probe",
            "probe_zero_shot.png",
        ),
        (
            lambda v: v.probe_nli_deltas,
            0.0,
            "Δ accuracy vs original (points)",
            "NLI probe: change in accuracy per perturbation",
            "NLI probe",
            "probe_deltas.png",
        ),
    ):
        by_variant = {label: numbers(v) for label, v in variants.items()}
        perturbations = sorted({p for summaries in by_variant.values() for p in summaries}, key=order)
        if not perturbations:
            continue
        fig, ax = plt.subplots(figsize=(max(8, 1.3 * len(perturbations) + 0.3 * len(variants)), 4.5))
        _bars(ax, by_variant, perturbations, colours, baseline)
        ax.set_ylabel(ylabel)
        ax.set_title(f"{title} (95 % interval over seeds)")
        fig.tight_layout()
        plots[name] = _save(fig, out / file)
        plt.close(fig)
    return plots


def length_generalisation(out: Path, summary: dict, plt, colours) -> dict:
    """Masked-token loss against input length (multiples of the pretraining length), with the corpus floors."""
    variants = variants_of(summary)
    multiples = sorted({m for v in variants.values() for m in v.mlm}, key=int)
    if not multiples:
        return {}
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for label, v in variants.items():
        xs, ys, errors = [], [], []
        for m in multiples:
            entry = v.mlm.get(m, {})
            if entry.get("applicable") and entry.get("loss", {}).get("mean") is not None:
                xs.append(int(m))
                ys.append(entry["loss"]["mean"])
                errors.append(entry["loss"].get("std") or 0.0)
        if xs:
            bounded = len(xs) < len(multiples)
            ax.errorbar(
                xs,
                ys,
                yerr=errors,
                marker="o",
                capsize=2,
                color=colours[label],
                linestyle=":" if bounded else "-",
                label=label + (" (absolute: longer n/a)" if bounded else ""),
            )
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
    plt = _pyplot()
    colours = _colours(plt, list(variants_of(summary)))
    plots = {}
    plots.update(grid_heatmaps(out, summary, plt))
    plots.update(scatter(out, summary, plt, colours))
    plots.update(length_generalisation(out, summary, plt, colours))
    plots.update(position_attention(out, summary, plt))
    plots.update(probes(out, summary, plt, colours, perturbation_order))
    return plots


__all__ = ["write_plots"]
