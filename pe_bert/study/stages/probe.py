"""The word-order probe stage (trained variants): zero-shot probes (PLL preference, representation drift) of the
pretrained MLM, and the paper's NLI probe of the fine-tuned NLI model when the study fine-tunes on NLI."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from .base import StageCall, StageResult, UnitStage
from .builtin import PROBE_PERTURBATION_SEED, PROBE_SENTENCES_SEED

# Tasks the NLI word-order probe can run on, in order of preference.
NLI_TASKS = ("builtin_nli", "snli", "mnli")


@dataclass
class WordOrderProbes(StageResult):
    """The NLI probe's report (only with an NLI task) and the zero-shot probes' report."""

    OPTIONAL: ClassVar[tuple[str, ...]] = ("nli",)

    zero_shot: dict
    nli: dict | None = None

    def to_dict(self) -> dict:  # stored with the NLI probe first
        return {**({"nli": self.nli} if self.nli is not None else {}), "zero_shot": self.zero_shot}


def nli_task(state) -> str | None:
    """The NLI task the unit fine-tuned on, if any (`NLI_TASKS` in order)."""
    return next((task for task in NLI_TASKS if task in state.models), None)


class ProbeStage(UnitStage):
    name = "probe"
    result = WordOrderProbes

    def _nli_file(self, state) -> str | None:
        task = nli_task(state)
        return (state.task_files().get(task) or {}).get("validation") if task else None

    def settings(self, engine, state, call: StageCall) -> dict:
        config, task = engine.config, nli_task(state)
        return {
            "pretrained": engine.store.content_id(state.pretrained),
            "nli": engine.store.content_id(state.models.get(task)),
            "nli_task": task,
            "nli_data": self._nli_file(state),
            "examples": config.probe_examples,
            "zero_shot": config.probe_zero_shot_sentences,
            "seed": state.unit.seed,
            "seq": config.max_seq_length,
            "grammar": config.builtin_grammar,
        }

    def work(self, engine, state, call: StageCall, folder: Path) -> WordOrderProbes:
        from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification, AutoTokenizer

        from ...analysis.probes import load_nli_examples, nli_probe, plot_deltas, zero_shot_probe
        from ...jsonable import jsonable

        config, unit, seed = engine.config, state.unit.name, state.unit.seed
        task = nli_task(state)
        nli_model, nli_file = state.models.get(task), self._nli_file(state)
        nli = None
        if nli_model is not None:
            model = AutoModelForSequenceClassification.from_pretrained(nli_model).eval()
            tokenizer = AutoTokenizer.from_pretrained(nli_model)
            # The validation pairs of the very task the model was fine-tuned on (held out from its training).
            source = str(engine.store.resolve(nli_file)) if nli_file else task
            examples = load_nli_examples(source, num_examples=config.probe_examples, seed=seed)
            report = nli_probe(
                model, tokenizer, examples, seed=seed, max_length=config.max_position_embeddings, model_name=unit
            )
            plot_deltas(report, folder / "nli_probe.png")
            nli = jsonable(report.to_dict())
        model = AutoModelForMaskedLM.from_pretrained(state.pretrained).eval()
        tokenizer = AutoTokenizer.from_pretrained(state.pretrained)
        sentences = config.builtin_sentences(config.probe_zero_shot_sentences, PROBE_SENTENCES_SEED)
        report = zero_shot_probe(model, tokenizer, sentences, seed=PROBE_PERTURBATION_SEED, model_name=unit)
        return WordOrderProbes(zero_shot=jsonable(report.to_dict()), nli=nli)

    def headline(self, result: WordOrderProbes, call: StageCall, config) -> str:
        pll = result.zero_shot["results"].get("shuffle-sr", {}).get("pll", {})
        text = f"prefers the original over Shuffle-SR {100 * pll['preference']:.0f} %" if pll else ""
        if result.nli is not None:
            delta = result.nli["results"].get("shuffle-sr", {}).get("delta")
            if delta is not None:
                text += f"; NLI Δ Shuffle-SR {100 * delta:+.1f} points"
        return text


STAGE = ProbeStage()

__all__ = ["NLI_TASKS", "STAGE", "ProbeStage", "WordOrderProbes", "nli_task"]
