"""The study: shared data (tokenizer, corpus, evaluation blocks and their floors, the frozen-feature probing split,
task files per seed), then for each PE variant and seed: pretrain -> masked-token evaluation at 1x/2x/4x the
pretraining length -> frozen-feature probing -> fine-tune on each task (if any) -> score attention -> word-order
probes; then the report, the model cards and (if asked) the Hub push, as separate steps.

Each stage is a resumable `StageStore` stage; a failing variant is recorded and the others go on. Units (variant x
seed) run in parallel worker processes (`workers`); every stage runs with the study's `unit_threads` torch and BLAS
threads, wherever it runs, so results do not depend on how units were scheduled.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from ..errors import UsageError
from ..jsonable import jsonable
from . import runner
from .config import StudyConfig, VariantSpec
from .console import stage_output
from .stages import NotStored, StageFailed, StageStore, input_fingerprint

logger = logging.getLogger(__name__)

SHARED_UNIT = "_shared"
# Tasks the NLI word-order probe can run on, in order of preference.
NLI_TASKS = ("builtin_nli", "snli", "mnli")
# Seeds of the built-in sentences each use draws from, far apart so that no two uses share sentences: the
# pretraining corpus, the masked-evaluation blocks and their masks; attention scoring and the zero-shot probes add
# the run's seed to their offset, so each seed looks at other held-out sentences.
CORPUS_SEED = 0
EVAL_SENTENCES_SEED = 1
EVAL_MASK_SEED = 0
PROBING_SEED = 2  # the frozen-feature probing split: one for every model and seed (comparisons are paired)
ANALYSIS_SEED_OFFSET = 10_000
PROBE_SEED_OFFSET = 20_000
ATTENTION_BATCH_SIZE = 64
# What the Trainer writes beside a model that differs from run to run whatever the inputs (runtimes, throughputs,
# the pickled arguments): verified like every output, but not part of the content that later stages depend on.
TRAINER_TIMING_FILES = ("trainer_state.json", "training_args.bin", "*results.json")


def _training_arguments(
    output_dir: Path,
    config: StudyConfig,
    seed: int,
    steps: int,
    batch_size: int,
    learning_rate: float,
    do_eval: bool,
    verbose: bool,
):
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(output_dir),
        do_train=True,
        do_eval=do_eval,
        max_steps=steps,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        learning_rate=learning_rate,
        warmup_steps=config.warmup_fraction,  # a float below 1 is a fraction of the steps
        weight_decay=0.01,
        seed=seed,
        data_seed=seed,
        eval_strategy="no",
        save_strategy="no",
        logging_steps=max(1, steps // 10),
        report_to="none",
        dataloader_num_workers=0,
        disable_tqdm=not verbose,
    )


def main_metric(task: str, metrics: dict) -> tuple[str, float | None]:
    """The score the paper reports for a task, as the task registry declares it (CoLA Matthews, STS-B Spearman,
    accuracy otherwise)."""
    from ..data.glue import get_task_info

    name = get_task_info(task).main_metric
    return name, metrics.get(f"eval_{name}")


@dataclass
class UnitResult:
    """Everything measured for one (variant, seed)."""

    variant: str
    position_encoding: str
    overrides: dict
    seed: int
    stages: dict = field(default_factory=dict)
    failure: dict | None = None


def _language(config: StudyConfig):
    """The automaton of the built-in language (None for the rich grammar: its floors are not computed)."""
    if not config.builtin_corpus or config.builtin_grammar != "compact":
        return None
    from ..data.compact import compact_language

    return compact_language()


def _builtin_sentences(config: StudyConfig, n: int, seed: int):
    """Annotated built-in sentences of the study's grammar."""
    if config.builtin_grammar == "compact":
        from ..data.compact import compact_sentences

        return compact_sentences(n, seed)
    from ..data import generate_sentences

    return generate_sentences(n, seed=seed)


def _builtin_vocabulary(config: StudyConfig) -> list[str]:
    if config.builtin_grammar == "compact":
        return list(_language(config).vocabulary)
    from ..data import vocabulary

    return sorted(vocabulary())


