"""What every part of the SQLite store shares: per-thread connections, the ``meta``
table and the embedding model the live vectors came from."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.store.codes import VectorCodes
from ingest.store.sqlite import db, migrations


def utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class SQLiteBase:
    """Connections and metadata of one docbot SQLite file. Cheap to share between threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._codes: VectorCodes | None = None
        self._codes_lock = threading.Lock()
        migrations.migrate(self.conn)

    # --- connections ---------------------------------------------------------

    @property
    def conn(self) -> db.Connection:
        """This thread's connection (opened on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = db.connect(self.path)
            self._local.conn = conn
        return conn

    def transaction(self) -> Any:
        return db.transaction(self.conn)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # --- meta and the embedding model ---------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    @property
    def embed_model(self) -> str | None:
        return self.get_meta("embed_model")

    @property
    def embed_dim(self) -> int | None:
        dim = self.get_meta("embed_dim")
        return int(dim) if dim else None

    def _has_vectors(self) -> bool:
        return self.embed_dim is not None

    @property
    def vec_table(self) -> str:
        """The live generation's sqlite-vec table (named per generation: sqlite-vec
        cannot rename one; ``documents.py``)."""
        return self.get_meta("vec_table") or "chunks_vec"

    def _bump_vectors_version(self) -> None:
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES ('vectors_version', '1') "
            "ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    @property
    def location(self) -> str:
        """The file's path (``docbot status`` shows it as ``db``)."""
        return str(self.path)
