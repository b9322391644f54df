"""Rebuilding the SQLite index beside the live one (``ingest/store/generations.py``).

The generation being built lives in tables named like the live ones plus ``_build``,
created from the live tables' own DDL (so a column another migration added comes
along) and written through an :class:`IndexWriter`. :meth:`Generations.switch_build`
renames the live tables to ``*_old`` and the build's to the live names in one
transaction: a reader's next statement sees the complete new index, one already
running finishes on the old one (WAL). The retired tables are dropped afterwards, in
a transaction of their own; if the process dies in between they are dropped by the
next sync. The vec0 table cannot be renamed (sqlite-vec), so each generation's has
its own name, kept in ``meta['vec_table']``.

Build state in ``meta`` (keys prefixed ``build:``): ``generation``, ``embed_model``,
``embed_dim``, ``vec_table``, ``started_at``, ``schema`` (a fingerprint of the live
DDL it was copied from: a build from before a migration is discarded, not switched),
and per source ``cursor:NAME`` and ``chunking:NAME`` to install at the switch.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from ingest.errors import StoreError
from ingest.store.generations import BuildState, BuiltSource
from ingest.store.sqlite.base import _parse_time, utcnow
from ingest.store.sqlite.documents import (
    BUILD,
    BUILD_PREFIX,
    INDEX_TABLES,
    LIVE,
    Documents,
    IndexWriter,
)

RETIRED_SUFFIX = "_old"
_GENERATION_SUFFIX = re.compile(r"_g\d+$")


def _quoted(name: str) -> str:
    return rf'(?:"{re.escape(name)}"|\b{re.escape(name)}\b)'


class Generations(Documents):
    """The build generation: begin, write, switch, discard."""

    # --- state ----------------------------------------------------------------

    def _table_exists(self, name: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        return row is not None

    def _schema_fingerprint(self) -> str:
        """The live index tables' DDL, names normalised, hashed: equal when a build
        copied from it has the same columns."""
        parts = []
        for table in INDEX_TABLES:
            for (sql,) in self.conn.execute(
                "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL "
                "AND type IN ('table', 'index') ORDER BY type DESC, name",
                (table,),
            ):
                text = re.sub(r'"', "", sql)
                text = re.sub(r"\bINDEX \w+", "INDEX", text)
                parts.append(" ".join(text.split()))
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]

    def build_state(self) -> BuildState | None:
        """The generation being built, if any (a killed rebuild leaves one)."""
        generation = self.get_meta(BUILD_PREFIX + "generation")
        if generation is None or not self._table_exists(BUILD["documents"]):
            return None
        counts = IndexWriter(self, BUILD).source_counts()
        return BuildState(
            generation=int(generation),
            embed_model=self.get_meta(BUILD_PREFIX + "embed_model") or "",
            started_at=_parse_time(self.get_meta(BUILD_PREFIX + "started_at")),
            documents=counts,
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
            if state.embed_model == model_id and same_schema:
                return IndexWriter(self, BUILD), True
            self.discard_build()
        generation = int(self.get_meta("index_generation") or 1) + 1
        with self.transaction() as conn:
            for table in INDEX_TABLES:
                self._copy_table(table, generation)
            self.set_meta(BUILD_PREFIX + "generation", str(generation))
            self.set_meta(BUILD_PREFIX + "embed_model", model_id)
            self.set_meta(BUILD_PREFIX + "started_at", utcnow().isoformat())
            self.set_meta(BUILD_PREFIX + "schema", self._schema_fingerprint())
            conn.execute("DELETE FROM meta WHERE key IN (?, ?)", (
                BUILD_PREFIX + "embed_dim", BUILD_PREFIX + "vec_table"))  # fmt: skip
        return IndexWriter(self, BUILD), False

    def _copy_table(self, table: str, generation: int) -> None:
        """Create ``table``'s build twin (and its indexes) from the live DDL."""
        conn = self.conn
        row = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        if row is None:
            raise StoreError(f"internal error: the store has no table {table}")
        sql = re.sub(
            rf"^(CREATE (?:VIRTUAL )?TABLE ){_quoted(table)}",
            lambda m: f'{m.group(1)}"{BUILD[table]}"',
            row[0],
            count=1,
        )
        for parent in INDEX_TABLES:
            sql = re.sub(rf"(REFERENCES\s+){_quoted(parent)}", rf'\1"{BUILD[parent]}"', sql)
        conn.execute(sql)
        for name, index_sql in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
            "AND sql IS NOT NULL",
            (table,),
        ).fetchall():
            new_name = f"{_GENERATION_SUFFIX.sub('', name)}_g{generation}"
            head = re.compile(
                rf"^(CREATE (?:UNIQUE )?INDEX (?:IF NOT EXISTS )?){_quoted(name)}(\s+ON\s+)"
                rf"{_quoted(table)}"
            )
            index_sql = head.sub(f'\\g<1>"{new_name}"\\g<2>"{BUILD[table]}"', index_sql, count=1)
            conn.execute(index_sql)

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
        now = utcnow().isoformat()
        with self.transaction() as conn:
            has_vectors = IndexWriter(self, BUILD).embed_dim is not None
            old_vec = IndexWriter(self, LIVE).vec_table
            for table in INDEX_TABLES:
                conn.execute(f'ALTER TABLE "{table}" RENAME TO "{table}{RETIRED_SUFFIX}"')
            for table in INDEX_TABLES:
                conn.execute(f'ALTER TABLE "{BUILD[table]}" RENAME TO "{table}"')
            for key in ("embed_model", "embed_dim", "vec_table"):
                value = self.get_meta(BUILD_PREFIX + key) if has_vectors else None
                if value is None:  # nothing was embedded: an index with no documents
                    conn.execute("DELETE FROM meta WHERE key = ?", (key,))
                else:
                    self.set_meta(key, value)
            if old_vec is not None:
                self.set_meta("retired_vec_table", old_vec)
            self.set_meta("index_generation", str(state.generation))
            for name, result in built.items():
                conn.execute(
                    "INSERT INTO sources (name, cursor, last_success_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor, "
                    "last_success_at = excluded.last_success_at",
                    (name, result.cursor, now),
                )
                if result.chunking is not None:
                    self.set_meta(f"chunking:{name}", result.chunking)
            conn.execute("UPDATE sources SET generation = generation + 1")
            conn.execute(
                "INSERT INTO sources (name, generation) SELECT DISTINCT source, 1 FROM documents "
                "WHERE true ON CONFLICT (name) DO NOTHING"
            )
            conn.execute("DELETE FROM meta WHERE key LIKE ?", (BUILD_PREFIX + "%",))
            self._bump_vectors_version()
        self.drop_retired()

    # --- cleaning up ---------------------------------------------------------------

    def discard_build(self) -> None:
        """Drop the generation being built (another model asked for, or schema changed)."""
        with self.transaction() as conn:
            vec = self.get_meta(BUILD_PREFIX + "vec_table")
            for table in reversed(INDEX_TABLES):
                conn.execute(f'DROP TABLE IF EXISTS "{BUILD[table]}"')
            if vec:
                conn.execute(f'DROP TABLE IF EXISTS "{vec}"')
            conn.execute("DELETE FROM meta WHERE key LIKE ?", (BUILD_PREFIX + "%",))

    def drop_retired(self) -> None:
        """Drop the tables a switch retired (children first: no cascade to walk)."""
        retired = [t + RETIRED_SUFFIX for t in reversed(INDEX_TABLES)]
        vec = self.get_meta("retired_vec_table")
        if not vec and not any(self._table_exists(t) for t in retired):
            return
        with self.transaction() as conn:
            for table in retired:
                conn.execute(f'DROP TABLE IF EXISTS "{table}"')
            if vec and vec != self.vec_table:
                conn.execute(f'DROP TABLE IF EXISTS "{vec}"')
            conn.execute("DELETE FROM meta WHERE key = 'retired_vec_table'")
