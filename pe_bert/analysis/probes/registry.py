"""Perturbations by name, applied to any input kind (annotated `Sentence`, raw text, or a word list).

Names: shuffle-N (any N >= 2; the paper uses 3..6), random, swap-adjacent (BShift), shuffle-sr (agent/patient swap).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from .perturbations import Perturbation, random_shuffle, shuffle_windows, split_words, swap_adjacent
from .roles import is_annotated, swap_roles

PAPER_PERTURBATIONS = ("shuffle-3", "shuffle-4", "shuffle-5", "shuffle-6", "random", "shuffle-sr")
DEFAULT_ZERO_SHOT_PERTURBATIONS = (
    "shuffle-3",
    "shuffle-4",
    "shuffle-5",
    "shuffle-6",
    "random",
    "swap-adjacent",
    "shuffle-sr",
)
_SHUFFLE_N = re.compile(r"shuffle-(\d+)$")


def validate_perturbation_names(names: Sequence[str]) -> tuple[str, ...]:
    """Normalise and check perturbation names, failing with the list of valid ones."""
    out = []
    for name in names:
        name = name.strip().lower()
        if not (_SHUFFLE_N.match(name) or name in ("random", "swap-adjacent", "shuffle-sr")):
            raise ValueError(
                f"Unknown perturbation {name!r}; use shuffle-N (e.g. shuffle-3), random, swap-adjacent or shuffle-sr."
            )
        window = _SHUFFLE_N.match(name)
        if window and int(window.group(1)) < 2:
            raise ValueError(
                f"Perturbation {name!r} shuffles windows of {window.group(1)} word(s), which changes "
                "nothing: use shuffle-N with N >= 2 (the paper uses 3 to 6)."
            )
        out.append(name)
    return tuple(out)


def perturbation_order(name: str) -> tuple[int, str]:
    """Sort key: perturbations in the registry's order (unknown names last, alphabetically)."""
    order = list(DEFAULT_ZERO_SHOT_PERTURBATIONS)
    return (order.index(name) if name in order else len(order), name)


def words_of(item: Any) -> list:
    """The word list of an annotated sentence, raw text (see `split_words`) or an existing word list."""
    if is_annotated(item):
        return list(item.words)
    if isinstance(item, str):
        return split_words(item)
    return list(item)


def derive_seed(seed: int, index: int) -> int:
    """An independent, reproducible seed for example `index` (same across perturbations and runs)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def perturb(name: str, item: Any, seed: int = 0, **kwargs) -> Perturbation:
    """Apply the perturbation `name` to one item. `kwargs` go to the perturbation (e.g. `nlp=` for shuffle-sr)."""
    (name,) = validate_perturbation_names([name])
    if name == "shuffle-sr":
        return swap_roles(item, **kwargs)
    words = words_of(item)
    if name == "random":
        return random_shuffle(words, seed, **kwargs)
    if name == "swap-adjacent":
        return swap_adjacent(words, seed, **kwargs)
    return shuffle_windows(words, int(_SHUFFLE_N.match(name).group(1)), seed, **kwargs)
