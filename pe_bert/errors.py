"""Errors that mean "the input is wrong", as opposed to a bug.

The command lines (`pe-bert ...`, examples/run_*.py) print a `UsageError` as one line, `<prog>: error: <message>`,
and exit with status 2 (argparse's convention for bad usage), without a traceback; anything else still raises with
its traceback. Each subclass also derives from the built-in exception code would catch for it (`ValueError`,
`FileNotFoundError`), so library callers keep catching what they always caught.
"""

from __future__ import annotations

import errno
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


# Faults of the environment, not of pe_bert: a full disk, a read-only or forbidden folder, a folder where a file
# belongs (or the reverse). The command lines say which path and what to do, in one line, with exit status 1.
_ENVIRONMENT_FIXES = {
    errno.ENOSPC: "the disk is full: free space, then run the same command again",
    errno.EDQUOT: "the disk quota is exhausted: free space, then run the same command again",
    errno.EROFS: "the file system is read-only: choose a writable output folder",
    errno.EACCES: "permission denied: fix the permissions or choose another output folder",
    errno.EPERM: "operation not permitted: fix the permissions or choose another output folder",
    errno.EISDIR: "a folder stands where a file belongs: move it away",
    errno.ENOTDIR: "a file stands where a folder belongs: move it away",
}


def environment_fault(error: BaseException, where: str | None = None) -> str | None:
    """One line naming the path and the fix when `error` is a fault of the environment (module comment), else None.
    A failed write names no file (the disk fills while writing, not while opening): `where`, the folder the command
    writes into, is named then."""
    if not isinstance(error, OSError) or error.errno not in _ENVIRONMENT_FIXES:
        return None
    if error.filename:
        path = f" {error.filename}"
    elif where:
        path = f" {where} (or a file in it)"
    else:
        path = ""
    return f"cannot use{path}: {error.strerror}; {_ENVIRONMENT_FIXES[error.errno]}."


def exit_on_usage_error(prog: str, function, *args, **kwargs):
    """Call `function`; on a `UsageError`, print `<prog>: error: <message>` to stderr and exit with status 2; on a
    fault of the environment (`environment_fault`), one line and status 1."""
    try:
        return function(*args, **kwargs)
    except UsageError as error:
        print(f"{prog}: error: {one_line(error)}", file=sys.stderr)
        raise SystemExit(2) from None
    except OSError as error:
        message = environment_fault(error)
        if message is None:
            raise
        print(f"{prog}: error: {message}", file=sys.stderr)
        raise SystemExit(1) from None


__all__ = [
    "HubUnavailableError",
    "InvalidInputError",
    "MissingInputError",
    "UsageError",
    "environment_fault",
    "exit_on_usage_error",
    "one_line",
]
