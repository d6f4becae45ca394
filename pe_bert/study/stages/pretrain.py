"""The pretraining stage (trained variants): masked-LM pretraining to the largest budget at a constant learning rate
after warmup; the model at each smaller budget is kept in `steps-<n>/` (a finished model: the same as a run of n
steps)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from ..store import input_fingerprint
from .base import SHARED_UNIT, StageCall, StageResult, UnitStage
from .budgets import budget_name
from .training import TRAINER_TIMING_FILES, corpus_identity, deterministic, training_arguments, user_corpus_arguments

# Pretraining: a constant learning rate after warmup, so that the model at every budget is a finished one.
PRETRAINING_SCHEDULE = "constant_with_warmup"


@dataclass
class ModelResult(StageResult):
    """A unit's masked LM: its folder, its folder at each budget (`checkpoints`: steps -> folder) and, for a trained
    one, the Trainer's metrics."""

    OPTIONAL: ClassVar[tuple[str, ...]] = ("metrics",)

    path: str
    checkpoints: dict[str, str]
    metrics: dict | None = None

    def stored_paths(self) -> list[str]:
        return [self.path, *self.checkpoints.values()]


def tokenizer_of(engine, state) -> str:
    """The study's tokenizer: the user's --tokenizer-name, or the data stage's folder."""
    return engine.config.tokenizer_name or str(engine.store.resolve(state.shared.corpus.tokenizer))


def data_id(engine) -> str | None:
    """The data stage's content, for the settings of the stages that read it."""
    return engine.store.content_id(engine.store.folder(SHARED_UNIT, "data"))


def absorb_model(engine, state, result: ModelResult) -> None:
    """The unit's model at each budget, for the stages that measure it."""
    state.checkpoints = {int(step): str(engine.store.resolve(path)) for step, path in result.checkpoints.items()}
    state.models = {budget_name(steps): path for steps, path in sorted(state.checkpoints.items())}


class PretrainStage(UnitStage):
    name = "pretrain"
    result = ModelResult
    collective = True
    rewritten = ("README.md",)  # the model card step rewrites it with the measured numbers
    volatile = TRAINER_TIMING_FILES

    def settings(self, engine, state, call: StageCall) -> dict:
        config, spec = engine.config, state.unit.spec
        budgets = config.budgets()
        settings = {
            "variant": spec.config_kwargs(),
            "model": config.model_kwargs(),
            "seed": state.unit.seed,
            "data": data_id(engine),
            "steps": budgets[-1],
            "budgets": budgets,
            "schedule": PRETRAINING_SCHEDULE,
            "batch": config.pretrain_batch_size,
            "lr": config.pretrain_learning_rate,
            "warmup": warmup_steps(config),
            "seq": config.max_seq_length,
            "mlm_probability": config.mlm_probability,
            "corpus": list(corpus_identity(config).values()),
            "tokenizer": input_fingerprint(config.tokenizer_name),
        }
        code = spec.code_digest()
        if code:  # a user's PE: its source is part of what the stage computed
            settings["pe_code"] = code
        return settings

    def work(self, engine, state, call: StageCall, folder: Path) -> ModelResult:
        from ...configuration import PEBertConfig
        from ...training import pretrain
        from ...training.arguments import MLMDataArguments, ModelArguments
        from ...training.common import SaveAtSteps

        config, store, spec = engine.config, engine.store, state.unit.spec
        budgets = config.budgets()
        data = state.shared.corpus
        # The MLM head runs on masked tokens only (run_mlm's default: same loss and gradients).
        model_args = ModelArguments(tokenizer_name=tokenizer_of(engine, state))
        model_config = PEBertConfig(**config.model_kwargs(), **spec.config_kwargs())
        if config.builtin_corpus:
            data_args = MLMDataArguments(
                train_file=str(store.resolve(data.train_file)),
                validation_file=str(store.resolve(data.validation_file)),
                max_seq_length=config.max_seq_length,
                mlm_probability=config.mlm_probability,
            )
        else:
            data_args = user_corpus_arguments(config)
        # Built-in corpus: the masked evaluation stage measures the model (against the floors); otherwise the
        # Trainer's evaluation on the held-out split is the only measure.
        arguments = training_arguments(
            folder,
            config,
            state.unit.seed,
            budgets[-1],
            config.pretrain_batch_size,
            config.pretrain_learning_rate,
            do_eval=not config.builtin_corpus,
            verbose=engine.verbose,
            warmup_steps=warmup_steps(config),
            schedule=PRETRAINING_SCHEDULE,
        )
        metrics = pretrain.main(
            model_args, data_args, arguments, callbacks=[SaveAtSteps(budgets[:-1])], config=model_config
        )
        checkpoints = {str(step): store.relative(SaveAtSteps.folder(folder, step)) for step in budgets[:-1]}
        checkpoints[str(budgets[-1])] = store.relative(folder)
        return ModelResult(store.relative(folder), checkpoints, deterministic(metrics))

    def headline(self, result: ModelResult, call: StageCall, config) -> str:
        return f"train loss {result.metrics['train_loss']:.3f}"

    def absorb(self, engine, state, call: StageCall, result: ModelResult) -> None:
        absorb_model(engine, state, result)


def warmup_steps(config) -> int:
    """Pretraining warmup: a fraction of the first budget, the same whatever the largest budget."""
    return round(config.warmup_fraction * config.pretrain_steps)


STAGE = PretrainStage()

__all__ = ["PRETRAINING_SCHEDULE", "STAGE", "ModelResult", "PretrainStage", "warmup_steps"]
