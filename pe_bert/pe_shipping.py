"""Ship a positional encoding defined outside pe_bert with a checkpoint, so it loads with `trust_remote_code=True`
where pe_bert is not installed.

`save_pretrained` already writes pe_bert's own model code (flat modules with relative imports). For a PE registered
from a user's module, it also writes that module beside them, with its `pe_bert` imports turned into relative ones
(`from pe_bert import PositionEncoding` -> `from .pe_base import PositionEncoding`), and makes the saved `pe_zoo.py`
import it, so loading the checkpoint registers the PE before the config is validated. The user's module must be a
single file that imports only the PE authoring API from pe_bert (what `pe_base` defines) and installed packages.
"""

from __future__ import annotations

import ast
import inspect
import logging
import sys
from pathlib import Path

from . import pe_base

logger = logging.getLogger(__name__)

ZOO_FILE = "pe_zoo.py"
_MARKER = "# Positional encodings from other modules, shipped with this checkpoint by save_pretrained:"


def is_foreign(pe_class: type, config_class: type) -> bool:
    """Whether a PE class lives outside the package the config class comes from (pe_bert, or a checkpoint's copy)."""
    return pe_class.__module__.rpartition(".")[0] != config_class.__module__.rpartition(".")[0]


def ship_position_encoding(pe_class: type, config_class: type, save_directory: str | Path) -> Path | None:
    """Write `pe_class`'s module into `save_directory` and register it in the saved zoo; returns the written file
    (None for a PE of the package itself)."""
    if not is_foreign(pe_class, config_class):
        return None
    save_directory = Path(save_directory)
    module = sys.modules.get(pe_class.__module__)
    if pe_class.__module__ == "__main__" or module is None or getattr(module, "__file__", None) is None:
        logger.warning(
            "The positional encoding %r is defined in %s, not in a module of its own, so it cannot be saved with the "
            "checkpoint: loading needs the class registered again, and trust_remote_code=True will not find it. "
            "Move the class into its own .py file and import it.",
            pe_class.name,
            pe_class.__module__,
        )
        return None
    source_file = Path(inspect.getsourcefile(pe_class))
    name = source_file.stem
    own_modules = {path.stem for path in Path(pe_base.__file__).parent.glob("*.py")}
    if name in own_modules:
        raise ValueError(
            f"The module of positional encoding {pe_class.name!r} is named {source_file.name}, like one of pe_bert's "
            "own model files; rename it so both can be saved with the checkpoint."
        )
    target = save_directory / f"{name}.py"
    target.write_text(
        relative_source(source_file.read_text(encoding="utf-8"), source_file, own_modules), encoding="utf-8"
    )
    _import_from_zoo(save_directory / ZOO_FILE, name, pe_class.__name__)
    return target


def relative_source(source: str, path: Path, own_modules: set[str]) -> str:
    """`source` with its `pe_bert` imports made relative to the checkpoint's flat copy of pe_bert's model code."""
    lines = source.splitlines(keepends=True)
    authoring_api = set(vars(pe_base))
    for node in sorted(_pe_bert_imports(ast.parse(source, filename=str(path))), key=lambda n: -n.lineno):
        if isinstance(node, ast.ImportFrom):
            submodule = node.module.partition(".")[2]
            if submodule and submodule not in own_modules:
                raise ValueError(
                    f"{path.name}, line {node.lineno}: `from {node.module} import ...` names a part of "
                    "pe_bert that does not travel with checkpoints; import the PE authoring API from "
                    "pe_bert itself (PositionEncoding, HyperParameter, register_position_encoding, ...)."
                )
            missing = [alias.name for alias in node.names if not submodule and alias.name not in authoring_api]
            if missing:
                raise ValueError(
                    f"{path.name}, line {node.lineno}: {', '.join(missing)} is not part of the PE "
                    "authoring API that travels with checkpoints (what pe_bert.pe_base defines); import "
                    "it inside a function, or compute it in the module itself."
                )
            names = ", ".join(a.name + (f" as {a.asname}" if a.asname else "") for a in node.names)
            replacement = f"from .{submodule or 'pe_base'} import {names}"
        else:
            aliases = [a for a in node.names if a.name.partition(".")[0] == "pe_bert"]
            if len(node.names) > 1 or "." in aliases[0].name:
                raise ValueError(
                    f"{path.name}, line {node.lineno}: write `import pe_bert` (or `from pe_bert import "
                    "...`) on a line of its own, so it can be made relative in the saved checkpoint."
                )
            replacement = f"from . import pe_base as {aliases[0].asname or 'pe_bert'}"
        first, last = node.lineno - 1, node.end_lineno
        indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
        rest = lines[last - 1][node.end_col_offset :].strip()
        if node.col_offset != len(indent) or (rest and not rest.startswith("#")):
            raise ValueError(f"{path.name}, line {node.lineno}: put the pe_bert import on lines of its own.")
        lines[first:last] = [f"{indent}{replacement}  # made relative by pe_bert's save_pretrained\n"]
    return "".join(lines)


def _pe_bert_imports(tree: ast.AST) -> list[ast.stmt]:
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module
            and node.module.partition(".")[0] == "pe_bert"
        ):
            found.append(node)
        elif isinstance(node, ast.Import) and any(a.name.partition(".")[0] == "pe_bert" for a in node.names):
            found.append(node)
    return found


def _import_from_zoo(zoo_file: Path, module_name: str, class_name: str) -> None:
    text = zoo_file.read_text(encoding="utf-8")
    line = f"from .{module_name} import {class_name}  # noqa: E402,F401\n"
    if line in text:
        return
    if _MARKER not in text:
        text = text.rstrip("\n") + f"\n\n{_MARKER}\n"
    zoo_file.write_text(text + line, encoding="utf-8")
