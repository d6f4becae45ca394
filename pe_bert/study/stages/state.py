"""What stages pass on: the shared stages' results (`SharedResults`) and, within a unit, what its later stages read
of its earlier ones (`UnitState`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..units import Unit
    from .base import StageResult
    from .data import DataResult
    from .design import DesignResult
    from .probing_split import ProbingSplit
    from .tasks import TaskFiles


@dataclass
class SharedResults:
    """The shared stages' results: the data (tokenizer, corpus, evaluation blocks and floors), the grid's manipulation
    check, the probing split (with its n-gram baselines) and the built-in tasks' files per seed; None (or no seed)
    where the study has no such stage; any other shared stage's result in `others`, by (folder, name). `data`,
    `design`, `probing`: their stored dicts, as the report reads them."""

    corpus: DataResult | None = None
    manipulation: DesignResult | None = None
    probing_split: ProbingSplit | None = None
    task_files: dict[int, TaskFiles] = field(default_factory=dict)
    others: dict[tuple[str, str], StageResult] = field(default_factory=dict)

    @property
    def data(self) -> dict:
        return self.corpus.to_dict() if self.corpus is not None else {}

    @property
    def design(self) -> dict:
        return self.manipulation.to_dict() if self.manipulation is not None else {}

    @property
    def probing(self) -> dict:
        return self.probing_split.to_dict() if self.probing_split is not None else {}


@dataclass
class UnitState:
    """One unit's run so far: the shared results it reads, its model folder at each budget (absolute paths: stage
    results store them relative to the study folder) and the models the attention scores measure (each budget's
    pretrained model by `budget_name`, then each fine-tuned task's)."""

    unit: Unit
    shared: SharedResults
    checkpoints: dict[int, str] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)

    @property
    def final(self) -> int:
        """The largest budget's steps."""
        return max(self.checkpoints)

    @property
    def pretrained(self) -> str:
        """The model at the final budget."""
        return self.checkpoints[self.final]

    def task_files(self) -> dict:
        """The built-in tasks' files of the unit's seed ({task: {split: stored path}}), empty without any."""
        files = self.shared.task_files.get(self.unit.seed)
        return files.files if files is not None else {}


__all__ = ["SharedResults", "UnitState"]
