"""Probe reports as the paper's table (markdown) and as a bar chart of deltas with bootstrap error bars."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .registry import display_name


def _as_dict(report: Any) -> dict:
    return report.to_dict() if hasattr(report, "to_dict") else dict(report)


def save_json(report: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_as_dict(report), indent=2, default=str) + "\n")
    return path


def _points(value: float, signed: bool = True) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{100 * value:+.1f}" if signed else f"{100 * value:.1f}"


def _with_ci(value: float, ci: Sequence[float] | None, signed: bool = True) -> str:
    text = _points(value, signed)
    if ci and not any(math.isnan(c) for c in ci):
        text += f" [{_points(ci[0], signed)}, {_points(ci[1], signed)}]"
    return text


def _perturbation_columns(reports: Sequence[dict]) -> list[str]:
    names: list[str] = []
    for report in reports:
        names += [n for n in report["results"] if n not in names]
    return names


def nli_table(reports: Sequence[Any]) -> str:
    """The paper's layout: one row per model; Original accuracy (%), then Δ accuracy in points per perturbation,
    with the 95 % bootstrap interval in brackets. Shuffle-SR's Δ is against the same entailment pairs' originals."""
    reports = [_as_dict(r) for r in reports]
    names = _perturbation_columns(reports)
    lines = [
        "| Model | Original | " + " | ".join(display_name(n) for n in names) + " |",
        "|---|---:|" + "---:|" * len(names),
    ]
    for report in reports:
        cells = []
        for name in names:
            entry = report["results"].get(name, {})
            cells.append(
                "skipped"
                if "skipped" in entry or "delta" not in entry
                else _with_ci(entry["delta"], entry.get("delta_ci"))
            )
        lines.append(
            f"| {report['model']} | {_points(report['original']['accuracy'], signed=False)} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def zero_shot_table(reports: Sequence[Any]) -> str:
    """One row per model and metric: drift (1 - cos, x100) and PLL preference (% originals preferred; 50 = chance)."""
    reports = [_as_dict(r) for r in reports]
    names = _perturbation_columns(reports)
    lines = [
        "| Model | Metric | " + " | ".join(display_name(n) for n in names) + " |",
        "|---|---|" + "---:|" * len(names),
    ]
    for report in reports:
        for metric, label, key, ci_key in (
            ("drift", "drift (1-cos) x100", "mean", "ci"),
            ("pll", "PLL prefers original (%)", "preference", "preference_ci"),
        ):
            if not any(metric in report["results"][n] for n in report["results"]):
                continue
            cells = []
            for name in names:
                entry = report["results"].get(name, {}).get(metric)
                cells.append("n/a" if entry is None else _with_ci(entry[key], entry.get(ci_key), signed=False))
            lines.append(f"| {report['model']} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_table(reports: Sequence[Any]) -> str:
    """The right table for the reports' kind (all reports must be of one kind: "nli" or "zero-shot")."""
    kinds = {_as_dict(r)["kind"] for r in reports}
    if len(kinds) != 1:
        raise ValueError(f"markdown_table: reports mix kinds {sorted(kinds)}; tabulate each kind separately.")
    return nli_table(reports) if kinds == {"nli"} else zero_shot_table(reports)


def _bars(ax, labels, values, cis, color):
    import numpy as np

    values = np.asarray(values, dtype=float)
    # matplotlib wants distances below/above each bar; a missing interval draws no bar.
    errors = np.array([[v - ci[0], ci[1] - v] if ci else [0.0, 0.0] for v, ci in zip(values, cis)]).reshape(-1, 2).T
    positions = np.arange(len(labels))
    ax.bar(
        positions,
        values,
        color=color,
        edgecolor="black",
        linewidth=0.6,
        yerr=errors if len(values) else None,
        capsize=4,
        error_kw={"elinewidth": 1},
    )
    ax.set_xticks(positions, labels)
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.grid(axis="y", alpha=0.3)


def plot_deltas(report: Any, path: str | Path) -> Path:
    """Bar chart of the per-perturbation effect with 95 % bootstrap error bars and a zero line (PNG).

    NLI: Δ accuracy (points) per perturbation. Zero-shot: drift (x100) and, when scored, PLL preference minus
    chance (points; 0 = cannot tell the orders apart).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    report = _as_dict(report)
    names = [n for n, e in report["results"].items() if "skipped" not in e]
    labels = [display_name(n) for n in names]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if report["kind"] == "nli":
        fig, ax = plt.subplots(figsize=(1.1 * len(names) + 3, 4))
        entries = [report["results"][n] for n in names]
        # Shuffle-SR uses a subset (entailment pairs with an agent and a patient): show its size.
        labels = [
            label if e.get("n", report["original"]["n"]) == report["original"]["n"] else f"{label}\n(n={e['n']})"
            for label, e in zip(labels, entries)
        ]
        _bars(
            ax,
            labels,
            [100 * e["delta"] for e in entries],
            [[100 * c for c in e["delta_ci"]] if e.get("delta_ci") else None for e in entries],
            "#4C72B0",
        )
        ax.set_ylabel("Δ accuracy vs original (points)")
        ax.set_xlabel("perturbation (error bars: 95% paired bootstrap CI)")
        ax.set_title(
            f"Word-order probe on {report['model']}\n"
            f"original accuracy {100 * report['original']['accuracy']:.1f}% "
            f"(n={report['original']['n']}, {report['settings'].get('field', 'hypothesis')} perturbed)"
        )
    else:
        metrics = [m for m in ("drift", "pll") if any(m in report["results"][n] for n in names)]
        fig, axes = plt.subplots(1, len(metrics), figsize=((1.0 * len(names) + 2.5) * len(metrics), 4), squeeze=False)
        for ax, metric in zip(axes[0], metrics):
            entries = [report["results"][n].get(metric) for n in names]
            if metric == "drift":
                values = [100 * e["mean"] for e in entries]
                cis = [[100 * c for c in e["ci"]] if e.get("ci") else None for e in entries]
                ax.set_ylabel("drift: 1 − cos(original, perturbed) × 100")
                ax.set_title("Representation drift")
                color = "#DD8452"
            else:
                values = [100 * (e["preference"] - 0.5) for e in entries]
                cis = [
                    [100 * (c - 0.5) for c in e["preference_ci"]] if e.get("preference_ci") else None for e in entries
                ]
                ax.set_ylabel("PLL prefers original − chance (points)")
                ax.set_title("Pseudo-log-likelihood preference")
                color = "#55A868"
            _bars(ax, labels, values, cis, color)
            ax.set_xlabel("perturbation (error bars: 95% bootstrap CI)")
        fig.suptitle(
            f"Zero-shot word-order probe on {report['model']} "
            f"(n={report['settings'].get('n_sentences', '?')} sentences)"
        )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
