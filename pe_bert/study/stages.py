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
study folder (`relative`, `resolve`), so a moved or copied folder reruns by skipping every stage.

Only one process at a time may run stages in a folder (`lock`); every decision is appended to `stage_log.jsonl`
with timings, and a line torn by a kill mid-append is skipped by readers and never glued to the next entry.
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
import socket
import time
import traceback
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import UsageError

logger = logging.getLogger(__name__)

LOCK_NAME = ".study.lock"
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


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


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


def _clear(folder: Path, root: Path) -> None:
    """Remove whatever is at `folder` (a folder, a file, a link) and any file or link standing where one of its
    parent folders below `root` should be, so that `folder` can be created."""
    for path in reversed([folder, *[p for p in folder.parents if root in p.parents]]):
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path == folder and path.is_dir():
            shutil.rmtree(path)


class StageFailed(RuntimeError):
    """A stage raised; carries the unit, the stage and the original traceback text."""

    def __init__(self, unit: str, stage: str, error: BaseException):
        self.unit, self.stage = unit, stage
        self.error = f"{type(error).__name__}: {error}"
        self.traceback = "".join(traceback.format_exception(error))[-4000:]
        super().__init__(f"{unit}/{stage} failed: {self.error}")


class StudyLocked(UsageError, RuntimeError):
    """Another live process holds the study folder's lock (the CLI prints it and exits with status 2)."""


