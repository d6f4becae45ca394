"""Resumable stages: each finished stage is stored and skipped on rerun; a partial, stale or corrupt one is redone.

A stage writes into its own folder `runs/<unit>/<stage>/`. Its result (a JSON-able dict) goes to `result.json`, and
only after everything is written does `DONE.json` appear (atomically renamed), holding the stage's fingerprint (a
hash of the settings it depends on), the sha256 of every file it produced and of its result, and the stage's
content digest (a hash of those checksums). On rerun a stage is skipped only if `DONE.json` parses, its
fingerprint matches the current settings and every checksum matches the file on disk; otherwise its folder is
wiped and it runs again. Verifying costs one read of the stage's files: sha256 hashes about 1 GB/s on one core, so a
BERT-base checkpoint (440 MB) adds about half a second to a skip, a tiny study's stages about a millisecond each.

Trust flows by content, not by location: a stage that uses another stage's output puts `content_id(path)` (that
stage's digest) in its settings, so redoing the upstream stage with a different outcome invalidates everything
downstream, while moving or copying the study folder invalidates nothing. Results store paths relative to the
study folder (`relative`, `resolve`), so a moved or copied folder reruns by skipping every stage. A stored path is
data, not an instruction: a stage declares which values of its result are paths (`paths`), and one that does not
lie inside the stage's own folder (`..`, an absolute path, a link out of it) makes the stage not stored, so it is
redone; `resolve` refuses such a path wherever it is read. `runs/` itself may be a link to a folder elsewhere (a
scratch disk): it is followed, and links below it are not trusted.

A stage is computed in a partial folder of its own (`<stage>.partial-<token>`) and moved into place only once it is
sealed and its lease is still held: a process that lost its lease meanwhile (paused, then presumed dead) discards
its work and uses the new holder's result, and a killed run leaves nothing at the stage's name.

One process at a time computes a stage: it holds the stage's lease (`pe_bert.study.leases`, safe on network
filesystems), so several studies, workers or cluster jobs can work on one folder. Every decision is appended to
`stage_log.jsonl` with timings, and a line torn by a kill mid-append is skipped by readers and never glued to the
next entry.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import logging
import os
import shutil
import signal
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath

from ..errors import InvalidInputError
from ..training.resume import below, file_sha256, path_within
from .leases import Lease, LeaseError

logger = logging.getLogger(__name__)

LEASE_SUFFIX = ".lease"  # runs/<unit>/<stage>.lease: held while a process computes that stage
PARTIAL = ".partial-"  # runs/<unit>/<stage>.partial-<token>: a stage being computed, moved into place when sealed
# Test hook: `PE_BERT_TEST_KILL_AT=<point>@<unit>/<stage>` makes the process SIGKILL itself at that point of that
# stage (`before-done`: outputs and result written, DONE.json not yet; `mid-log`: half of the stage's log line
# written), so the kill tests can interrupt a run at an exact place instead of at a random time.
KILL_HOOK = "PE_BERT_TEST_KILL_AT"
# With `PE_BERT_TEST_KILL_ONCE=<file>` as well, the hook fires only while that file does not exist (it creates it):
# a process killed once, whose retry goes through.
KILL_ONCE = "PE_BERT_TEST_KILL_ONCE"


def fingerprint(settings: dict) -> str:
    """Stable hash of a stage's settings (sorted JSON)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def input_fingerprint(value: str | Path | None) -> str | None:
    """What a stage's settings should hold for an input a user names: a local file or folder by the sha256 of its
    content (so editing `--train-file` redoes what was built on it, and moving it does not), anything else (a Hub
    id, None) as given."""
    if value is None:
        return None
    path = Path(value)
    if path.is_file():
        return f"sha256:{file_sha256(path)}"
    if path.is_dir():
        digest = hashlib.sha256()
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(f"{file.relative_to(path).as_posix()}\0{file_sha256(file)}\n".encode())
        return f"sha256:{digest.hexdigest()}"
    return str(value)


