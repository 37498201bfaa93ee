"""The writer lock of a :class:`~tradeimpact.store.FlowStore`, and the store's test-only crash hook.

One writer at a time: every call that changes a store (ingest, remove, rehome, vacuum, repair)
holds an exclusive ``fcntl.flock`` on ``<store>/.lock`` from before it reads the manifest until
after its last file operation. The kernel releases the lock when the holder exits, however it
exits (a ``kill -9`` included), so a lock is never stale. The lock file holds the holder's pid
while it is held (for the message a waiting writer prints) and is emptied on release; it is not
part of the data. Readers of the manifest (:meth:`~tradeimpact.store.FlowStore.scan`) take no lock: the manifest
is replaced atomically. Readers of the hive folder (DuckDB, pyarrow) can take the shared commit
lock, ``<store>/.commit.lock``, which a writer holds exclusively only while it changes that folder
(:meth:`~tradeimpact.store.FlowStore.hive`).

``flock`` locks are advisory and local: they work between processes of one machine (any
filesystem Linux and macOS lock locally), not between machines sharing an NFS or SMB folder.
Where there is no ``fcntl`` (Windows) the first byte of the lock file is locked with
``msvcrt.locking`` instead (exclusive only; not exercised by the test suite, which runs on Linux).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tradeimpact.errors import TradeImpactError

__all__ = [
    "COMMIT_LOCK_NAME",
    "LOCK_NAME",
    "StoreLockedError",
    "commit_lock",
    "crash_point",
    "writer_lock",
]

#: the writer lock file's name in the store's folder
LOCK_NAME = ".lock"
#: the commit lock file's name (a writer holds it while it changes the hive folder)
COMMIT_LOCK_NAME = ".commit.lock"

#: test-only environment variable: ``name`` or ``name#n`` (the n-th time that point is reached)
CRASH_ENV = "TRADEIMPACT_CRASH_AT"
_crash_counts: dict[str, int] = {}


class StoreLockedError(TradeImpactError):
    """Another process held a store's writer lock for longer than the timeout."""


def crash_point(name: str) -> None:
    """Test-only: ``SIGKILL`` this process at the named point when ``TRADEIMPACT_CRASH_AT`` asks.

    ``TRADEIMPACT_CRASH_AT=moved`` kills at the first ``moved`` point, ``moved#2`` at the second.
    Unset (always, outside the crash tests in ``tests/test_store_crash.py``), it costs one
    environment look-up and does nothing.
    """
    wanted = os.environ.get(CRASH_ENV)
    if not wanted:
        return
    point, _, nth = wanted.partition("#")
    if point != name:
        return
    _crash_counts[name] = _crash_counts.get(name, 0) + 1
    if _crash_counts[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def _holder(handle: int) -> str:
    """The pid written in the lock file by its holder, or "" when none is written."""
    try:
        os.lseek(handle, 0, os.SEEK_SET)
        text = os.read(handle, 64).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""


def _try_lock(handle: int, exclusive: bool) -> bool:
    """One non-blocking attempt to lock ``handle``: ``flock``; on Windows (no ``fcntl``)
    ``msvcrt.locking`` of its first byte, always exclusive (shared readers then take turns)."""
    try:
        import fcntl
    except ModuleNotFoundError:  # Windows
        import msvcrt

        os.lseek(handle, 0, os.SEEK_SET)
        try:
            msvcrt.locking(handle, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    try:
        fcntl.flock(handle, mode | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            raise
        return False
    return True


def _unlock(handle: int) -> None:
    try:
        import fcntl
    except ModuleNotFoundError:  # Windows
        import msvcrt

        os.lseek(handle, 0, os.SEEK_SET)
        msvcrt.locking(handle, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
        return
    fcntl.flock(handle, fcntl.LOCK_UN)


def _acquire(
    handle: int,
    exclusive: bool,
    timeout: float,
    on_wait: Callable[[str], None] | None,
    waiting: Callable[[], str],
    timed_out: Callable[[], str],
) -> None:
    """Lock ``handle`` (exclusive or shared), polling until ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    told = False
    while True:
        if _try_lock(handle, exclusive):
            return
        if time.monotonic() >= deadline:
            raise StoreLockedError(timed_out()) from None
        if not told:
            told = True
            if on_wait is not None:
                on_wait(waiting())
        time.sleep(min(0.05, max(deadline - time.monotonic(), 0.0)))


@contextlib.contextmanager
def writer_lock(
    root: Path, timeout: float = 600.0, on_wait: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold ``root``'s exclusive writer lock for the ``with`` block.

    Parameters
    ----------
    root : Path
        The store's folder (it must exist).
    timeout : float
        Seconds to wait for another writer to finish; then :class:`StoreLockedError`.
    on_wait : callable, optional
        Called once with a message ("waiting for ...") when the lock is held by another process.

    Raises
    ------
    StoreLockedError
        The lock was not free within ``timeout`` seconds (the message names the store and the
        holder's pid).
    """
    path = root / LOCK_NAME
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)

    def who() -> str:
        pid = _holder(handle)
        return f"process {pid}" if pid else "another process"

    try:
        _acquire(
            handle,
            True,
            timeout,
            on_wait,
            lambda: f"{root}: waiting for {who()} to finish writing (up to {timeout:g} s)",
            lambda: (
                f"{root}: the store is being written by {who()} (its writer lock {path} was "
                f"not free within {timeout:g} s); try again when it has finished, or give a "
                "longer --lock-timeout"
            ),
        )
        os.ftruncate(handle, 0)
        os.lseek(handle, 0, os.SEEK_SET)
        os.write(handle, f"{os.getpid()}\n".encode("ascii"))
        try:
            yield
        finally:
            os.ftruncate(handle, 0)  # the pid is only there while the lock is held
            _unlock(handle)
    finally:
        os.close(handle)


@contextlib.contextmanager
def commit_lock(
    root: Path,
    exclusive: bool,
    timeout: float = 600.0,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold ``root``'s commit lock: exclusive while a writer changes the hive folder (the
    short steps 3-5 of the commit), shared while another engine reads it
    (:meth:`tradeimpact.store.FlowStore.hive`).

    A store that cannot be written (no permission to create the lock file) is read unlocked:
    nobody can commit to it either.
    """
    path = root / COMMIT_LOCK_NAME
    try:
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except PermissionError:
        if exclusive:
            raise
        try:
            handle = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            yield
            return
    try:
        if exclusive:
            waiting = f"{root}: waiting for readers of {root / 'flows'} to finish"
            failed = f"{root}: readers held {root / 'flows'} for more than {timeout:g} s"
        else:
            waiting = f"{root}: waiting for a write to finish its commit"
            failed = f"{root}: a write held its commit for more than {timeout:g} s"
        _acquire(handle, exclusive, timeout, on_wait, lambda: waiting, lambda: failed)
        try:
            yield
        finally:
            _unlock(handle)
    finally:
        os.close(handle)
