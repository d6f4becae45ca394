"""The intervention's grid, stated once: the PE it varies, its two knobs and how a knob's level is written.

The study varies the attenuated prior (`pe_bert.pe_attenuated`) over a grid of localities w x symmetries s. Each
knob is one PE hyper-parameter, named by a one-letter factor in the tests and tables, and moves one measured
property of attention (what the manipulation check and the paper's correlational form read). The config builds
the grid's variants from these declarations, the hypotheses test them, the report and the docs write them.
"""

from __future__ import annotations

from dataclasses import dataclass

ATTENUATED = "attenuated"  # the PE whose prior the grid varies


@dataclass(frozen=True)
class Knob:
    """One axis of the grid: its `factor` (the letter of tests and tables), the PE hyper-parameter it sets and the
    measured property of attention that it moves."""

    factor: str
    parameter: str
    property: str


LOCALITY = Knob("w", "locality_w", "locality")
SYMMETRY = Knob("s", "symmetry_s", "symmetry_mass")
KNOBS = (LOCALITY, SYMMETRY)
FACTORS = tuple(knob.factor for knob in KNOBS)  # ("w", "s"): the two factors of the grid's ANOVA, in this order


def level(value: float) -> str:
    """A knob's level as labels, tables and results.json write it (`0.1`, `2`)."""
    return f"{value:g}"


def variant_label(w: float, s: float) -> str:
    """The label of the grid's variant at (w, s)."""
    return f"{ATTENUATED}-{LOCALITY.factor}{level(w)}-{SYMMETRY.factor}{level(s)}"


def knob_values(overrides: dict) -> tuple[float, float] | None:
    """A variant's (w, s) cell from its PE overrides; None when it is not a cell of the grid."""
    if not all(knob.parameter in overrides for knob in KNOBS):
        return None
    return overrides[LOCALITY.parameter], overrides[SYMMETRY.parameter]


__all__ = ["ATTENUATED", "FACTORS", "KNOBS", "LOCALITY", "SYMMETRY", "Knob", "knob_values", "level", "variant_label"]
