"""Sync history in the SQLite store: runs, incremental cursors and sizes."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ingest.store.history import SyncRun
from ingest.store.sqlite.base import SQLiteBase, _parse_time, utcnow


class Runs(SQLiteBase):
    """What each sync of each source did, and where the next one starts."""

    def get_cursor(self, source: str) -> str | None:
        row = self.conn.execute("SELECT cursor FROM sources WHERE name = ?", (source,)).fetchone()
        return row[0] if row else None

    def start_run(self, source: str) -> int:
        cur = self.conn.execute(
            "INSERT INTO sync_runs (source, started_at) VALUES (?, ?)",
            (source, utcnow().isoformat()),
        )
        return int(cur.lastrowid)

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
    ) -> None:
        """Record the outcome; advance the source's cursor only on success."""
        now = utcnow().isoformat()
        with self.transaction():
            row = self.conn.execute(
                "SELECT source FROM sync_runs WHERE id = ?", (run_id,)
            ).fetchone()
            self.conn.execute(
                "UPDATE sync_runs SET finished_at = ?, status = ?, added = ?, updated = ?, "
                "deleted = ?, unchanged = ?, failed = ?, chunks_embedded = ?, seconds = ?, "
                "error = ?, failures = ? WHERE id = ?",
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
                    error,
                    json.dumps([list(f) for f in failures]),
                    run_id,
                ),
            )
            if status in ("ok", "partial") and row is not None:
                self.conn.execute(
                    "INSERT INTO sources (name, cursor, last_success_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor, "
                    "last_success_at = excluded.last_success_at",
                    (row[0], cursor, now),
                )

    def last_runs(self) -> dict[str, SyncRun]:
        """The most recent run of every source."""
        rows = self.conn.execute(
            "SELECT * FROM sync_runs WHERE id IN (SELECT max(id) FROM sync_runs GROUP BY source) "
            "ORDER BY source"
        )
        return {run.source: run for run in map(_run_from_row, rows)}

    def last_success(self, source: str) -> datetime | None:
        row = self.conn.execute(
            "SELECT last_success_at FROM sources WHERE name = ?", (source,)
        ).fetchone()
        return _parse_time(row[0]) if row else None

    # --- size ----------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        conn = self.conn
        (documents,) = conn.execute("SELECT count(*) FROM documents").fetchone()
        (chunks,) = conn.execute("SELECT count(*) FROM chunks").fetchone()
        per_source = dict(
            conn.execute("SELECT source, count(*) FROM documents GROUP BY source").fetchall()
        )
        size = sum(
            os.path.getsize(p) for p in (self.path, Path(f"{self.path}-wal")) if os.path.exists(p)
        )
        return {
            "documents": documents,
            "chunks": chunks,
            "bytes": size,
            "documents_per_source": per_source,
            "embed_model": self.embed_model,
            "embed_dim": self.embed_dim,
        }


def _run_from_row(row: Sequence[Any]) -> SyncRun:
    return SyncRun(
        id=row[0],
        source=row[1],
        started_at=datetime.fromisoformat(row[2]),
        finished_at=_parse_time(row[3]),
        status=row[4],
        added=row[5],
        updated=row[6],
        deleted=row[7],
        unchanged=row[8],
        failed=row[9],
        chunks_embedded=row[10],
        seconds=row[11],
        error=row[12],
        failures=[tuple(f) for f in json.loads(row[13])],
    )
