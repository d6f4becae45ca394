"""What a study runs: the PE variants, seeds, model shape, data and budgets, from a YAML/JSON file and/or flags.

The defaults are the protocol's confirmatory run, offline (`protocol.PROTOCOL` states its grid, anchors, seeds and
budgets, and says why; docs/study.md for the rest): the paper's intervention, the attenuated prior over a grid of
localities w x symmetries s, beside the protocol's anchors; tiny models pretrained on the compact built-in language,
whose entropy floors are known exactly, and measured by frozen-feature probes (topic as a control, word order, who
did what to whom) whose order-blind chance is exact. Fine-tuning (`--tasks`) stays available, for GLUE at scale.

Variants: `--variants learned,rope` runs exactly those. The attenuated grid (the paper's intervention on locality
and symmetry: every (w, s) pair of `attenuated_w` x `attenuated_s` is one variant) is added only when `attenuated` is
among the variants or `--attenuated-w` / `--attenuated-s` is given; an unset side of the grid takes its default
values.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InvalidInputError, MissingInputError
from ..pe_base import position_encoding_names
from ..pe_plugins import import_position_encoding_modules
from .grid import ATTENUATED, LOCALITY, SYMMETRY, variant_label
from .protocol import PROTOCOL
from .validation import check_types, check_values

# The defaults are the protocol's confirmatory run (pe_bert.study.protocol, where each value is explained).
DEFAULT_VARIANTS = (*PROTOCOL.anchors, ATTENUATED)
DEFAULT_ATTENUATED_W = PROTOCOL.grid_w
DEFAULT_ATTENUATED_S = PROTOCOL.grid_s
DEFAULT_TASKS: tuple[str, ...] = ()
DEFAULT_PROBING_TASKS = PROTOCOL.probing_tasks
# Settings that say where and how a study runs, not what it computes: results.json keeps them in its metadata, so
# that the same study run by another launcher or number of workers gives the same results.
EXECUTION_SETTINGS = (
    "out",
    "workers",
    "launcher",
    "job_gpus",
    "job_cpus",
    "job_mem_gb",
    "job_time_min",
    "slurm_partition",
    "slurm_account",
    "assumed_tflops",
)


@dataclass(frozen=True)
class VariantSpec:
    """One model of the study: a label, its `position_encoding` and PE hyper-parameter overrides."""

    label: str
    position_encoding: str
    overrides: dict = field(default_factory=dict)
    trained: bool = True  # False: a control measured at initialisation, never pretrained

    def config_kwargs(self) -> dict:
        return {"position_encoding": self.position_encoding, **self.overrides}

    def code_digest(self) -> str | None:
        """Content hash of the module defining a user's PE (None for pe_bert's own, versioned with the package):
        editing that file invalidates the variant's stored stages."""
        import sys

        from ..pe_base import get_position_encoding_class
        from ..pe_plugins import module_digest

        module = sys.modules[get_position_encoding_class(self.position_encoding).__module__]
        return None if module.__name__.split(".")[0] == "pe_bert" else module_digest(module)


