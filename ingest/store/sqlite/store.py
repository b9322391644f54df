"""The knowledge base: one SQLite file with documents, chunks, FTS5 and sqlite-vec.

Readers (the bot answering) and the writer (sync) share the file through WAL, so
questions are answered from the last committed state while a sync runs. Each
thread gets its own connection. Every document is replaced in one transaction:
a sync that dies half-way leaves each document either fully old or fully new.

The store remembers which embedding model built its vectors (``meta``) and
refuses vectors from another model, like simonw/llm's collections do.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ingest.errors import EmbedderMismatch, StoreError
from ingest.languages import cjk_bigrams
from ingest.models import Chunk, Document, Hit
from ingest.store.sqlite import db

FTS_WEIGHTS = (3.0, 2.0, 1.0)
"""BM25 weights of the FTS columns (title, heading, body); see docs/BENCHMARKS.md."""
COARSE_FACTOR = 10
COARSE_MIN = 400
"""KNN is two passes: the 1-bit codes of every chunk (in memory) pick
``max(COARSE_FACTOR * k, COARSE_MIN)`` candidates by Hamming distance, whose float32
vectors are then ranked by exact cosine. A store smaller than that pool is searched
exactly. sqlite-vec's exact float KNN (``exact=True``) costs ~10x more at 100k chunks;
docs/BENCHMARKS.md has the recall and latency at 10k-1M chunks."""


def coarse_pool(limit: int) -> int:
    """How many candidates the coarse pass keeps for ``limit`` final results."""
    return max(limit * COARSE_FACTOR, COARSE_MIN)


def binary_code(vector: bytes | np.ndarray) -> bytes:
    """A vector's 1-bit code: the sign of each dimension, packed (48 bytes for 384-d);
    the same bytes as sqlite-vec's ``vec_quantize_binary``."""
    array = np.frombuffer(vector, dtype=np.float32) if isinstance(vector, bytes) else vector
    return np.packbits(np.asarray(array) > 0, bitorder="little").tobytes()


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


@dataclass(frozen=True)
class VectorCodes:
    """Every chunk's 1-bit code in one array, for a fast Hamming-distance pass.
    Read-only once built, so any thread may search it."""

    version: str
    ids: np.ndarray  # int64, (n,)
    words: np.ndarray  # uint8, (n, bytes per code)

    @classmethod
    def build(cls, version: str, rows: Sequence[tuple[int, bytes]]) -> VectorCodes:
        if not rows:
            return cls(version, np.zeros(0, dtype=np.int64), np.zeros((0, 1), dtype=np.uint8))
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        words = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.uint8).reshape(len(rows), -1)
        if words.shape[1] % 8 == 0:  # compare 64 bits at a time when the width allows
            words = words.view(np.uint64)
        return cls(version, ids, words)

    def nearest(self, query: np.ndarray, count: int) -> list[int]:
        """Chunk ids of the ``count`` codes nearest to ``query``'s (Hamming)."""
        if len(self.ids) == 0:
            return []
        code = np.frombuffer(binary_code(query), dtype=np.uint8)
        if self.words.dtype == np.uint64:
            code = code.view(np.uint64)
        if hasattr(np, "bitwise_count"):  # numpy >= 2.0
            counts = np.bitwise_count(self.words ^ code)
            distances = counts[:, 0].astype(np.int32)
            for column in range(1, counts.shape[1]):  # ~2x faster than .sum(axis=1)
                distances += counts[:, column]
        else:
            xor = (self.words ^ code).view(np.uint8)
            distances = _POPCOUNT[xor].sum(axis=1, dtype=np.int32)
        if count < len(distances):
            top = np.argpartition(distances, count)[:count]
        else:
            top = np.arange(len(distances))
        return [int(i) for i in self.ids[top]]


def utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class SyncRun:
    """One recorded sync of one source (what ``docbot status`` shows)."""

    id: int
    source: str
    started_at: datetime
    finished_at: datetime | None
    status: str  # running | ok | partial | failed
    added: int
    updated: int
    deleted: int
    unchanged: int
    failed: int
    chunks_embedded: int
    seconds: float | None
    error: str | None
    failures: list[tuple[str, str]]