def stored_strings(value) -> list[str]:
    """Every string in a JSON-able value (nested dicts and lists): the paths of a result's `files` mapping."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [text for item in value for text in stored_strings(item)]
    return []


class OutsideStudy(InvalidInputError):
    """A path read from a stored record leaves the study folder (`..`, absolute, or a link out of it)."""


def _write_json_atomically(path: Path, value) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(value, indent=2, default=str) + "\n")
    os.replace(temporary, path)


def _kill_if_hooked(point: str, unit: str, stage: str) -> None:
    if os.environ.get(KILL_HOOK) != f"{point}@{unit}/{stage}":
        return
    once = os.environ.get(KILL_ONCE)
    if once:
        try:
            os.close(os.open(once, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return
    os.kill(os.getpid(), signal.SIGKILL)


def _clear_parents(folder: Path, root: Path) -> None:
    """Remove any file or link standing where one of `folder`'s parent folders below `root` should be."""
    for path in reversed([p for p in folder.parents if root in p.parents]):
        if path.is_symlink() or path.is_file():
            path.unlink()


def _clear(folder: Path, root: Path) -> None:
    """Remove whatever is at `folder` (a folder, a file, a link) and what stands in the way of its parents, so that
    `folder` can be created."""
    _clear_parents(folder, root)
    if folder.is_symlink() or folder.is_file():
        folder.unlink()
    elif folder.is_dir():
        shutil.rmtree(folder)


def _partials(folder: Path) -> list[Path]:
    """The partial folders of a stage (left by runs that were killed or lost their lease)."""
    return list(folder.parent.glob(f"{folder.name}{PARTIAL}*")) if folder.parent.is_dir() else []


def _remove(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


class LeaseLost(Exception):
    """This process lost a stage's lease while computing it: its work is discarded (internal to the store)."""


class StageFailed(RuntimeError):
    """A stage raised; carries the unit, the stage and the original traceback text."""

    def __init__(self, unit: str, stage: str, error: BaseException):
        self.unit, self.stage = unit, stage
        self.error = f"{type(error).__name__}: {error}"
        self.traceback = "".join(traceback.format_exception(error))[-4000:]
        super().__init__(f"{unit}/{stage} failed: {self.error}")


class NotStored(StageFailed):
    """A read-only store (`--report-only`, `--dry-run`) was asked for a stage that is not stored (verified)."""

    def __init__(self, unit: str, stage: str):
        super().__init__(
            unit,
            stage,
            LookupError("not in the store yet: run the study (the same command without --report-only) to compute it"),
        )
        self.traceback = ""


class Processes:
    """Which process this is under `accelerate launch` (one process otherwise), and a barrier."""

    def __init__(self):
        from accelerate import PartialState
        from accelerate.utils import parse_flag_from_env

        # PartialState (unlike the Trainer's AcceleratorState) does not read ACCELERATE_USE_CPU itself: without
        # `cpu=True` every CPU process of a data-parallel launch would believe it is alone.
        self._state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))
        self.count = self._state.num_processes
        self.is_main = self._state.is_main_process

    def barrier(self) -> None:
        if self.count > 1:
            self._state.wait_for_everyone()

    def share(self, value):
        """The main process's `value`, on every process."""
        from accelerate.utils import broadcast_object_list

        box = [value]
        broadcast_object_list(box, from_process=0)
        return box[0]


def _shared(processes, value):
    """`processes.share(value)` when there are several processes (the value of this one otherwise)."""
    return processes.share(value) if processes.count > 1 else value


