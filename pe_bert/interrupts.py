"""Ctrl-C in a terminal: a `pe-bert` command stops with one line and exit status 130, never with a traceback.

A terminal sends SIGINT to its whole foreground process group, and Python answers it with a KeyboardInterrupt
traceback wherever the main thread is. While the command starts (importing torch and transformers takes seconds) no
`try` of ours can be around it yet, so importing this module first thing in the package installs, *only when the
process is the `pe-bert` command* (its console script or `python -m pe_bert.cli`), a handler that ends the process at
once with status 130: nothing has been done yet. `pe_bert.cli.main` then hands SIGINT back to Python
(`answer_interrupts_in_python`) and turns a KeyboardInterrupt into one line, and `pe-bert study` answers SIGINT and
SIGTERM itself (`pe_bert.study.runner`). Imported as a library (a notebook, a script, a worker process), pe_bert
leaves SIGINT alone. Standard library only: it runs before anything heavy is imported.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

INTERRUPTED_STATUS = 128 + signal.SIGINT  # what a shell reports for a command stopped by Ctrl-C


def _started_as_command() -> bool:
    argv = getattr(sys, "orig_argv", [])
    if "--multiprocessing-fork" in argv:  # a worker spawned by a study, which answers Ctrl-C for it
        return False
    if os.path.basename(sys.argv[0]) in ("pe-bert", "pe-bert.exe"):
        return True
    return any(flag == "-m" and module == "pe_bert.cli" for flag, module in zip(argv, argv[1:]))


def _exit_while_starting(signum, frame) -> None:
    os.write(2, b"pe-bert: interrupted while starting; nothing was done.\n")
    os._exit(128 + signum)


def answer_interrupts_in_python() -> None:
    """From here on, SIGINT raises KeyboardInterrupt again (the command has started and catches it)."""
    if signal.getsignal(signal.SIGINT) is _exit_while_starting:
        signal.signal(signal.SIGINT, signal.default_int_handler)


# Python's own handler only: a SIGINT ignored by whoever started us (nohup, a background job) stays ignored.
if (
    _started_as_command()
    and threading.current_thread() is threading.main_thread()
    and signal.getsignal(signal.SIGINT) is signal.default_int_handler
):
    signal.signal(signal.SIGINT, _exit_while_starting)

__all__ = ["INTERRUPTED_STATUS", "answer_interrupts_in_python"]