@dataclass
class StudyConfig:
    out: str = "study"
    variants: list[str] = field(default_factory=lambda: list(DEFAULT_VARIANTS))
    # The attenuated grid: None = the default values, [] = no attenuated models (see the module docstring).
    attenuated_w: list[float] | None = None
    attenuated_s: list[float] | None = None
    attenuated_bias: str = PROTOCOL.bias
    attenuated_asymmetry: str = PROTOCOL.asymmetry
    seeds: list[int] = field(default_factory=lambda: list(PROTOCOL.seeds))
    # An untrained model of the same shape with this PE, per seed: what the pretraining control must fail (None:
    # no control).
    untrained_control: str | None = PROTOCOL.untrained_control
    # Full fine-tuning tasks (run_glue machinery): none by default; builtin_*, GLUE or snli at scale.
    tasks: list[str] = field(default_factory=lambda: list(DEFAULT_TASKS))
    # Frozen-feature probing tasks (pe_bert.data.probing): one fixed split shared by every model.
    probing_tasks: list[str] = field(default_factory=lambda: list(DEFAULT_PROBING_TASKS))
    # The primary outcome: the mean accuracy of these probing tasks (points).
    outcome_tasks: list[str] = field(default_factory=lambda: list(PROTOCOL.outcome_tasks))
    # The seed of the probing split (the pilot's and the confirmatory run's differ: `--pilot`).
    probing_seed: int = PROTOCOL.probing_seed
    # Modules (.py files or module names) that register PEs of one's own: imported before the variants are checked,
    # and in every worker process (`pe-bert study --pe-module FILE ...` or `pe_modules:` in a study file).
    pe_modules: list[str] = field(default_factory=list)

    # Model shape (every variant the same). max_seq_length is the pretraining length; fine-tuning inputs may use the
    # whole position table (sentence pairs are longer than one sentence).
    hidden_size: int = 64
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    intermediate_size: int = 128
    dropout: float = 0.0
    max_position_embeddings: int = 32
    max_seq_length: int = 24

    # Pretraining (run_mlm machinery). No dataset: the built-in corpus of `builtin_grammar`.
    builtin_grammar: str = "compact"
    dataset_name: str | None = None
    dataset_config_name: str | None = None
    dataset_revision: str | None = None
    train_file: str | None = None
    tokenizer_name: str | None = None
    tokenizer_vocab_size: int = 2000
    builtin_num_sentences: int = 50000
    mlm_probability: float = 0.15
    # Pretraining runs to the largest budget (multiples of pretrain_steps) at a constant learning rate after
    # warmup, and keeps the model at each budget: every one is a finished model, and every later stage measures
    # each of them.
    pretrain_steps: int = PROTOCOL.pretrain_steps
    budget_multiples: list[int] = field(default_factory=lambda: list(PROTOCOL.budget_multiples))
    pretrain_batch_size: int = 64
    pretrain_learning_rate: float = PROTOCOL.learning_rate
    warmup_fraction: float = PROTOCOL.warmup_fraction  # of pretrain_steps (pretraining) and finetune_steps

    # Fine-tuning (run_glue machinery), on each task.
    finetune_steps: int = 600
    finetune_batch_size: int = 64
    finetune_learning_rate: float = 2e-3
    builtin_task_size: int = 8000

    # Measurement.
    eval_sentences: int = 1000
    length_multiples: list[int] = field(default_factory=lambda: [1, 2, 4])
    eval_batch_size: int = 128
    analysis_sentences: int = 200
    position_seq_len: int = 24
    probe_examples: int = 300
    probe_zero_shot_sentences: int = 100
    probing_train_sentences: int = PROTOCOL.probing_train_sentences
    probing_test_sentences: int = PROTOCOL.probing_test_sentences

    # Execution: units (variant x seed) run in parallel processes; 0 = as many as the CPU cores hold units of
    # `unit_threads` threads, on a CPU-only machine.
    workers: int = 0
    # Torch (and BLAS) threads of every unit, wherever it runs (the study's process, a worker, a job): float sums
    # depend on how many threads share them, so this changes the numbers and identifies stages (not an execution
    # setting); it is what makes `--workers`, the number of variants and the launcher leave results unchanged.
    unit_threads: int = 1
    # Where units run: "local" (worker processes of this machine), "slurm" (one SLURM job per unit, through
    # submitit: pip install "pe_bert[slurm]"), "submitit-local" (submitit's local executor: the same jobs as
    # processes of this machine, to try a cluster setup without a cluster). Each job's resources:
    launcher: str = "local"
    job_gpus: int = 0  # per job; more than 1: data-parallel inside the job (one task per GPU)
    job_cpus: int = 1  # CPUs each job asks for (its unit runs `unit_threads` threads)
    job_mem_gb: int = 16
    job_time_min: int = 240
    slurm_partition: str | None = None
    slurm_account: str | None = None
    # Planning (`--dry-run`): the throughput assumed to turn FLOPs into GPU-hours, TFLOP/s per GPU.
    assumed_tflops: float = 100.0

    # Sharing.
    push_to_hub: bool = False
    hub_org: str | None = None

    def __post_init__(self):
        if self.untrained_control == "":  # `--untrained-control ''`: no control model
            self.untrained_control = None
        check_types(self)  # first: a YAML `variants: learned` is a string, not a list of names
        import_position_encoding_modules(self.pe_modules)  # their PEs are valid variants
        unknown = [v for v in self.variants if v not in position_encoding_names()]
        if unknown:
            raise InvalidInputError(
                f"Unknown variant(s) {unknown}; valid names: {', '.join(position_encoding_names())}. A PE of your "
                "own needs the module that registers it: --pe-module FILE."
            )
        if not self.seeds:
            raise InvalidInputError("`seeds` is empty: give at least one seed.")
        if self.push_to_hub and not self.hub_org:
            raise InvalidInputError("--push_to_hub needs --hub_org ORG (checkpoints are pushed as ORG/bert-<variant>).")
        from ..data.tasks import GRAMMARS

        if self.builtin_grammar not in GRAMMARS:
            raise InvalidInputError(f"--builtin-grammar {self.builtin_grammar!r} is not one of {', '.join(GRAMMARS)}.")
        if not 0 < self.mlm_probability < 1:
            raise InvalidInputError(f"--mlm-probability is {self.mlm_probability}: it must be in (0, 1).")
        if not 0 <= self.warmup_fraction < 1:
            raise InvalidInputError(f"--warmup-fraction is {self.warmup_fraction}: it must be in [0, 1).")
        if not 0 <= self.dropout < 1:
            raise InvalidInputError(f"--dropout is {self.dropout}: it must be in [0, 1).")
        from .launchers import launcher_names  # the registry: a launcher registered by a user's module counts

        if self.launcher not in launcher_names():
            raise InvalidInputError(f"--launcher {self.launcher!r} is not one of {', '.join(launcher_names())}.")
        if self.workers < 0:
            raise InvalidInputError(f"--workers is {self.workers}: give 0 (one per CPU core) or a positive number.")
        if self.unit_threads < 1:
            raise InvalidInputError(f"--unit-threads is {self.unit_threads}: give a positive number of threads.")
        if self.launcher != "local" and self.job_cpus < self.unit_threads:
            raise InvalidInputError(
                f"--job-cpus {self.job_cpus} is fewer than --unit-threads {self.unit_threads}: each job would run more "
                f"threads than it has CPUs. Give --job-cpus {self.unit_threads} or more."
            )
        if not self.length_multiples or any(m < 1 for m in self.length_multiples):
            raise InvalidInputError(
                f"--length-multiples {self.length_multiples}: give positive whole multiples of "
                "the pretraining length, e.g. 1,2,4."
            )
        if self.max_seq_length > self.max_position_embeddings:
            raise InvalidInputError(
                f"max_seq_length {self.max_seq_length} exceeds max_position_embeddings "
                f"{self.max_position_embeddings}: absolute PEs could not encode it. Lower max_seq_length."
            )
        if self.position_seq_len > self.max_position_embeddings:
            raise InvalidInputError(
                f"--position-seq-len {self.position_seq_len} exceeds --max-position-embeddings "
                f"{self.max_position_embeddings}: absolute PEs could not encode it."
            )
        check_values(self)

    @property
    def builtin_corpus(self) -> bool:
        """True when pretraining uses the built-in corpus (no dataset or file given)."""
        return self.dataset_name is None and self.train_file is None

    @property
    def builtin_tasks(self) -> list[str]:
        """The tasks generated by pe_bert (their files are written once per seed, shared by every variant)."""
        return [t for t in self.tasks if t.startswith("builtin_")]

    # The built-in grammar (`builtin_grammar`) the study draws its corpus, built-in tasks and zero-shot probe sentences
    # from, in one place (the frozen-feature probing split is always the compact language's).

    def corpus_language(self):
        """The automaton of the corpus when pretraining reads the compact built-in language (its floors are exact);
        None for a dataset, a file or the rich grammar (whose floors are not computed)."""
        if not self.builtin_corpus or self.builtin_grammar != "compact":
            return None
        from ..data.compact import compact_language

        return compact_language()

    def builtin_vocabulary(self) -> list[str]:
        """Every word of the built-in grammar: the word-level tokenizer's vocabulary when the corpus is built in."""
        if self.builtin_grammar == "compact":
            from ..data.compact import compact_language

            return list(compact_language().vocabulary)
        from ..data import vocabulary

        return sorted(vocabulary())

    def builtin_sentences(self, n: int, seed: int) -> list:
        """`n` annotated sentences of the built-in grammar, deterministically from `seed`."""
        if self.builtin_grammar == "compact":
            from ..data.compact import compact_sentences

            return compact_sentences(n, seed)
        from ..data import generate_sentences

        return generate_sentences(n, seed=seed)

    def attenuated_grid(self) -> list[tuple[float, float]]:
        """The (w, s) points of the attenuated grid, empty unless asked for (module docstring)."""
        if ATTENUATED not in self.variants and self.attenuated_w is None and self.attenuated_s is None:
            return []
        ws = DEFAULT_ATTENUATED_W if self.attenuated_w is None else self.attenuated_w
        ss = DEFAULT_ATTENUATED_S if self.attenuated_s is None else self.attenuated_s
        return [(w, s) for w in ws for s in ss]

    def variant_specs(self) -> list[VariantSpec]:
        specs = [VariantSpec(name, name) for name in self.variants if name != ATTENUATED]
        for w, s in self.attenuated_grid():
            overrides = {
                LOCALITY.parameter: float(w),
                SYMMETRY.parameter: float(s),
                "attenuated_bias": self.attenuated_bias,
                "attenuated_asymmetry": self.attenuated_asymmetry,
            }
            specs.append(VariantSpec(variant_label(w, s), ATTENUATED, overrides))
        return specs

    def control_specs(self) -> list[VariantSpec]:
        """The untrained control model(s): the `untrained_control` PE at initialisation (one per seed)."""
        if self.untrained_control is None:
            return []
        name = self.untrained_control
        return [VariantSpec(f"untrained-{name}", name, {}, trained=False)]

    def budgets(self) -> list[int]:
        """Pretraining steps at each budget, smallest first."""
        return sorted({m * self.pretrain_steps for m in self.budget_multiples})

    def model_kwargs(self) -> dict:
        return {
            "hidden_size": self.hidden_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "intermediate_size": self.intermediate_size,
            "max_position_embeddings": self.max_position_embeddings,
            "hidden_dropout_prob": self.dropout,
            "attention_probs_dropout_prob": self.dropout,
        }

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_file(cls, path: str | Path, **overrides) -> StudyConfig:
        """Read a YAML or JSON study file; keyword `overrides` (e.g. from flags) win over it."""
        path = Path(path)
        if path.is_dir():
            raise InvalidInputError(f"--config {path} is a folder: give the study file (YAML or JSON) in it.")
        if not path.is_file():
            raise MissingInputError(f"--config {path} does not exist.")
        from ..inputs import read_utf8

        text = read_utf8(path, "--config")
        if path.suffix in (".yaml", ".yml"):
            import yaml

            parse, errors = yaml.safe_load, yaml.YAMLError
        else:
            parse, errors = json.loads, ValueError
        try:
            values = parse(text) or {}
        except errors as error:
            raise InvalidInputError(
                f"--config {path} is not valid {path.suffix.lstrip('.').upper()}: {error}"
            ) from error
        if not isinstance(values, dict):
            raise InvalidInputError(
                f"--config {path} must hold a mapping of settings (`name: value` lines), got {type(values).__name__}."
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InvalidInputError(f"Unknown study setting(s) {unknown} in {path}; valid settings: {sorted(known)}.")
        if "pe_modules" in overrides:  # modules of the file and of the flags are all needed
            overrides["pe_modules"] = list(dict.fromkeys([*(values.get("pe_modules") or []), *overrides["pe_modules"]]))
        return cls(**{**values, **overrides})
