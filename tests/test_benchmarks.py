"""The benchmark scripts a user runs by hand still run against the package (a changed signature breaks them
silently otherwise); the quick ones run here end to end."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_power_study_plans_the_protocols_design_and_another(capsys):
    from pe_bert.study.protocol import PROTOCOL

    power_study = _load("power_study")
    assert power_study.main(["--simulations", "300"]) == 0
    default = capsys.readouterr().out
    assert power_study.main(["--simulations", "300", "--seeds", "2", "--sigma", str(2 * PROTOCOL.pilot_seed_std)]) == 0
    weaker = capsys.readouterr().out

    def detectable(text: str) -> dict[str, float]:
        return {m[0]: float(m[1]) for m in re.findall(r"^([ws])\s+\d+\s.*?([\d.]+) pts", text, re.M)}

    def every_budget(text: str) -> dict[str, float]:
        return {
            m[0]: float(m[1])
            for m in re.findall(r"^([ws])\s+per budget [\d.]+; at every one of 2 budgets ([\d.]+)", text, re.M)
        }

    assert set(detectable(default)) == set(every_budget(default)) == {"w", "s"}
    # the protocol's seeds were chosen for this: its smallest meaningful effect is detected with the target power
    assert all(spread <= PROTOCOL.smallest_effect for spread in detectable(default).values())
    assert all(power >= PROTOCOL.power_target - 0.05 for power in every_budget(default).values())  # 300 simulations
    # fewer seeds and twice the noise: larger spreads needed, less power at the same effect
    assert all(detectable(weaker)[f] > detectable(default)[f] for f in "ws")
    assert all(every_budget(weaker)[f] < every_budget(default)[f] for f in "ws")
