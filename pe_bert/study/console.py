"""What a study prints: one progress bar and one line per finished stage; everything else goes to log files.

`stage_output(path, verbose)` routes, for the duration of one stage, the Python logging of every library
(transformers, datasets, accelerate, pe_bert), warnings, `print` output and library progress bars to
`out/logs/<variant>/seed<k>/<stage>.log`. With `verbose`, they also reach the console as they would without the
study.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
from pathlib import Path

LIBRARY_LOGGERS = ("transformers", "datasets", "accelerate", "huggingface_hub", "pe_bert")
_FORMAT = "%(asctime)s - %(levelname)s - %(name)s - %(message)s"


class _Tee(io.TextIOBase):
    """Writes to several text streams."""

    def __init__(self, *streams):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


def _is_console(handler: logging.Handler) -> bool:
    stream = getattr(handler, "stream", None)
    return type(handler) is logging.StreamHandler and stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)


@contextlib.contextmanager
def _progress_bars(enabled: bool):
    """Library progress bars (datasets' map, transformers' weight loading) on or off."""
    import datasets
    import transformers

    modules = (datasets.utils.logging, transformers.utils.logging)
    were = [module.is_progress_bar_enabled() for module in modules]

    def switch(module, on: bool) -> None:
        (module.enable_progress_bar if on else module.disable_progress_bar)()

    for module in modules:
        switch(module, enabled)
    try:
        yield
    finally:
        for module, was in zip(modules, were):
            switch(module, was)


def _formatter() -> logging.Formatter:
    return logging.Formatter(_FORMAT, datefmt="%m/%d/%Y %H:%M:%S")


@contextlib.contextmanager
def stage_output(path: str | Path, verbose: bool = False):
    """Send one stage's logs, warnings, prints and library progress bars to `path` (and, if `verbose`, to the
    console too)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    saved_level = root.level
    libraries = [logging.getLogger(name) for name in LIBRARY_LOGGERS]
    saved = [(logger, logger.handlers[:], logger.propagate) for logger in libraries]
    detached = [] if verbose else [h for h in root.handlers if _is_console(h)]
    with path.open("a", encoding="utf-8") as log, _progress_bars(verbose):
        handler = logging.StreamHandler(log)
        handler.setFormatter(_formatter())
        handler.setLevel(logging.INFO)
        for h in detached:
            root.removeHandler(h)
        root.addHandler(handler)
        root.setLevel(min(saved_level or logging.WARNING, logging.INFO))
        console = None
        if verbose and not any(_is_console(h) for h in root.handlers):
            console = logging.StreamHandler(sys.stderr)
            console.setFormatter(_formatter())
            root.addHandler(console)
        for logger in libraries:  # libraries' own console handlers off: their records reach the root handlers
            for h in logger.handlers[:]:
                if _is_console(h) or verbose:
                    logger.removeHandler(h)
            logger.propagate = True
        was_capturing = logging.getLogger("py.warnings").handlers
        logging.captureWarnings(True)
        out = _Tee(log, sys.stdout) if verbose else log
        try:
            with contextlib.redirect_stdout(out):
                yield log
        finally:
            logging.captureWarnings(bool(was_capturing))
            root.removeHandler(handler)
            if console is not None:
                root.removeHandler(console)
            for h in detached:
                root.addHandler(h)
            root.setLevel(saved_level)
            for logger, handlers, propagate in saved:
                for h in logger.handlers[:]:
                    logger.removeHandler(h)
                for h in handlers:
                    logger.addHandler(h)
                logger.propagate = propagate


__all__ = ["stage_output"]
