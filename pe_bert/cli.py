"""The `pe-bert` command line: one sub-command per job, each defined next to the code it drives."""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import UsageError, environment_fault, one_line
from .interrupts import INTERRUPTED_STATUS, answer_interrupts_in_python
from .pe_plugins import import_position_encoding_modules

# Each module exposes `register(subparsers)`, which adds its sub-command and sets `func(args) -> int`.
COMMAND_MODULES: list[str] = [
    "pe_bert.analysis.cli",
    "pe_bert.analysis.probes.cli",
    "pe_bert.study.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pe-bert", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    for subparser in subparsers.choices.values():
        subparser.add_argument(
            "--pe-module",
            action="append",
            default=[],
            metavar="FILE_OR_MODULE",
            help="import a module that registers positional encodings of your own (@pe_bert.register_position_"
            "encoding) before anything else, so models and variants can use them; repeat for several",
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a sub-command; bad input (`UsageError`) is one line on stderr and exit status 2, like argparse's errors;
    Ctrl-C is one line and exit status 130 (`pe_bert.interrupts`)."""
    args = build_parser().parse_args(argv)
    answer_interrupts_in_python()
    try:
        import_position_encoding_modules(args.pe_module)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"pe-bert {args.command}: interrupted by SIGINT.", file=sys.stderr)
        return INTERRUPTED_STATUS
    except UsageError as error:
        print(f"pe-bert {args.command}: error: {one_line(error)}", file=sys.stderr)
        return 2
    except OSError as error:  # a full disk, a read-only folder, a folder where a file belongs
        out = getattr(args, "out", None)
        message = environment_fault(error, str(out) if out else None)
        if message is None:
            raise
        print(f"pe-bert {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