class Store:
    """Access to one docbot SQLite file. Cheap to share between threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._codes: VectorCodes | None = None
        self._codes_lock = threading.Lock()
        db.migrate(self.conn)

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

    def reset_index(self) -> None:
        """Forget every document, vector and cursor (``sync --rebuild``)."""
        with self.transaction():
            self.conn.execute("DELETE FROM chunks_fts")
            self.conn.execute("DELETE FROM chunks_cjk")
            self.conn.execute("DELETE FROM chunk_vectors")
            self.conn.execute("DELETE FROM chunk_codes")
            self.conn.execute("DROP TABLE IF EXISTS chunks_vec")
            self._bump_vectors_version()
            self.conn.execute("DELETE FROM documents")
            self.conn.execute("UPDATE sources SET cursor = NULL")
            self.conn.execute("DELETE FROM meta WHERE key IN ('embed_model', 'embed_dim')")

    def _has_vectors(self) -> bool:
        return self.embed_model is not None

    # --- documents -----------------------------------------------------------

    def document_shas(self, source: str) -> dict[str, str]:
        rows = self.conn.execute("SELECT doc_id, sha FROM documents WHERE source = ?", (source,))
        return dict(rows.fetchall())

    def cached_vectors(self, shas: Iterable[str]) -> dict[str, bytes]:
        """Vectors already stored for chunks with these content hashes."""
        wanted = list(set(shas))
        if not wanted or not self._has_vectors():
            return {}
        found: dict[str, bytes] = {}
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self.conn.execute(
                "SELECT c.sha, v.embedding FROM chunks c JOIN chunks_vec v ON v.chunk_id = c.id "
                f"WHERE c.sha IN ({marks})",
                part,
            )
            for sha, blob in rows:
                found.setdefault(sha, blob)
        return found

    def replace_document(
        self, doc: Document, chunks: Sequence[Chunk], vectors: Sequence[bytes]
    ) -> None:
        """Store ``doc`` with its chunks and their vectors, replacing any old version,
        in one transaction."""
        if len(chunks) != len(vectors):
            raise StoreError("internal error: chunks and vectors differ in number")
        conn = self.conn
        with self.transaction():
            self._delete_chunks(doc.source, [doc.doc_id])
            conn.execute(
                """
                INSERT INTO documents (source, doc_id, title, url, sha, updated_at, author,
                                       breadcrumbs, tags, version, synced_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (source, doc_id) DO UPDATE SET
                    title = excluded.title, url = excluded.url, sha = excluded.sha,
                    updated_at = excluded.updated_at, author = excluded.author,
                    breadcrumbs = excluded.breadcrumbs, tags = excluded.tags,
                    version = excluded.version, synced_at = excluded.synced_at
                """,
                (
                    doc.source,
                    doc.doc_id,
                    doc.title,
                    doc.url,
                    doc.sha,
                    _iso(doc.updated_at),
                    doc.author,
                    json.dumps(list(doc.breadcrumbs)),
                    json.dumps(list(doc.tags)),
                    doc.version,
                    utcnow().isoformat(),
                ),
            )
            (document_id,) = conn.execute(
                "SELECT id FROM documents WHERE source = ? AND doc_id = ?",
                (doc.source, doc.doc_id),
            ).fetchone()
            for chunk, vector in zip(chunks, vectors, strict=True):
                cur = conn.execute(
                    "INSERT INTO chunks (document_id, ordinal, text, heading_path, anchor, sha) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        document_id,
                        chunk.ordinal,
                        chunk.text,
                        json.dumps(list(chunk.heading_path)),
                        chunk.anchor,
                        chunk.sha,
                    ),
                )
                chunk_id = cur.lastrowid
                conn.execute(
                    "INSERT INTO chunks_fts (rowid, title, heading, body) VALUES (?, ?, ?, ?)",
                    (chunk_id, doc.title, " ".join(chunk.heading_path[1:]), chunk.text),
                )
                heading = " ".join(chunk.heading_path[1:])
                # Every chunk gets a row, CJK or not, so BM25's document frequencies
                # (IDF) are over the whole collection, as in chunks_fts.
                grams = cjk_bigrams(f"{doc.title}\n{heading}\n{chunk.text}")
                conn.execute(
                    "INSERT INTO chunks_cjk (rowid, body) VALUES (?, ?)",
                    (chunk_id, " ".join(grams)),
                )
                conn.execute(
                    "INSERT INTO chunks_vec (chunk_id, embedding) VALUES (?, ?)",
                    (chunk_id, vector),
                )
                conn.execute(
                    "INSERT INTO chunk_vectors (chunk_id, embedding) VALUES (?, ?)",
                    (chunk_id, vector),
                )
                conn.execute(
                    "INSERT INTO chunk_codes (chunk_id, code) VALUES (?, ?)",
                    (chunk_id, binary_code(vector)),
                )
            self._bump_vectors_version()

    def _delete_chunks(self, source: str, doc_ids: Sequence[str]) -> None:
        conn = self.conn
        for start in range(0, len(doc_ids), 500):
            part = list(doc_ids[start : start + 500])
            marks = ",".join("?" * len(part))
            ids = [
                row[0]
                for row in conn.execute(
                    "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id "
                    f"WHERE d.source = ? AND d.doc_id IN ({marks})",
                    [source, *part],
                )
            ]
            for cstart in range(0, len(ids), 500):
                cpart = ids[cstart : cstart + 500]
                cmarks = ",".join("?" * len(cpart))
                conn.execute(f"DELETE FROM chunks_fts WHERE rowid IN ({cmarks})", cpart)
                conn.execute(f"DELETE FROM chunks_cjk WHERE rowid IN ({cmarks})", cpart)
                conn.execute(f"DELETE FROM chunk_vectors WHERE chunk_id IN ({cmarks})", cpart)
                conn.execute(f"DELETE FROM chunk_codes WHERE chunk_id IN ({cmarks})", cpart)
                if self._has_vectors():
                    conn.execute(f"DELETE FROM chunks_vec WHERE chunk_id IN ({cmarks})", cpart)
                conn.execute(f"DELETE FROM chunks WHERE id IN ({cmarks})", cpart)

    def delete_documents(self, source: str, doc_ids: Sequence[str]) -> None:
        """Prune documents (and their chunks) that no longer exist at the source."""
        if not doc_ids:
            return
        with self.transaction():
            self._delete_chunks(source, doc_ids)
            for start in range(0, len(doc_ids), 500):
                part = list(doc_ids[start : start + 500])
                marks = ",".join("?" * len(part))
                self.conn.execute(
                    f"DELETE FROM documents WHERE source = ? AND doc_id IN ({marks})",
                    [source, *part],
                )

    def source_names(self) -> list[str]:
        rows = self.conn.execute(
            "SELECT DISTINCT source FROM documents UNION SELECT name FROM sources ORDER BY 1"
        )
        return [row[0] for row in rows]

    # --- search primitives (bot/retrieve.py fuses them) ----------------------

    def fts_search(
        self, match: str, limit: int, weights: tuple[float, float, float] = FTS_WEIGHTS
    ) -> list[tuple[int, float]]:
        """(chunk_id, bm25 score; higher is better) for an FTS5 MATCH expression."""
        if not match:
            return []
        title, heading, body = (float(w) for w in weights)
        rows = self.conn.execute(
            f"SELECT rowid, bm25(chunks_fts, {title}, {heading}, {body}) AS rank "
            "FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY rank LIMIT ?",
            (match, limit),
        )
        return [(rowid, -rank) for rowid, rank in rows]

    def cjk_search(self, match: str, limit: int) -> list[tuple[int, float]]:
        """Like :meth:`fts_search`, over the CJK bigram index (``ingest/languages.py``)."""
        if not match:
            return []
        rows = self.conn.execute(
            "SELECT rowid, bm25(chunks_cjk) AS rank FROM chunks_cjk "
            "WHERE chunks_cjk MATCH ? ORDER BY rank LIMIT ?",
            (match, limit),
        )
        return [(rowid, -rank) for rowid, rank in rows]

    def vector_search(
        self, vector: np.ndarray, limit: int, *, exact: bool = False
    ) -> list[tuple[int, float]]:
        """(chunk_id, cosine similarity) of the nearest chunks, best first.

        Coarse pass + exact re-ranking (see ``COARSE_FACTOR``); ``exact=True`` asks
        sqlite-vec for the exact answer instead (benchmarks compare the two)."""
        if not self._has_vectors():
            return []
        query = np.asarray(vector, dtype=np.float32)
        if exact:
            rows = self.conn.execute(
                "SELECT chunk_id, distance FROM chunks_vec WHERE embedding MATCH ? AND k = ?",
                (query.tobytes(), limit),
            )
            return [(chunk_id, 1.0 - distance) for chunk_id, distance in rows]
        ids, matrix = self.nearest_vectors(query, limit)
        if not ids:
            return []
        sims = matrix @ query / max(float(np.linalg.norm(query)), 1e-12)
        order = np.argsort(-sims, kind="stable")[:limit]
        return [(ids[i], float(sims[i])) for i in order]

    def nearest_vectors(self, vector: np.ndarray, limit: int) -> tuple[list[int], np.ndarray]:
        """The coarse pass alone: candidate chunk ids for the ``limit`` nearest, with
        their float32 vectors (one row each), in no particular order."""
        if not self._has_vectors():
            return [], np.zeros((0, 0), dtype=np.float32)
        query = np.asarray(vector, np.float32)
        return self.vectors(self.vector_codes().nearest(query, coarse_pool(limit)))

    def vectors(self, chunk_ids: Sequence[int]) -> tuple[list[int], np.ndarray]:
        """The stored vectors of these chunks: (ids found, matrix with one row each)."""
        ids: list[int] = []
        blobs: list[bytes] = []
        for start in range(0, len(chunk_ids), 500):
            part = list(chunk_ids[start : start + 500])
            marks = ",".join("?" * len(part))
            for chunk_id, blob in self.conn.execute(
                f"SELECT chunk_id, embedding FROM chunk_vectors WHERE chunk_id IN ({marks})", part
            ):
                ids.append(chunk_id)
                blobs.append(blob)
        if not ids:
            return [], np.zeros((0, 0), dtype=np.float32)
        return ids, np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), -1)

    def _bump_vectors_version(self) -> None:
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES ('vectors_version', '1') "
            "ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    def vector_codes(self) -> VectorCodes:
        """The in-memory 1-bit codes, reloaded when a sync has changed the vectors."""
        version = self.get_meta("vectors_version") or "0"
        codes = self._codes
        if codes is not None and codes.version == version:
            return codes
        with self._codes_lock:
            codes = self._codes
            if codes is None or codes.version != version:
                rows = self.conn.execute("SELECT chunk_id, code FROM chunk_codes").fetchall()
                codes = VectorCodes.build(version, rows)
                self._codes = codes
        return codes

    def load_hits(self, scored: Sequence[tuple[int, float]]) -> list[Hit]:
        """Turn (chunk_id, score) pairs into citable hits, keeping their order."""
        if not scored:
            return []
        ids = [chunk_id for chunk_id, _ in scored]
        marks = ",".join("?" * len(ids))
        rows = self.conn.execute(
            "SELECT c.id, d.source, d.doc_id, d.title, d.url, c.text, c.heading_path, c.anchor, "
            "d.updated_at FROM chunks c JOIN documents d ON d.id = c.document_id "
            f"WHERE c.id IN ({marks})",
            ids,
        )
        by_id = {row[0]: row for row in rows}
        hits = []
        for chunk_id, score in scored:
            row = by_id.get(chunk_id)
            if row is None:  # deleted by a concurrent sync since the search
                continue
            hits.append(
                Hit(
                    chunk_id=row[0],
                    source=row[1],
                    doc_id=row[2],
                    title=row[3],
                    url=row[4],
                    text=row[5],
                    heading_path=tuple(json.loads(row[6])),
                    anchor=row[7],
                    score=score,
                    updated_at=_parse_time(row[8]),
                )
            )
        return hits

    # --- sync runs and cursors -----------------------------------------------

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
