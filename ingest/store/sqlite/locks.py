"""Per-source sync locks of the SQLite store: ``flock`` files beside it (``ingest/locks.py``
explains why a file lock and not a row). A PostgreSQL store uses advisory locks instead;
both answer the same two questions through the store."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager

from ingest import locks
from ingest.store.sqlite.base import SQLiteBase


class SourceLocks(SQLiteBase):
    """One sync per source at a time, across threads and processes."""

    def source_lock(self, source: str, *, timeout: float = 0.0) -> AbstractContextManager[None]:
        """Hold the sync lock of ``source``; :class:`ingest.errors.SourceBusy` after
        ``timeout`` seconds when another holder has it."""
        return locks.source_lock(self.path, source, timeout=timeout)

    @contextmanager
    def source_locks(self, sources: Sequence[str]) -> Iterator[None]:
        """Hold several sources' locks (a rebuild), or raise ``SourceBusy`` holding none."""
        with locks.source_locks(self.path, sources):
            yield

    def lock_held(self, source: str) -> bool | None:
        """Whether anyone (this process included) holds the lock; None when unknown."""
        return locks.lock_held(self.path, source)
