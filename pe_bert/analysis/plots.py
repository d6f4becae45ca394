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


def score_heatmaps(panels: Mapping[str, torch.Tensor], layers: Sequence[int], path, title: str = "") -> Path:
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
    """Mosaic of ``[rows, heads, n, n]`` matrices (rows = layers by default) with one colourbar.

    The matrices are tiled into one image (one ``imshow``, fast even for 12 x 12 heads) separated
    by blank lines; inside each tile, rows are query positions and columns key positions.
    ``symmetric_colors`` centres a diverging colour map on 0 (for logit biases, which can be
    negative); otherwise the scale runs from 0 to the largest value.
    """
    values = torch.as_tensor(attentions, dtype=torch.float32).detach().cpu()
    num_rows, num_heads, n = values.shape[0], values.shape[1], values.shape[-1]
    rows = list(range(num_rows)) if rows is None else list(rows)
    finite = values[torch.isfinite(values)]
    if symmetric_colors:
        bound = (float(finite.abs().max()) if finite.numel() else 0.0) or 1.0
        vmin, vmax, cmap_name = -bound, bound, "RdBu_r"
    else:
        vmin, vmax, cmap_name = 0.0, (float(finite.max()) if finite.numel() else 0.0) or 1.0, "viridis"
    # Pad every tile with one NaN row and column (drawn blank), then tile: [rows*(n+1), heads*(n+1)].
    tiles = torch.nn.functional.pad(values, (0, 1, 0, 1), value=float("nan"))
    mosaic = tiles.permute(0, 2, 1, 3).reshape(num_rows * (n + 1), num_heads * (n + 1))[:-1, :-1]

    from matplotlib import colormaps

    cmap = colormaps[cmap_name].with_extremes(bad="white")
    tile_inches = max(0.6, min(1.6, 10.0 / max(num_heads, num_rows)))
    figure = Figure(figsize=(tile_inches * num_heads + 1.8, tile_inches * num_rows + 1.0), layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(mosaic.numpy(), vmin=vmin, vmax=vmax, cmap=cmap, interpolation="nearest")
    centres = [i * (n + 1) + (n - 1) / 2 for i in range(max(num_heads, num_rows))]
    ax.set_xticks(centres[:num_heads], [str(h) for h in range(num_heads)])
    ax.set_yticks(centres[:num_rows], [str(r) for r in rows])
    ax.set_xlabel("head  (in each tile: key position, left to right)")
    ax.set_ylabel(f"{row_label}\n(in each tile: query position, top to bottom)")
    ax.tick_params(length=0, labelsize=8)
    for side in ax.spines.values():
        side.set_visible(False)
    figure.colorbar(image, ax=ax, shrink=0.8, label=colorbar_label)
    if title:
        ax.set_title(title)
    return _save(figure, path)


def _viridis_with_grey():
    from matplotlib import colormaps

    return colormaps["viridis"].with_extremes(bad="lightgrey")
