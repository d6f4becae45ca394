"""Import users' positional-encoding modules by path or module name (`--pe_module`, `--pe-module`, `pe_modules:`),
so a PE registered with `@pe_bert.register_position_encoding` outside pe_bert is available to the training scripts,
the study and the analysis CLIs."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType

from .errors import InvalidInputError, MissingInputError, UsageError
from .inputs import check_file


def import_position_encoding_module(spec: str) -> ModuleType:
    """Import `spec`: a `.py` file (imported under its file name, e.g. `my_pe.py` -> `my_pe`) or a module name
    (`my_package.my_pe`). Importing a module twice returns the first import."""
    if spec.endswith(".py") or "/" in spec or "\\" in spec or Path(spec).exists():
        if not Path(spec).expanduser().exists():
            raise MissingInputError(
                f"PE module {spec!r} does not exist (give a .py file or an importable module name)."
            )
        path = check_file(Path(spec).expanduser(), "PE module", fix="give the .py file that registers the PE").resolve()
        if path.suffix != ".py":  # importlib would find no loader for it
            raise InvalidInputError(
                f"PE module {spec} is not a Python file (.py): give the .py file that registers the PE, or an "
                "importable module name."
            )
        name = path.stem
        loaded = sys.modules.get(name)
        if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() == path:
            return loaded
        if loaded is not None:
            raise InvalidInputError(
                f"PE module {spec!r} would be imported as {name!r}, but another module of that name is "
                f"already loaded ({loaded.__file__}); rename the file."
            )
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module  # registered first, so the module's own classes can be inspected and pickled
        try:
            module_spec.loader.exec_module(module)
        except BaseException as error:
            del sys.modules[name]
            _raise_import_failure(spec, error)
        return module
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as error:
        if error.name and spec.startswith(error.name):
            raise MissingInputError(
                f"PE module {spec!r} cannot be imported ({error}); give a .py file or a module name on the Python path."
            ) from error
        _raise_import_failure(spec, error)
    except Exception as error:
        _raise_import_failure(spec, error)


def _raise_import_failure(spec: str, error: BaseException):
    """A user's PE module that does not import (a syntax error, an exception at import, a name already taken) is
    bad input: one line naming the module, where and what, not the import machinery's traceback."""
    if not isinstance(error, Exception) or isinstance(error, UsageError):
        raise error
    if isinstance(error, SyntaxError):
        where = f"line {error.lineno}" + (f", column {error.offset}" if error.offset else "")
        raise InvalidInputError(
            f"PE module {spec!r} has a syntax error at {where}: {error.msg}. Fix the file."
        ) from error
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename.endswith(".py")]
    own = [frame for frame in frames if Path(frame.filename).name == Path(spec).name] or frames
    where = f" (line {own[-1].lineno})" if own else ""
    raise InvalidInputError(
        f"PE module {spec!r} failed while importing{where}: {type(error).__name__}: {error}"
    ) from error


def import_position_encoding_modules(specs) -> list[ModuleType]:
    """`import_position_encoding_module` for each entry of a list or a comma-separated string."""
    if not specs:
        return []
    if isinstance(specs, str):
        specs = [s.strip() for s in specs.split(",") if s.strip()]
    return [import_position_encoding_module(spec) for spec in specs]


def module_digest(module: ModuleType) -> str:
    """Content hash of a module's source file: results that depend on a user's PE are invalidated when it changes."""
    return hashlib.sha256(Path(module.__file__).read_bytes()).hexdigest()[:16]


def parse_pe_args(text: str | None, position_encoding: str | None = None) -> dict:
    """`--pe_args "my_alpha=0.3,my_mode=fast"` -> typed values, by the PE's own declarations (those of every
    registered PE when `position_encoding` is not known yet, e.g. a checkpoint's)."""
    from .pe_base import get_position_encoding_class, hyperparameter_specs

    if not text:
        return {}
    if position_encoding is None:
        specs = hyperparameter_specs()
        position_encoding = "any registered PE"
    else:
        specs = {spec.name: spec for spec in get_position_encoding_class(position_encoding).hyperparameters}
    values = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, raw = item.partition("=")
        name, raw = name.strip(), raw.strip()
        if not sep or not name:
            raise InvalidInputError(f"--pe_args {text!r}: {item!r} is not name=value.")
        if name not in specs:
            import difflib

            close = difflib.get_close_matches(name, specs, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InvalidInputError(
                f"--pe_args: {name!r} is not a hyper-parameter of {position_encoding!r}; {hint}"
                f"valid: {', '.join(specs) or 'none'}."
            )
        kind = specs[name].type
        try:
            if kind is bool:
                if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(raw)
                value = raw.lower() in ("true", "1", "yes")
            else:
                value = kind(raw)
        except ValueError as error:
            raise InvalidInputError(f"--pe_args: {name}={raw!r} is not a {kind.__name__}.") from error
        values[name] = specs[name].validate(value)
    return values
