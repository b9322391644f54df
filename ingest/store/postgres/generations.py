"""Rebuilding the PostgreSQL index beside the live one (``ingest/store/generations.py``).

The generation being built lives in tables named like the live ones plus ``_build``,
made with ``CREATE TABLE ... (LIKE live INCLUDING ALL)`` (so a column, default or
index another migration added comes along; the foreign keys are added to point at the
build's own parents) and written through an :class:`IndexWriter`; its vector table is
made when its embedder is bound, with that model's dimension. Ids come from the shared
sequences, so they never repeat across generations.

:meth:`Generations.switch_build` renames the live tables to ``*_old`` and the build's
to the live names in one transaction. PostgreSQL's DDL is transactional and a rename
takes an exclusive lock: a query already running finishes on the old tables, the next
one sees the complete new index. The retired tables are dropped afterwards, in a
transaction of their own; if the process dies in between, the next sync drops them.

Build state in ``meta`` (keys prefixed ``build:``): ``generation``, ``embed_model``,
``embed_dim``, ``started_at``, ``schema`` (a fingerprint of the live columns it was
copied from: a build from before a migration is discarded, not switched), and per
source ``chunking:NAME`` to install at the switch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from ingest.errors import StoreError
from ingest.store.generations import BuildState, BuiltSource
from ingest.store.postgres.base import _parse_time, utcnow
from ingest.store.postgres.documents import (
    BUILD,
    BUILD_PREFIX,
    INDEX_TABLES,
    Documents,
    IndexWriter,
)

RETIRED_SUFFIX = "_old"


class Generations(Documents):
    """The build generation: begin, write, switch, discard."""

    # --- state ----------------------------------------------------------------

    def _schema_fingerprint(self) -> str:
        """The live documents' and chunks' columns, hashed: equal when a build copied
        from them has the same columns."""
        rows = self.db.rows(
            "SELECT table_name, column_name, data_type, column_default "
            "FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name IN ('documents', 'chunks') ORDER BY table_name, ordinal_position"
        )
        return hashlib.sha256(repr(rows).encode()).hexdigest()[:16]

    def build_state(self) -> BuildState | None:
        """The generation being built, if any (a killed rebuild leaves one)."""
        generation = self.get_meta(BUILD_PREFIX + "generation")
        if generation is None or not self._table_exists(BUILD["documents"]):
            return None
        started = self.get_meta(BUILD_PREFIX + "started_at")
        return BuildState(
            generation=int(generation),
            embed_model=self.get_meta(BUILD_PREFIX + "embed_model") or "",
            started_at=_parse_time(started),
            documents=IndexWriter(self, BUILD).source_counts(),
        )

    def build_index(self) -> IndexWriter:
        if self.build_state() is None:
            raise StoreError("internal error: no index is being built")
        return IndexWriter(self, BUILD)

    # --- begin ----------------------------------------------------------------

    def begin_build(self, model_id: str) -> tuple[IndexWriter, bool]:
        """The generation to rebuild into, and whether it resumes one left by an
        earlier run (same model, same schema) rather than starting empty."""
        self.drop_retired()
        state = self.build_state()
        if state is not None:
            same_schema = self.get_meta(BUILD_PREFIX + "schema") == self._schema_fingerprint()
            # a build begun before the term counts existed has none: start it again
            same_schema = same_schema and self._table_exists(BUILD["chunk_term_changes"])
            if state.embed_model == model_id and same_schema:
                return IndexWriter(self, BUILD), True
            self.discard_build()
        generation = int(self.get_meta("index_generation") or 1) + 1
        documents, chunks = BUILD["documents"], BUILD["chunks"]
        with self.transaction() as conn:
            conn.execute(f"CREATE TABLE {documents} (LIKE documents INCLUDING ALL)")
            conn.execute(f"CREATE TABLE {chunks} (LIKE chunks INCLUDING ALL)")
            for table in ("chunk_terms", "chunk_term_changes"):
                conn.execute(f"CREATE TABLE {BUILD[table]} (LIKE {table} INCLUDING ALL)")
            conn.execute(
                f"ALTER TABLE {chunks} ADD CONSTRAINT chunks_document_fk_g{generation} "
                f"FOREIGN KEY (document_id) REFERENCES {documents}(id) ON DELETE CASCADE"
            )
            self.set_meta(BUILD_PREFIX + "generation", str(generation))
            self.set_meta(BUILD_PREFIX + "embed_model", model_id)
            self.set_meta(BUILD_PREFIX + "started_at", utcnow().isoformat())
            self.set_meta(BUILD_PREFIX + "schema", self._schema_fingerprint())
            self.delete_meta(BUILD_PREFIX + "embed_dim")
        return IndexWriter(self, BUILD), False

    # --- switch ----------------------------------------------------------------

    def switch_build(self, built: Mapping[str, BuiltSource]) -> None:
        """Make the build generation live, in one transaction (see the module doc).

        ``built`` names the sources rebuilt from their origin: their cursors and
        chunking signatures are installed and their last success is now. Every
        source's generation moves on, so answers cached from the old index are stale.
        """
        state = self.build_state()
        if state is None:
            raise StoreError("internal error: no index is being built")
        self.drop_retired()
        IndexWriter(self, BUILD).ensure_vector_index()  # before the switch, not under its lock
        IndexWriter(self, BUILD).fold_term_changes()  # a new generation starts folded
        now = utcnow()
        with self.transaction() as conn:
            has_vectors = IndexWriter(self, BUILD).embed_dim is not None
            for table in INDEX_TABLES:
                if self._table_exists(table):
                    conn.execute(f"ALTER TABLE {table} RENAME TO {table}{RETIRED_SUFFIX}")
            for table in INDEX_TABLES:
                if self._table_exists(BUILD[table]):
                    conn.execute(f"ALTER TABLE {BUILD[table]} RENAME TO {table}")
            for key in ("embed_model", "embed_dim"):
                value = self.get_meta(BUILD_PREFIX + key) if has_vectors else None
                if value is None:  # nothing was embedded: an index with no documents
                    self.delete_meta(key)
                else:
                    self.set_meta(key, value)
            self.set_meta("index_generation", str(state.generation))
            for name, result in built.items():
                conn.execute(
                    "INSERT INTO sources (name, cursor, last_success_at) VALUES (%s, %s, %s) "
                    "ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor, "
                    "last_success_at = excluded.last_success_at",
                    (name, result.cursor, now),
                )
                if result.chunking is not None:
                    self.set_meta(f"chunking:{name}", result.chunking)
            conn.execute("UPDATE sources SET generation = generation + 1")
            conn.execute(
                "INSERT INTO sources (name, generation) SELECT DISTINCT source, 1 FROM documents "
                "ON CONFLICT (name) DO NOTHING"
            )
            conn.execute("DELETE FROM meta WHERE key LIKE %s", (BUILD_PREFIX + "%",))
            self._bump_vectors_version()
        self.drop_retired()

    # --- cleaning up ---------------------------------------------------------------

    def discard_build(self) -> None:
        """Drop the generation being built (another model asked for, or schema changed)."""
        with self.transaction() as conn:
            for table in reversed(INDEX_TABLES):
                conn.execute(f"DROP TABLE IF EXISTS {BUILD[table]}")
            conn.execute("DELETE FROM meta WHERE key LIKE %s", (BUILD_PREFIX + "%",))

    def drop_retired(self) -> None:
        """Drop the tables a switch retired (children first)."""
        retired = [t + RETIRED_SUFFIX for t in reversed(INDEX_TABLES)]
        if not any(self._table_exists(t) for t in retired):
            return
        with self.transaction() as conn:
            for table in retired:
                conn.execute(f"DROP TABLE IF EXISTS {table}")
