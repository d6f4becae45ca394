"""The attention-scoring stage (trained variants): locality and symmetry (both variants) of every model of the unit
on held-out built-in sentences, and identical-token position attention of each pretrained model (one per budget)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from .base import StageCall, StageResult, UnitStage
from .budgets import BUDGET_PREFIX, budget_steps
from .builtin import ANALYSIS_SEED_OFFSET

ATTENTION_BATCH_SIZE = 64


@dataclass
class ModelScores(StageResult):
    """One model's attention scores on sentences; for a pretrained model, its identical-token attention too
    (`position`: the `overall` scores and the `mean_matrix` over layers and heads)."""

    OPTIONAL: ClassVar[tuple[str, ...]] = ("position",)

    locality: float | None
    symmetry: float | None
    symmetry_mass: float | None
    num_matrices: int
    position: dict | None = None

    def attention_score(self, name: str) -> float | None:
        """One of `ATTENTION_SCORES` by name."""
        return getattr(self, name)


@dataclass
class AttentionScores(StageResult):
    """Each model's scores by name: `budget_name(steps)` for a pretrained model at a budget, the task for a
    fine-tuned one (stored as {model: scores})."""

    models: dict[str, ModelScores]

    @classmethod
    def from_dict(cls, stored: dict) -> AttentionScores:
        return cls({name: ModelScores.from_dict(scores) for name, scores in stored.items()})

    def to_dict(self) -> dict:
        return {name: scores.to_dict() for name, scores in self.models.items()}

    def pretrained(self) -> dict[int, ModelScores]:
        """The pretrained model's scores by budget (steps)."""
        return {budget_steps(name): s for name, s in self.models.items() if name.startswith(BUDGET_PREFIX)}


class ScoreStage(UnitStage):
    name = "score"
    result = AttentionScores

    def settings(self, engine, state, call: StageCall) -> dict:
        config = engine.config
        return {
            "models": {name: engine.store.content_id(path) for name, path in state.models.items()},
            "sentences": config.analysis_sentences,
            "seq": config.max_seq_length,
            "grammar": config.builtin_grammar,
            "position_seq_len": config.position_seq_len,
            "seed": state.unit.seed,
        }

    def work(self, engine, state, call: StageCall, folder: Path) -> AttentionScores:
        import torch
        from transformers import AutoModel, AutoTokenizer

        from ...analysis import position_attention, score_attention
        from ...jsonable import jsonable

        config, unit = engine.config, state.unit.name
        sentences = config.builtin_sentences(config.analysis_sentences, ANALYSIS_SEED_OFFSET + state.unit.seed)
        texts = [s.text for s in sentences]
        result = {}
        for name, path in state.models.items():
            model = AutoModel.from_pretrained(path).eval()
            model.config._name_or_path = engine.store.relative(path)  # the scores file names it, relocatably
            tokenizer = AutoTokenizer.from_pretrained(path)
            scores = score_attention(
                model,
                tokenizer,
                texts,
                batch_size=ATTENTION_BATCH_SIZE,
                max_length=config.max_seq_length,
                progress=engine.verbose,
            )
            scores.to_json(folder / f"{name}_scores.json")
            scores.plot(folder / f"{name}_heatmaps.png", title=f"{unit} ({name}): attention scores")
            result[name] = {
                "locality": scores.mean_locality,
                "symmetry": scores.mean_symmetry,
                "symmetry_mass": scores.mean_symmetry_mass,
                "num_matrices": scores.num_matrices,
            }
            if name.startswith(BUDGET_PREFIX):
                positional = position_attention(model, config.position_seq_len)
                positional.plot(
                    folder / f"{name}_position_attention.png", title=f"{unit} ({name}): identical-token attention"
                )
                mean_matrix = positional.attentions.to(torch.float64).mean(dim=(0, 1))
                result[name]["position"] = {
                    "overall": jsonable(positional.to_dict()["overall"]),
                    "mean_matrix": mean_matrix.tolist(),
                }
        return AttentionScores.from_dict(jsonable(result))

    def headline(self, result: AttentionScores, call: StageCall, config) -> str:
        pretrained = result.pretrained()
        final = pretrained[max(pretrained)]
        return f"locality {final.locality:.3f}, symmetry {final.symmetry:.3f} (mass {final.symmetry_mass:.3f})"


STAGE = ScoreStage()

__all__ = ["ATTENTION_BATCH_SIZE", "STAGE", "AttentionScores", "ModelScores", "ScoreStage"]
