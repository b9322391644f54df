"""Per-source sync locks of the PostgreSQL store: session advisory locks, so one
replica at a time syncs a source, whichever machine it runs on.

Each lock is held on a connection of its own, outside the pool, for the ``with`` block:
``pg_try_advisory_lock`` on (``LOCK_CLASS``, ``hashtext(source)``) in this database.
The server releases it when that session ends, so a replica that dies (killed, machine
gone) frees the source at once, like the SQLite side's ``flock``. The holder names
itself in ``application_name``, which is how a refused sync says who has the source.
Two source names whose hashes collide share a lock: they are then never synced at
once, which is safe.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from datetime import UTC, datetime

import psycopg

from ingest.locks import POLL_SECONDS, SourceBusy
from ingest.store.postgres import db
from ingest.store.postgres.base import PostgresBase

LOCK_CLASS = 0x646F63  # "doc": the first key of every docbot sync lock
_HELD = (
    "SELECT a.application_name FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s::int4::oid "
    "AND l.objid = hashtext(%s)::oid AND l.objsubid = 2 "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


class SourceLocks(PostgresBase):
    """One sync per source at a time, across threads, processes and machines."""

    @contextmanager
    def source_lock(self, source: str, *, timeout: float = 0.0) -> Iterator[None]:
        """Hold the sync lock of ``source``; :class:`ingest.locks.SourceBusy` after
        ``timeout`` seconds when another holder has it."""
        since = datetime.now(UTC).isoformat(timespec="seconds")
        name = f"docbot sync (process {os.getpid()} on {socket.gethostname()}, since {since})"
        try:
            conn = psycopg.connect(
                self.url, autocommit=True, connect_timeout=db.CONNECT_TIMEOUT_S,
                application_name=name[:63],
            )  # fmt: skip
        except psycopg.Error as exc:
            raise db.store_error(exc, self.url) or exc from exc
        acquired = False
        try:
            deadline = time.monotonic() + timeout
            while not conn.execute(
                "SELECT pg_try_advisory_lock(%s, hashtext(%s))", (LOCK_CLASS, source)
            ).fetchone()[0]:  # type: ignore[index]
                if time.monotonic() >= deadline:
                    raise SourceBusy(
                        f"source {source!r} is already being synced{self._holder(source)}; "
                        "this run was skipped. Wait for it to finish (see `docbot status`)."
                    )
                time.sleep(POLL_SECONDS)
            acquired = True
            yield
        finally:
            if acquired:  # released now, not when the server gets round to the closed session
                with suppress(psycopg.Error):
                    conn.execute(
                        "SELECT pg_advisory_unlock(%s, hashtext(%s))", (LOCK_CLASS, source)
                    )
            conn.close()  # ends the session: a lock not released above goes with it

    @contextmanager
    def source_locks(self, sources: Sequence[str]) -> Iterator[None]:
        """Hold several sources' locks (a rebuild), or raise ``SourceBusy`` holding none."""
        with ExitStack() as stack:
            for source in dict.fromkeys(sources):
                stack.enter_context(self.source_lock(source))
            yield

    def lock_held(self, source: str) -> bool | None:
        """Whether any session (this process included) holds the lock."""
        try:
            return self.db.row(_HELD, (LOCK_CLASS, source)) is not None
        except psycopg.Error:
            return None

    def _holder(self, source: str) -> str:
        row = self.db.row(_HELD, (LOCK_CLASS, source))
        holder = (row[0] or "") if row else ""
        return f" by {holder.removeprefix('docbot sync ')}" if holder else ""
