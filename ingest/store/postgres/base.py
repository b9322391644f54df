"""What every part of the PostgreSQL store shares: the connection pool, the ``meta``
table and the embedding model the live vectors came from."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import psycopg

from ingest.errors import StoreError
from ingest.settings import (
    DEFAULT_PG_BUILD_MEMORY_MB,
    DEFAULT_PG_EF_SEARCH,
    DEFAULT_PG_LEXICAL_CANDIDATES,
)
from ingest.store.codes import VectorCodes
from ingest.store.postgres import db, migrations

DEFAULT_EF_SEARCH = DEFAULT_PG_EF_SEARCH
"""HNSW's ``ef_search`` (candidates kept while walking the graph) unless
``DOCBOT_PG_EF_SEARCH`` says otherwise."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class PostgresBase:
    """Connections and metadata of one docbot PostgreSQL database."""

    backend = "postgres"

    def __init__(
        self,
        url: str,
        *,
        ef_search: int = DEFAULT_EF_SEARCH,
        build_memory_mb: int = DEFAULT_PG_BUILD_MEMORY_MB,
        lexical_candidates: int = DEFAULT_PG_LEXICAL_CANDIDATES,
        lexical_ranking: str = "bm25",
    ) -> None:
        if lexical_ranking not in ("bm25", "ts_rank"):
            raise ValueError(f"unknown lexical ranking {lexical_ranking!r}")
        self.url = url
        self.lexical_ranking = lexical_ranking
        """``bm25`` (what is shipped) or ``ts_rank`` (the ranking before it, kept so one
        benchmark run compares both over one index: ``scripts/bench_pg_text.py``)."""
        self.lexical_candidates = lexical_candidates
        """Chunks the lexical search ranks at most (``DOCBOT_PG_LEXICAL_CANDIDATES``; 0: all)."""
        self.build_memory_mb = build_memory_mb
        """``maintenance_work_mem`` of the one-pass HNSW build (``DOCBOT_PG_BUILD_MEMORY_MB``)."""
        self.location = db.redacted(url)
        """Where the store is, without the password (what ``docbot status`` shows)."""
        self.ef_search = ef_search
        self.db = db.Database(url)
        self._codes: VectorCodes | None = None
        self._codes_lock = threading.Lock()
        self._migrate()
        self.db.open()
        self.text_config = self.get_meta("text_config") or migrations.TEXT_CONFIG
        self.pgvector_version = self._pgvector_version()
        if self.pgvector_version < (0, 5):
            raise StoreError(
                f"the PostgreSQL server at {self.location} has pgvector "
                f"{'.'.join(map(str, self.pgvector_version))}; docbot needs 0.5 or newer "
                "(HNSW indexes): ALTER EXTENSION vector UPDATE, or upgrade the server"
            )
        self.iterative_scan = self.pgvector_version >= (0, 8)
        """pgvector 0.8 keeps walking the HNSW graph until a filtered query has enough rows."""

    def _pgvector_version(self) -> tuple[int, ...]:
        row = self.db.row("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        parts = (row[0] if row else "0").split(".")
        return tuple(int(p) for p in parts if p.isdigit())

    def _migrate(self) -> None:
        conn = self.db.connect_once()
        try:
            migrations.migrate(conn)
        except psycopg.errors.FeatureNotSupported as exc:
            raise StoreError(
                f"the PostgreSQL server at {self.location} has no pgvector extension "
                f"({str(exc).splitlines()[0]}); install pgvector there (it is in the "
                "pgvector/pgvector images, and an extension to enable on RDS, Cloud SQL, "
                "Azure and Supabase: see the README)"
            ) from exc
        except psycopg.errors.UndefinedFile as exc:
            raise StoreError(
                f"the PostgreSQL server at {self.location} has no pgvector extension "
                f"({str(exc).splitlines()[0]}); install pgvector on the server"
            ) from exc
        except psycopg.Error as exc:
            raise db.store_error(exc, self.url) or exc from exc
        finally:
            conn.close()

    # --- connections ---------------------------------------------------------

    def transaction(self) -> Any:
        return self.db.transaction()

    def close(self) -> None:
        """Close this store's connections (it stays usable: the next call reconnects)."""
        self.db.close()

    # --- meta and the embedding model ---------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.db.row("SELECT value FROM meta WHERE key = %s", (key,))
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def delete_meta(self, *keys: str) -> None:
        self.db.execute("DELETE FROM meta WHERE key = ANY(%s)", (list(keys),))

    @property
    def embed_model(self) -> str | None:
        return self.get_meta("embed_model")

    @property
    def embed_dim(self) -> int | None:
        dim = self.get_meta("embed_dim")
        return int(dim) if dim else None

    def _has_vectors(self) -> bool:
        return self.embed_dim is not None

    def _table_exists(self, name: str) -> bool:
        return self.db.row("SELECT to_regclass(%s)", (name,)) != (None,)

    def _bump_vectors_version(self) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES ('vectors_version', '1') "
            "ON CONFLICT (key) DO UPDATE SET value = (meta.value::bigint + 1)::text"
        )
