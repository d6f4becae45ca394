"""The initialisation stage (untrained controls): the variant's masked LM at initialisation, seeded as pretraining
seeds it, never trained; measured like a pretrained model, at budget 0."""

from __future__ import annotations

from pathlib import Path

from ..store import input_fingerprint
from .base import StageCall, UnitStage
from .pretrain import ModelResult, absorb_model, data_id, tokenizer_of


class InitStage(UnitStage):
    name = "init"
    result = ModelResult

    def applies(self, config, spec) -> bool:
        return not spec.trained

    def settings(self, engine, state, call: StageCall) -> dict:
        config = engine.config
        return {
            "variant": state.unit.spec.config_kwargs(),
            "model": config.model_kwargs(),
            "seed": state.unit.seed,
            "data": data_id(engine),
            "tokenizer": input_fingerprint(config.tokenizer_name),
        }

    def work(self, engine, state, call: StageCall, folder: Path) -> ModelResult:
        from transformers import AutoTokenizer, set_seed

        from ...configuration import PEBertConfig
        from ...modeling import PEBertForMaskedLM

        config, spec = engine.config, state.unit.spec
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_of(engine, state))
        set_seed(state.unit.seed)
        model_config = PEBertConfig(**config.model_kwargs(), **spec.config_kwargs(), vocab_size=len(tokenizer))
        PEBertForMaskedLM(model_config).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        return ModelResult(engine.store.relative(folder), {"0": engine.store.relative(folder)})

    def headline(self, result: ModelResult, call: StageCall, config) -> str:
        return "initialised, not trained"

    def absorb(self, engine, state, call: StageCall, result: ModelResult) -> None:
        absorb_model(engine, state, result)


STAGE = InitStage()

__all__ = ["STAGE", "InitStage"]
