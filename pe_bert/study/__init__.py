"""`pe-bert study`: the paper's experiment end to end (pretrain PE variants, fine-tune, score locality and
symmetry, probe word order, correlate, report), resumable stage by stage."""

from .config import StudyConfig, VariantSpec
from .pipeline import Study
from .store import NotStored, StageFailed, StageStore


def run_study(config: StudyConfig | None = None, progress: bool = True, **settings) -> dict:
    """Run (or resume) a study and write its report; returns the results dictionary (as in results.json)."""
    return Study(config or StudyConfig(**settings), progress=progress).run()


__all__ = ["NotStored", "StudyConfig", "VariantSpec", "Study", "StageStore", "StageFailed", "run_study"]
