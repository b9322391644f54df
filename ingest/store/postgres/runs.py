"""Sync history in the PostgreSQL store: runs, what each changed, cursors and sizes."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from ingest.store.history import DocumentChange, SyncRun
from ingest.store.postgres.base import PostgresBase, utcnow

KEEP_CHANGES_RUNS = 20
"""Runs per source whose document lists are kept (counts are kept for every run)."""

_RUN_COLUMNS = (
    "id, source, started_at, finished_at, status, added, updated, deleted, unchanged, failed, "
    "chunks_embedded, seconds, error, failures, kind, pid, host, progress, reason"
)


class Runs(PostgresBase):
    """What each sync of each source did, and where the next one starts."""

    def get_cursor(self, source: str) -> str | None:
        row = self.db.row("SELECT cursor FROM sources WHERE name = %s", (source,))
        return row[0] if row else None

    def start_run(self, source: str, kind: str = "sync") -> int:
        """Record a run as started by this process. The caller holds the source's sync
        lock, so any run of it still marked ``running`` belongs to a process that died."""
        now = utcnow()
        with self.transaction() as conn:
            conn.execute(
                "UPDATE sync_runs SET status = 'interrupted', finished_at = coalesce("
                "finished_at, %s), reason = coalesce(reason, 'its process ended before the run "
                "did (killed or crashed)') WHERE source = %s AND status = 'running'",
                (now, source),
            )
            row = conn.execute(
                "INSERT INTO sync_runs (source, started_at, kind, pid, host) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (source, now, kind, os.getpid(), socket.gethostname()),
            ).fetchone()
        assert row is not None
        return int(row[0])

    def update_run_progress(self, run_id: int, progress: dict[str, Any]) -> None:
        """Where a running sync has got to (read by ``docbot status``)."""
        self.db.execute(
            "UPDATE sync_runs SET progress = %s::jsonb WHERE id = %s AND status = 'running'",
            (json.dumps(progress), run_id),
        )

    def mark_interrupted(self, run_id: int, reason: str) -> None:
        self.db.execute(
            "UPDATE sync_runs SET status = 'interrupted', reason = %s, "
            "finished_at = coalesce(finished_at, %s) WHERE id = %s AND status = 'running'",
            (reason, utcnow(), run_id),
        )

    def finish_run(
        self,
        run_id: int,
        *,
        status: str,
        counts: dict[str, int],
        seconds: float,
        error: str | None = None,
        failures: Sequence[tuple[str, str]] = (),
        cursor: str | None = None,
        reason: str | None = None,
        changes: Sequence[DocumentChange] = (),
        install_cursor: bool = True,
    ) -> None:
        """Record the outcome. The source's cursor advances after a run that read the
        whole source (``ok``, ``partial``, ``held``), and its last success is set after
        ``ok`` and ``partial``; a rebuild's run leaves both to the switch."""
        now = utcnow()
        with self.transaction() as conn:
            row = conn.execute("SELECT source FROM sync_runs WHERE id = %s", (run_id,)).fetchone()
            conn.execute(
                "UPDATE sync_runs SET finished_at = %s, status = %s, added = %s, updated = %s, "
                "deleted = %s, unchanged = %s, failed = %s, chunks_embedded = %s, seconds = %s, "
                "error = %s, failures = %s::jsonb, reason = %s WHERE id = %s",
                (
                    now,
                    status,
                    counts.get("added", 0),
                    counts.get("updated", 0),
                    counts.get("deleted", 0),
                    counts.get("unchanged", 0),
                    counts.get("failed", 0),
                    counts.get("chunks_embedded", 0),
                    seconds,
                    _clean(error),
                    json.dumps([[_clean(x) for x in f] for f in failures]),
                    _clean(reason),
                    run_id,
                ),
            )
            self.db.executemany(
                "INSERT INTO sync_run_changes (run_id, change, doc_id, title, reason) "
                "VALUES (%s, %s, %s, %s, %s)",
                [
                    (run_id, c.change, _clean(c.doc_id), _clean(c.title), _clean(c.reason))
                    for c in changes
                ],
            )
            if row is None:
                return
            source = row[0]
            if install_cursor and status in ("ok", "partial", "held"):
                conn.execute(
                    "INSERT INTO sources (name, cursor) VALUES (%s, %s) "
                    "ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor",
                    (source, cursor),
                )
            if install_cursor and status in ("ok", "partial"):
                conn.execute(
                    "UPDATE sources SET last_success_at = %s WHERE name = %s", (now, source)
                )
            conn.execute(
                "DELETE FROM sync_run_changes WHERE run_id IN (SELECT id FROM sync_runs "
                "WHERE source = %s ORDER BY id DESC OFFSET %s)",
                (source, KEEP_CHANGES_RUNS),
            )

    def last_runs(self) -> dict[str, SyncRun]:
        """The most recent run of every source."""
        rows = self.db.rows(
            f"SELECT {_RUN_COLUMNS} FROM sync_runs WHERE id IN "
            "(SELECT max(id) FROM sync_runs GROUP BY source) ORDER BY source"
        )
        return {run.source: run for run in map(_run_from_row, rows)}

    def recent_runs(self, source: str, limit: int = 5, *, changes: bool = True) -> list[SyncRun]:
        """The last ``limit`` runs of ``source``, newest first, with the documents each
        changed (``changes``)."""
        rows = self.db.rows(
            f"SELECT {_RUN_COLUMNS} FROM sync_runs WHERE source = %s ORDER BY id DESC LIMIT %s",
            (source, limit),
        )
        runs = [_run_from_row(row) for row in rows]
        if not changes or not runs:
            return runs
        by_run: dict[int, list[DocumentChange]] = {run.id: [] for run in runs}
        for run_id, change, doc_id, title, reason in self.db.rows(
            "SELECT run_id, change, doc_id, title, reason FROM sync_run_changes "
            "WHERE run_id = ANY(%s) ORDER BY id",
            (list(by_run),),
        ):
            by_run[run_id].append(DocumentChange(change, doc_id, title, reason))
        return [replace(run, changes=by_run[run.id]) for run in runs]

    def running_runs(self) -> list[SyncRun]:
        rows = self.db.rows(
            f"SELECT {_RUN_COLUMNS} FROM sync_runs WHERE status = 'running' ORDER BY id"
        )
        return [_run_from_row(row) for row in rows]

    def last_success(self, source: str) -> datetime | None:
        row = self.db.row("SELECT last_success_at FROM sources WHERE name = %s", (source,))
        return row[0] if row else None

    # --- what cached answers are checked against ----------------------------------

    def source_generations(self) -> dict[str, int]:
        """Each source's generation: it moves on with every write that adds, changes
        or deletes one of its documents, and with every switch to a rebuilt index."""
        rows = self.db.rows("SELECT name, generation FROM sources")
        return {name: int(generation) for name, generation in rows}

    def incomplete_sources(self) -> set[str]:
        """Sources whose documents in the live index are known to be only part of
        what the source holds: indexed, but never synced to the end."""
        rows = self.db.rows(
            "SELECT DISTINCT d.source FROM documents d LEFT JOIN sources s ON s.name = d.source "
            "WHERE s.last_success_at IS NULL"
        )
        return {row[0] for row in rows}

    # --- size ----------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        (documents,) = self.db.row("SELECT count(*) FROM documents") or (0,)
        (chunks,) = self.db.row("SELECT count(*) FROM chunks") or (0,)
        per_source = {
            s: int(n)
            for s, n in self.db.rows("SELECT source, count(*) FROM documents GROUP BY source")
        }
        (size,) = self.db.row("SELECT pg_database_size(current_database())") or (0,)
        return {
            "documents": int(documents),
            "chunks": int(chunks),
            "bytes": int(size),
            "documents_per_source": per_source,
            "embed_model": self.embed_model,
            "embed_dim": self.embed_dim,
        }


def _clean(value: str | None) -> str | None:
    return value.replace("\x00", " ") if value else value


def _run_from_row(row: Sequence[Any]) -> SyncRun:
    return SyncRun(
        id=int(row[0]),
        source=row[1],
        started_at=row[2],
        finished_at=row[3],
        status=row[4],
        added=row[5],
        updated=row[6],
        deleted=row[7],
        unchanged=row[8],
        failed=row[9],
        chunks_embedded=row[10],
        seconds=row[11],
        error=row[12],
        failures=[tuple(f) for f in row[13]],
        kind=row[14] or "sync",
        pid=row[15],
        host=row[16],
        progress=row[17],
        reason=row[18],
    )
