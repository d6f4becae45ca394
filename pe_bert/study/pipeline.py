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
from .store import NotStored, StageFailed, StageStore, input_fingerprint, stored_strings

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
ANALYSIS_SEED_OFFSET = 10_000
# The zero-shot probes: the same held-out sentences and the same perturbations for every seed, so that a sentence's
# result can be averaged over seeds and tested over sentences (seeds are not independent samples of sentences).
PROBE_SENTENCES_SEED = 20_000
PROBE_PERTURBATION_SEED = 0
# Pretraining: a constant learning rate after warmup, so that the model at every budget is a finished one.
PRETRAINING_SCHEDULE = "constant_with_warmup"
BUDGET_PREFIX = "steps"  # a pretrained model is named by its budget: "steps500"


def budget_name(steps: int | str) -> str:
    return f"{BUDGET_PREFIX}{steps}"


def budget_steps(name: str) -> int:
    return int(name[len(BUDGET_PREFIX) :])


def budget_stage(stage: str, steps: int, final: int) -> str:
    """The name of a per-budget stage: the stage itself at the final budget, `stage:steps<n>` before it."""
    return stage if steps == final else f"{stage}:{budget_name(steps)}"


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
    warmup_steps: int | None = None,
    schedule: str = "linear",
):
    """`warmup_steps` None: warmup_fraction of `steps`. `schedule`: the Trainer's lr_scheduler_type."""
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(output_dir),
        do_train=True,
        do_eval=do_eval,
        max_steps=steps,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        learning_rate=learning_rate,
        # a float below 1 is a fraction of the steps
        warmup_steps=config.warmup_fraction if warmup_steps is None else warmup_steps,
        lr_scheduler_type=schedule,
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
class SharedResults:
    """The shared stages' results: the data (tokenizer, corpus, evaluation blocks and floors), the grid's
    manipulation check, the probing split (with its n-gram baselines) and the built-in tasks' files per seed."""

    data: dict
    design: dict
    probing: dict
    task_files: dict

    def for_seed(self, seed: int) -> tuple[dict, dict, dict]:
        """`run_unit`'s (data, task_files, probing) arguments for a unit of `seed`."""
        return self.data, self.task_files.get(seed, {}), self.probing


