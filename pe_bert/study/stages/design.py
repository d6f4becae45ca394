"""The design stage (shared): the manipulation check of the attenuated grid on identical tokens
(`pe_bert.study.design`), before any pretraining; only for a study with the grid."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..grid import ATTENUATED
from .base import SharedStage, StageCall, StageResult


@dataclass
class DesignResult(StageResult):
    """Each grid cell's identical-token locality and symmetry, how far each knob moves the other property, the side
    check, and whether every criterion holds (`passed`)."""

    seq_len: int
    max_cross_effect: float
    min_side_decay_nats: float
    cells: list[dict]
    s_moves_locality: dict[str, float]
    w_moves_symmetry: dict[str, float]
    w_moves_locality: dict[str, float]
    s_moves_symmetry: dict[str, float]
    weakest_side_decay_nats: float | None
    checks: dict[str, bool]
    passed: bool


class DesignStage(SharedStage):
    name = "design"
    result = DesignResult
    read_by_units = False  # the report reads it; no unit does

    def applies(self, config) -> bool:
        return bool(config.attenuated_grid())

    def settings(self, engine, call: StageCall) -> dict:
        from ..protocol import PROTOCOL

        config = engine.config
        return {
            "grid": [spec.config_kwargs() for spec in config.variant_specs() if spec.position_encoding == ATTENUATED],
            "model": config.model_kwargs(),
            "seq": config.position_seq_len,
            "max_cross_effect": PROTOCOL.max_cross_effect,
        }

    def work(self, engine, call: StageCall, folder: Path) -> DesignResult:
        from ..design import manipulation_check
        from ..protocol import PROTOCOL

        return DesignResult.from_dict(manipulation_check(engine.config, PROTOCOL.max_cross_effect))

    def headline(self, result: DesignResult, call: StageCall, config) -> str:
        return (
            f"manipulation check {'passed' if result.passed else 'FAILED'}: s moves locality by at most "
            f"{max(result.s_moves_locality.values()):.3f}, w moves symmetry by at most "
            f"{max(result.w_moves_symmetry.values()):.3f} (limit {result.max_cross_effect:g})"
        )

    def absorb(self, shared, call: StageCall, result: DesignResult) -> None:
        shared.manipulation = result


STAGE = DesignStage()

__all__ = ["STAGE", "DesignResult", "DesignStage"]
