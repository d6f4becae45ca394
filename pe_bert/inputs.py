"""Checked reading of what users hand the command lines: numbers, text files and models.

Each check raises a `pe_bert.errors.UsageError` whose message names the input, the problem and the fix; the command
lines print it on one line and exit with status 2. Argument types (`positive_int`, ...) fail through argparse,
which does the same.
"""

from __future__ import annotations

import argparse
import codecs
import json
import os
import stat
from pathlib import Path

from .errors import InvalidInputError, MissingInputError, UsageError, one_line


def _int_at_least(minimum: int, bound: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value

    return parse


positive_int = _int_at_least(1, "at least 1")  # argparse type: an integer >= 1
non_negative_int = _int_at_least(0, "0 or more")  # argparse type: an integer >= 0

# Seeds reach numpy's generator, which takes 32-bit seeds only (transformers' set_seed seeds numpy, torch, random).
MAX_SEED = 2**32 - 1


def check_seed(value, flag: str) -> None:
    """A seed the random generators accept: a whole number in [0, MAX_SEED]."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise InvalidInputError(
            f"{flag} {value} is not a usable seed: give a whole number from 0 to {MAX_SEED} (numpy's generators take "
            "32-bit seeds)."
        )


def _kind(path: Path) -> str | None:
    """What stands at `path` when it is not a regular file ("a folder", "a FIFO", ...), None for a regular file."""
    mode = path.stat().st_mode
    for test, kind in (
        (stat.S_ISREG, None),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


def check_file(path: str | Path, what: str, fix: str = "give a file") -> Path:
    """`path` as a Path when it is a regular file (links followed); a missing one, a folder, a FIFO (reading it
    would wait forever) or a device is one clear line naming what it is."""
    path = Path(path)
    if not path.exists():
        if path.is_symlink():
            raise MissingInputError(f"{what} {path} is a link to {os.readlink(path)}, which does not exist.")
        raise MissingInputError(f"{what} {path} does not exist.")
    kind = _kind(path)
    if kind is not None:
        raise InvalidInputError(f"{what} {path} is {kind}, not a file: {fix}.")
    return path


def _undecodable(what: str, path: Path, data: bytes, error: UnicodeDecodeError) -> InvalidInputError:
    line = data.count(b"\n", 0, error.start) + 1
    return InvalidInputError(
        f"{what} {path} is not UTF-8: byte 0x{data[error.start]:02x} at byte offset {error.start} (line {line}) "
        "cannot be decoded. Convert the file to UTF-8 (e.g. `iconv -f latin1 -t utf-8`)."
    )


def read_utf8(path: str | Path, what: str) -> str:
    """The text of a UTF-8 file (a BOM is dropped); a missing, non-file or undecodable one is a clear error."""
    path = check_file(path, what)
    data = path.read_bytes()
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        raise _undecodable(what, path, data, error) from None


TEXT_PREFIX = 1 << 20  # bytes of a large text file read to tell text from binary


def check_text_file(path: str | Path, what: str) -> Path:
    """A regular file whose beginning is UTF-8 text (its first MiB: a binary file shows itself in its first bytes)
    and which holds some text (not only whitespace): checked before hours of work are spent on it."""
    path = check_file(path, what)
    with path.open("rb") as handle:
        data = handle.read(TEXT_PREFIX)
        try:
            codecs.getincrementaldecoder("utf-8")().decode(data, final=len(data) < TEXT_PREFIX)
        except UnicodeDecodeError as error:
            raise _undecodable(what, path, data, error) from None
        if b"\0" in data:
            offset = data.index(b"\0")
            raise InvalidInputError(
                f"{what} {path} is not a text file: it holds a NUL byte at byte offset {offset} (a binary file?). "
                "Give UTF-8 text."
            )
        while not data.strip():
            if not data:
                raise InvalidInputError(f"{what} {path} is empty (no text in it): give a file with text.")
            data = handle.read(TEXT_PREFIX)
    return path


def read_lines(path: str | Path, what: str) -> list[str]:
    """The non-empty lines (stripped) of a UTF-8 text file; a file without any is an error."""
    lines = [line.strip() for line in read_utf8(path, what).splitlines() if line.strip()]
    if not lines:
        raise InvalidInputError(f"{what} {path} has no non-empty line: give one sentence per line.")
    return lines


def locate_json_error(path: str | Path) -> str | None:
    """Where a .json/.jsonl file stops being valid JSON (`line N ...`), or None when it parses. A file starting with
    `[` is one JSON document; anything else is read as JSON Lines, one object per line (as `datasets` reads them)."""
    text = read_utf8(path, "file")
    if text.lstrip().startswith("["):
        try:
            json.loads(text)
        except ValueError as error:
            return f"line {error.lineno} is not valid JSON ({error.msg}, column {error.colno})"
        return None
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                json.loads(line)
            except ValueError as error:
                return (
                    f"line {number} is not valid JSON ({error.msg}, column {error.colno}); each line of a "
                    "JSON Lines file must be one complete object"
                )
    return None


def check_data_file_content(path: str | Path, what: str, builder: str) -> None:
    """Called when `datasets` could not read a local data file: raise an error naming the file and the byte (not
    UTF-8) or the line (not JSON) at fault, if either is the cause."""
    read_utf8(path, what)
    if builder == "json":
        located = locate_json_error(path)
        if located:
            raise InvalidInputError(f"{what} {path}: {located}.")


def load_pretrained(loader, source: str, what: str = "model", **kwargs):
    """`loader(source, **kwargs)` (a `from_pretrained`), turning "cannot find or read it" into a one-line error."""
    try:
        return loader(source, **kwargs)
    except (OSError, ValueError) as error:  # not found, not a model folder, unreadable files
        # transformers' first sentence says what went wrong; pe_bert's own errors already name the problem and the fix.
        reason = one_line(error) if isinstance(error, UsageError) else one_line(error).split(". ")[0].rstrip(".")
        if Path(source).exists():
            raise InvalidInputError(f"{what} {source} cannot be loaded: {reason}") from error
        raise MissingInputError(
            f"{what} {source!r} is not a local folder, and not a Hub model that could be loaded ({reason})"
        ) from error


def check_vocabulary(tokenizer, model, source: str, fix: str = "Use the tokenizer the model was trained with.") -> None:
    """Every token id of `tokenizer` must index a row of the model's embedding table (else: an index error deep
    inside the forward pass, or on CUDA a device-side assert)."""
    embeddings = model.get_input_embeddings()
    rows = getattr(embeddings, "num_embeddings", None) or embeddings.weight.shape[0]
    if len(tokenizer) > rows:
        raise InvalidInputError(
            f"The tokenizer of {source} has {len(tokenizer)} entries but the model's embedding table has {rows} rows: "
            f"token ids {rows} and above have no embedding. {fix}"
        )


def check_length(model, length: int, flag: str) -> None:
    """`length` tokens must fit the model's position table (`position_table_limit`)."""
    from .configuration import position_table_limit

    bound = position_table_limit(model.config)
    if bound is not None and length > bound[0]:
        limit, encoding = bound
        raise InvalidInputError(
            f"{flag} {length} is longer than the model's {limit} positions (its {encoding!r} position encoding is a "
            f"table of max_position_embeddings={limit} rows). Use {flag} {limit} or less."
        )


__all__ = [
    "MAX_SEED",
    "check_file",
    "check_length",
    "check_seed",
    "check_text_file",
    "check_vocabulary",
    "load_pretrained",
    "check_data_file_content",
    "locate_json_error",
    "non_negative_int",
    "positive_int",
    "read_lines",
    "read_utf8",
]