@dataclass
class UnitResult:
    """Everything measured for one (variant, seed)."""

    variant: str
    position_encoding: str
    overrides: dict
    seed: int
    stages: dict = field(default_factory=dict)
    failure: dict | None = None
    trained: bool = True


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

        def paths(result: dict) -> list[str]:  # a user's --tokenizer-name is an input, not a stored path
            stored = [result.get(key) for key in ("train_file", "validation_file", "blocks")]
            return stored_strings(stored) + ([] if c.tokenizer_name else [result["tokenizer"]])

        return self._stage(SHARED_UNIT, "data", settings, work, _data_headline, shown, paths=paths)

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

        return self._stage(f"{SHARED_UNIT}/seed{seed}", "tasks", settings, work, headline, shown, paths=_files)["files"]

    def probing_data_stage(self, shown: bool = True) -> dict:
        """The frozen-feature probing tasks' train and test examples, one split shared by every model and seed."""
        c = self.config
        if not c.probing_tasks:
            return {}
        settings = {
            "tasks": c.probing_tasks,
            "train": c.probing_train_sentences,
            "test": c.probing_test_sentences,
            "seed": c.probing_seed,
        }

        def work(folder: Path) -> dict:
            from ..analysis.probes.frozen import ngram_baseline
            from ..data.probing import probing_task

            files, sizes, baselines = {}, {}, {}
            for task in c.probing_tasks:
                splits = probing_task(task, c.probing_train_sentences, c.probing_test_sentences, seed=c.probing_seed)
                path = folder / f"{task}.json"
                path.write_text(json.dumps(splits) + "\n")
                files[task] = self.store.relative(path)
                sizes[task] = {split: len(examples) for split, examples in splits.items()}
                # what a bag of words and bigrams already achieves on the same split, with the same classifier
                baselines[task] = ngram_baseline(splits).to_dict()
            return {"files": files, "examples": sizes, "ngram_baselines": baselines}

        return self._stage(SHARED_UNIT, "probing", settings, work, _probing_headline, shown, paths=_files)

    def design_stage(self, shown: bool = True) -> dict:
        """The manipulation check of the grid on identical tokens (`pe_bert.study.design`), before pretraining."""
        from .design import manipulation_check
        from .protocol import PROTOCOL

        c = self.config
        if not c.attenuated_grid():
            return {}
        settings = {
            "grid": [spec.config_kwargs() for spec in c.variant_specs() if spec.position_encoding == "attenuated"],
            "model": c.model_kwargs(),
            "seq": c.position_seq_len,
            "max_cross_effect": PROTOCOL.max_cross_effect,
        }

        def work(folder: Path) -> dict:
            return manipulation_check(c, PROTOCOL.max_cross_effect)

        def headline(result):
            return (
                f"manipulation check {'passed' if result['passed'] else 'FAILED'}: s moves locality by at most "
                f"{max(result['s_moves_locality'].values()):.3f}, w moves symmetry by at most "
                f"{max(result['w_moves_symmetry'].values()):.3f} (limit {result['max_cross_effect']:g})"
            )

        return self._stage(SHARED_UNIT, "design", settings, work, headline, shown)

    # ---------------------------------------------------------------------------------------------- unit stages

    def _warmup_steps(self) -> int:
        """Pretraining warmup: a fraction of the first budget, the same whatever the largest budget."""
        return round(self.config.warmup_fraction * self.config.pretrain_steps)

    def pretrain_stage(self, unit: str, spec: VariantSpec, seed: int, data: dict) -> dict:
        """Pretraining to the largest budget at a constant learning rate after warmup; the model at each smaller
        budget is kept in `steps-<n>/` (a finished model: the same as a run of n steps). The result's
        `checkpoints` maps each budget's steps to its model folder."""
        c = self.config
        budgets = c.budgets()
        tokenizer = str(self.store.resolve(data["tokenizer"])) if not c.tokenizer_name else c.tokenizer_name
        settings = {
            "variant": spec.config_kwargs(),
            "model": c.model_kwargs(),
            "seed": seed,
            "data": self.store.content_id(self.store.folder(SHARED_UNIT, "data")),
            "steps": budgets[-1],
            "budgets": budgets,
            "schedule": PRETRAINING_SCHEDULE,
            "batch": c.pretrain_batch_size,
            "lr": c.pretrain_learning_rate,
            "warmup": self._warmup_steps(),
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
                budgets[-1],
                c.pretrain_batch_size,
                c.pretrain_learning_rate,
                do_eval=not c.builtin_corpus,
                verbose=self.verbose,
                warmup_steps=self._warmup_steps(),
                schedule=PRETRAINING_SCHEDULE,
            )
            from ..training.common import SaveAtSteps

            metrics = pretrain.main(
                model_args, data_args, training_args, callbacks=[SaveAtSteps(budgets[:-1])], config=config
            )
            checkpoints = {str(step): self.store.relative(SaveAtSteps.folder(folder, step)) for step in budgets[:-1]}
            checkpoints[str(budgets[-1])] = self.store.relative(folder)
            return {"path": self.store.relative(folder), "checkpoints": checkpoints, "metrics": _deterministic(metrics)}

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
            paths=_model_paths,
        )

    def init_stage(self, unit: str, spec: VariantSpec, seed: int, data: dict) -> dict:
        """A control model: the variant's masked LM at initialisation (seeded as pretraining seeds it), never
        trained; measured like a pretrained one at budget 0."""
        c = self.config
        tokenizer_path = str(self.store.resolve(data["tokenizer"])) if not c.tokenizer_name else c.tokenizer_name
        settings = {
            "variant": spec.config_kwargs(),
            "model": c.model_kwargs(),
            "seed": seed,
            "data": self.store.content_id(self.store.folder(SHARED_UNIT, "data")),
            "tokenizer": input_fingerprint(c.tokenizer_name),
        }

        def work(folder: Path) -> dict:
            from transformers import AutoTokenizer, set_seed

            from ..configuration import PEBertConfig
            from ..modeling import PEBertForMaskedLM

            tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
            set_seed(seed)
            config = PEBertConfig(**c.model_kwargs(), **spec.config_kwargs(), vocab_size=len(tokenizer))
            PEBertForMaskedLM(config).save_pretrained(folder)
            tokenizer.save_pretrained(folder)
            return {"path": self.store.relative(folder), "checkpoints": {"0": self.store.relative(folder)}}

        return self._stage(unit, "init", settings, work, lambda r: "initialised, not trained", paths=_model_paths)

    def mlm_stage(self, unit: str, spec: VariantSpec, pretrained: str, data: dict, stage: str = "mlm") -> dict:
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

        return self._stage(unit, stage, settings, work, headline)

    def probing_stage(
        self, unit: str, pretrained: str, probing: dict, stage: str = "probing", tasks: list[str] | None = None
    ) -> dict:
        """Frozen-feature probes of the pretrained model: a logistic regression on its last hidden states for each
        probing task (`tasks`, default all), trained and tested on the shared split."""
        c = self.config
        tasks = list(probing["files"]) if tasks is None else [t for t in probing["files"] if t in tasks]
        settings = {
            "pretrained": self.store.content_id(pretrained),
            "data": self.store.content_id(self.store.folder(SHARED_UNIT, "probing")),
            "batch": c.eval_batch_size,
            "tasks": tasks,
        }

        def work(folder: Path) -> dict:
            from transformers import AutoModel, AutoTokenizer

            from ..analysis.probes.frozen import run_probing_task

            model = AutoModel.from_pretrained(pretrained).eval()
            tokenizer = AutoTokenizer.from_pretrained(pretrained)
            results = {}
            for task in tasks:
                splits = json.loads(self.store.resolve(probing["files"][task]).read_text())
                results[task] = run_probing_task(model, tokenizer, splits, batch_size=c.eval_batch_size).to_dict()
            return {"tasks": results}

        def headline(result):
            return (
                ", ".join(f"{task} {100 * r['accuracy']:.1f}" for task, r in result["tasks"].items())
                + " (probe accuracy, %)"
            )

        return self._stage(unit, stage, settings, work, headline)

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
            paths=lambda r: [r["path"]],
        )

    def score_stage(self, unit: str, seed: int, models: dict[str, str]) -> dict:
        """Locality and symmetry (both variants) of every model of the unit, on held-out built-in sentences,
        plus identical-token position attention (`position`) of each pretrained model (one per budget, named
        `budget_name(steps)`)."""
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
                if name.startswith(BUDGET_PREFIX):
                    positional = position_attention(model, c.position_seq_len)
                    positional.plot(
                        folder / f"{name}_position_attention.png", title=f"{unit} ({name}): identical-token attention"
                    )
                    mean_matrix = positional.attentions.to(torch.float64).mean(dim=(0, 1))
                    result[name]["position"] = {
                        "overall": jsonable(positional.to_dict()["overall"]),
                        "mean_matrix": mean_matrix.tolist(),
                    }
            return jsonable(result)

        def headline(result):
            final = result[max((n for n in result if n.startswith(BUDGET_PREFIX)), key=budget_steps)]
            return (
                f"locality {final['locality']:.3f}, symmetry {final['symmetry']:.3f} "
                f"(mass {final['symmetry_mass']:.3f})"
            )

        return self._stage(unit, "score", settings, work, headline)

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
            sentences = _builtin_sentences(c, c.probe_zero_shot_sentences, PROBE_SENTENCES_SEED)
            report = zero_shot_probe(model, tokenizer, sentences, seed=PROBE_PERTURBATION_SEED, model_name=unit)
            result["zero_shot"] = jsonable(report.to_dict())
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
        """(unit, spec, seed) of every variant and seed, then the untrained controls."""
        return [
            (f"{spec.label}/seed{seed}", spec, seed)
            for spec in self.config.variant_specs() + self.config.control_specs()
            for seed in self.config.seeds
        ]

    def unit_stage_names(self, spec: VariantSpec | None = None) -> list[str]:
        """The stages of a unit of `spec` (a trained variant by default), in the order `run_unit` runs them."""
        c = self.config
        trained = spec is None or spec.trained
        budgets = c.budgets() if trained else [0]
        per_budget = [
            budget_stage(stage, steps, budgets[-1])
            for steps in budgets
            for stage in (["mlm"] if c.builtin_corpus else [])
            + (["probing"] if (c.probing_tasks if steps == budgets[-1] else c.outcome_tasks) else [])
        ]
        if not trained:
            return ["init", *per_budget]
        return ["pretrain", *per_budget, *(f"finetune:{task}" for task in c.tasks), "score", "probe"]

    def stages_per_unit(self, spec: VariantSpec | None = None) -> int:
        return len(self.unit_stage_names(spec))

    def shared_stages(self) -> SharedResults:
        """The shared stages' results (data, the grid's manipulation check, probing split, task files per seed),
        computed or looked up."""
        data = self.data_stage()
        design = self.design_stage()  # before any pretraining: the grid's knobs checked on identical tokens
        probing = self.probing_data_stage()
        task_files = {seed: self.tasks_stage(seed) for seed in self.config.seeds if self.config.builtin_tasks}
        return SharedResults(data, design, probing, task_files)

    def shared_stage_count(self) -> int:
        c = self.config
        return 1 + bool(c.attenuated_grid()) + bool(c.probing_tasks) + (len(c.seeds) if c.builtin_tasks else 0)

    @runner.with_unit_threads
    def report_only(self) -> dict:
        """Rebuild the report, results.json, plots and model cards from the stored stages alone (nothing is
        computed); units with a stage not stored are reported as missing."""
        from .folder import check_same_study
        from .hub import write_model_cards
        from .report import save_results, write_report

        check_same_study(self.config)  # never overwrite a report with one of other settings
        self.store.read_only = True
        try:
            shared = self.shared_stages()
        except NotStored as missing:
            raise UsageError(
                f"{self.out} holds no finished shared stage {missing.stage!r} of this study: run the "
                "study first (with the same settings), then --report-only."
            ) from None
        results = [self.run_unit(unit, spec, seed, *shared.for_seed(seed)) for unit, spec, seed in self.units()]
        summary = write_report(self, results, 0.0, 0, shared)
        summary["metadata"]["model_cards"] = write_model_cards(self, results, summary)
        save_results(self.out, summary)
        return summary

    def plan(self) -> dict:
        """What `run` would do, without training: every shared stage and unit stage, stored or to run, with its size
        and estimated compute (`pe_bert.study.plan`)."""
        from .folder import check_same_study
        from .plan import describe

        check_same_study(self.config)
        self.store.read_only = True
        stages = []
        try:
            shared = self.shared_stages()
        except NotStored:
            shared = None
        stages += [{**entry, "kind": entry["stage"]} for entry in self.store.looked]
        for unit, spec, seed in self.units():
            self.store.looked = []
            if shared is not None:
                self.run_unit(unit, spec, seed, *shared.for_seed(seed))
            stored = [entry["stage"] for entry in self.store.looked if entry["stored"]]
            stages += [
                {"unit": unit, "stage": stage, "stored": stage in stored, "spec": spec}
                for stage in self.unit_stage_names(spec)
            ]
        if shared is None:
            c = self.config
            names = ["data", *(["design"] if c.attenuated_grid() else []), *(["probing"] if c.probing_tasks else [])]
            stages = [{"unit": SHARED_UNIT, "stage": name, "stored": False} for name in names] + stages
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
        result = UnitResult(spec.label, spec.position_encoding, spec.overrides, seed, trained=spec.trained)
        try:
            data = self.data_stage(shown=False) if data is None else data
            task_files = self.tasks_stage(seed, shown=False) if task_files is None else task_files
            probing = self.probing_data_stage(shown=False) if probing is None else probing
            first = "pretrain" if spec.trained else "init"
            pretrain = (self.pretrain_stage if spec.trained else self.init_stage)(unit, spec, seed, data)
            result.stages[first] = pretrain
            # Stage results store paths relative to --out (a study folder can be moved); use them resolved.
            checkpoints = {int(step): str(self.store.resolve(path)) for step, path in pretrain["checkpoints"].items()}
            final = max(checkpoints)
            for steps, path in sorted(checkpoints.items()):  # every budget is measured alike
                if "blocks" in data:
                    stage = budget_stage("mlm", steps, final)
                    result.stages[stage] = self.mlm_stage(unit, spec, path, data, stage)
                # every probing task at the final budget; before it, the outcome's (what the budget rule tests)
                tasks = self.config.probing_tasks if steps == final else self.config.outcome_tasks
                if probing and tasks:
                    stage = budget_stage("probing", steps, final)
                    result.stages[stage] = self.probing_stage(unit, path, probing, stage, tasks)
            if not spec.trained:  # a control: measured as a pretrained model is, nothing more
                return result
            pretrained = checkpoints[final]
            models = {budget_name(steps): path for steps, path in sorted(checkpoints.items())}
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
        from .folder import record_settings
        from .hub import push_checkpoints, write_model_cards
        from .report import save_results, write_report

        start = time.perf_counter()
        main = self.store.processes.is_main
        if main:  # the folder's one study: another study's settings are refused here, before anything runs
            record_settings(self.config)
        units = self.units()
        workers = self.worker_count()
        with tqdm(
            total=self.shared_stage_count() + sum(self.stages_per_unit(spec) for _, spec, _ in units),
            desc="Study",
            unit="stage",
            file=sys.stderr,
            # a bar only in a terminal: elsewhere (a pipe, a file, a SLURM log) its frames would be lines of "\r"
            disable=not self.progress or not main or not sys.stderr.isatty(),
            dynamic_ncols=True,
        ) as bar:
            self._bar = bar
            shared = self.shared_stages()
            self._check_sentences_fit(shared.data, shared.probing)
            if self.config.launcher != "local":
                from .jobs import run_jobs

                results = run_jobs(self, units, lambda result: self._counted(result, bar))
            elif workers > 1:
                from .runner import run_units

                results = run_units(self, units, workers, lambda result: self._counted(result, bar))
            else:
                results = [
                    self._counted(self.run_unit(unit, spec, seed, *shared.for_seed(seed)), bar)
                    for unit, spec, seed in units
                ]
            self._bar = None
        wall_time = time.perf_counter() - start
        summary = None
        if main:  # under `accelerate launch`, one process writes the report, the cards and pushes
            summary = write_report(self, results, wall_time, workers, shared)
            summary["metadata"]["model_cards"] = write_model_cards(self, results, summary)
            if self.config.push_to_hub:
                summary["metadata"]["pushed"] = push_checkpoints(self, results, summary)
            save_results(self.out, summary)
        self.store.processes.barrier()
        return summary if summary is not None else json.loads((self.out / "results.json").read_text())

    def _check_sentences_fit(self, data: dict, probing: dict) -> None:
        """The built-in sentences of the probing split and of the zero-shot probes fit the absolute PEs' position
        table under the study's tokenizer (`validation.check_sentences_fit`): checked once the data stage made it."""
        from transformers import AutoTokenizer

        from .validation import check_sentences_fit

        c = self.config
        if c.tokenizer_name:
            source, path = f"--tokenizer-name {c.tokenizer_name}", c.tokenizer_name
        elif c.builtin_corpus:
            return  # the built-in vocabulary: one token per word, and the corpus's sentences fit by construction
        else:
            source, path = f"trained on {c.train_file or c.dataset_name}", self.store.resolve(data["tokenizer"])
        sentences = {}
        for task, stored in probing.get("files", {}).items():
            splits = json.loads(self.store.resolve(stored).read_text())
            sentences[f"{task} probing sentences"] = [e["words"] for split in splits.values() for e in split]
        sentences["zero-shot probe sentences"] = [
            list(s.words) for s in _builtin_sentences(c, c.probe_zero_shot_sentences, PROBE_SENTENCES_SEED)
        ]
        check_sentences_fit(c, AutoTokenizer.from_pretrained(path), source, sentences)

    def _counted(self, result: UnitResult, bar) -> UnitResult:
        if result.failure:  # keep the bar's total honest
            spec = next(spec for _, spec, _ in self.units() if spec.label == result.variant)
            bar.update(max(0, self.stages_per_unit(spec) - len(result.stages) - 1))
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


def _files(result: dict) -> list[str]:
    """The stored paths of a stage whose result lists its files under `files` (what the store keeps inside it)."""
    return stored_strings(result["files"])


def _model_paths(result: dict) -> list[str]:
    """The paths a pretraining (or initialisation) stage stores: its model and the model at every budget."""
    return [result["path"], *result.get("checkpoints", {}).values()]


def _probing_headline(result: dict) -> str:
    baselines = result.get("ngram_baselines", {})
    return "probing splits: " + ", ".join(
        f"{task} {sizes['train']:,}/{sizes['test']:,}"
        + (f" (bigram baseline {100 * baselines[task]['accuracy']:.1f})" if task in baselines else "")
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
