"""Leases: one process at a time per stage, on a local disk or on the network filesystem a cluster shares.

`fcntl.flock` is not reliable on NFS, and a study spread over a cluster has no single process that could hold a
lock for the whole folder. So each stage is leased on its own, with the classic NFS-safe protocol:

* **Acquire.** Write the holder (host, PID, start time) to a uniquely named file, then hard-link it to the lease's
  name: `link` is atomic on NFS and fails when the name exists, so exactly one contender wins.
* **Heartbeat.** The holder touches the lease file every `ttl / 4` seconds from a daemon thread.
* **Stale leases.** A contender that finds the lease taken watches it: a lease whose file has not changed for `ttl`
  seconds of the *contender's* clock (no clocks are compared across hosts) belonged to a dead holder, and so does
  one held on this very host by a process that no longer exists (no need to wait). It is broken by renaming it to a
  unique name — atomic, so one breaker wins — and the contender tries again. Only the lease seen to die is broken:
  each lease's text holds a unique claim token, and a breaker that finds it renamed another one (the dead lease was
  broken and the lease taken again by someone else between its look and its rename) links it back at once.
* **Ownership.** Filesystems offer no atomic compare-and-rename, so a holder paused for longer than `ttl` (SIGSTOP, a
  suspended VM) can be presumed dead and lose its lease while it still works. `held()` says whether the lease is still
  this holder's; the stage store asks it right before sealing a stage, and a holder that lost its lease discards its
  work.
* **Release.** The holder removes the file; a process that dies leaves it to go stale.
* **Not a lease.** Anything else at a lease's name (a link, dangling or not, a folder, a FIFO) was not made by this
  protocol: it is removed with a warning, and a name that can be neither taken nor looked at is an error after about
  20 seconds of backing off, never a silent busy loop.

The stage store takes a stage's lease before running it and checks the stored result again once it holds it
(another process may have finished the stage meanwhile), so studies, workers and cluster jobs working on one folder
each run a stage at most once at a time and never trust a half-written one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import stat
import threading
import time
import uuid
from pathlib import Path

logger = logging.getLogger(__name__)

# Seconds after which a lease whose heartbeat stopped is taken over (`PE_BERT_LEASE_SECONDS` overrides it, e.g. for
# tests, or for a filesystem whose attribute cache is slower than this).
DEFAULT_TTL = 60.0
TTL_VARIABLE = "PE_BERT_LEASE_SECONDS"
HOST = socket.gethostname()


# Looks in a row that find no lease right after the lease's name was found taken: a release racing our attempt
# (the next attempt wins), or a name that `link` says exists and `lstat` does not see (a filesystem fault): give up
# with an error after that many, instead of spinning.
MAX_VANISHED = 200


class LeaseError(RuntimeError):
    """A lease can be neither taken nor waited for (the message names the path and why)."""


def lease_ttl() -> float:
    return float(os.environ.get(TTL_VARIABLE, DEFAULT_TTL))


def _read_regular(path: Path) -> str | None:
    """The text of `path` if it is a regular file (never following a link, never blocking on a FIFO), else None."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        return None
    with os.fdopen(descriptor, "rb") as handle:
        return handle.read().decode(errors="replace")


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    return "not a regular file"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Lease:
    """An exclusive lease on `path` (module docstring). Use `hold()` as a context manager."""

    def __init__(self, path: str | Path, ttl: float | None = None):
        self.path = Path(path)
        self.ttl = lease_ttl() if ttl is None else ttl
        self._stop: threading.Event | None = None

    # ------------------------------------------------------------------------------------------------ holding

    def try_acquire(self) -> bool:
        """Take the lease if it is free; True when this process holds it now."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        claim = self.path.with_name(f"{self.path.name}.{uuid.uuid4().hex}.claim")
        self._text = f"host {HOST} pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')} claim {claim.name}\n"
        claim.write_text(self._text)
        try:
            os.link(claim, self.path)
            acquired = True
        except FileExistsError:
            acquired = False
        finally:
            claim.unlink(missing_ok=True)
        if acquired:
            self._start_heartbeat()
        return acquired

    def _start_heartbeat(self) -> None:
        self._stop = threading.Event()
        stop, path, period = self._stop, self.path, max(0.05, self.ttl / 4)

        def beat():
            while not stop.wait(period):
                if not self._ours():  # broken by another process (we were presumed dead): nothing to keep
                    return
                with contextlib.suppress(FileNotFoundError):
                    os.utime(path)

        threading.Thread(target=beat, name=f"lease {path.name}", daemon=True).start()

    def _ours(self) -> bool:
        return _read_regular(self.path) == self._text

    def held(self) -> bool:
        """Whether this process holds the lease now: False once it was released, or broken by another process that
        presumed this one dead (e.g. after it was paused for longer than the ttl)."""
        return self._stop is not None and self._ours()

    def release(self) -> None:
        """Stop the heartbeat and remove the lease if it is still this holder's. Removed as a breaker breaks one
        (renamed aside, then checked), so a lease taken over meanwhile by another process is put back, not deleted."""
        if self._stop is not None:
            self._stop.set()
            self._stop = None
            if not self._ours():
                return
            aside = self.path.with_name(f"{self.path.name}.{uuid.uuid4().hex}.released")
            try:
                os.rename(self.path, aside)
            except FileNotFoundError:
                return
            if _read_regular(aside) != self._text:
                with contextlib.suppress(FileExistsError):
                    os.link(aside, self.path)
            aside.unlink(missing_ok=True)

    @contextlib.contextmanager
    def hold(self, poll: float | None = None, on_wait=None):
        """Wait until this process holds the lease (breaking a stale one), hold it, release it."""
        self.acquire(poll, on_wait)
        try:
            yield self
        finally:
            self.release()

    def acquire(self, poll: float | None = None, on_wait=None) -> None:
        poll = min(2.0, self.ttl / 4) if poll is None else poll
        seen, since = None, time.monotonic()
        waited = False
        vanished = 0
        while not self.try_acquire():
            state = self._observe()
            if state is None:  # released between our attempt and our look: try again (briefly backing off)
                vanished += 1
                if vanished > MAX_VANISHED:
                    raise LeaseError(
                        f"Cannot take the lease {self.path}: the name is taken, yet nothing can be seen there "
                        f"({MAX_VANISHED} tries). Check the folder and its filesystem, then run again."
                    )
                time.sleep(min(poll, 0.001 * vanished))
                continue
            vanished = 0
            if isinstance(state, str):  # a link, a folder, ...: not a lease anyone holds
                self._remove_stranger(state)
                continue
            if state != seen:
                seen, since = state, time.monotonic()
            holder = state[0]
            if self._holder_is_dead(holder) or time.monotonic() - since >= self.ttl:
                self._break(holder)
                continue
            if not waited and on_wait is not None:
                on_wait(holder)
            waited = True
            time.sleep(poll)

    # ------------------------------------------------------------------------------------------------ others

    def _observe(self) -> tuple[str, float, int] | str | None:
        """(holder text, mtime, size) of the current lease; what stands there instead when it is not a regular file
        ("a link", "a folder", ...); None when there is nothing."""
        try:
            info = os.lstat(self.path)
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(info.st_mode):
            return _kind(info.st_mode)
        text = _read_regular(self.path)
        return None if text is None else (text.strip(), info.st_mtime, info.st_size)

    def _remove_stranger(self, kind: str) -> None:
        """Remove what stands at the lease's name and is not a lease (renamed away first, so that a lease taken
        meanwhile is never what gets removed)."""
        aside = self.path.with_name(f"{self.path.name}.{uuid.uuid4().hex}.broken")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        except OSError as error:
            raise LeaseError(
                f"{self.path} is {kind}, not a lease, and cannot be moved away ({error.strerror}): remove it."
            ) from error
        if _read_regular(aside) is not None:  # a lease taken between our look and our rename: put it back
            with contextlib.suppress(FileExistsError):
                os.link(aside, self.path)
            aside.unlink(missing_ok=True)
            return
        if aside.is_dir() and not aside.is_symlink():
            shutil.rmtree(aside, ignore_errors=True)
        else:
            aside.unlink(missing_ok=True)
        logger.warning("%s was %s, not a lease (leases are regular files): removed it.", self.path, kind)

    @staticmethod
    def _holder_is_dead(holder: str) -> bool:
        """A holder on this host whose process is gone (a PID can be reused, but then by a process that does not
        renew the lease: the heartbeat rule catches it)."""
        fields = holder.split()
        try:
            host, pid = fields[1], int(fields[3])
        except (IndexError, ValueError):
            return False
        return host == HOST and not _pid_alive(pid)

    def _break(self, holder: str) -> bool:
        """Break the lease whose text is `holder` (the one seen die), and no other: rename whatever holds the name
        (atomic, so one breaker wins), then read what was taken. If it is another lease (the dead one was broken and
        the lease taken again between our look and our rename), link it back for its live holder. True when the
        lease seen die was broken."""
        broken = self.path.with_name(f"{self.path.name}.{uuid.uuid4().hex}.broken")
        try:
            os.rename(self.path, broken)
        except FileNotFoundError:
            return False  # someone else broke or released it first
        taken = _read_regular(broken)
        if taken is not None and taken.strip() != holder:
            try:
                os.link(broken, self.path)
            except FileExistsError:  # taken by a third process meanwhile: the live holder finds out before sealing
                logger.warning("The lease %s changed hands while it was being broken.", self.path)
            broken.unlink(missing_ok=True)
            return False
        for stale in self.path.parent.glob(f"{self.path.name}.*.broken"):
            with contextlib.suppress(OSError):
                stale.unlink()
        logger.warning("Took over the lease %s from %s: its holder stopped renewing it (killed?).", self.path, holder)
        return True

    def holder(self) -> str | None:
        state = self._observe()
        return state[0] if isinstance(state, tuple) else None


def release_leases_of(root: str | Path, pids: set[int]) -> int:
    """Remove the leases under `root` held on this host by `pids` (processes this one has just killed), so that
    the next run does not wait for them to go stale; returns how many."""
    removed = 0
    for path in Path(root).glob("**/*.lease"):
        try:
            fields = (_read_regular(path) or "").split()
            if fields[1] == HOST and int(fields[3]) in pids:
                path.unlink()
                removed += 1
        except (OSError, IndexError, ValueError):
            continue
    return removed


__all__ = ["DEFAULT_TTL", "Lease", "LeaseError", "TTL_VARIABLE", "lease_ttl", "release_leases_of"]