class Study:
    def __init__(self, config: StudyConfig, progress: bool = True, verbose: bool = False, worker: bool = False):
        from ..training.arguments import use_cpu_when_distributed_without_accelerator

        # Under `accelerate launch` on a machine without GPUs, data-parallel over CPU processes (gloo): this must
        # be decided before the first process group (StageStore's) is created.
        use_cpu_when_distributed_without_accelerator()
        self.config = config
        self.out = Path(config.out)
        self.store = StageStore(self.out)
        self.progress = progress
        self.verbose = verbose
        self.worker = worker  # a worker process of a parallel study: the parent holds the lock and prints
        self.events = None  # where finished-stage events go (a queue in a worker, the console otherwise)
        # This run's stage timings (several runs may share the folder: each its own file; stored stages: 0 s).
        self.timings = self.out / "logs" / f"timings-{socket.gethostname()}-{os.getpid()}.jsonl"
        self._bar = None

    # ---------------------------------------------------------------------------------------------- plumbing

    def _stage(self, unit: str, stage: str, settings: dict, work, headline=None, shown=True, **store_options) -> dict:
        """Run (or look up) one stored stage, `StageStore.run(unit, stage, settings, work, **store_options)`: its
        output goes to its log file and a line (and the progress bar) reports it when it finishes. `headline(result)`
        is that line's text; `shown=False` looks a stage up silently (a worker reading the shared stages)."""

        if self.config.unit_threads != 1:  # threads change float sums (runner.set_unit_threads); 1: as stored before
            settings = {**settings, "threads": self.config.unit_threads}

        def run():
            return self.store.run(unit, stage, settings, work, **store_options)

        if self.store.read_only or not shown:  # looking, not computing: no log, no line
            return run()
        log = self.out / "logs" / unit / f"{stage.replace(':', '-')}.log"
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        with stage_output(log, self.verbose):
            try:
                result = run()
            except StageFailed as failure:
                self._emit(
                    unit,
                    stage,
                    "failed",
                    failure.error,
                    time.perf_counter() - start_wall,
                    time.process_time() - start_cpu,
                )
                raise
        wall, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
        text = ""
        if headline is not None:
            try:
                text = headline(result)
            except (KeyError, TypeError, ValueError):
                text = ""
        self._emit(unit, stage, "done", text, wall, cpu)
        return result

    def _emit(self, unit: str, stage: str, status: str, text: str, wall: float, cpu: float) -> None:
        event = {
            "unit": unit,
            "stage": stage,
            "status": status,
            "text": text,
            "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
            "pid": os.getpid(),
        }
        if self.events is not None:  # a worker: the study that started it records and shows the event
            self.events.put(event)
        else:
            self._show(event)

    def _show(self, event: dict) -> None:
        """Record a finished stage's times in this run's timings and show its line (the study's main process)."""
        if not self.store.processes.is_main:
            return
        self.timings.parent.mkdir(parents=True, exist_ok=True)
        with self.timings.open("a") as timings:
            timings.write(json.dumps(event) + "\n")
        if not self.progress:
            return
        line = f"{event['unit']:<28} {event['stage']:<24} {event['text']}  [{event['wall_s']:.0f} s]"
        if event["status"] == "failed":
            line = f"{event['unit']:<28} {event['stage']:<24} FAILED: {event['text']}"
        if self._bar is not None:
            self._bar.write(line, file=sys.stderr)
            self._bar.update()
        else:
            print(line, file=sys.stderr)

    # ---------------------------------------------------------------------------------------------- shared stages

    def data_stage(self, shown: bool = True) -> dict:
        """Tokenizer, pretraining text and evaluation blocks (with the corpus's floors), shared by every run."""
        c = self.config
        settings = {
            k: getattr(c, k)
            for k in (
                "builtin_grammar",
                "tokenizer_vocab_size",
                "max_position_embeddings",
                "max_seq_length",
                "eval_sentences",
                "length_multiples",
                "mlm_probability",
            )
        }
        settings.update(corpus_identity(c), tokenizer_name=input_fingerprint(c.tokenizer_name))

        def work(folder: Path) -> dict:
            result = {"tokenizer": self._tokenizer(folder)}
            if c.builtin_corpus:
                result.update(self._builtin_data(folder, result["tokenizer"]))
            return result

        return self._stage(SHARED_UNIT, "data", settings, work, _data_headline, shown)

    def _tokenizer(self, folder: Path) -> str:
        """A deterministic word-level vocabulary for the built-in language; the user's tokenizer; or, for other
        data, WordPiece trained on the training text (as run_mlm does)."""
        c = self.config
        if c.tokenizer_name:
            return c.tokenizer_name
        model_max_length = c.max_seq_length * max(c.length_multiples)
        if c.builtin_corpus:
            from ..training.tokenizer import word_level_tokenizer

            tokenizer = word_level_tokenizer(_builtin_vocabulary(c), model_max_length=model_max_length)
        else:
            from ..training.arguments import ModelArguments
            from ..training.pretrain import load_raw_datasets, text_column
            from ..training.tokenizer import train_wordpiece_tokenizer

            raw, _ = load_raw_datasets(user_corpus_arguments(c), ModelArguments(), seed=0)
            column = text_column(raw["train"], None)
            tokenizer = train_wordpiece_tokenizer(
                raw["train"][column], vocab_size=c.tokenizer_vocab_size, model_max_length=model_max_length
            )
        tokenizer.save_pretrained(folder / "tokenizer")
        return self.store.relative(folder / "tokenizer")

    def _builtin_data(self, folder: Path, tokenizer_path: str) -> dict:
        from transformers import AutoTokenizer

        from .mlm_eval import pack_blocks

        c = self.config
        corpus = folder / "corpus"
        corpus.mkdir()
        train = _builtin_sentences(c, c.builtin_num_sentences, CORPUS_SEED)
        (corpus / "train.txt").write_text("".join(s.text + "\n" for s in train))
        held_out = _builtin_sentences(c, c.eval_sentences, EVAL_SENTENCES_SEED)
        (corpus / "validation.txt").write_text("".join(s.text + "\n" for s in held_out))
        tokenizer = AutoTokenizer.from_pretrained(self.store.resolve(tokenizer_path))
        language = _language(c)
        blocks, floors = {}, {}
        for multiple in c.length_multiples:
            packed = pack_blocks(
                [list(s.words) for s in held_out],
                tokenizer,
                c.max_seq_length * multiple,
                c.mlm_probability,
                EVAL_MASK_SEED,
                language,
            )
            path = folder / f"blocks_x{multiple}.npz"
            packed.save(path)
            blocks[str(multiple)] = self.store.relative(path)
            floors[str(multiple)] = packed.floors()
        result = {
            "train_file": self.store.relative(corpus / "train.txt"),
            "validation_file": self.store.relative(corpus / "validation.txt"),
            "blocks": blocks,
            "floors": floors,
            "num_train_sentences": len(train),
        }
        if language is not None:
            result["unigram_entropy"] = language.unigram_entropy()
            result["expected_sentence_length"] = language.expected_length()
        return result

    def tasks_stage(self, seed: int, shown: bool = True) -> dict:
        """The built-in tasks' splits for one seed, written once and shared by every variant (GLUE-style files)."""
        c = self.config
        builtin = c.builtin_tasks
        if not builtin:
            return {}
        settings = {"tasks": builtin, "seed": seed, "size": c.builtin_task_size, "grammar": c.builtin_grammar}

        def work(folder: Path) -> dict:
            from ..data import load_builtin_task

            files = {}
            for task in builtin:
                splits = load_builtin_task(
                    task, seed=seed, num_train=c.builtin_task_size, num_test=0, grammar=c.builtin_grammar
                )
                files[task] = {}
                for split in ("train", "validation"):
                    path = folder / f"{task}.{split}.jsonl"
                    splits[split].to_json(path)
                    files[task][split] = self.store.relative(path)
            return {"files": files}

        def headline(result):
            return f"{', '.join(result['files'])}: train and validation files"

        return self._stage(f"{SHARED_UNIT}/seed{seed}", "tasks", settings, work, headline, shown)["files"]

    def probing_data_stage(self, shown: bool = True) -> dict:
        """The frozen-feature probing tasks' train and test examples, one split shared by every model and seed."""
        c = self.config
        if not c.probing_tasks:
            return {}
        settings = {
            "tasks": c.probing_tasks,
            "train": c.probing_train_sentences,
            "test": c.probing_test_sentences,
            "seed": PROBING_SEED,
        }

        def work(folder: Path) -> dict:
            from ..data.probing import probing_task

            files, sizes = {}, {}
            for task in c.probing_tasks:
                splits = probing_task(task, c.probing_train_sentences, c.probing_test_sentences, seed=PROBING_SEED)
                path = folder / f"{task}.json"
                path.write_text(json.dumps(splits) + "\n")
                files[task] = self.store.relative(path)
                sizes[task] = {split: len(examples) for split, examples in splits.items()}
            return {"files": files, "examples": sizes}

        return self._stage(SHARED_UNIT, "probing", settings, work, _probing_headline, shown)

    # ---------------------------------------------------------------------------------------------- unit stages

    def pretrain_stage(self, unit: str, spec: VariantSpec, seed: int, data: dict) -> dict:
        c = self.config
        tokenizer = str(self.store.resolve(data["tokenizer"])) if not c.tokenizer_name else c.tokenizer_name
        settings = {
            "variant": spec.config_kwargs(),
            "model": c.model_kwargs(),
            "seed": seed,
            "data": self.store.content_id(self.store.folder(SHARED_UNIT, "data")),
            "steps": c.pretrain_steps,
            "batch": c.pretrain_batch_size,
            "lr": c.pretrain_learning_rate,
            "warmup": c.warmup_fraction,
            "seq": c.max_seq_length,
            "mlm_probability": c.mlm_probability,
            "corpus": list(corpus_identity(c).values()),
            "tokenizer": input_fingerprint(c.tokenizer_name),
        }
        code = spec.code_digest()
        if code:  # a user's PE: its source is part of what the stage computed
            settings["pe_code"] = code

        def work(folder: Path) -> dict:
            from ..configuration import PEBertConfig
            from ..training import pretrain
            from ..training.arguments import MLMDataArguments, ModelArguments

            # The MLM head runs on masked tokens only (run_mlm's default: same loss and gradients).
            model_args = ModelArguments(tokenizer_name=tokenizer)
            config = PEBertConfig(**c.model_kwargs(), **spec.config_kwargs())
            if c.builtin_corpus:
                data_args = MLMDataArguments(
                    train_file=str(self.store.resolve(data["train_file"])),
                    validation_file=str(self.store.resolve(data["validation_file"])),
                    max_seq_length=c.max_seq_length,
                    mlm_probability=c.mlm_probability,
                )
            else:
                data_args = user_corpus_arguments(c)
            # Built-in corpus: the masked evaluation stage measures the model (against the floors); otherwise the
            # Trainer's evaluation on the held-out split is the only measure.
            training_args = _training_arguments(
                folder,
                c,
                seed,
                c.pretrain_steps,
                c.pretrain_batch_size,
                c.pretrain_learning_rate,
                do_eval=not c.builtin_corpus,
                verbose=self.verbose,
            )
            metrics = pretrain.main(model_args, data_args, training_args, config=config)
            return {"path": self.store.relative(folder), "metrics": _deterministic(metrics)}

        # The model card step rewrites README.md with the measured numbers: not part of the stage's content.
        return self._stage(
            unit,
            "pretrain",
            settings,
            work,
            lambda r: f"train loss {r['metrics']['train_loss']:.3f}",
            collective=True,
            rewritten=("README.md",),
            volatile=TRAINER_TIMING_FILES,
        )

    def mlm_stage(self, unit: str, spec: VariantSpec, pretrained: str, data: dict) -> dict:
        """Masked-token loss on the fixed evaluation blocks at each length, and its share of the learnable signal."""
        c = self.config
        settings = {
            "pretrained": self.store.content_id(pretrained),
            "data": self.store.content_id(self.store.folder(SHARED_UNIT, "data")),
            "batch": c.eval_batch_size,
        }

        def work(folder: Path) -> dict:
            from transformers import AutoModelForMaskedLM

            from ..configuration import position_table_limit
            from .mlm_eval import MaskedBlocks, masked_token_losses, share_captured

            model = AutoModelForMaskedLM.from_pretrained(pretrained).eval()
            bound = position_table_limit(model.config)
            lengths = {}
            for multiple, path in data["blocks"].items():
                length = c.max_seq_length * int(multiple)
                floors = data["floors"][multiple]
                if bound is not None and length > bound[0]:
                    lengths[multiple] = {
                        "length": length,
                        "applicable": False,
                        "reason": f"absolute PE: positions are bounded by max_position_embeddings "
                        f"({model.config.max_position_embeddings})",
                    }
                    continue
                losses = masked_token_losses(model, MaskedBlocks.load(self.store.resolve(path)), c.eval_batch_size)
                loss = float(losses.mean())
                lengths[multiple] = {
                    "length": length,
                    "applicable": True,
                    "loss": loss,
                    "share": share_captured(loss, floors["unigram_loss"], floors["bayes_loss"]),
                    "masked_tokens": int(losses.size),
                }
            return {"lengths": lengths}

        def headline(result):
            first = result["lengths"][str(c.length_multiples[0])]
            share = f", {100 * first['share']:.0f} % of the learnable signal" if first.get("share") is not None else ""
            return f"masked-token loss {first['loss']:.3f}{share}"

        return self._stage(unit, "mlm", settings, work, headline)

    def probing_stage(self, unit: str, pretrained: str, probing: dict) -> dict:
        """Frozen-feature probes of the pretrained model: a logistic regression on its last hidden states for each
        probing task (topic, order, roles), trained and tested on the shared split."""
        c = self.config
        settings = {
            "pretrained": self.store.content_id(pretrained),
            "data": self.store.content_id(self.store.folder(SHARED_UNIT, "probing")),
            "batch": c.eval_batch_size,
        }

        def work(folder: Path) -> dict:
            from transformers import AutoModel, AutoTokenizer

            from ..analysis.probes.frozen import run_probing_task

            model = AutoModel.from_pretrained(pretrained).eval()
            tokenizer = AutoTokenizer.from_pretrained(pretrained)
            results = {}
            for task, path in probing["files"].items():
                splits = json.loads(self.store.resolve(path).read_text())
                results[task] = run_probing_task(model, tokenizer, splits, batch_size=c.eval_batch_size).to_dict()
            return {"tasks": results}

        def headline(result):
            return (
                ", ".join(f"{task} {100 * r['accuracy']:.1f}" for task, r in result["tasks"].items())
                + " (probe accuracy, %)"
            )

        return self._stage(unit, "probing", settings, work, headline)

    def finetune_stage(self, unit: str, task: str, seed: int, pretrained: str, task_files: dict) -> dict:
        c = self.config
        files = task_files.get(task)
        settings = {
            "task": task,
            "pretrained": self.store.content_id(pretrained),
            "seed": seed,
            "steps": c.finetune_steps,
            "batch": c.finetune_batch_size,
            "lr": c.finetune_learning_rate,
            "warmup": c.warmup_fraction,
            "seq": c.max_position_embeddings,
            "data": self.store.content_id(self.store.folder(f"{SHARED_UNIT}/seed{seed}", "tasks")) if files else None,
        }

        def work(folder: Path) -> dict:
            from ..training import finetune
            from ..training.arguments import GlueDataArguments, ModelArguments

            paths = {f"{split}_file": str(self.store.resolve(path)) for split, path in (files or {}).items()}
            data_args = GlueDataArguments(task_name=task, max_seq_length=c.max_position_embeddings, **paths)
            training_args = _training_arguments(
                folder,
                c,
                seed,
                c.finetune_steps,
                c.finetune_batch_size,
                c.finetune_learning_rate,
                do_eval=True,
                verbose=self.verbose,
            )
            metrics = finetune.main(ModelArguments(model_name_or_path=pretrained), data_args, training_args)
            name, value = main_metric(task, metrics)
            return {
                "path": self.store.relative(folder),
                "metric": name,
                "score": value,
                "metrics": _deterministic(metrics),
            }

        return self._stage(
            unit,
            f"finetune:{task}",
            settings,
            work,
            lambda r: f"{task} {r['metric']} {r['score']:.3f}",
            collective=True,
            volatile=TRAINER_TIMING_FILES,
        )

    def score_stage(self, unit: str, seed: int, models: dict[str, str]) -> dict:
        """Locality and symmetry (both variants) of every model of the unit, on held-out built-in sentences,
        plus identical-token position attention of the pretrained model."""
        c = self.config
        settings = {
            "models": {name: self.store.content_id(path) for name, path in models.items()},
            "sentences": c.analysis_sentences,
            "seq": c.max_seq_length,
            "grammar": c.builtin_grammar,
            "position_seq_len": c.position_seq_len,
            "seed": seed,
        }

        def work(folder: Path) -> dict:
            import torch
            from transformers import AutoModel, AutoTokenizer

            from ..analysis import position_attention, score_attention

            texts = [s.text for s in _builtin_sentences(c, c.analysis_sentences, ANALYSIS_SEED_OFFSET + seed)]
            result = {}
            for name, path in models.items():
                model = AutoModel.from_pretrained(path).eval()
                model.config._name_or_path = self.store.relative(path)  # the scores file names it, relocatably
                tokenizer = AutoTokenizer.from_pretrained(path)
                scores = score_attention(
                    model,
                    tokenizer,
                    texts,
                    batch_size=ATTENTION_BATCH_SIZE,
                    max_length=c.max_seq_length,
                    progress=self.verbose,
                )
                scores.to_json(folder / f"{name}_scores.json")
                scores.plot(folder / f"{name}_heatmaps.png", title=f"{unit} ({name}): attention scores")
                result[name] = {
                    "locality": scores.mean_locality,
                    "symmetry": scores.mean_symmetry,
                    "symmetry_mass": scores.mean_symmetry_mass,
                    "num_matrices": scores.num_matrices,
                }
                if name == "pretrained":
                    positional = position_attention(model, c.position_seq_len)
                    positional.plot(folder / "position_attention.png", title=f"{unit}: identical-token attention")
                    mean_matrix = positional.attentions.to(torch.float64).mean(dim=(0, 1))
                    result["position"] = {
                        "overall": jsonable(positional.to_dict()["overall"]),
                        "mean_matrix": mean_matrix.tolist(),
                    }
            return jsonable(result)

        return self._stage(
            unit,
            "score",
            settings,
            work,
            lambda r: (
                f"locality {r['pretrained']['locality']:.3f}, symmetry "
                f"{r['pretrained']['symmetry']:.3f} (mass {r['pretrained']['symmetry_mass']:.3f})"
            ),
        )

    def probe_stage(
        self, unit: str, seed: int, pretrained: str, nli_task: str | None, nli_model: str | None, task_files: dict
    ) -> dict:
        """Zero-shot word-order probes (PLL preference, representation drift) on the pretrained MLM, and the
        paper's NLI probe on the fine-tuned NLI model when the study fine-tunes on NLI."""
        c = self.config
        nli_file = (task_files.get(nli_task) or {}).get("validation") if nli_task else None
        settings = {
            "pretrained": self.store.content_id(pretrained),
            "nli": self.store.content_id(nli_model),
            "nli_task": nli_task,
            "nli_data": nli_file,
            "examples": c.probe_examples,
            "zero_shot": c.probe_zero_shot_sentences,
            "seed": seed,
            "seq": c.max_seq_length,
            "grammar": c.builtin_grammar,
        }

        def work(folder: Path) -> dict:
            from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification, AutoTokenizer

            from ..analysis.probes import load_nli_examples, nli_probe, plot_deltas, zero_shot_probe

            result = {}
            if nli_model is not None:
                model = AutoModelForSequenceClassification.from_pretrained(nli_model).eval()
                tokenizer = AutoTokenizer.from_pretrained(nli_model)
                # The validation pairs of the very task the model was fine-tuned on (held out from its training).
                source = str(self.store.resolve(nli_file)) if nli_file else nli_task
                examples = load_nli_examples(source, num_examples=c.probe_examples, seed=seed)
                report = nli_probe(
                    model, tokenizer, examples, seed=seed, max_length=c.max_position_embeddings, model_name=unit
                )
                plot_deltas(report, folder / "nli_probe.png")
                result["nli"] = jsonable(report.to_dict())
            model = AutoModelForMaskedLM.from_pretrained(pretrained).eval()
            tokenizer = AutoTokenizer.from_pretrained(pretrained)
            sentences = _builtin_sentences(c, c.probe_zero_shot_sentences, PROBE_SEED_OFFSET + seed)
            result["zero_shot"] = jsonable(
                zero_shot_probe(model, tokenizer, sentences, seed=seed, model_name=unit).to_dict()
            )
            return result

        def headline(result):
            pll = result["zero_shot"]["results"].get("shuffle-sr", {}).get("pll", {})
            text = f"prefers the original over Shuffle-SR {100 * pll['preference']:.0f} %" if pll else ""
            if "nli" in result:
                delta = result["nli"]["results"].get("shuffle-sr", {}).get("delta")
                if delta is not None:
                    text += f"; NLI Δ Shuffle-SR {100 * delta:+.1f} points"
            return text

        return self._stage(unit, "probe", settings, work, headline)

    # ---------------------------------------------------------------------------------------------- driver

    def units(self) -> list[tuple[str, VariantSpec, int]]:
        return [
            (f"{spec.label}/seed{seed}", spec, seed)
            for spec in self.config.variant_specs()
            for seed in self.config.seeds
        ]

    def unit_stage_names(self) -> list[str]:
        """The stages of every unit, in the order `run_unit` runs them."""
        c = self.config
        return [
            "pretrain",
            *(["mlm"] if c.builtin_corpus else []),
            *(["probing"] if c.probing_tasks else []),
            *(f"finetune:{task}" for task in c.tasks),
            "score",
            "probe",
        ]

    def stages_per_unit(self) -> int:
        return len(self.unit_stage_names())

    def shared_stages(self) -> tuple[dict, dict, dict]:
        """The shared stages' results (data, probing split, task files per seed), computed or looked up."""
        data, probing = self.data_stage(), self.probing_data_stage()
        task_files = {seed: self.tasks_stage(seed) for seed in self.config.seeds if self.config.builtin_tasks}
        return data, probing, task_files

    @runner.with_unit_threads
    def report_only(self) -> dict:
        """Rebuild the report, results.json, plots and model cards from the stored stages alone (nothing is
        computed); units with a stage not stored are reported as missing."""
        from .hub import write_model_cards
        from .report import save_results, write_report

        self.store.read_only = True
        try:
            data, probing, task_files = self.shared_stages()
        except NotStored as missing:
            raise UsageError(
                f"{self.out} holds no finished shared stage {missing.stage!r} of this study: run the "
                "study first (with the same settings), then --report-only."
            ) from None
        results = [
            self.run_unit(unit, spec, seed, data, task_files.get(seed, {}), probing)
            for unit, spec, seed in self.units()
        ]
        summary = write_report(self, results, 0.0, 0, data)
        summary["metadata"]["model_cards"] = write_model_cards(self, results, summary)
        save_results(self.out, summary)
        return summary

    def plan(self) -> dict:
        """What `run` would do, without training: every shared stage and unit stage, stored or to run, with its size
        and estimated compute (`pe_bert.study.plan`)."""
        from .plan import describe

        self.store.read_only = True
        stages = []
        try:
            data, probing, task_files = self.shared_stages()
        except NotStored:
            data = None
        stages += [{**entry, "kind": entry["stage"]} for entry in self.store.looked]
        for unit, spec, seed in self.units():
            self.store.looked = []
            if data is not None:
                self.run_unit(unit, spec, seed, data, task_files.get(seed, {}), probing)
            stored = [entry["stage"] for entry in self.store.looked if entry["stored"]]
            stages += [
                {"unit": unit, "stage": stage, "stored": stage in stored, "spec": spec}
                for stage in self.unit_stage_names()
            ]
        if data is None:
            stages = [
                {"unit": SHARED_UNIT, "stage": name, "stored": False}
                for name in ["data", *(["probing"] if self.config.probing_tasks else [])]
            ] + stages
        return describe(self.config, stages)

    def run_unit(
        self,
        unit: str,
        spec: VariantSpec,
        seed: int,
        data: dict | None = None,
        task_files: dict | None = None,
        probing: dict | None = None,
    ) -> UnitResult:
        """Every stage of one (variant, seed). `data`, `task_files`, `probing`: the shared stages' results, looked up
        (and verified) here when not given, as in a worker process."""
        result = UnitResult(spec.label, spec.position_encoding, spec.overrides, seed)
        try:
            data = self.data_stage(shown=False) if data is None else data
            task_files = self.tasks_stage(seed, shown=False) if task_files is None else task_files
            probing = self.probing_data_stage(shown=False) if probing is None else probing
            pretrain = self.pretrain_stage(unit, spec, seed, data)
            result.stages["pretrain"] = pretrain
            # Stage results store paths relative to --out (a study folder can be moved); use them resolved.
            pretrained = str(self.store.resolve(pretrain["path"]))
            if "blocks" in data:
                result.stages["mlm"] = self.mlm_stage(unit, spec, pretrained, data)
            if probing:
                result.stages["probing"] = self.probing_stage(unit, pretrained, probing)
            models = {"pretrained": pretrained}
            for task in self.config.tasks:
                finetuned = self.finetune_stage(unit, task, seed, pretrained, task_files)
                result.stages[f"finetune:{task}"] = finetuned
                models[task] = str(self.store.resolve(finetuned["path"]))
            result.stages["score"] = self.score_stage(unit, seed, models)
            nli_task = next((t for t in NLI_TASKS if t in models), None)
            result.stages["probe"] = self.probe_stage(
                unit, seed, pretrained, nli_task, models.get(nli_task), task_files
            )
        except StageFailed as failure:
            logger.error("%s", failure)
            result.failure = {"stage": failure.stage, "error": failure.error, "traceback": failure.traceback}
        return result

    def worker_count(self) -> int:
        """Parallel unit processes: the setting, or (0) as many as the CPU cores hold units of `unit_threads` threads,
        on a CPU-only, single-process run."""
        import torch

        if self.store.processes.count > 1 or torch.cuda.is_available():
            return 1
        workers = self.config.workers or (os.cpu_count() or 1) // self.config.unit_threads
        return max(1, min(workers, len(self.units())))

    @runner.with_unit_threads
    def run(self) -> dict:
        """Run (or resume) every stage, then write the report, the model cards and (if asked) push to the Hub;
        returns the results dictionary.

        Each stage is computed under its lease: several studies (or launchers, on several hosts) can work on one
        folder, each stage computed once, the others waiting for it or using it."""
        from .hub import push_checkpoints, write_model_cards
        from .report import save_results, write_report

        start = time.perf_counter()
        main = self.store.processes.is_main
        if main:
            (self.out / "study_config.json").write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")
        units = self.units()
        workers = self.worker_count()
        shared = 1 + bool(self.config.probing_tasks) + (len(self.config.seeds) if self.config.builtin_tasks else 0)
        with tqdm(
            total=shared + len(units) * self.stages_per_unit(),
            desc="Study",
            unit="stage",
            file=sys.stderr,
            # a bar only in a terminal: elsewhere (a pipe, a file, a SLURM log) its frames would be lines of "\r"
            disable=not self.progress or not main or not sys.stderr.isatty(),
            dynamic_ncols=True,
        ) as bar:
            self._bar = bar
            data, probing, task_files = self.shared_stages()
            if self.config.launcher != "local":
                from .jobs import run_jobs

                results = run_jobs(self, units, lambda result: self._counted(result, bar))
            elif workers > 1:
                from .runner import run_units

                results = run_units(self, units, workers, lambda result: self._counted(result, bar))
            else:
                results = [
                    self._counted(self.run_unit(unit, spec, seed, data, task_files.get(seed, {}), probing), bar)
                    for unit, spec, seed in units
                ]
            self._bar = None
        wall_time = time.perf_counter() - start
        summary = None
        if main:  # under `accelerate launch`, one process writes the report, the cards and pushes
            summary = write_report(self, results, wall_time, workers, data)
            summary["metadata"]["model_cards"] = write_model_cards(self, results, summary)
            if self.config.push_to_hub:
                summary["metadata"]["pushed"] = push_checkpoints(self, results, summary)
            save_results(self.out, summary)
        self.store.processes.barrier()
        return summary if summary is not None else json.loads((self.out / "results.json").read_text())

    def _counted(self, result: UnitResult, bar) -> UnitResult:
        if result.failure:  # keep the bar's total honest
            bar.update(max(0, self.stages_per_unit() - len(result.stages) - 1))
        return result


