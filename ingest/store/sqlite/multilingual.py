"""The second vector set of the SQLite store: the multilingual model's vectors.

Kept apart from the English model's in every way (``ingest/multilingual.py`` says
why there are two): their own table (``multilingual_vectors``, keyed by chunk content
hash), their own model id and dimension in ``meta``, their own version counter. A
vector of one model is never compared with a vector of the other, and vectors of two
multilingual models never sit side by side: switching model drops the old set first.

The contract another backend mirrors (all used by ``ingest/multilingual.py``,
``bot/retrieve.py`` and ``bot/ops/status.py``): ``multilingual_model``,
``bind_multilingual``, ``reset_multilingual``, ``chunks_missing_multilingual``,
``add_multilingual_vectors``, ``prune_multilingual``, ``multilingual_coverage``,
``multilingual_matrix(other_than=...)``, ``term_counts_in_language``;
``release_log_space`` is SQLite's own (a no-op where there is no write-ahead log file
to shrink).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import numpy as np

from ingest.errors import EmbedderMismatch
from ingest.models import Chunk
from ingest.store.sqlite.base import SQLiteBase

MODEL_KEY, DIM_KEY, VERSION_KEY = "multilingual_model", "multilingual_dim", "multilingual_version"
TERM_TABLES = ("chunks_fts", "chunks_cjk")
"""The keyword indexes whose terms :meth:`Multilingual.term_counts_in_language` counts."""
TERM_CACHE_LIMIT = 50_000
"""Cached (index, language, term) counts before the cache starts afresh."""


class Multilingual(SQLiteBase):
    """The multilingual vectors: bind a model, find what is missing, add, search."""

    @property
    def multilingual_model(self) -> str | None:
        """The model the multilingual vectors came from (None: there are none yet)."""
        return self.get_meta(MODEL_KEY)

    def bind_multilingual(self, model_id: str, dim: int) -> None:
        """Record the multilingual model; raise :class:`EmbedderMismatch` when the
        stored vectors come from another one (:meth:`reset_multilingual` first)."""
        current, stored_dim = self.multilingual_model, self.get_meta(DIM_KEY)
        if current is not None and (current != model_id or int(stored_dim or dim) != dim):
            raise EmbedderMismatch(
                f"the store {self.path} holds multilingual vectors of {current!r}, not "
                f"{model_id!r}; they are replaced at the next sync"
            )
        if current is None:
            with self.transaction():
                self.set_meta(MODEL_KEY, model_id)
                self.set_meta(DIM_KEY, str(dim))

    def reset_multilingual(self) -> None:
        """Drop every multilingual vector and forget their model (another one is
        configured, or the set is switched off)."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM multilingual_vectors")
            conn.execute("DELETE FROM meta WHERE key IN (?, ?)", (MODEL_KEY, DIM_KEY))
            self._bump(VERSION_KEY)

    def chunks_missing_multilingual(self, limit: int) -> dict[str, str]:
        """Up to ``limit`` live chunk texts with no multilingual vector yet:
        content hash -> the text the embedder reads (``Chunk.embed_text``)."""
        rows = self.conn.execute(
            "SELECT c.sha, c.text, c.heading_path FROM chunks c "
            "WHERE NOT EXISTS (SELECT 1 FROM multilingual_vectors m WHERE m.sha = c.sha) "
            "GROUP BY c.sha LIMIT ?",
            (limit,),
        ).fetchall()
        return {
            sha: Chunk("", 0, text, tuple(json.loads(path))).embed_text for sha, text, path in rows
        }

    def add_multilingual_vectors(
        self, model_id: str, vectors: Mapping[str, tuple[bytes, str]]
    ) -> None:
        """Store float32 vectors of ``model_id`` by chunk content hash, each with its
        text's language (ISO 639-1), in one transaction (a killed fill loses at most
        one batch)."""
        if not vectors:
            return
        if self.multilingual_model != model_id:
            raise EmbedderMismatch(
                f"multilingual vectors of {model_id!r} cannot join those of "
                f"{self.multilingual_model!r} in {self.path}"
            )
        with self.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO multilingual_vectors (sha, embedding, lang) "
                "VALUES (?, ?, ?)",
                [(sha, blob, lang) for sha, (blob, lang) in vectors.items()],
            )
            self._bump(VERSION_KEY)

    def prune_multilingual(self) -> int:
        """Drop vectors whose text no chunk of either generation holds any more."""
        keep = ["SELECT sha FROM chunks"]
        if self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'chunks_build'"
        ).fetchone():
            keep.append("SELECT sha FROM chunks_build")
        with self.transaction() as conn:
            cursor = conn.execute(
                f"DELETE FROM multilingual_vectors WHERE sha NOT IN ({' UNION '.join(keep)})"
            )
            removed = int(cursor.rowcount or 0)
            if removed:
                self._bump(VERSION_KEY)
        return removed

    def release_log_space(self) -> None:
        """After a bulk write (a fill of thousands of vectors): checkpoint SQLite's
        write-ahead log and truncate it, so the megabytes it grew by go back to the
        disk instead of staying allocated beside the store. A reader still on an old
        snapshot only makes it a partial checkpoint; nothing waits."""
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def multilingual_coverage(self) -> tuple[int, int]:
        """(live chunks with a multilingual vector, live chunks), for ``docbot status``."""
        (covered, total) = self.conn.execute(
            "SELECT count(m.sha), count(*) FROM chunks c "
            "LEFT JOIN multilingual_vectors m ON m.sha = c.sha"
        ).fetchone()
        return int(covered), int(total)

    def multilingual_matrix(self, other_than: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(live chunk ids in ascending order, their multilingual vectors) for exact
        cosine search, of every chunk or of those not in the language ``other_than``;
        kept in memory until a sync changes the chunks or the vectors."""
        version = (
            self.get_meta("vectors_version") or "0",
            self.get_meta(VERSION_KEY) or "0",
            other_than,
        )
        cache: dict[str | None, tuple[object, np.ndarray, np.ndarray]] = self.__dict__.setdefault(
            "_ml_matrix", {}
        )
        cached = cache.get(other_than)
        if cached is not None and cached[0] == version:
            return cached[1], cached[2]
        with self._codes_lock:
            where = "WHERE m.lang != ? " if other_than else ""
            rows = self.conn.execute(
                "SELECT c.id, m.embedding FROM chunks c "
                f"JOIN multilingual_vectors m ON m.sha = c.sha {where}ORDER BY c.id",
                (other_than,) if other_than else (),
            ).fetchall()
            dim = int(self.get_meta(DIM_KEY) or 1)
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            matrix = (
                np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), dim)
                if rows
                else np.zeros((0, dim), np.float32)
            )
            cache[other_than] = (version, ids, matrix)
        return ids, matrix

    def _bump(self, key: str) -> None:
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, '1') "
            "ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
            (key,),
        )

    def term_counts_in_language(
        self, table: str, terms: Sequence[str], lang: str
    ) -> tuple[int, int, dict[str, tuple[int, int]]]:
        """(live chunks, live chunks in ``lang``, term -> (chunks holding it, chunks in
        ``lang`` holding it)) for the keyword index ``table`` (``chunks_fts`` or
        ``chunks_cjk``), a chunk's language being the one its multilingual vector was
        stored with. ``bot/retrieve.py`` weighs a question's terms by how common they
        are in the question's own language. Each term is one FTS5 match over its
        posting list; counts are cached until the chunks or the vectors change."""
        if table not in TERM_TABLES:
            raise ValueError(f"no keyword index {table!r}; one of {', '.join(TERM_TABLES)}")
        version = (self.get_meta("vectors_version") or "0", self.get_meta(VERSION_KEY) or "0")
        cache: dict[tuple[str, ...], object] | None = self.__dict__.get("_term_counts")
        if cache is None or cache.get(("version",)) != version or len(cache) > TERM_CACHE_LIMIT:
            # A new dict, not a cleared one: a thread still counting for the old
            # version (Slack handlers share the store) writes into the old dict and
            # cannot leave a stale count under the new version.
            cache = {("version",): version}
            self.__dict__["_term_counts"] = cache
        totals = cache.get(("totals", lang))
        if not isinstance(totals, tuple):
            (n_all,) = self.conn.execute("SELECT count(*) FROM chunks").fetchone()
            (n_lang,) = self.conn.execute(
                "SELECT count(*) FROM chunks c JOIN multilingual_vectors m ON m.sha = c.sha "
                "WHERE m.lang = ?",
                (lang,),
            ).fetchone()
            totals = (int(n_all), int(n_lang))
            cache[("totals", lang)] = totals
        counts: dict[str, tuple[int, int]] = {}
        for term in dict.fromkeys(terms):
            key = (table, lang, term)
            known = cache.get(key)
            if not isinstance(known, tuple):
                match = '"' + term.replace('"', '""') + '"'
                (df_all, df_lang) = self.conn.execute(
                    f"SELECT count(*), count(CASE WHEN m.lang = ? THEN 1 END) FROM {table} t "
                    "JOIN chunks c ON c.id = t.rowid "
                    "LEFT JOIN multilingual_vectors m ON m.sha = c.sha "
                    f"WHERE {table} MATCH ?",
                    (lang, match),
                ).fetchone()
                known = (int(df_all), int(df_lang))
                cache[key] = known
            counts[term] = known
        return totals[0], totals[1], counts
