"""One sync per source at a time, across processes: the SQLite store's lock files.

Callers ask the store (``store.source_lock(name)``, ``store.lock_held(name)``,
``ingest/store/contract.py``); the SQLite store answers with the file locks below
(``ingest/store/sqlite/locks.py``), a PostgreSQL store with advisory locks.

Inside ``docbot serve`` the scheduler never overlaps itself (APScheduler's
``max_instances=1``), but an admin may run ``docbot sync`` from a shell or a cron
job against the same store. Two syncs of one source would both embed the same
changes and race each other's pruning and cursor, so :func:`source_lock` is held
for the whole of a sync, whoever starts it.

Why a file lock (``flock``) rather than a lease row in SQLite:
- the operating system drops it when its process dies, even on SIGKILL, so there
  is no stale lease to expire and no heartbeat to keep a long sync's lease alive;
- ``flock`` locks belong to an open file, not a process, so two threads of one
  process exclude each other too (``fcntl.lockf`` would not);
- it needs no write to the database, so it never waits on a writer's transaction.

The holder writes its pid and start time into the file, so the loser can say who
has it. Lock files are left in place: deleting one races with a process that has
just opened it. They sit beside the store under a dotted name
(``.docbot.db.sync-handbook.lock``), out of sight like ``.git`` and matched by the
repository's ``.gitignore``. Like SQLite's WAL, this needs a local file system, not NFS.

:func:`lock_held` answers "is a sync of this source running?" for a run that the
store still lists as ``running``: if nobody holds its lock, its process is gone
(``interrupted``). A PostgreSQL store asks its advisory lock the same question.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from ingest.errors import StoreError

POLL_SECONDS = 0.1

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fh: IO[str]) -> bool:
        fh.seek(0)  # msvcrt locks bytes from the current position
        try:
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fh: IO[str]) -> None:
        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fh: IO[str]) -> bool:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fh: IO[str]) -> None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class SourceBusy(StoreError):
    """Another sync of this source (in this or another process) holds its lock."""


def lock_path(db_path: str | Path, source: str) -> Path:
    """``.docbot.db.sync-handbook.lock``: beside the store, hidden (a dotted name)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", source)
    db = Path(db_path)
    return db.with_name(f".{db.name}.sync-{safe}.lock")


def lock_held(db_path: str | Path, source: str) -> bool | None:
    """Whether some process (this one included) holds the sync lock of ``source``;
    ``None`` when that cannot be told (the lock file cannot be opened)."""
    if str(db_path) == ":memory:":
        return None
    path = lock_path(db_path, source)
    if not path.exists():
        return False
    try:
        fh = open(path, encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError:
        return None
    try:
        if _try_lock(fh):
            _unlock(fh)
            return False
        return True
    finally:
        fh.close()


@contextmanager
def source_locks(db_path: str | Path, sources: Sequence[str]) -> Iterator[None]:
    """Hold the sync locks of several sources (a rebuild), or raise :class:`SourceBusy`
    for the first one another sync holds, holding none."""
    with ExitStack() as stack:
        for source in dict.fromkeys(sources):
            stack.enter_context(source_lock(db_path, source))
        yield


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:  # Windows: the holder's locked byte cannot be read
        return ""
    pid, _, since = text.partition(" ")
    return f" (process {pid}, since {since})" if pid else ""


@contextmanager
def source_lock(db_path: str | Path, source: str, *, timeout: float = 0.0) -> Iterator[None]:
    """Hold the sync lock of ``source`` in the store at ``db_path``.

    Waits up to ``timeout`` seconds (default: not at all) and then raises
    :class:`SourceBusy`, whose message says who holds the lock and what to do.
    An in-memory store is private to its connection, so it needs no lock.
    """
    if str(db_path) == ":memory:":
        yield
        return
    path = lock_path(db_path, source)
    try:
        fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - closed in finally below
    except OSError as exc:
        raise StoreError(
            f"cannot create the sync lock file {path} ({exc.strerror}): the folder "
            f"{path.parent} must be writable by docbot; fix its permissions or set "
            "DOCBOT_DB to a store in a writable folder"
        ) from exc
    try:
        deadline = time.monotonic() + timeout
        while not _try_lock(fh):
            if time.monotonic() >= deadline:
                raise SourceBusy(
                    f"source {source!r} is already being synced{_holder(path)}; this run "
                    "was skipped. Wait for it to finish (see `docbot status`)."
                )
            time.sleep(POLL_SECONDS)
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(f"{os.getpid()} {datetime.now(UTC).isoformat(timespec='seconds')}\n")
            fh.flush()
            yield
        finally:
            _unlock(fh)
    finally:
        fh.close()
