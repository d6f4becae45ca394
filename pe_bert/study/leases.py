"""Leases: one process at a time per stage, on a local disk or on the network filesystem a cluster shares.

`fcntl.flock` is not reliable on NFS, and a study spread over a cluster has no single process that could hold a
lock for the whole folder. So each stage is leased on its own, with the classic NFS-safe protocol:

* **Acquire.** Write the holder (host, PID, start time) to a uniquely named file, then hard-link it to the lease's
  name: `link` is atomic on NFS and fails when the name exists, so exactly one contender wins.
* **Heartbeat.** The holder touches the lease file every `ttl / 4` seconds from a daemon thread.
* **Stale leases.** A contender that finds the lease taken watches it: a lease whose file has not changed for `ttl`
  seconds of the *contender's* clock (no clocks are compared across hosts) belonged to a dead holder, and so does
  one held on this very host by a process that no longer exists (no need to wait). It is broken by renaming it to a
  unique name — atomic, so one breaker wins — and the contender tries again.
* **Release.** The holder removes the file; a process that dies leaves it to go stale.

The stage store takes a stage's lease before running it and checks the stored result again once it holds it
(another process may have finished the stage meanwhile), so studies, workers and cluster jobs working on one folder
each run a stage at most once at a time and never trust a half-written one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
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


def lease_ttl() -> float:
    return float(os.environ.get(TTL_VARIABLE, DEFAULT_TTL))


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
        try:
            return self.path.read_text(errors="replace") == self._text
        except FileNotFoundError:
            return False

    def release(self) -> None:
        if self._stop is not None:
            self._stop.set()
            self._stop = None
            if self._ours():
                self.path.unlink(missing_ok=True)

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
        while not self.try_acquire():
            state = self._observe()
            if state is None:  # released between our attempt and our look: try again at once
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

    def _observe(self) -> tuple[str, float, int] | None:
        """(holder text, mtime, size) of the current lease, None when there is none."""
        try:
            stat = self.path.stat()
            return self.path.read_text(errors="replace").strip(), stat.st_mtime, stat.st_size
        except FileNotFoundError:
            return None

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

    def _break(self, holder: str) -> None:
        try:
            os.rename(self.path, self.path.with_name(f"{self.path.name}.{uuid.uuid4().hex}.broken"))
        except FileNotFoundError:
            return  # someone else broke or released it first
        for stale in self.path.parent.glob(f"{self.path.name}.*.broken"):
            stale.unlink(missing_ok=True)
        logger.warning("Took over the lease %s from %s: its holder stopped renewing it (killed?).", self.path, holder)

    def holder(self) -> str | None:
        state = self._observe()
        return None if state is None else state[0]


def release_leases_of(root: str | Path, pids: set[int]) -> int:
    """Remove the leases under `root` held on this host by `pids` (processes this one has just killed), so that
    the next run does not wait for them to go stale; returns how many."""
    removed = 0
    for path in Path(root).glob("**/*.lease"):
        try:
            fields = path.read_text(errors="replace").split()
            if fields[1] == HOST and int(fields[3]) in pids:
                path.unlink()
                removed += 1
        except (OSError, IndexError, ValueError):
            continue
    return removed


__all__ = ["DEFAULT_TTL", "Lease", "TTL_VARIABLE", "lease_ttl", "release_leases_of"]
