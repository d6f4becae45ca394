"""The manipulation check, made before anything trains: does each knob of the grid move the one property it names?

Each cell's model is built at initialisation and probed with identical tokens (`position_attention`): content is
constant, so its attention is the PE's alone, and with the attenuated prior that is the prior itself, whatever the
weights (training cannot change it). So the check measures, before pretraining, exactly what every cell's PE does:

* locality by w: at every s, the spread of locality across w (what the locality knob moves);
* cross effects: at every w, how much s moves locality, and at every s, how much w moves symmetry — each at most
  `max_cross_effect`;
* position information on both sides: in every cell, the prior's weight falls by at least
  `MIN_SIDE_DECAY_NATS` between distance 1 and `SIDE_DISTANCE` on each side of the query (a one-sided prior, as
  s = 0 of the published form, leaves one side without any).
"""

from __future__ import annotations

import math

from .grid import knob_values, level

MIN_SIDE_DECAY_NATS = 1.0
SIDE_DISTANCE = 8  # about a sentence of the built-in language (9.4 words on average)


def manipulation_check(config, max_cross_effect: float) -> dict:
    """Identical-token locality and symmetry (mass and published) of every grid cell, the knobs' cross effects and
    the side check; `passed` says whether every criterion holds. Empty without a grid."""
    import torch

    from ..analysis import position_attention
    from ..configuration import PEBertConfig
    from ..modeling import PEBertModel

    grid = config.attenuated_grid()
    if not grid:
        return {}
    seq_len = config.position_seq_len
    cells = []
    for w, s in grid:
        spec = next(v for v in config.variant_specs() if knob_values(v.overrides) == (w, s))
        torch.manual_seed(0)  # the check does not depend on the weights; seeded anyway
        model = PEBertModel(PEBertConfig(**config.model_kwargs(), vocab_size=8, **spec.config_kwargs())).eval()
        probe = position_attention(model, seq_len)
        bias = model.embeddings.position_embeddings.position_bias(seq_len)
        middle = seq_len // 2
        reach = min(SIDE_DISTANCE, middle, seq_len - 1 - middle)
        row = bias[0, 0, middle].double()
        left = float(row[middle - 1] - row[middle - reach])
        right = float(row[middle + 1] - row[middle + reach])
        cells.append(
            {
                "w": w,
                "s": s,
                "variant": spec.label,
                "locality": probe.mean("locality"),
                "symmetry_mass": probe.mean("symmetry_mass"),
                "symmetry": probe.mean("symmetry"),
                "decay_left_nats": left,
                "decay_right_nats": right,
                "side_distance": reach,
            }
        )

    def spread(values) -> float:
        return max(values) - min(values)

    ws, ss = list(dict.fromkeys(w for w, _ in grid)), list(dict.fromkeys(s for _, s in grid))
    s_moves_locality = {level(w): spread([c["locality"] for c in cells if c["w"] == w]) for w in ws}
    w_moves_symmetry = {level(s): spread([c["symmetry_mass"] for c in cells if c["s"] == s]) for s in ss}
    w_moves_locality = {level(s): spread([c["locality"] for c in cells if c["s"] == s]) for s in ss}
    s_moves_symmetry = {level(w): spread([c["symmetry_mass"] for c in cells if c["w"] == w]) for w in ws}
    weakest_side = min(min(c["decay_left_nats"], c["decay_right_nats"]) for c in cells)
    checks = {
        "symmetry knob keeps locality": max(s_moves_locality.values()) <= max_cross_effect,
        "locality knob keeps symmetry": max(w_moves_symmetry.values()) <= max_cross_effect,
        "position information on both sides": weakest_side >= MIN_SIDE_DECAY_NATS,
    }
    return {
        "seq_len": seq_len,
        "max_cross_effect": max_cross_effect,
        "min_side_decay_nats": MIN_SIDE_DECAY_NATS,
        "cells": cells,
        "s_moves_locality": s_moves_locality,
        "w_moves_symmetry": w_moves_symmetry,
        "w_moves_locality": w_moves_locality,
        "s_moves_symmetry": s_moves_symmetry,
        "weakest_side_decay_nats": weakest_side if math.isfinite(weakest_side) else None,
        "checks": checks,
        "passed": all(checks.values()),
    }


__all__ = ["MIN_SIDE_DECAY_NATS", "SIDE_DISTANCE", "manipulation_check"]
