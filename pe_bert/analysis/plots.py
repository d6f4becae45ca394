"""PNG figures for analysis results (matplotlib, no pyplot state: safe in scripts and tests)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

__all__ = ["score_heatmaps", "attention_grid"]


def _save(figure: Figure, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    return path


def score_heatmaps(
    panels: Mapping[str, torch.Tensor], layers: Sequence[int], path, title: str = ""
) -> Path:
    """One layer x head heatmap per panel (``{title: [layers, heads]}``), side by side, with colourbars.

    Every panel shares the ``[0, 1]`` colour scale of the scores; undefined (NaN) cells are grey.
    """
    num_panels = len(panels)
    num_layers, num_heads = next(iter(panels.values())).shape
    width = max(3.5, 0.35 * num_heads + 1.5)
    height = max(2.5, 0.35 * num_layers + 1.2)
    figure = Figure(figsize=(width * num_panels, height), layout="constrained")
    axes = figure.subplots(1, num_panels, squeeze=False)[0]
    for ax, (panel_title, values) in zip(axes, panels.items()):
        data = np.ma.masked_invalid(torch.as_tensor(values, dtype=torch.float64).numpy())
        cmap = _viridis_with_grey()
        image = ax.imshow(data, vmin=0.0, vmax=1.0, cmap=cmap, aspect="auto", interpolation="nearest")
        ax.set_title(f"{panel_title}\nmean {np.nanmean(data.filled(np.nan)):.3f}" if data.count() else panel_title)
        ax.set_xlabel("head")
        ax.set_ylabel("layer")
        ax.set_xticks(range(num_heads))
        ax.set_yticks(range(num_layers), [str(layer) for layer in layers])
        ax.tick_params(labelsize=7)
        figure.colorbar(image, ax=ax, shrink=0.9, label="score")
    if title:
        figure.suptitle(title)
    return _save(figure, path)


def attention_grid(
    attentions: torch.Tensor,
    path,
    title: str = "",
    row_label: str = "layer",
    rows: Sequence[int] | None = None,
    colorbar_label: str = "attention probability",
    symmetric_colors: bool = False,
) -> Path:
    """Grid of ``[rows, heads, n, n]`` matrices (rows = layers by default), one shared colourbar.

    ``symmetric_colors`` centres a diverging colour map on 0 (for logit biases, which can be
    negative); otherwise the scale runs from 0 to the largest value.
    """
    values = torch.as_tensor(attentions, dtype=torch.float32).detach().cpu()
    num_rows, num_heads = values.shape[:2]
    rows = list(range(num_rows)) if rows is None else list(rows)
    finite = values[torch.isfinite(values)]
    if symmetric_colors:
        bound = float(finite.abs().max()) if finite.numel() else 1.0
        vmin, vmax, cmap = -bound or -1.0, bound or 1.0, "RdBu_r"
    else:
        vmin, vmax, cmap = 0.0, (float(finite.max()) if finite.numel() else 1.0) or 1.0, "viridis"
    cell = 1.6 if num_heads <= 8 else 1.1
    figure = Figure(figsize=(cell * num_heads + 1.2, cell * num_rows + 0.8), layout="constrained")
    axes = figure.subplots(num_rows, num_heads, squeeze=False)
    image = None
    for r in range(num_rows):  # plotting only: one small subplot per matrix is inherent
        for h in range(num_heads):
            ax = axes[r][h]
            image = ax.imshow(values[r, h].numpy(), vmin=vmin, vmax=vmax, cmap=cmap, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"head {h}", fontsize=8)
            if h == 0:
                ax.set_ylabel(f"{row_label} {rows[r]}\nquery", fontsize=8)
            if r == num_rows - 1:
                ax.set_xlabel("key", fontsize=8)
    figure.colorbar(image, ax=axes, shrink=0.8, label=colorbar_label)
    if title:
        figure.suptitle(title)
    return _save(figure, path)


def _viridis_with_grey():
    from matplotlib import colormaps

    return colormaps["viridis"].with_extremes(bad="lightgrey")
