"""`pe-bert study [--config FILE] [--variants ...] [--out DIR] ...`: every StudyConfig setting is a flag.

Runs the paper's study end to end and writes OUT/report.md, OUT/results.json and plots. The default is offline:
tiny models pretrained on the compact built-in language, with the seeds and probing split of the protocol's
confirmatory run (--pilot: its pilot's; both are stated below, from pe_bert/study/protocol.py), within a quarter of
an hour on two CPU cores.
The console shows one progress bar and one line per finished stage; full logs are in OUT/logs/ (--verbose: on the
console too). Stages are stored under OUT/runs/ and skipped on rerun.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing

from .config import StudyConfig

# Short names users reach for first.
ALIASES = {"pretrain_steps": ["--max-steps", "--max_steps"]}


def _list_parser(item_type):
    def parse(text: str):
        items = []
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            try:
                items.append(item_type(part))
            except ValueError:
                kind = "a whole number" if item_type is int else f"a {item_type.__name__}"
                raise argparse.ArgumentTypeError(f"{part!r} is not {kind}") from None
        return items

    parse.__name__ = f"comma-separated {item_type.__name__} list"
    return parse


# What each flag means; its default is added from StudyConfig (one place says what the defaults are).
HELP = {
    "variants": "comma-separated PE names, run exactly as given; `attenuated` adds the attenuated grid, "
    "attenuated_w x attenuated_s. PEs of your own: --pe-module.",
    "attenuated_w": "locality values w of the attenuated grid. Giving it (or --attenuated-s) adds the grid even when "
    "`attenuated` is not among --variants; an empty value removes it.",
    "attenuated_s": "symmetry values s of the attenuated grid (1 = symmetric; with the balanced asymmetry, the "
    "right key's weight relative to the left one's at the same distance).",
    "attenuated_asymmetry": "how s makes the prior asymmetric: balanced (s moves symmetry alone) or exponent "
    "(published: s scales the exponent right of the query, and also moves locality).",
    "untrained_control": "PE of the untrained model of the same shape that the pretraining control must fail "
    "(empty: none).",
    "outcome_tasks": "the probing tasks whose mean accuracy is the primary outcome.",
    "probing_seed": "seed of the probing split (the pilot's and the confirmatory run's differ).",
    "budget_multiples": "budgets, as multiples of --pretrain-steps: pretraining runs to the largest at a constant "
    "rate after warmup and every budget's model is measured.",
    "seeds": "comma-separated seeds: each seed is one pretraining of every variant.",
    "tasks": "comma-separated tasks to fine-tune every model on (builtin_topic, builtin_order, builtin_nli, GLUE "
    "tasks, snli).",
    "probing_tasks": "frozen-feature probing tasks: a logistic regression on each pretrained model's frozen "
    "representations, one fixed split for every model.",
    "dataset_revision": "revision of --dataset-name on the Hub (branch, tag or commit): pin it, and the stages "
    "built on the data are identified by it; unpinned, a Hub dataset is identified by its name alone.",
    "builtin_grammar": "language of the built-in corpus and tasks: compact (exact floors) or rich.",
    "length_multiples": "input lengths of the masked-token evaluation, as multiples of max_seq_length.",
    "workers": "units run in parallel processes (0 = one per unit_threads CPU cores; 1 = in this process).",
    "unit_threads": "torch and BLAS threads of every unit, wherever it runs: it changes the numbers (float sums), so "
    "it is part of what identifies a stage, and results do not depend on --workers, the variants or the launcher.",
    "pretrain_steps": "pretraining steps per variant and seed (alias --max-steps).",
    "launcher": "where units run: local (worker processes), slurm (one SLURM job per unit through submitit; "
    'pip install "pe_bert[slurm]"), submitit-local (the same jobs on this machine).',
    "job_gpus": "GPUs per job (launcher slurm); more than 1: data-parallel inside the job, one task per GPU.",
    "job_cpus": "CPUs each job asks for (at least --unit-threads).",
    "assumed_tflops": "--dry-run's assumed throughput, TFLOP/s per GPU, to turn FLOPs into GPU-hours.",
}


def _help(field: dataclasses.Field) -> str:
    """HELP's text for a setting, with its default as StudyConfig declares it."""
    from .config import DEFAULT_ATTENUATED_S, DEFAULT_ATTENUATED_W

    default = field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
    default = {"attenuated_w": DEFAULT_ATTENUATED_W, "attenuated_s": DEFAULT_ATTENUATED_S}.get(field.name, default)
    if isinstance(default, (list, tuple)):
        default = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in default) or "none"
    return f"{HELP.get(field.name, '')} (default: {default})".strip()


