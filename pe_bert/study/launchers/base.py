"""The launcher interface: a launcher runs a study's units somewhere (this process, local worker processes, cluster
jobs) and gives their results back, reporting each finished unit, and what its workers or jobs finish, to the study's
`EventSink`. Launchers are found by the `launcher` setting in a registry, as PEs are by name."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ...errors import InvalidInputError

if TYPE_CHECKING:
    from ..events import EventSink
    from ..stages import SharedResults
    from ..stages.engine import StageEngine
    from ..units import Unit, UnitResult


@dataclass
class LaunchSetup:
    """What a launcher is given: the study's stage engine (its config, store and verbosity), the shared stages'
    results (for units run in this process) and the number of local worker processes the study may use."""

    engine: StageEngine
    shared: SharedResults
    workers: int


class Launcher(Protocol):
    """Runs units; returns their results in the order of `units`, calling `sink.unit_finished(result)` as each
    finishes. A unit that fails (or whose process dies) is a failed `UnitResult`; the others go on."""

    def run(self, units: list[Unit], sink: EventSink) -> list[UnitResult]: ...


# A launcher's class: constructed with a `LaunchSetup`, its instances are `Launcher`s.
LAUNCHERS: dict[str, type] = {}


def register_launcher(name: str):
    """Class decorator: make the class (constructed with a `LaunchSetup`) the launcher of `--launcher NAME`."""

    def register(cls: type) -> type:
        previous = LAUNCHERS.get(name)
        if previous is not None and previous.__qualname__ != cls.__qualname__:
            raise ValueError(
                f"Two launchers are registered as {name!r}: {previous.__qualname__} and {cls.__qualname__}."
            )
        LAUNCHERS[name] = cls
        return cls

    return register


def launcher_names() -> tuple[str, ...]:
    """Every valid `launcher` value, in registration order."""
    return tuple(LAUNCHERS)


def get_launcher(name: str, setup: LaunchSetup) -> Launcher:
    """The launcher registered as `name`, set up for a study; an unknown name is an error listing the valid ones."""
    cls = LAUNCHERS.get(name)
    if cls is None:
        close = difflib.get_close_matches(str(name), LAUNCHERS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InvalidInputError(f"Unknown launcher {name!r}.{hint} Valid launchers: {', '.join(LAUNCHERS)}.")
    return cls(setup)


__all__ = ["LAUNCHERS", "LaunchSetup", "Launcher", "get_launcher", "launcher_names", "register_launcher"]
