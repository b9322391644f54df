"""The read side of the SQLite store: BM25 over FTS5, the vector passes, and turning
chunk ids back into citable hits (``bot/retrieve.py`` fuses them)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

import numpy as np

from ingest.models import Hit
from ingest.store.codes import VectorCodes, coarse_pool
from ingest.store.scope import Scope
from ingest.store.sqlite.base import SQLiteBase, _parse_time
from ingest.store.vector_plan import (
    EXACT_MAX_CHUNKS,
    SAMPLE_QUERIES,
    VectorPlan,
    choose,
    measure,
)

FTS_WEIGHTS = (3.0, 2.0, 1.0)
"""BM25 weights of the FTS columns (title, heading, body); see docs/BENCHMARKS.md."""


MASKS_KEPT = 32  # scope masks cached per vectors version (a few scopes are in use)


def scope_sql(scope: Scope | None) -> tuple[str, list[object]]:
    """SQL conditions on ``documents d`` selecting what ``scope`` lets a search return
    (``""`` when it filters nothing)."""
    if scope is None or scope.filters_nothing:
        return "", []
    clauses: list[str] = []
    params: list[object] = []

    def among(column: str, values: frozenset[str]) -> str:
        params.extend(sorted(values))
        return f"{column} IN ({','.join('?' * len(values))})" if values else "0"

    if scope.sources is not None:
        clauses.append(among("d.source", scope.sources))
    if scope.spaces is not None:
        clauses.append(f"(d.space IS NULL OR {among('d.space', scope.spaces)})")
    if scope.labels is not None:
        clauses.append(
            f"EXISTS (SELECT 1 FROM json_each(d.tags) WHERE {among('value', scope.labels)})"
        )
    if not scope.all_restricted:
        if scope.reader:
            clauses.append(
                "(d.access IS NULL OR EXISTS (SELECT 1 FROM json_each(d.access, '$.readers') "
                "WHERE value = ?))"
            )
            params.append(scope.reader.lower())
        else:
            clauses.append("d.access IS NULL")
    return " AND ".join(clauses), params


class Search(SQLiteBase):
    """Search primitives over the chunks, each confined to an optional :class:`Scope`."""

    def fts_search(
        self,
        match: str,
        limit: int,
        weights: tuple[float, float, float] = FTS_WEIGHTS,
        *,
        scope: Scope | None = None,
    ) -> list[tuple[int, float]]:
        """(chunk_id, bm25 score; higher is better) for an FTS5 MATCH expression."""
        title, heading, body = (float(w) for w in weights)
        rank = f"bm25(chunks_fts, {title}, {heading}, {body})"
        return self._bm25("chunks_fts", rank, match, limit, scope)

    def cjk_search(
        self, match: str, limit: int, *, scope: Scope | None = None
    ) -> list[tuple[int, float]]:
        """Like :meth:`fts_search`, over the CJK bigram index (``ingest/languages.py``)."""
        return self._bm25("chunks_cjk", "bm25(chunks_cjk)", match, limit, scope)

    def _bm25(
        self, table: str, rank: str, match: str, limit: int, scope: Scope | None
    ) -> list[tuple[int, float]]:
        """One FTS5 table's best ``limit`` matches, inside ``scope`` (joined to the
        documents only when the scope filters something)."""
        if not match:
            return []
        where, params = scope_sql(scope)
        join = (
            f" JOIN chunks c ON c.id = {table}.rowid JOIN documents d ON d.id = c.document_id"
            if where
            else ""
        )
        rows = self.conn.execute(
            f"SELECT {table}.rowid, {rank} AS rank FROM {table}{join} "
            f"WHERE {table} MATCH ?{' AND ' + where if where else ''} ORDER BY rank LIMIT ?",
            (match, *params, limit),
        )
        return [(rowid, -score) for rowid, score in rows]

    def scope_mask(self, codes: VectorCodes, scope: Scope | None) -> np.ndarray | None:
        """Which of ``codes`` the scope keeps (None: all of them), cached per vectors
        version: the coarse vector pass searches only inside the scope."""
        where, params = scope_sql(scope)
        if not where or scope is None:
            return None
        cache_key = (codes.version, scope.key)
        with self._codes_lock:
            masks: dict[tuple[str, str], np.ndarray] = self.__dict__.setdefault("_masks", {})
            mask = masks.get(cache_key)
        if mask is not None:
            return mask
        rows = self.conn.execute(
            f"SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id WHERE {where}",
            params,
        ).fetchall()
        allowed = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        mask = np.isin(codes.ids, allowed)
        with self._codes_lock:
            if len(masks) >= MASKS_KEPT or any(k[0] != codes.version for k in masks):
                masks.clear()
            masks[cache_key] = mask
        return mask

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

    def index_search(
        self, vector: np.ndarray, limit: int, *, scope: Scope | None = None
    ) -> tuple[list[int], np.ndarray]:
        """The ``limit`` nearest chunks inside ``scope``, nearest first, with their
        vectors: the coarse pass's candidates re-ranked by exact cosine (the contract a
        store with an index of its own, PostgreSQL's HNSW, answers from its index)."""
        if limit <= 0 or not self._has_vectors():
            return [], np.zeros((0, self.embed_dim or 1), dtype=np.float32)
        query = np.asarray(vector, np.float32)
        codes = self.vector_codes()
        pool = self.vector_plan().pool(limit)
        ids, matrix = self.vectors(codes.nearest(query, pool, self.scope_mask(codes, scope)))
        if not ids:
            return [], np.zeros((0, self.embed_dim or 1), dtype=np.float32)
        order = np.argsort(-(matrix @ query), kind="stable")[:limit]
        return [ids[i] for i in order], matrix[order]

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

    # --- how vectors are searched (ingest/store/vector_plan.py) -----------------

    def vector_plan(self) -> VectorPlan:
        """The plan measured after the last sync that changed vectors (or, before any
        measurement, the plan the store's size implies)."""
        plan = VectorPlan.load(self.get_meta("vector_plan"))
        if plan is not None:
            return plan
        chunks = len(self.vector_codes().ids)
        return VectorPlan("exact" if chunks <= EXACT_MAX_CHUNKS else "coarse", chunks)

    def refresh_vector_plan(self) -> VectorPlan:
        """Measure the coarse pass on this store's own vectors and record the plan."""
        codes = self.vector_codes()
        rows = self.conn.execute(
            "SELECT chunk_id, embedding FROM chunk_vectors ORDER BY random() LIMIT ?",
            (SAMPLE_QUERIES,),
        ).fetchall()
        recall: dict[int, float] = {}
        if rows:
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            queries = np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), -1)
            recall = measure(codes, queries, ids, self._vector_blocks)
        plan = choose(len(codes.ids), recall, codes.version)
        self.set_meta("vector_plan", plan.dump())
        return plan

    def _vector_blocks(self, size: int = 20_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        last = -1
        while True:
            rows = self.conn.execute(
                "SELECT chunk_id, embedding FROM chunk_vectors WHERE chunk_id > ? "
                "ORDER BY chunk_id LIMIT ?",
                (last, size),
            ).fetchall()
            if not rows:
                return
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            yield (
                ids,
                np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), -1),
            )
            last = int(ids[-1])

    def vector_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """Every vector in memory (ids, matrix), for exact search on a small store;
        reloaded when a sync has changed the vectors."""
        version = self.get_meta("vectors_version") or "0"
        cached = self.__dict__.get("_matrix")
        if cached is not None and cached[0] == version:
            return cached[1], cached[2]
        with self._codes_lock:
            blocks = list(self._vector_blocks())
            ids = np.concatenate([b[0] for b in blocks]) if blocks else np.zeros(0, np.int64)
            matrix = (
                np.concatenate([b[1] for b in blocks])
                if blocks
                else np.zeros((0, self.embed_dim or 1), np.float32)
            )
            self.__dict__["_matrix"] = (version, ids, matrix)
        return ids, matrix

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
            "d.updated_at, d.space, d.access IS NOT NULL, d.breadcrumbs "
            "FROM chunks c JOIN documents d ON d.id = c.document_id "
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
                    space=row[9],
                    restricted=bool(row[10]),
                    breadcrumbs=tuple(json.loads(row[11])),
                )
            )
        return hits
