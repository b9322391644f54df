"""The read side of the SQLite store: BM25 over FTS5, the vector passes, and turning
chunk ids back into citable hits (``bot/retrieve.py`` fuses them)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from ingest.models import Hit
from ingest.store.codes import VectorCodes, coarse_pool
from ingest.store.sqlite.base import SQLiteBase, _parse_time

FTS_WEIGHTS = (3.0, 2.0, 1.0)
"""BM25 weights of the FTS columns (title, heading, body); see docs/BENCHMARKS.md."""


class Search(SQLiteBase):
    """Search primitives over the chunks."""

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
                f"SELECT chunk_id, distance FROM {self.vec_table} "
                "WHERE embedding MATCH ? AND k = ?",
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
            "d.updated_at, d.breadcrumbs FROM chunks c JOIN documents d ON d.id = c.document_id "
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
                    breadcrumbs=tuple(json.loads(row[9])),
                )
            )
        return hits