class FolderLock:
    """An exclusive, non-blocking lock on a folder, held by one process, naming its holder.

    `fcntl.flock` on `<folder>/.study.lock`: the kernel releases it when the holder exits, however it exits, so a
    lock left by a killed run can never block the next one. The file records the holder (PID, host, start time)
    for the error message, and is emptied on a clean release: content found in a lock we could take means its
    writer died holding it, which is reported and taken over.
    """

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / LOCK_NAME
        self._fd: int | None = None

    def _holder(self, fd: int) -> str:
        for _ in range(20):  # the holder writes its PID right after taking the lock
            text = os.pread(fd, 4096, 0).decode(errors="replace").strip()
            if text:
                return text
            time.sleep(0.05)
        return "unknown PID"

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # not POSIX
            warnings.warn("No file locking on this platform: do not run two studies on one folder.", stacklevel=2)
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._holder(fd)
            os.close(fd)
            raise StudyLocked(
                f"{self.path.parent} is in use by another study ({holder}); wait for it to finish, stop it, or "
                "use another --out."
            ) from None
        stale = os.pread(fd, 4096, 0).decode(errors="replace").strip()
        if stale:
            logger.warning("Taking over the stale lock of %s on %s: it ended without releasing it (killed?).",
                           stale, self.path.parent)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"PID {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}"
                  .encode(), 0)
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        import fcntl

        os.ftruncate(self._fd, 0)  # empty: released cleanly
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


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
        if self.processes.is_main:
            self.runs.mkdir(parents=True, exist_ok=True)
        self.processes.barrier()

    def folder(self, unit: str, stage: str) -> Path:
        return self.runs / unit / stage.replace(":", "-")

    # ------------------------------------------------------------------------------------ paths and identity

    def relative(self, path: str | Path) -> str:
        """`path` relative to the study folder (what results store), in POSIX form."""
        return Path(path).absolute().relative_to(self.root).as_posix()

    def resolve(self, stored: str) -> Path:
        """The absolute path of a path stored by `relative` (an absolute one is returned as it is)."""
        return self.root / stored

    def content_id(self, path: str | Path | None) -> str | None:
        """What a downstream stage's settings should hold for an input path: the content digest of the stage that
        produced it (`sha256:...`), or the path as given when it is not a stage folder (a user's model or
        tokenizer, a Hub id)."""
        if path is None:
            return None
        digest = self._digests.get(Path(path).absolute())
        return f"sha256:{digest}" if digest else str(path)

    # ------------------------------------------------------------------------------------ verify and run

    def _verified(self, unit: str, stage: str, settings: dict) -> tuple[dict, str] | None:
        """`(result, digest)` if the stage finished with these settings and every checksum matches, else None.
        A stage folder that is a link (its content could change outside the study) or not a folder is not trusted."""
        folder = self.folder(unit, stage)
        if any(p.is_symlink() for p in (folder, *folder.parents) if self.runs in (p, *p.parents)) or \
                not folder.is_dir():
            return None
        try:
            done = json.loads((folder / "DONE.json").read_text())
            if done.get("fingerprint") != fingerprint(settings):
                return None
            checksums = done["checksums"]
            for name, expected in checksums.items():
                if file_sha256(folder / name) != expected:
                    logger.warning("%s/%s: %s does not match its checksum; redoing the stage.", unit, stage, name)
                    return None
            result = json.loads((folder / "result.json").read_text())
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        return result, done["digest"]

    def cached(self, unit: str, stage: str, settings: dict) -> dict | None:
        """The stored result if the stage finished with these settings and its outputs are intact, else None."""
        verified = self._verified(unit, stage, settings)
        if verified is None:
            return None
        self._digests[self.folder(unit, stage)] = verified[1]
        return verified[0]

    def digest(self, unit: str, stage: str) -> str:
        """Content digest of a stage run or verified by this store (what `content_id` puts in settings)."""
        return self._digests[self.folder(unit, stage)]

    def _seal(self, folder: Path, settings: dict, result: dict, produced: Iterable[str], seconds: float,
              volatile: tuple[str, ...] = ()) -> str:
        """Write result.json and DONE.json: every file's checksum (verified on rerun), and the content digest over
        the deterministic ones only (files matching a `volatile` pattern, such as the Trainer's timing records,
        are checked but do not make a redone stage's content differ)."""
        _write_json_atomically(folder / "result.json", result)
        checksums = {name: file_sha256(folder / name) for name in sorted({*produced, "result.json"})}
        content = {name: sha for name, sha in checksums.items()
                   if not any(fnmatch.fnmatch(name, pattern) for pattern in volatile)}
        digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
        _write_json_atomically(folder / "DONE.json", {
            "fingerprint": fingerprint(settings), "settings": settings, "files": sorted(checksums),
            "checksums": checksums, "volatile": sorted(set(checksums) - set(content)), "digest": digest,
            "seconds": seconds,
        })
        return digest

    def run(self, unit: str, stage: str, settings: dict, work: Callable[[Path], dict],
            files: Callable[[Path], list[str]] | None = None, collective: bool = False,
            rewritten: tuple[str, ...] = (), volatile: tuple[str, ...] = ()) -> dict:
        """Return the stored result, or run `work(folder) -> result` and store it.

        `files(folder)` lists the outputs (relative to the folder) that are checksummed and verified on rerun; by
        default, every file the stage wrote except those named in `rewritten` (files that later steps may rewrite,
        such as a model card the report fills in). `volatile`: patterns of outputs that differ from run to run
        whatever the inputs (timings): verified, but left out of the content digest that downstream stages depend
        on. `collective`: run `work` on every process (class docstring).
        """
        main = self.processes.is_main
        result = self.cached(unit, stage, settings)
        self.processes.barrier()  # everyone has looked before the main process touches the folder
        if result is not None:
            if main:
                self._log(unit, stage, "skipped", 0.0)
            return result
        folder = self.folder(unit, stage)
        if main:
            _clear(folder, self.runs)  # partial, stale or corrupt: start clean
            folder.mkdir(parents=True)
        self.processes.barrier()
        failure = None
        if main or collective:
            start = time.perf_counter()
            try:
                result = work(folder)
            except Exception as error:
                failure = StageFailed(unit, stage, error)
                failure.__cause__ = error
                if main:
                    self._log(unit, stage, "failed", time.perf_counter() - start, error=failure.error)
            if main and failure is None:
                seconds = time.perf_counter() - start
                produced = files(folder) if files else [
                    p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()
                ]
                produced = [name for name in produced if name not in ("result.json", "DONE.json", *rewritten)]
                _kill_if_hooked("before-done", unit, stage)
                self._digests[folder] = self._seal(folder, settings, result, produced, seconds, volatile)
                self._log(unit, stage, "ran", seconds)
        self.processes.barrier()
        if failure is not None:
            raise failure
        if not main:
            verified = self._verified(unit, stage, settings)
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
            try:
                value = float(json.loads(done.read_text()).get("seconds", 0.0))
            except (OSError, ValueError, AttributeError, TypeError):
                continue
            kind = done.parent.name.split("-", 1)[0]
            seconds[kind] = seconds.get(kind, 0.0) + value
        return seconds

    # ------------------------------------------------------------------------------------ lock and log

    @contextlib.contextmanager
    def lock(self):
        """Hold the study folder for this run (main process only); `StudyLocked` if another process holds it."""
        lock = FolderLock(self.root) if self.processes.is_main else None
        if lock is not None:
            lock.acquire()
        try:
            yield
        finally:
            if lock is not None:
                lock.release()

    def _log(self, unit: str, stage: str, status: str, seconds: float, **extra) -> None:
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "unit": unit, "stage": stage, "status": status,
                 "seconds": round(seconds, 3), **extra}
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
                logger.warning("%s line %d is incomplete (a run was killed while writing it); skipped.",
                               self.log_path, number)
        return entries
