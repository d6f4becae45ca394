"""Perturbations by name, applied to any input kind (annotated `Sentence`, raw text, or a word list).

Names: shuffle-N (any N >= 2; the paper uses 3..6), random, swap-adjacent (BShift), shuffle-sr (agent/patient swap).

Each perturbation is declared once, as a `PerturbationSpec` given to `register_perturbation`: its name (or, for a
family such as shuffle-N, a pattern), the function that applies it, how tables write it and whether it swaps
semantic roles. The probes (`nli_probe`, `zero_shot_probe`), their command line and the study's tables and plots
find it by name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class PerturbationSpec:
    """One word-order perturbation, declared once.

    `apply(name, item, seed, **kwargs)` perturbs one item (an annotated `Sentence`, raw text or a word list; see
    `words_of`) and returns a `Perturbation`. `display`: how tables and plots write it (None: the name,
    capitalised). `swaps_roles`: it swaps semantic roles (agent <-> patient), so the NLI probe keeps only entailment
    pairs and expects a contradiction, and the probes pass it their parser options (`nlp=`). A family of names
    (shuffle-N) gives a `pattern` (a regular expression its names match), an `example` name and a `check` that
    rejects a member that cannot work."""

    name: str
    apply: Callable[..., Perturbation]
    description: str
    display: str | None = None
    swaps_roles: bool = False
    pattern: str | None = None
    example: str | None = None
    check: Callable[[str], None] | None = None

    def matches(self, name: str) -> bool:
        return name == self.name if self.pattern is None else re.fullmatch(self.pattern, name) is not None

    def display_name(self, name: str) -> str:
        return self.display or name.capitalize()

    def usage(self) -> str:
        return self.name if self.example is None else f"{self.name} (e.g. {self.example})"


PERTURBATIONS: dict[str, PerturbationSpec] = {}  # name -> spec, in the order they were registered


def register_perturbation(spec: PerturbationSpec) -> PerturbationSpec:
    """Add `spec` to the perturbations every probe can run by name; returns it. Its name must be new."""
    if spec.name in PERTURBATIONS:
        raise ValueError(f"A perturbation named {spec.name!r} is already registered.")
    PERTURBATIONS[spec.name] = spec
    return spec


def find_perturbation(name: str) -> PerturbationSpec:
    """The registered perturbation that `name` (normalised: stripped, lower case) names; a ValueError listing the
    valid names otherwise."""
    name = name.strip().lower()
    spec = PERTURBATIONS.get(name) or next((s for s in PERTURBATIONS.values() if s.matches(name)), None)
    if spec is None:
        valid = ", ".join(s.usage() for s in PERTURBATIONS.values())
        raise ValueError(f"Unknown perturbation {name!r}; use one of: {valid}.")
    return spec


def validate_perturbation_names(names: Sequence[str]) -> tuple[str, ...]:
    """Normalise and check perturbation names, failing with the list of valid ones."""
    out = []
    for name in names:
        name = name.strip().lower()
        spec = find_perturbation(name)
        if spec.check is not None:
            spec.check(name)
        out.append(name)
    return tuple(out)


def perturbation_order(name: str) -> tuple[int, str]:
    """Sort key: perturbations in the registry's order (unknown names last, alphabetically)."""
    order = list(DEFAULT_ZERO_SHOT_PERTURBATIONS)
    return (order.index(name) if name in order else len(order), name)


def display_name(name: str) -> str:
    """How tables and plots write perturbation `name` ('shuffle-3' -> 'Shuffle-3', 'swap-adjacent' -> 'BShift');
    an unknown name, capitalised."""
    try:
        return find_perturbation(name).display_name(name)
    except ValueError:
        return name.capitalize()


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
    return find_perturbation(name).apply(name, item, seed, **kwargs)


# ------------------------------------------------------------------------------------------------ the built-in ones

_SHUFFLE_N = r"shuffle-(\d+)"


def _window(name: str) -> int:
    return int(re.fullmatch(_SHUFFLE_N, name).group(1))


def _check_window(name: str) -> None:
    if _window(name) < 2:
        raise ValueError(
            f"Perturbation {name!r} shuffles windows of {_window(name)} word(s), which changes "
            "nothing: use shuffle-N with N >= 2 (the paper uses 3 to 6)."
        )


def _on_words(perturbation: Callable[..., Perturbation]) -> Callable[..., Perturbation]:
    """A perturbation of word lists, `perturbation(words, seed, **kwargs)`, applied to any input kind (`words_of`)."""
    return lambda name, item, seed, **kwargs: perturbation(words_of(item), seed, **kwargs)


register_perturbation(
    PerturbationSpec(
        "shuffle-N",
        lambda name, item, seed, **kwargs: shuffle_windows(words_of(item), _window(name), seed, **kwargs),
        "Shuffle-n: derange the words inside consecutive windows of n words",
        pattern=_SHUFFLE_N,
        example="shuffle-3",
        check=_check_window,
    )
)


register_perturbation(PerturbationSpec("random", _on_words(random_shuffle), "Random: derange the sentence", "Random"))
register_perturbation(
    PerturbationSpec("swap-adjacent", _on_words(swap_adjacent), "BShift (SentEval): swap two adjacent words", "BShift")
)
register_perturbation(
    PerturbationSpec(
        "shuffle-sr",
        lambda name, item, seed, **kwargs: swap_roles(item, **kwargs),
        "Shuffle-SR: swap the agent and the patient (exact on the built-in sentences; spaCy for text)",
        display="Shuffle-SR",
        swaps_roles=True,
    )
)


__all__ = [
    "DEFAULT_ZERO_SHOT_PERTURBATIONS",
    "PAPER_PERTURBATIONS",
    "PERTURBATIONS",
    "PerturbationSpec",
    "derive_seed",
    "display_name",
    "find_perturbation",
    "perturb",
    "perturbation_order",
    "register_perturbation",
    "validate_perturbation_names",
    "words_of",
]