def corpus_identity(c: StudyConfig) -> dict:
    """What the pretraining text is, for the settings of the stages built on it: the dataset (a local folder or
    file by content: editing it redoes what was built on it, moving it does not; a Hub dataset by name, and by
    revision when --dataset-revision pins it), its config, the training file by content, the built-in corpus's
    size."""
    identity = {
        "dataset_name": input_fingerprint(c.dataset_name),
        "dataset_config_name": c.dataset_config_name,
        "train_file": input_fingerprint(c.train_file),
        "builtin_num_sentences": c.builtin_num_sentences,
    }
    if c.dataset_revision:  # only when pinned: the studies stored before it existed keep their stages
        identity["dataset_revision"] = c.dataset_revision
    return identity


def user_corpus_arguments(c: StudyConfig):
    """The user's pretraining text (a Hub dataset or --train-file) as run_mlm's data arguments."""
    from ..training.arguments import MLMDataArguments

    return MLMDataArguments(
        dataset_name=c.dataset_name,
        dataset_config_name=c.dataset_config_name,
        dataset_revision=c.dataset_revision,
        train_file=c.train_file,
        max_seq_length=c.max_seq_length,
        mlm_probability=c.mlm_probability,
    )


def _probing_headline(result: dict) -> str:
    return "probing splits: " + ", ".join(
        f"{task} {sizes['train']:,} train / {sizes['test']:,} test examples"
        for task, sizes in result["examples"].items()
    )


def _data_headline(result: dict) -> str:
    floors = result.get("floors", {})
    first = next(iter(floors.values()), None)
    if not first or first.get("bayes_loss") is None:
        return "tokenizer ready"
    return (
        f"{result['num_train_sentences']:,} sentences; unigram entropy {result['unigram_entropy']:.3f} nats, "
        f"Bayes-optimal masked-token loss {first['bayes_loss']:.3f} nats"
    )


def _deterministic(metrics: dict) -> dict:
    """The Trainer's metrics without those that measure the machine (the report's metadata holds the timings), so
    that results.json is identical from run to run."""
    from ..model_card import MACHINE_METRICS

    return jsonable({k: v for k, v in metrics.items() if not k.endswith(MACHINE_METRICS)})
