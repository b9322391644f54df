"""How vectors are searched in this store, decided by measuring the store's own vectors.

The 1-bit coarse pass (``codes.py``) is fast but can fail silently: with MiniLM its
recall of the exact top 10 was 0.91, with a sparse, uncentred OpenAI-compatible
embedder 0.15, and nothing noticed. So after every sync that changed vectors the store
measures it: a sample of stored vectors is searched exactly and through the coarse
pass, and the share of each exact top 10 the coarse candidates contain is the recall.
Then:

- **exact** when the store is small enough that exact cosine over every vector costs
  a few milliseconds (``EXACT_MAX_CHUNKS``), whatever the recall;
- **coarse** with the smallest candidate pool (1x, 2x, 4x, 8x ``coarse_pool``) whose
  measured recall reaches ``MIN_RECALL``;
- **coarse, widest pool** when none does, flagged in ``docbot status`` so an admin
  sees that this embedder's vectors suit the coarse pass badly.

A store with a vector index of its own (PostgreSQL: pgvector's HNSW) has the plan
**hnsw**: the index is the vector pass, and the same sample measures its recall at the
configured ``ef_search``; **scan** when the vectors are too wide for the index and each
query scans them all (``VectorPlan.indexed`` for both: the store searches itself).

A sampled vector's own id is left out of both lists (it always finds itself), so the
figure is the recall of its neighbours, closer to what a question sees.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import numpy as np

from ingest.store.codes import VectorCodes, coarse_pool

EXACT_MAX_CHUNKS = 50_000
"""Up to here every query is scored against all vectors: 50k x 384 floats is 77 MB in
memory and ~10 ms of numpy per query on this 2-core machine."""
MIN_RECALL = 0.95
SAMPLE_QUERIES = 64
RECALL_K = 10
POOL_FACTORS = (1, 2, 4, 8)

Blocks = Callable[[], Iterator[tuple[np.ndarray, np.ndarray]]]
"""Yields (ids, vectors) blocks covering every stored vector, to score exactly."""


@dataclass(frozen=True)
class VectorPlan:
    mode: str  # "exact" | "coarse" | "hnsw" | "scan"
    chunks: int
    pool_factor: int = 1
    recall: float | None = None
    """Measured coarse recall@10 at ``pool_factor`` (None: not measured)."""
    healthy: bool = True
    """False when no pool reached ``MIN_RECALL``: the coarse pass suits these vectors badly."""
    version: str = ""
    ef_search: int | None = None
    """``hnsw``: the candidates HNSW keeps while searching (what its recall was measured at)."""

    @property
    def indexed(self) -> bool:
        """The store searches its own vector index (no in-memory codes)."""
        return self.mode in ("hnsw", "scan")

    def pool(self, limit: int) -> int:
        return coarse_pool(limit) * self.pool_factor

    def describe(self) -> str:
        if self.mode == "exact":
            return f"exact ({self.chunks:,} chunks)"
        if self.mode == "scan":
            return f"exact scan in the database ({self.chunks:,} chunks)"
        recall = f"recall@10 {self.recall:.2f}" if self.recall is not None else "not measured"
        warning = "" if self.healthy else "; below target, exact search would be better"
        if self.mode == "hnsw":
            warning = "" if self.healthy else "; below target, raise DOCBOT_PG_EF_SEARCH"
            return f"pgvector HNSW, ef_search {self.ef_search}, {recall}{warning}"
        return f"1-bit coarse pass, pool x{self.pool_factor}, {recall}{warning}"

    def dump(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def load(cls, text: str | None) -> VectorPlan | None:
        if not text:
            return None
        try:
            return cls(**json.loads(text))
        except (TypeError, ValueError):
            return None


def exact_top(queries: np.ndarray, blocks: Blocks, k: int, skip: np.ndarray) -> list[set[int]]:
    """Each query's exact top ``k`` chunk ids by cosine, its own id (``skip``) excluded."""
    best_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_ids = np.full((len(queries), k), -1, dtype=np.int64)
    for ids, vectors in blocks():
        sims = queries @ vectors.T  # (q, block)
        sims[ids[None, :] == skip[:, None]] = -np.inf
        scores = np.concatenate([best_scores, sims], axis=1)
        all_ids = np.concatenate([best_ids, np.broadcast_to(ids, (len(queries), len(ids)))], axis=1)
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k] if scores.shape[1] > k else None
        if top is not None:
            best_scores = np.take_along_axis(scores, top, axis=1)
            best_ids = np.take_along_axis(all_ids, top, axis=1)
        else:
            best_scores, best_ids = scores, all_ids
    return [{int(i) for i in row if i >= 0} for row in best_ids]


def measure(
    codes: VectorCodes, queries: np.ndarray, query_ids: np.ndarray, blocks: Blocks
) -> dict[int, float]:
    """Coarse recall@10 of the sample at each pool factor."""
    exact = exact_top(queries, blocks, RECALL_K, query_ids)
    recall: dict[int, float] = {}
    for factor in POOL_FACTORS:
        pool = coarse_pool(RECALL_K) * factor + 1  # +1: the query finds itself
        found = total = 0
        for vector, own, truth in zip(queries, query_ids, exact, strict=True):
            candidates = set(codes.nearest(vector, pool)) - {int(own)}
            found += len(truth & candidates)
            total += len(truth)
        recall[factor] = found / total if total else 1.0
        if recall[factor] >= MIN_RECALL:
            break
    return recall


def choose(chunks: int, recall: dict[int, float], version: str) -> VectorPlan:
    if chunks <= EXACT_MAX_CHUNKS:
        best = recall.get(1)
        return VectorPlan("exact", chunks, 1, best, True, version)
    for factor in POOL_FACTORS:
        if factor in recall and recall[factor] >= MIN_RECALL:
            return VectorPlan("coarse", chunks, factor, recall[factor], True, version)
    widest = max(recall) if recall else POOL_FACTORS[-1]
    return VectorPlan("coarse", chunks, widest, recall.get(widest), False, version)
