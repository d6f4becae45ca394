"""`pe-bert study [--config FILE] [--variants ...] [--out DIR] ...`: every StudyConfig setting is a flag."""

from __future__ import annotations

import dataclasses
import typing

from ..errors import InvalidInputError
from .config import StudyConfig

# Short names users reach for first.
ALIASES = {"pretrain_steps": ["--max-steps", "--max_steps"]}


def _list_parser(item_type):
    def parse(text: str):
        return [item_type(part) for part in text.split(",") if part.strip()] if text.strip() else []

    return parse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "study", help="Run the paper's study end to end (default: offline, built-in data, tiny models).",
        description=__doc__,
    )
    parser.add_argument("--config", help="YAML or JSON file of study settings (flags override it).")
    hints = typing.get_type_hints(StudyConfig)
    for f in dataclasses.fields(StudyConfig):
        kind = hints[f.name]
        flags = [f"--{f.name}", f"--{f.name.replace('_', '-')}"] + ALIASES.get(f.name, [])
        flags = list(dict.fromkeys(flags))
        if kind is bool:
            parser.add_argument(*flags, dest=f.name, action="store_true", default=None)
            continue
        args = typing.get_args(kind)
        if typing.get_origin(kind) is list:
            parser.add_argument(*flags, dest=f.name, type=_list_parser(args[0]), default=None,
                                help="comma-separated")
        else:
            base = next((a for a in args if a is not type(None)), kind) if args else kind
            parser.add_argument(*flags, dest=f.name, type=base, default=None)
    parser.add_argument("--quiet", action="store_true", help="No progress bars.")
    parser.set_defaults(func=run)


def run(args) -> int:
    from . import Study

    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(StudyConfig)
                 if getattr(args, f.name) is not None}
    try:  # every setting is checked here, before anything trains
        config = StudyConfig.from_file(args.config, **overrides) if args.config else StudyConfig(**overrides)
    except ValueError as error:
        raise InvalidInputError(str(error)) from error
    summary = Study(config, progress=not args.quiet).run()
    print(f"\nReport: {config.out}/report.md  (results.json, plots beside it)")
    if summary["failures"]:
        print(f"{len(summary['failures'])} unit(s) failed: see the report's 'Failed variants' section.")
    return 1 if summary["failures"] and len(summary["failures"]) == len(summary["units"]) else 0
