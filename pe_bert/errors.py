"""Errors that mean "the input is wrong", as opposed to a bug.

The command lines (`pe-bert ...`, examples/run_*.py) print a `UsageError` as one line, `<prog>: error: <message>`,
and exit with status 2 (argparse's convention for bad usage), without a traceback; anything else still raises with
its traceback. Each subclass also derives from the built-in exception code would catch for it (`ValueError`,
`FileNotFoundError`), so library callers keep catching what they always caught.
"""

from __future__ import annotations

import sys


class UsageError(Exception):
    """Bad input from the user: the message names the problem and the fix."""


class InvalidInputError(UsageError, ValueError):
    """A value, file content or combination of settings that cannot work."""


class MissingInputError(UsageError, FileNotFoundError):
    """A file, folder or model the user named does not exist (or cannot be found)."""


class HubUnavailableError(UsageError, ConnectionError):
    """A dataset or model had to come from the Hub, which cannot be reached: the message names the offline way."""


def one_line(error: BaseException) -> str:
    """The error's message on a single line (whitespace runs, newlines included, become one space)."""
    return " ".join(str(error).split()) or type(error).__name__


def exit_on_usage_error(prog: str, function, *args, **kwargs):
    """Call `function`; on a `UsageError`, print `<prog>: error: <message>` to stderr and exit with status 2."""
    try:
        return function(*args, **kwargs)
    except UsageError as error:
        print(f"{prog}: error: {one_line(error)}", file=sys.stderr)
        raise SystemExit(2) from None


__all__ = ["HubUnavailableError", "InvalidInputError", "MissingInputError", "UsageError", "exit_on_usage_error", "one_line"]