class StageStore:
    """Stores stage results under `root`. Under `accelerate launch`, only the main process writes: a `collective`
    stage (training, which the Trainer spreads over the processes) runs on every process, any other stage on the
    main process only while the others wait and then read its stored result."""

    def __init__(self, root: str | Path, processes: Processes | None = None):
        self.root = Path(root).absolute()
        self.runs = self.root / "runs"
        self.log_path = self.root / "stage_log.jsonl"
        self.processes = processes or Processes()
        self._digests: dict[Path, str] = {}  # stage folder -> content digest, for stages run or verified here
        self._staging: dict[Path, Path] = {}  # partial folder -> the stage folder it becomes (`relative` maps it)
        self.read_only = False  # True: `run` returns stored results and raises NotStored for the others
        # Nothing is created here: a read-only store (--dry-run, --report-only) must leave the disk as it found it;
        # the first lease creates the folders it needs.
        if self.runs.is_symlink() and not self.runs.is_dir():
            raise InvalidInputError(
                f"{self.runs} is a link to {os.readlink(self.runs)}, which is not a folder: create that folder (a "
                "scratch disk for the stages, say) or remove the link."
            )

    def folder(self, unit: str, stage: str) -> Path:
        return self.runs / unit / stage.replace(":", "-")

    # ------------------------------------------------------------------------------------ paths and identity

    def relative(self, path: str | Path) -> str:
        """`path` relative to the study folder (what results store), in POSIX form. A path inside a stage's partial
        folder is stored as the path it will have once the stage is moved into place."""
        path = Path(path).absolute()
        for staging, final in self._staging.items():
            if path == staging or staging in path.parents:
                path = final / path.relative_to(staging)
        return path.relative_to(self.root).as_posix()

    def resolve(self, stored: str) -> Path:
        """The absolute path of a path stored by `relative` (within a stage's work, a path of that stage is where it
        is being computed: its partial folder). Anything that would leave the study folder (an absolute
        path, `..`, a link below `runs/` that points out) is refused (`OutsideStudy`): a damaged or edited record
        must not make the study read, overwrite or upload another folder."""
        if not self._inside(stored, self.root):
            raise OutsideStudy(
                f"A stored record of {self.root} names {stored!r}, outside the study folder: the record was edited or "
                "damaged. Delete that stage's folder under runs/ and run the study again to redo it."
            )
        path = self.root / stored
        for staging, final in self._staging.items():  # inside a stage being computed: where it is for now
            if path == final or final in path.parents:
                return staging / path.relative_to(final)
        return path

    def _inside(self, stored, folder: Path) -> bool:
        """`stored` (relative to the study folder) is a relative path without `..` that stays in `folder` once links
        are followed; for the study folder itself, `runs/` counts as inside wherever its link points."""
        if not isinstance(stored, str) or not stored:
            return False
        lexical = PurePosixPath(stored)
        if lexical.is_absolute() or Path(stored).is_absolute() or ".." in lexical.parts:
            return False
        bases = (self.root, self.runs) if folder == self.root else (folder,)
        return any(below(self.root / stored, base) for base in bases)

    def content_id(self, path: str | Path | None) -> str | None:
        """What a downstream stage's settings should hold for an input path: the content digest of the stage that
        produced it (`sha256:...`; for a path inside a stage folder, such as a pretraining's model at a smaller
        budget, the digest and the path within the stage, so that it moves with the study folder), or the path as
        given when it is not in a stage folder (a user's model or tokenizer, a Hub id)."""
        if path is None:
            return None
        absolute = Path(path).absolute()
        for folder in (absolute, *absolute.parents):
            digest = self._digests.get(folder)
            if digest:
                inner = absolute.relative_to(folder).as_posix()
                return f"sha256:{digest}" + ("" if inner == "." else f":{inner}")
        return str(path)

    # ------------------------------------------------------------------------------------ verify and run

    def _verified(self, unit: str, stage: str, settings: dict, paths=None) -> tuple[dict, str] | None:
        """`(result, digest)` if the stage finished with these settings, every checksum matches and every path its
        result stores (`paths(result)`) lies inside the stage's folder, else None. A stage folder below `runs/` that
        is a link (its content could change outside the study) or not a folder is not trusted."""
        folder = self.folder(unit, stage)
        if any(p.is_symlink() for p in (folder, *folder.parents) if self.runs in p.parents) or not folder.is_dir():
            return None
        try:
            done = json.loads((folder / "DONE.json").read_text())
            if done.get("fingerprint") != fingerprint(settings):
                return None
            checksums = done["checksums"]
            for name, expected in checksums.items():
                if path_within(folder, name) is None:
                    logger.warning("%s/%s: its record names %r, outside the stage; redoing it.", unit, stage, name)
                    return None
                if file_sha256(folder / name) != expected:
                    logger.warning("%s/%s: %s does not match its checksum; redoing the stage.", unit, stage, name)
                    return None
            result = json.loads((folder / "result.json").read_text())
            outside = [path for path in (paths(result) if paths else ()) if not self._inside(path, folder)]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        if outside:
            logger.warning(
                "%s/%s: its result names %s, outside the stage's folder (edited or damaged); redoing the stage.",
                unit,
                stage,
                ", ".join(map(repr, outside)),
            )
            return None
        return result, done["digest"]

    def cached(self, unit: str, stage: str, settings: dict, paths=None) -> dict | None:
        """The stored result if the stage finished with these settings and its outputs are intact, else None."""
        verified = self._verified(unit, stage, settings, paths)
        if verified is None:
            return None
        self._digests[self.folder(unit, stage)] = verified[1]
        return verified[0]

    def digest(self, unit: str, stage: str) -> str:
        """Content digest of a stage run or verified by this store (what `content_id` puts in settings)."""
        return self._digests[self.folder(unit, stage)]

    def _seal(
        self,
        folder: Path,
        settings: dict,
        result: dict,
        produced: Iterable[str],
        seconds: float,
        volatile: tuple[str, ...] = (),
    ) -> str:
        """Write result.json and DONE.json: every file's checksum (verified on rerun), and the content digest over
        the deterministic ones only (files matching a `volatile` pattern, such as the Trainer's timing records,
        are checked but do not make a redone stage's content differ)."""
        _write_json_atomically(folder / "result.json", result)
        checksums = {name: file_sha256(folder / name) for name in sorted({*produced, "result.json"})}
        content = {
            name: sha
            for name, sha in checksums.items()
            if not any(fnmatch.fnmatch(name, pattern) for pattern in volatile)
        }
        digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
        _write_json_atomically(
            folder / "DONE.json",
            {
                "fingerprint": fingerprint(settings),
                "settings": settings,
                "files": sorted(checksums),
                "checksums": checksums,
                "volatile": sorted(set(checksums) - set(content)),
                "digest": digest,
                "seconds": seconds,
            },
        )
        return digest

    def run(
        self,
        unit: str,
        stage: str,
        settings: dict,
        work: Callable[[Path], dict],
        files: Callable[[Path], list[str]] | None = None,
        collective: bool = False,
        rewritten: tuple[str, ...] = (),
        volatile: tuple[str, ...] = (),
        paths: Callable[[dict], Iterable[str]] | None = None,
    ) -> dict:
        """Return the stored result, or run `work(folder) -> result` and store it.

        `files(folder)` lists the outputs (relative to the folder) that are checksummed and verified on rerun; by
        default, every file the stage wrote except those named in `rewritten` (files that later steps may rewrite,
        such as a model card the report fills in). `volatile`: patterns of outputs that differ from run to run
        whatever the inputs (timings): verified, but left out of the content digest that downstream stages depend
        on. `paths(result)`: the values of the result that are paths (made by `relative`), which a stored result
        must keep inside the stage's folder. `collective`: run `work` on every process (class docstring).
        """
        main = self.processes.is_main
        result = self.cached(unit, stage, settings, paths)
        if self.read_only:  # --report-only, --dry-run: look, never compute
            if result is None:
                raise NotStored(unit, stage)
            return result
        self.processes.barrier()  # everyone has looked before the main process touches the folder
        folder = self.folder(unit, stage)
        while result is None:
            if main:
                _clear_parents(folder, self.runs)  # a file where the unit's folder belongs would block the lease
            try:
                with self.lease(unit, stage) if main else contextlib.nullcontext() as lease:
                    self.processes.barrier()
                    result = self.cached(unit, stage, settings, paths)  # another run may have finished it meanwhile
                    self.processes.barrier()
                    if result is None:
                        options = (files, collective, rewritten, volatile, paths)
                        return self._run_leased(unit, stage, settings, work, lease, *options)
            except LeaseLost:  # the stage's new holder computes it: wait for its result
                continue
            except LeaseError as error:
                raise StageFailed(unit, stage, error) from error
        if main:
            self._log(unit, stage, "skipped", 0.0)
        return result

    def lease(self, unit: str, stage: str) -> contextlib.AbstractContextManager:
        """Hold the stage's lease (`pe_bert.study.leases`) while the block runs; waits while another process holds
        it, takes it over when its holder died."""
        folder = self.folder(unit, stage)

        def waiting(holder: str) -> None:
            logger.info("%s/%s is being computed by another process (%s): waiting for it.", unit, stage, holder)

        return Lease(folder.with_name(folder.name + LEASE_SUFFIX)).hold(on_wait=waiting)

    def _run_leased(self, unit, stage, settings, work, lease, files, collective, rewritten, volatile, paths) -> dict:
        """Compute the stage in a partial folder of its own, seal it there, and move it into place if this process
        still holds the lease (`LeaseLost` otherwise, on every process, its work discarded)."""
        main = self.processes.is_main
        folder = self.folder(unit, stage)
        staging = folder.with_name(folder.name + PARTIAL + _shared(self.processes, uuid.uuid4().hex[:12]))
        if main:
            for stale in _partials(folder):  # left by a run killed mid-stage, or one that lost this lease
                _remove(stale)
            staging.mkdir(parents=True)
        self._staging[staging] = folder
        self.processes.barrier()
        failure = None
        try:
            if main or collective:
                start = time.perf_counter()
                try:
                    result = work(staging)
                except Exception as error:
                    failure = StageFailed(unit, stage, error)
                    failure.__cause__ = error
                if main and failure is None:
                    seconds = time.perf_counter() - start
                    produced = (
                        files(staging)
                        if files
                        else [p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file()]
                    )
                    produced = [name for name in produced if name not in ("result.json", "DONE.json", *rewritten)]
                    _kill_if_hooked("before-done", unit, stage)
                    digest = self._seal(staging, settings, result, produced, seconds, volatile)
            # Right before the stage takes its name: still ours? A holder paused past the ttl may have been presumed
            # dead; the stage is then the new holder's, and so is a failure here (it removed our partial folder).
            lost = _shared(self.processes, main and not lease.held())
            if lost:
                if main:
                    logger.warning(
                        "%s/%s: this process lost the stage's lease while computing it (paused for longer than %.0f "
                        "s?); its work is discarded and the new holder's result used.",
                        unit,
                        stage,
                        lease.ttl,
                    )
                raise LeaseLost
            if main and failure is not None:
                self._log(unit, stage, "failed", time.perf_counter() - start, error=failure.error)
            if main and failure is None:
                _clear(folder, self.runs)  # whatever stands at the stage's name is partial, stale or corrupt
                os.rename(staging, folder)
                self._digests[folder] = digest
                self._log(unit, stage, "ran", seconds)
        finally:
            self._staging.pop(staging, None)
            if main and staging.exists():
                _remove(staging)
        self.processes.barrier()
        if failure is not None:
            raise failure
        if not main:
            verified = self._verified(unit, stage, settings, paths)
            if verified is None:
                raise StageFailed(unit, stage, RuntimeError("the stage failed on the main process"))
            self._digests[folder] = verified[1]
            if not collective:
                result = verified[0]
        return result

    def stored_seconds(self) -> dict[str, float]:
        """Compute time of every stored stage, by kind of stage (records that do not parse are not counted: they
        are not trusted, and the stage will be redone when it is needed)."""
        seconds: dict[str, float] = {}
        for done in sorted(self.runs.glob("**/DONE.json")):
            if PARTIAL in done.parent.name:  # not in place: not stored
                continue
            try:
                value = float(json.loads(done.read_text()).get("seconds", 0.0))
            except (OSError, ValueError, AttributeError, TypeError):
                continue
            kind = done.parent.name.split("-", 1)[0]
            seconds[kind] = seconds.get(kind, 0.0) + value
        return seconds

    # ------------------------------------------------------------------------------------ log

    def _log(self, unit: str, stage: str, status: str, seconds: float, **extra) -> None:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "unit": unit,
            "stage": stage,
            "status": status,
            "seconds": round(seconds, 3),
            **extra,
        }
        line = (json.dumps(entry) + "\n").encode()
        with self.log_path.open("a+b") as log:
            if log.seek(0, os.SEEK_END) > 0:
                log.seek(-1, os.SEEK_END)
                if log.read(1) != b"\n":  # a torn line left by a killed run: do not glue this entry onto it
                    log.write(b"\n")
            if os.environ.get(KILL_HOOK) == f"mid-log@{unit}/{stage}":
                log.write(line[: len(line) // 2])
                log.flush()
                _kill_if_hooked("mid-log", unit, stage)
            log.write(line)

    def log_entries(self) -> list[dict]:
        """Every complete entry of stage_log.jsonl (a torn line, from a kill during an append, is skipped)."""
        if not self.log_path.exists():
            return []
        entries = []
        for number, line in enumerate(self.log_path.read_text(errors="replace").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entries.append(json.loads(line))
            except ValueError:
                logger.warning(
                    "%s line %d is incomplete (a run was killed while writing it); skipped.", self.log_path, number
                )
        return entries
