"""The study: for each PE variant and seed, pretrain -> fine-tune on each task -> score attention -> probe;
then the report. Each stage is a resumable `StageStore` stage; a failing variant is recorded and the others go on.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from .config import StudyConfig, VariantSpec
from .stages import StageFailed, StageStore

logger = logging.getLogger(__name__)

SHARED_UNIT = "_shared"
# Tasks the NLI word-order probe can run on, in order of preference.
NLI_TASKS = ("builtin_nli", "snli", "mnli")


def _training_arguments(output_dir: Path, seed: int, steps: int, batch_size: int, learning_rate: float, **extra):
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(output_dir),
        do_train=True,
        do_eval=True,
        max_steps=steps,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=128,
        learning_rate=learning_rate,
        warmup_steps=max(1, steps // 10),
        weight_decay=0.01,
        seed=seed,
        data_seed=seed,
        eval_strategy="no",
        save_strategy="no",
        logging_steps=max(1, steps // 5),
        report_to="none",
        dataloader_num_workers=0,
        **extra,
    )


def main_metric(task: str, metrics: dict) -> tuple[str, float | None]:
    """The score the paper reports for a task: CoLA Matthews, STS-B Spearman, accuracy otherwise."""
    for key in ("eval_matthews_correlation", "eval_spearmanr", "eval_accuracy"):
        if key in metrics:
            return key.removeprefix("eval_"), metrics[key]
    return "accuracy", None


@dataclass
class UnitResult:
    """Everything measured for one (variant, seed)."""

    variant: str
    position_encoding: str
    overrides: dict
    seed: int
    stages: dict = field(default_factory=dict)
    failure: dict | None = None


class Study:
    def __init__(self, config: StudyConfig, progress: bool = True):
        from ..training.arguments import use_cpu_when_distributed_without_accelerator

        # Under `accelerate launch` on a machine without GPUs, data-parallel over CPU processes (gloo): this must
        # be decided before the first process group (StageStore's) is created.
        use_cpu_when_distributed_without_accelerator()
        self.config = config
        self.out = Path(config.out)
        self.store = StageStore(self.out)
        self.progress = progress

    # ---------------------------------------------------------------------------------------------- stages

    def tokenizer_stage(self) -> str:
        """One WordPiece vocabulary for every variant (trained once on the pretraining text), or the user's."""
        if self.config.tokenizer_name:
            return self.config.tokenizer_name
        settings = {k: getattr(self.config, k) for k in
                    ("dataset_name", "dataset_config_name", "train_file", "builtin_num_sentences",
                     "tokenizer_vocab_size", "max_position_embeddings")}

        def work(folder: Path) -> dict:
            from ..training.pretrain import load_raw_datasets, text_column
            from ..training.tokenizer import train_wordpiece_tokenizer
            from ..training.arguments import MLMDataArguments, ModelArguments

            data_args = self._mlm_data_arguments(MLMDataArguments)
            raw, label = load_raw_datasets(data_args, ModelArguments(), seed=0)
            column = text_column(raw["train"], None)
            tokenizer = train_wordpiece_tokenizer(raw["train"][column], vocab_size=self.config.tokenizer_vocab_size,
                                                  model_max_length=self.config.max_position_embeddings)
            tokenizer.save_pretrained(folder)
            return {"path": self.store.relative(folder), "vocab_size": len(tokenizer), "dataset": label}

        return str(self.store.resolve(self.store.run(SHARED_UNIT, "tokenizer", settings, work)["path"]))

    def _mlm_data_arguments(self, data_class):
        c = self.config
        return data_class(dataset_name=c.dataset_name, dataset_config_name=c.dataset_config_name,
                          train_file=c.train_file, builtin_num_sentences=c.builtin_num_sentences,
                          max_seq_length=c.max_seq_length)

    def pretrain_stage(self, unit: str, spec: VariantSpec, seed: int, tokenizer_path: str) -> dict:
        c = self.config
        settings = {"variant": spec.config_kwargs(), "model": c.model_kwargs(), "seed": seed,
                    "tokenizer": self.store.content_id(tokenizer_path), "steps": c.pretrain_steps, "batch": c.pretrain_batch_size,
                    "lr": c.pretrain_learning_rate, "seq": c.max_seq_length,
                    "data": [c.dataset_name, c.dataset_config_name, c.train_file, c.builtin_num_sentences]}

        def work(folder: Path) -> dict:
            from ..training import pretrain
            from ..training.arguments import MLMDataArguments, ModelArguments

            # Sparse prediction: the MLM head only on masked tokens, the largest avoidable cost of pretraining
            # (same loss and gradients, see test_sparse_prediction_gives_the_same_loss_and_gradients).
            overrides = ",".join(f"{k}={v}" for k, v in {**c.model_kwargs(), "sparse_prediction": "true"}.items())
            model_args = ModelArguments(tokenizer_name=tokenizer_path, config_overrides=overrides,
                                        **spec.config_kwargs())
            training_args = _training_arguments(folder, seed, c.pretrain_steps, c.pretrain_batch_size,
                                                c.pretrain_learning_rate, disable_tqdm=not self.progress)
            metrics = pretrain.main(model_args, self._mlm_data_arguments(MLMDataArguments), training_args)
            return {"path": self.store.relative(folder), "metrics": _jsonable(metrics)}

        # The report rewrites the model card (README.md) with the measured numbers: not part of the stage's content.
        return self.store.run(unit, "pretrain", settings, work, collective=True, rewritten=("README.md",))

    def finetune_stage(self, unit: str, task: str, seed: int, pretrained: str) -> dict:
        c = self.config
        settings = {"task": task, "pretrained": self.store.content_id(pretrained), "seed": seed, "steps": c.finetune_steps,
                    "batch": c.finetune_batch_size, "lr": c.finetune_learning_rate, "seq": c.max_seq_length,
                    "size": c.builtin_task_size}

        def work(folder: Path) -> dict:
            from ..training import finetune
            from ..training.arguments import GlueDataArguments, ModelArguments

            data_args = GlueDataArguments(task_name=task, max_seq_length=c.max_seq_length,
                                          builtin_num_examples=c.builtin_task_size if task.startswith("builtin") else None)
            training_args = _training_arguments(folder, seed, c.finetune_steps, c.finetune_batch_size,
                                                c.finetune_learning_rate, disable_tqdm=not self.progress)
            metrics = finetune.main(ModelArguments(model_name_or_path=pretrained), data_args, training_args)
            name, value = main_metric(task, metrics)
            return {"path": self.store.relative(folder), "metric": name, "score": value, "metrics": _jsonable(metrics)}

        return self.store.run(unit, f"finetune:{task}", settings, work, collective=True)

    def score_stage(self, unit: str, seed: int, models: dict[str, str]) -> dict:
        """Locality and symmetry (both variants) of every model of the unit, on held-out built-in sentences,
        plus identical-token position attention of the pretrained model."""
        c = self.config
        settings = {"models": {name: self.store.content_id(path) for name, path in models.items()}, "sentences": c.analysis_sentences, "seq": c.max_seq_length,
                    "position_seq_len": c.position_seq_len, "seed": seed}

        def work(folder: Path) -> dict:
            import torch
            from transformers import AutoModel, AutoTokenizer

            from ..analysis import position_attention, score_attention
            from ..data import generate_sentences

            # Sentences no model was trained on: a seed far from the corpus seeds.
            texts = [s.text for s in generate_sentences(c.analysis_sentences, seed=10_000 + seed)]
            result = {}
            for name, path in models.items():
                model = AutoModel.from_pretrained(path).eval()
                model.config._name_or_path = self.store.relative(path)  # the scores file names it, relocatably
                tokenizer = AutoTokenizer.from_pretrained(path)
                scores = score_attention(model, tokenizer, texts, batch_size=64, max_length=c.max_seq_length,
                                         progress=self.progress)
                scores.to_json(folder / f"{name}_scores.json")
                scores.plot(folder / f"{name}_heatmaps.png", title=f"{unit} ({name}): attention scores")
                result[name] = {"locality": scores.mean_locality, "symmetry": scores.mean_symmetry,
                                "symmetry_mass": scores.mean_symmetry_mass, "num_matrices": scores.num_matrices}
                if name == "pretrained":
                    positional = position_attention(model, c.position_seq_len)
                    positional.plot(folder / "position_attention.png", title=f"{unit}: identical-token attention")
                    mean_matrix = positional.attentions.to(torch.float64).mean(dim=(0, 1))
                    result["position"] = {
                        "overall": _jsonable(positional.to_dict()["overall"]),
                        "mean_matrix": mean_matrix.tolist(),
                    }
            return result

        return self.store.run(unit, "score", settings, work)

    def probe_stage(self, unit: str, seed: int, pretrained: str, nli_task: str | None, nli_model: str | None) -> dict:
        """The paper's NLI probe on the fine-tuned NLI model (built-in NLI, SNLI or MNLI, whichever the study
        fine-tunes on), and zero-shot probes (PLL preference, representation drift) on the pretrained MLM."""
        c = self.config
        settings = {"pretrained": self.store.content_id(pretrained), "nli": self.store.content_id(nli_model), "nli_task": nli_task, "size": c.builtin_task_size, "examples": c.probe_examples,
                    "zero_shot": c.probe_zero_shot_sentences, "seed": seed, "seq": c.max_seq_length}

        def work(folder: Path) -> dict:
            from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification, AutoTokenizer

            from ..analysis.probes import load_nli_examples, nli_probe, plot_deltas, zero_shot_probe
            from ..data import generate_sentences

            result = {}
            if nli_model is not None:
                model = AutoModelForSequenceClassification.from_pretrained(nli_model).eval()
                tokenizer = AutoTokenizer.from_pretrained(nli_model)
                # The built-in task's validation split depends on its size and seed: use fine-tuning's, so the
                # probe evaluates held-out pairs of the very task the model learned.
                builtin = {"num_train": c.builtin_task_size} if nli_task.startswith("builtin") else {}
                examples = load_nli_examples(nli_task, num_examples=c.probe_examples, seed=seed, **builtin)
                report = nli_probe(model, tokenizer, examples, seed=seed, max_length=c.max_seq_length,
                                   model_name=unit)
                plot_deltas(report, folder / "nli_probe.png")
                result["nli"] = _jsonable(report.to_dict())
            model = AutoModelForMaskedLM.from_pretrained(pretrained).eval()
            tokenizer = AutoTokenizer.from_pretrained(pretrained)
            sentences = generate_sentences(c.probe_zero_shot_sentences, seed=20_000 + seed)
            result["zero_shot"] = _jsonable(zero_shot_probe(model, tokenizer, sentences, seed=seed,
                                                            model_name=unit).to_dict())
            return result

        return self.store.run(unit, "probe", settings, work)

    # ---------------------------------------------------------------------------------------------- driver

    def units(self) -> list[tuple[str, VariantSpec, int]]:
        return [(f"{spec.label}/seed{seed}", spec, seed)
                for spec in self.config.variant_specs() for seed in self.config.seeds]

    def run_unit(self, unit: str, spec: VariantSpec, seed: int, tokenizer_path: str, bar) -> UnitResult:
        result = UnitResult(spec.label, spec.position_encoding, spec.overrides, seed)
        try:
            bar.set_postfix_str(f"{unit}: pretrain")
            pretrain = self.pretrain_stage(unit, spec, seed, tokenizer_path)
            result.stages["pretrain"] = pretrain
            bar.update()
            # Stage results store paths relative to --out (a study folder can be moved); use them resolved.
            pretrained = str(self.store.resolve(pretrain["path"]))
            models = {"pretrained": pretrained}
            for task in self.config.tasks:
                bar.set_postfix_str(f"{unit}: fine-tune {task}")
                finetuned = self.finetune_stage(unit, task, seed, pretrained)
                result.stages[f"finetune:{task}"] = finetuned
                models[task] = str(self.store.resolve(finetuned["path"]))
                bar.update()
            bar.set_postfix_str(f"{unit}: score")
            result.stages["score"] = self.score_stage(unit, seed, models)
            bar.update()
            bar.set_postfix_str(f"{unit}: probe")
            nli_task = next((t for t in NLI_TASKS if t in models), None)
            result.stages["probe"] = self.probe_stage(unit, seed, pretrained, nli_task, models.get(nli_task))
            bar.update()
        except StageFailed as failure:
            logger.error("%s", failure)
            result.failure = {"stage": failure.stage, "error": failure.error, "traceback": failure.traceback}
        return result

    def run(self) -> dict:
        """Run (or resume) every stage, then write the report; returns the results dictionary.

        Holds the study folder's lock throughout: another study on the same --out raises `StudyLocked` at once."""
        with self.store.lock():
            return self._run()

    def _run(self) -> dict:
        from .report import write_report

        start = time.perf_counter()
        if self.store.processes.is_main:
            (self.out / "study_config.json").write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")
        units = self.units()
        stages_per_unit = 3 + len(self.config.tasks)
        results: list[UnitResult] = []
        with tqdm(total=len(units) * stages_per_unit + 1, desc="Study", unit="stage",
                  disable=not self.progress or not self.store.processes.is_main) as bar:
            bar.set_postfix_str("tokenizer")
            tokenizer_path = self.tokenizer_stage()
            bar.update()
            for unit, spec, seed in units:
                unit_result = self.run_unit(unit, spec, seed, tokenizer_path, bar)
                results.append(unit_result)
                if unit_result.failure:  # keep the bar's total honest
                    bar.update(stages_per_unit - sum(1 for _ in unit_result.stages))
        wall_time = time.perf_counter() - start
        summary = None
        if self.store.processes.is_main:  # under `accelerate launch`, one process writes the report
            summary = write_report(self, results, wall_time)
        self.store.processes.barrier()
        return summary if summary is not None else json.loads((self.out / "results.json").read_text())


def _jsonable(value):
    """Plain JSON types (NaN/inf become None) so results.json is strict JSON."""
    import math

    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return _jsonable(value.item())
    return value
