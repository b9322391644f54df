"""What every part of the SQLite store shares: per-thread connections, the ``meta``
table and the embedding model the vectors came from."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.errors import EmbedderMismatch
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

    def check_embedder(self, model_id: str, dim: int | None = None) -> None:
        """Raise :class:`EmbedderMismatch` when vectors here come from another model."""
        current = self.embed_model
        if current is not None and current != model_id:
            raise EmbedderMismatch(
                f"the store {self.path} was built with the embedding model {current!r}, "
                f"but {model_id!r} is configured; vectors from two models cannot be mixed. "
                "Rebuild it with `docbot sync --rebuild` (re-embeds every document), "
                "or set DOCBOT_EMBEDDER / DOCBOT_EMBED_MODEL back."
            )
        if dim is not None and self.embed_dim is not None and dim != self.embed_dim:
            raise EmbedderMismatch(
                f"the store {self.path} holds {self.embed_dim}-dimensional vectors but the "
                f"embedder returned {dim}; rebuild it with `docbot sync --rebuild`."
            )

    def bind_embedder(self, model_id: str, dim: int) -> None:
        """Record the model and create the vector index on first use."""
        self.check_embedder(model_id, dim)
        if self.embed_model is None:
            with self.transaction():
                self.set_meta("embed_model", model_id)
                self.set_meta("embed_dim", str(dim))
                self.conn.execute(
                    "CREATE VIRTUAL TABLE IF NOT EXISTS chunks_vec USING vec0("
                    f"chunk_id INTEGER PRIMARY KEY, embedding float[{dim}] distance_metric=cosine)"
                )

    def _has_vectors(self) -> bool:
        return self.embed_model is not None

    def _bump_vectors_version(self) -> None:
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES ('vectors_version', '1') "
            "ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )
