"""Resuming an interrupted training run exactly: which checkpoint to trust, and masking that does not depend on
when a batch is collated.

*Which checkpoint.* The Trainer writes a `checkpoint-N` folder file by file (weights, optimizer, scheduler, RNG
states) and `trainer_state.json` last. A run killed while saving leaves a folder without it; transformers'
`get_last_checkpoint` would still pick it and every relaunch would crash. :class:`ChecksumCallback` then records
the sha256 of every file of the checkpoint, so that bytes flipped or cut later (a disk, a copy) are found too.
:func:`last_complete_checkpoint` skips incomplete or corrupt folders (with a warning naming them and why) and
returns the newest one that is complete and intact.

*Exact resume.* The Trainer checkpoints the Python, numpy and torch random states and restores them on resume,
and accelerate's seedable sampler makes the data order a function of the seed and the epoch; dropout is then
reproduced. What was not: the stock MLM collator masks with torch's global generator, and accelerate's dataloader
collates one batch ahead of the step being trained, so the state saved after step N has already been used to mask
batch N+1, which a resumed run must mask again from a different state. :class:`ResumableMaskingCollator` makes
each batch's masks a function of the seed and the batch itself. With it, resuming from a complete checkpoint gives
bit-identical weights and metrics to the uninterrupted run (tested), on the same hardware, thread count and
world size: float reductions are only reproducible under the same kernels and summation order.

*Same metrics.* The Trainer's `train_loss` averages the steps run by the current `train()` call, from running sums
that start at zero: a run resumed from checkpoint-N reported the mean loss of steps N+1..M (5.3008 against 5.2957
uninterrupted, with identical weights), and its first logged `loss` mixed windows. :class:`TrainLossCallback` saves
those sums with every checkpoint and puts them back on resume, so both are the uninterrupted run's, bit for bit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from transformers import DataCollatorForLanguageModeling, TrainerCallback
from transformers.trainer_callback import ExportableState
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from transformers.utils import SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME, WEIGHTS_INDEX_NAME, WEIGHTS_NAME

logger = logging.getLogger("pe_bert.training")

TRAINER_STATE = "trainer_state.json"
CHECKSUMS = "pe_bert_checksums.json"  # written into each checkpoint after the Trainer saved it
_CHECKPOINT = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")


def _safetensors_problem(path: Path) -> str | None:
    """Why a safetensors file is truncated or malformed (header and data size checked, no tensor read), or None."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            return f"{path.name} is truncated ({size} bytes)"
        (header_length,) = struct.unpack("<Q", prefix)
        if header_length > size - 8:
            return f"{path.name} is truncated (header of {header_length} bytes in a {size}-byte file)"
        try:
            header = json.loads(handle.read(header_length))
        except ValueError:
            return f"{path.name} has a corrupt header"
    ends = [entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"]
    expected = 8 + header_length + max(ends, default=0)
    if size != expected:
        return f"{path.name} has {size} bytes where its header describes {expected}"
    return None


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file's bytes (read in chunks): checkpoints and the study's stages verify files by it."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def below(path: Path, folder: Path) -> bool:
    """`path` is `folder` or lies below it, once links are followed on both sides."""
    real, base = Path(path).resolve(), Path(folder).resolve()
    return real == base or base in real.parents


def path_within(folder: Path, name) -> Path | None:
    """`folder / name` when `name` (read from a record: a checksum manifest, a weight index, a stage's result) is a
    relative path without `..` that stays inside `folder` once links are followed; None for anything else (an
    absolute path, `../x`, a link out of the folder, not a string). Records are data: one edited or damaged must
    never make a run read or write outside the folder it describes."""
    if not isinstance(name, str) or not name:
        return None
    lexical = PurePosixPath(name)
    if lexical.is_absolute() or Path(name).is_absolute() or ".." in lexical.parts:
        return None
    path = Path(folder) / name
    return path if below(path, folder) else None


def write_checksums(folder: str | os.PathLike) -> None:
    """Record the sha256 of every file of a saved checkpoint in it (atomically, last), for `checkpoint_problem`."""
    folder = Path(folder)
    checksums = {
        p.relative_to(folder).as_posix(): file_sha256(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in (CHECKSUMS, CHECKSUMS + ".tmp")
    }
    temporary = folder / (CHECKSUMS + ".tmp")
    temporary.write_text(json.dumps(checksums, indent=1) + "\n")
    os.replace(temporary, folder / CHECKSUMS)


def _checksum_problem(folder: Path) -> str | None:
    manifest = folder / CHECKSUMS
    if not manifest.exists() and not manifest.is_symlink():
        return None  # saved before checksums were written (or by another tool): the structural checks stand
    if manifest.is_symlink() or not manifest.is_file():
        return f"{CHECKSUMS} is not a file"
    try:
        checksums = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return f"{CHECKSUMS} is not valid JSON"
    if not isinstance(checksums, dict) or not all(isinstance(v, str) for v in checksums.values()):
        return f"{CHECKSUMS} is not a mapping of file names to checksums"
    for name, expected in checksums.items():
        path = path_within(folder, name)
        if path is None:
            return f"{CHECKSUMS} names {name!r}, outside the checkpoint"
        if not path.is_file():
            return f"{name} is missing"
        if file_sha256(path) != expected:
            return f"{name} does not match the checksum written when it was saved (corrupt)"
    return None


class ChecksumCallback(TrainerCallback):
    """Writes `pe_bert_checksums.json` into every checkpoint the Trainer saves (main process only)."""

    def on_save(self, args, state, control, **kwargs):
        folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        if state.is_world_process_zero and folder.is_dir():
            write_checksums(folder)
        return control


class TrainLossCallback(TrainerCallback, ExportableState):
    """Makes a resumed run log and report the loss of the uninterrupted run (module docstring, *Same metrics*).

    The Trainer keeps three private running values: the sum of the losses logged so far (`_total_loss_scalar`), the
    losses of the steps since the last log (`_tr_loss`, one per process: logging averages them over processes) and
    that step (`_globalstep_last_logged`); all start from zero in every `train()` call, and `train_loss` is the sum
    divided by the steps of that call. This callback stores them in each checkpoint's trainer_state.json (a stateful
    callback: written with the checkpoint, so a complete checkpoint has them), restores them when training resumes,
    and reports `train_loss` as the sum over the steps of the whole run. The values are restored exactly (float64
    sum, float32 windows), so the resumed run adds the same numbers in the same order as the uninterrupted one.
    Use `TrainLossCallback.attach(trainer)`: it needs the trainer whose sums it keeps.
    """

    def __init__(self, trainer=None):
        self.trainer = trainer  # None when transformers rebuilt it from a checkpoint's state: then it does nothing
        self.train_loss: float | None = None  # the whole run's, once training ended
        self._windows: list[float] | None = None  # every process's window, gathered before a checkpoint

    @classmethod
    def attach(cls, trainer) -> TrainLossCallback:
        callback = cls(trainer)
        trainer.add_callback(callback)  # after DefaultFlowCallback, which decides the saves `on_step_end` reads
        return callback

    def _ready(self) -> bool:
        return self.trainer is not None and hasattr(self.trainer, "_tr_loss")

    def state(self) -> dict:
        """The running sums as of the checkpoint being saved (main process); called by the Trainer."""
        if not self._ready():
            return {"args": {}, "attributes": {}}
        trainer = self.trainer
        windows = self._windows if trainer.args.world_size > 1 else None
        if trainer._globalstep_last_logged == trainer.state.global_step:  # just logged: every window is empty
            windows = [0.0] * trainer.args.world_size
        return {
            "args": {},
            "attributes": {
                "total": trainer._total_loss_scalar,
                "windows": windows or [trainer._tr_loss.item()],
                "last_logged": trainer._globalstep_last_logged,
            },
        }

    def on_step_end(self, args, state, control, **kwargs):
        # Data-parallel: a checkpoint needs every process's window, and only the main process saves trainer_state.json.
        # Every process runs this at the same step, so the gather is collective.
        if self._ready() and args.world_size > 1 and (control.should_save or control.should_evaluate):
            self._windows = self.trainer.accelerator.gather(self.trainer._tr_loss.detach().reshape(1)).tolist()
        return control

    def on_train_begin(self, args, state, control, **kwargs):
        saved = (state.stateful_callbacks or {}).get(type(self).__name__)
        if not self._ready() or state.global_step == 0 or not isinstance(saved, dict):
            return control
        attributes = saved.get("attributes") or {}
        if not attributes:
            logger.warning(
                "The checkpoint holds no running loss (saved before pe_bert kept it): train_loss and the first "
                "logged loss cover only the steps run after resuming."
            )
            return control
        trainer = self.trainer
        windows = attributes["windows"]
        if len(windows) == args.world_size:
            window = windows[args.process_index]
        else:  # logging averages windows over processes: the mean keeps the logged losses, not train_loss's tail
            window = sum(windows) / len(windows)
            logger.warning(
                "The checkpoint was saved by %d process(es), this run has %d: train_loss may differ from an "
                "uninterrupted run's in its last digits.",
                len(windows),
                args.world_size,
            )
        trainer._total_loss_scalar = attributes["total"]
        trainer._tr_loss.fill_(window)
        trainer._globalstep_last_logged = attributes["last_logged"]
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        # The Trainer's final log: train_loss over every step of the run, not only those of this train() call.
        if self._ready() and logs is not None and "train_loss" in logs:
            self.train_loss = self.trainer._total_loss_scalar / max(state.global_step, 0.001)
            logs["train_loss"] = self.train_loss
            if state.log_history and "train_loss" in state.log_history[-1]:
                state.log_history[-1]["train_loss"] = self.train_loss
        return control


def checkpoint_problem(folder: str | os.PathLike) -> str | None:
    """Why `folder` is not a complete, intact Trainer checkpoint (a short reason), or None when it is one."""
    folder = Path(folder)
    state = folder / TRAINER_STATE
    if not state.is_file():
        return f"no {TRAINER_STATE} (the save was interrupted)"
    try:
        json.loads(state.read_text())
    except (OSError, ValueError):
        return f"{TRAINER_STATE} is not valid JSON"
    return model_problem(folder) or _checksum_problem(folder)


def model_problem(folder: str | os.PathLike) -> str | None:
    """Why the model weights saved in `folder` are missing, truncated or malformed, or None."""
    folder = Path(folder)
    if (folder / SAFE_WEIGHTS_NAME).is_file():
        return _safetensors_problem(folder / SAFE_WEIGHTS_NAME)
    index = next(
        (folder / name for name in (SAFE_WEIGHTS_INDEX_NAME, WEIGHTS_INDEX_NAME) if (folder / name).is_file()), None
    )
    if index is not None:
        try:
            shards = set(json.loads(index.read_text())["weight_map"].values())
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return f"{index.name} is not a valid weight index"
        outside = sorted(str(name) for name in shards if path_within(folder, name) is None)
        if outside:
            return f"{index.name} names {outside[0]!r}, outside the checkpoint"
        missing = sorted(name for name in shards if not (folder / name).is_file())
        if missing:
            return f"weight shard(s) {missing} missing"
        broken = [_safetensors_problem(folder / name) for name in sorted(shards) if name.endswith(".safetensors")]
        return next((problem for problem in broken if problem), None)
    if (folder / WEIGHTS_NAME).is_file():
        return None
    return "no model weights"


def last_complete_checkpoint(output_dir: str | os.PathLike) -> str | None:
    """The newest complete `checkpoint-N` in `output_dir`; incomplete ones are skipped with a warning."""
    folders = [
        (int(match.group(1)), entry)
        for entry in os.scandir(output_dir)
        if entry.is_dir() and (match := _CHECKPOINT.match(entry.name))
    ]
    for _, entry in sorted(folders, key=lambda pair: pair[0], reverse=True):
        problem = checkpoint_problem(entry.path)
        if problem is None:
            return entry.path
        logger.warning("Skipping the incomplete checkpoint %s: %s. Resuming from an earlier one.", entry.path, problem)
    return None


def _rows_tensor(rows: list) -> torch.Tensor:
    """`torch.tensor(rows)` for rows of token ids, through numpy: the same int64 (or bool) tensor, 4x faster on
    lists of Python ints (torch converts them one by one). Other values (floats: torch makes them float32, numpy
    float64) go through torch as before."""
    array = np.asarray(rows)
    return torch.from_numpy(array) if array.dtype.kind in "ib" else torch.tensor(rows)


@dataclass
class ResumableMaskingCollator(DataCollatorForLanguageModeling):
    """`DataCollatorForLanguageModeling` whose masks are a function of `mask_seed` and the batch's token ids.

    The stock collator draws its masks from torch's global random stream (or from a generator of its own that
    checkpoints do not save), in an order the dataloader's one-batch lookahead interleaves with dropout; a run
    resumed from a checkpoint therefore masked differently from the uninterrupted run. Here each batch seeds its own
    generator from a hash of (`mask_seed`, token ids), so the same batch gets the same masks whenever, wherever
    (resumed run, dataloader worker, data-parallel process) it is collated, and the collator consumes nothing from
    the global stream. Masking stays dynamic: a shuffled dataloader almost never forms the same batch twice. The
    masking probabilities (`mlm_probability`, 80 % [MASK] / 10 % random / 10 % kept) are the stock ones.
    """

    mask_seed: int = 0

    def torch_call(self, examples):
        # Blocks of one length (grouped text, what pretraining feeds): stack them directly instead of the
        # tokenizer's per-example padding, a tenth of a training step of the study's tiny model.
        if (
            self.mlm
            and not self.whole_word_mask
            and self.pad_to_multiple_of is None
            and examples
            and isinstance(examples[0], Mapping)
            and len({len(e["input_ids"]) for e in examples}) == 1
        ):
            batch = {key: _rows_tensor([e[key] for e in examples]) for key in examples[0] if key != "offset_mapping"}
            special_tokens_mask = batch.pop("special_tokens_mask", None)
            if special_tokens_mask is None:
                special_tokens_mask = self.special_tokens_mask(batch["input_ids"])
            batch["input_ids"], batch["labels"] = self.torch_mask_tokens(
                batch["input_ids"], special_tokens_mask=special_tokens_mask
            )
            return batch
        return super().torch_call(examples)

    def special_tokens_mask(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Where `input_ids` holds one of the tokenizer's special ids: the stock collator's mask
        (`get_special_tokens_mask(..., already_has_special_tokens=True)`, row by row in Python, a twentieth of a
        training step of the study's tiny model) in one vectorised test."""
        special = torch.tensor(sorted(set(self.tokenizer.all_special_ids)), dtype=input_ids.dtype)
        return torch.isin(input_ids, special)

    def torch_mask_tokens(self, inputs, special_tokens_mask=None, offset_mapping=None):
        digest = hashlib.blake2b(
            inputs.numpy().tobytes(), digest_size=8, key=self.mask_seed.to_bytes(8, "little", signed=True)
        ).digest()
        self.generator = torch.Generator().manual_seed(int.from_bytes(digest, "little") & (2**63 - 1))
        return super().torch_mask_tokens(inputs, special_tokens_mask=special_tokens_mask, offset_mapping=offset_mapping)


@dataclass
class MaskedOnlyHeadCollator(ResumableMaskingCollator):
    """`ResumableMaskingCollator` that also gives the model `masked_positions`: for each row, its labelled
    positions first, then as many unlabelled ones as it takes to fill one width `k` for the whole batch, so that
    `PEBertForMaskedLM` runs its vocabulary-sized head at k positions per row instead of all of them, with the same
    loss and gradients (the filling positions carry no label).

    `k` is `capacity` (default: the expected masked count of a full row, doubled, rounded up to a multiple of 8)
    unless a row has more labelled positions, in which case the batch gets the smallest multiple of 8 that holds
    them all: exact for every batch, and one shape for almost every batch (few recompilations under
    torch.compile)."""

    capacity: int | None = None

    def torch_call(self, examples):
        batch = super().torch_call(examples)
        labelled = batch["labels"] != -100
        width = max(int(labelled.sum(-1).max()), self._capacity(labelled.shape[1]))
        width = min(-(-width // 8) * 8, labelled.shape[1])
        # A stable sort puts each row's labelled positions first (in order), then its unlabelled ones.
        batch["masked_positions"] = torch.sort((~labelled).to(torch.int8), dim=-1, stable=True).indices[:, :width]
        return batch

    def _capacity(self, length: int) -> int:
        if self.capacity is not None:
            return self.capacity
        return int(2 * self.mlm_probability * length + 0.999)


__all__ = [
    "ChecksumCallback",
    "MaskedOnlyHeadCollator",
    "ResumableMaskingCollator",
    "TrainLossCallback",
    "checkpoint_problem",
    "last_complete_checkpoint",
    "model_problem",
    "path_within",
    "write_checksums",
]
