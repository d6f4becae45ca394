"""The masked-token stage (built-in corpus, every budget): the model's masked-token loss on the fixed evaluation
blocks at each length, and its share of the learnable signal (between the corpus's unigram and Bayes floors)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .base import BudgetStage, StageCall, StageResult
from .pretrain import data_id


@dataclass
class MaskedLoss(StageResult):
    """Per length multiple ("1", "2", ...): the length, whether the model applies there (absolute PEs stop at their
    table) and, where it does, the loss, its share and the number of masked tokens."""

    lengths: dict[str, dict]


class MaskedLossStage(BudgetStage):
    name = "mlm"
    result = MaskedLoss

    def applies_at(self, config, steps: int, final: int) -> bool:
        return bool(config.builtin_corpus)  # the data stage makes evaluation blocks for the built-in corpus only

    def settings(self, engine, state, call: StageCall) -> dict:
        return {
            "pretrained": engine.store.content_id(state.checkpoints[call.subject]),
            "data": data_id(engine),
            "batch": engine.config.eval_batch_size,
        }

    def work(self, engine, state, call: StageCall, folder: Path) -> MaskedLoss:
        from transformers import AutoModelForMaskedLM

        from ...configuration import position_table_limit
        from ..mlm_eval import MaskedBlocks, masked_token_losses, share_captured

        config, data = engine.config, state.shared.corpus
        model = AutoModelForMaskedLM.from_pretrained(state.checkpoints[call.subject]).eval()
        bound = position_table_limit(model.config)
        lengths = {}
        for multiple, path in data.blocks.items():
            length = config.max_seq_length * int(multiple)
            floors = data.floors[multiple]
            if bound is not None and length > bound[0]:
                lengths[multiple] = {
                    "length": length,
                    "applicable": False,
                    "reason": f"absolute PE: positions are bounded by max_position_embeddings "
                    f"({model.config.max_position_embeddings})",
                }
                continue
            blocks = MaskedBlocks.load(engine.store.resolve(path))
            losses = masked_token_losses(model, blocks, config.eval_batch_size)
            loss = float(losses.mean())
            lengths[multiple] = {
                "length": length,
                "applicable": True,
                "loss": loss,
                "share": share_captured(loss, floors["unigram_loss"], floors["bayes_loss"]),
                "masked_tokens": int(losses.size),
            }
        return MaskedLoss(lengths)

    def headline(self, result: MaskedLoss, call: StageCall, config) -> str:
        first = result.lengths[str(config.length_multiples[0])]
        share = f", {100 * first['share']:.0f} % of the learnable signal" if first.get("share") is not None else ""
        return f"masked-token loss {first['loss']:.3f}{share}"


STAGE = MaskedLossStage()

__all__ = ["STAGE", "MaskedLoss", "MaskedLossStage"]