def _description() -> str:
    """The module docstring, with the seeds and probing splits the protocol sets (read from it, never retyped)."""
    from .protocol import PROTOCOL

    def seeds(values: tuple[int, ...]) -> str:
        return ",".join(map(str, values))

    return (
        f"{__doc__}\nProtocol {PROTOCOL.version}: the confirmatory run's seeds {seeds(PROTOCOL.seeds)} and probing "
        f"seed {PROTOCOL.probing_seed}; the pilot's (--pilot) seeds {seeds(PROTOCOL.pilot_seeds)} and probing seed "
        f"{PROTOCOL.pilot_probing_seed}.\n"
    )


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "study",
        help="Run the paper's study end to end (default: offline, built-in data, tiny models).",
        description=_description(),
    )
    parser.add_argument("--config", help="YAML or JSON file of study settings (flags override it).")
    hints = typing.get_type_hints(StudyConfig)
    for f in dataclasses.fields(StudyConfig):
        if f.name == "pe_modules":  # the --pe-module flag every pe-bert command has
            continue
        kind = hints[f.name]
        if type(None) in typing.get_args(kind):  # optional setting: the flag takes the other type
            kind = next(a for a in typing.get_args(kind) if a is not type(None))
        flags = [f"--{f.name}", f"--{f.name.replace('_', '-')}"] + ALIASES.get(f.name, [])
        flags = list(dict.fromkeys(flags))
        if kind is bool:
            parser.add_argument(*flags, dest=f.name, action="store_true", default=None, help=_help(f))
            continue
        args = typing.get_args(kind)
        if typing.get_origin(kind) is list:
            parser.add_argument(*flags, dest=f.name, type=_list_parser(args[0]), default=None, help=_help(f))
        else:
            base = next((a for a in args if a is not type(None)), kind) if args else kind
            parser.add_argument(*flags, dest=f.name, type=base, default=None, help=_help(f))
    parser.add_argument(
        "--pilot",
        action="store_true",
        help="Run the protocol's pilot: its pilot seeds and pilot probing split (pe_bert/study/protocol.py), which "
        "the confirmatory run (the default) never uses. What the protocol tunes is tuned on the pilot.",
    )
    parser.add_argument("--quiet", action="store_true", help="Nothing on the console but errors and the report's path.")
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="Also show the full training and library logs on the console (always in OUT/logs/).",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--dry-run",
        action="store_true",
        help="Print the units and stages that would run (and which are stored), their size and an "
        "estimate of their compute and memory; train nothing.",
    )
    mode.add_argument(
        "--report-only",
        action="store_true",
        help="Rebuild report.md, results.json, plots and model cards from the stored stages alone, "
        "naming the units that are missing; compute nothing.",
    )
    parser.set_defaults(func=run)


def run(args) -> int:
    from . import Study

    overrides = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(StudyConfig)
        if getattr(args, f.name, None) is not None
    }
    if getattr(args, "pe_module", None):  # already imported by pe-bert; the config carries them to the workers
        overrides["pe_modules"] = list(args.pe_module)
    if getattr(args, "pilot", False):  # flags given explicitly still win
        from .protocol import PROTOCOL

        overrides.setdefault("seeds", list(PROTOCOL.pilot_seeds))
        overrides.setdefault("probing_seed", PROTOCOL.pilot_probing_seed)
    # every setting is checked here, before anything trains (InvalidInputError: one line, exit 2)
    if args.config:
        config = StudyConfig.from_file(args.config, **overrides)
    else:  # an existing study folder gives its own settings; flags may only repeat them (pe_bert.study.folder)
        from .folder import recorded_settings

        recorded = recorded_settings(overrides.get("out", StudyConfig.out))
        if "pe_modules" in overrides:
            overrides["pe_modules"] = list(dict.fromkeys([*recorded.get("pe_modules", []), *overrides["pe_modules"]]))
        config = StudyConfig(**{**recorded, **overrides})
    from .record_types import runs_of
    from .report import verdict_lines
    from .runner import StudyInterrupted, raise_on_termination

    study = Study(config, progress=not args.quiet, verbose=args.verbose)
    if args.dry_run:
        from .plan import render

        print(render(study.plan()))
        return 0
    if args.report_only:
        summary = study.report_only()
        missing = [f["run"] for f in summary["failures"] if "not in the store yet" in f["error"]]
        print(
            f"Report: {config.out}/report.md, from the stored stages"
            + (f"; {len(missing)} unit(s) missing: {', '.join(missing)}" if missing else "; every unit stored.")
        )
        for line in verdict_lines(summary):
            print(line)
        return 0
    restore = raise_on_termination()
    try:
        summary = study.run()
    except StudyInterrupted as interruption:  # its workers are dead and their leases released by now
        print(
            f"pe-bert study: {interruption}; finished stages are kept in {config.out}: run the same command again "
            "to resume.",
            file=sys.stderr,
        )
        return interruption.exit_status
    finally:
        restore()

    print(f"\nReport: {config.out}/report.md  (results.json, plots beside it)")
    for line in verdict_lines(summary):
        print(line)
    if summary["failures"]:
        print(f"{len(summary['failures'])} run(s) failed: see the report's 'Failed runs' section.")
    return 1 if summary["failures"] and len(summary["failures"]) == len(runs_of(summary)) else 0
