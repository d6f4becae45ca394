"""What a study folder holds: one study, whose settings `OUT/study_config.json` records.

Stages are stored by what they depend on, so two studies with different settings on one `--out` would redo each
other's stages under each other's feet (one wipes the pretraining the other is reading) and the last to finish
would write the report. So a folder belongs to the study that first ran in it: a run, `--dry-run` or
`--report-only` with other settings is refused at once, naming the differences, before anything is read or written.
`pe-bert study --out OUT` without `--config` takes the folder's own settings (flags may only repeat them), so a
study is resumed, planned or reported by naming its folder.

What counts is what the study computes. Where and how it runs (`EXECUTION_SETTINGS`: workers, launcher, the jobs'
resources, --out itself) and whether it is pushed to the Hub are not settings of the study; nor are the paths of the
user's inputs (`--train-file`, `--tokenizer-name`, `--dataset-name`, `--pe-module`): each stage identifies them by
content, so a moved input is the same study and an edited one redoes what was built on it. Whether such an input is
given at all is a setting (the built-in corpus or the user's).
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from pathlib import Path

from ..errors import InvalidInputError
from .config import ATTENUATED, DEFAULT_ATTENUATED_S, DEFAULT_ATTENUATED_W, EXECUTION_SETTINGS, StudyConfig

SETTINGS_FILE = "study_config.json"
SHARING_SETTINGS = ("push_to_hub", "hub_org")  # what happens to the results, not what they are
INPUT_PATHS = ("train_file", "tokenizer_name", "dataset_name")  # identified by content in the stages
NOT_SETTINGS = (*EXECUTION_SETTINGS, *SHARING_SETTINGS, "pe_modules")


def recorded_settings(out: str | Path) -> dict:
    """The settings recorded in `out` (execution and sharing settings left out: those of the command stand), or an
    empty dict when the folder holds no study yet."""
    path = Path(out) / SETTINGS_FILE
    if not path.exists():
        return {}
    try:
        values = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise InvalidInputError(
            f"{path} cannot be read ({error}): it records the settings of the study in {out}. Restore it, or "
            "remove it to let this command's settings replace it."
        ) from error
    if not isinstance(values, dict):
        raise InvalidInputError(f"{path} does not hold a mapping of settings: restore it, or remove it.")
    fields = set(StudyConfig.__dataclass_fields__)
    left_out = (*EXECUTION_SETTINGS, *SHARING_SETTINGS)  # --out among them
    return {key: value for key, value in values.items() if key in fields and key not in left_out}


def _identity(values: dict) -> dict:
    """What a study computes, from its settings (`StudyConfig.to_dict()` or a recorded file): inputs named by path
    by whether they are given, the attenuated grid as the (w, s) values it runs."""
    identity = {key: value for key, value in values.items() if key not in NOT_SETTINGS}
    for name in INPUT_PATHS:
        if name in identity:
            identity[name] = "given" if identity[name] is not None else "not given"
    variants = list(identity.get("variants", []))
    w, s = identity.get("attenuated_w"), identity.get("attenuated_s")
    grid = ATTENUATED in variants or w is not None or s is not None  # StudyConfig.attenuated_grid's rule
    identity["variants"] = [v for v in variants if v != ATTENUATED]
    identity["attenuated_w"] = [float(v) for v in (DEFAULT_ATTENUATED_W if w is None else w)] if grid else []
    identity["attenuated_s"] = [float(v) for v in (DEFAULT_ATTENUATED_S if s is None else s)] if grid else []
    if not (identity["attenuated_w"] and identity["attenuated_s"]):
        identity.pop("attenuated_bias", None)  # no grid: its bias does not matter
    return identity


def _show(value) -> str:
    if isinstance(value, list):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value) or "(none)"
    return str(value)


def differences(recorded: dict, config: StudyConfig) -> list[str]:
    """`--name X there, Y here` for each setting in which `config` differs from the recorded study."""
    there, here = _identity(recorded), _identity(config.to_dict())
    return [
        f"--{name.replace('_', '-')} {_show(there[name])} there, {_show(here.get(name))} here"
        for name in there
        if name in here and there[name] != here[name]
    ]


def check_same_study(config: StudyConfig) -> None:
    """Refuse (one line naming the differences) when `config.out` holds a study with other settings."""
    recorded = recorded_settings(config.out)
    different = differences(recorded, config) if recorded else []
    if different:
        raise InvalidInputError(
            f"--out {config.out} holds a study with other settings ({'; '.join(different)}). A folder holds one "
            f"study: give this one another --out, or name only --out {config.out} to resume, plan or report the "
            f"study it holds (to replace its settings, remove {Path(config.out) / SETTINGS_FILE})."
        )


def record_settings(config: StudyConfig) -> None:
    """Record `config`'s settings in its folder (created if need be), or refuse when the folder holds another study.
    The first record is created atomically (hard link), so of two studies starting at once on a new folder one
    records and the other is compared with it."""
    out = Path(config.out)
    check_same_study(config)
    out.mkdir(parents=True, exist_ok=True)
    path = out / SETTINGS_FILE
    temporary = out / f"{SETTINGS_FILE}.{uuid.uuid4().hex}.tmp"
    temporary.write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    try:
        try:
            os.link(temporary, path)
        except FileExistsError:  # recorded by now (perhaps by a study started at the same moment): compare again
            check_same_study(config)
            os.replace(temporary, path)  # the same study: this run's execution settings
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


__all__ = ["SETTINGS_FILE", "check_same_study", "differences", "record_settings", "recorded_settings"]
