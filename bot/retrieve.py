"""Hybrid retrieval: FTS5 BM25 and vector KNN, fused, one hit per document.

The two rankers fail differently: BM25 finds exact names, error codes and
commands the embedder blurs; the embedder finds paraphrases BM25 misses. Scores
are min-max normalised per list and summed with weights (``Fusion``); the weights
and candidate depth were chosen with ``docbot eval`` (docs/BENCHMARKS.md).

User text never reaches FTS5 as syntax: :func:`fts_query` keeps only word
tokens and quotes each one, so ``"foo AND (``, ``NEAR/``, ``*`` or ``-`` cannot
raise a syntax error or change the query's meaning.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from ingest.embedding import Embedder
from ingest.models import Hit
from ingest.store import Store

MAX_QUERY_TERMS = 32

STOPWORDS = frozenset(
    """a an and are as at be by can do does for from how i if in is it its me my of on or
    our should so that the their there this to was we what when where which who why will
    with you your""".split()
)

_WORD = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str) -> str:
    """An FTS5 MATCH expression that ORs the quoted word tokens of ``text``."""
    text = unicodedata.normalize("NFKC", text)
    terms: list[str] = []
    for token in _WORD.findall(text.lower()):
        token = token.strip("_")
        if not token or token in STOPWORDS or token in terms:
            continue
        terms.append(token)
        if len(terms) == MAX_QUERY_TERMS:
            break
    return " OR ".join(f'"{t}"' for t in terms)


@dataclass(frozen=True)
class Fusion:
    """How the two ranked lists are combined."""

    dense_weight: float = 0.7
    lexical_weight: float = 0.3
    candidates: int = 50


def _minmax(scored: Sequence[tuple[int, float]]) -> dict[int, float]:
    if not scored:
        return {}
    values = [s for _, s in scored]
    low, high = min(values), max(values)
    if high - low < 1e-12:
        return {i: 1.0 for i, _ in scored}
    return {i: (s - low) / (high - low) for i, s in scored}


@dataclass
class SearchResult:
    hits: list[Hit]
    best_similarity: float
    """Highest cosine similarity among dense candidates (for the relevance gate)."""
    lexical_matches: int
    timings_ms: dict[str, float] = field(default_factory=dict)


class Retriever:
    """Finds the passages that answer a question."""

    def __init__(self, store: Store, embedder: Embedder, fusion: Fusion | None = None) -> None:
        self.store = store
        self.embedder = embedder
        self.fusion = fusion or Fusion()

    def search(self, query: str, k: int = 5, *, per_document: int = 1) -> SearchResult:
        """Top ``k`` chunks for ``query``, at most ``per_document`` from each document."""
        timings: dict[str, float] = {}
        depth = max(self.fusion.candidates, k * 4)
        t0 = time.perf_counter()
        lexical = self.store.fts_search(fts_query(query), depth)
        t1 = time.perf_counter()
        timings["fts_ms"] = (t1 - t0) * 1000
        dense: list[tuple[int, float]] = []
        if self.store.embed_model is not None:
            self.store.check_embedder(self.embedder.model_id)
            vector = self.embedder.embed_query(query)
            t2 = time.perf_counter()
            timings["embed_ms"] = (t2 - t1) * 1000
            dense = self.store.vector_search(vector, depth)
            timings["knn_ms"] = (time.perf_counter() - t2) * 1000
        fused = self._fuse(dense, lexical)
        hits = self.store.load_hits(fused[: depth])
        dense_by_id = dict(dense)
        lexical_by_id = dict(lexical)
        kept: list[Hit] = []
        per_doc: dict[tuple[str, str], int] = {}
        for hit in hits:
            key = (hit.source, hit.doc_id)
            if per_doc.get(key, 0) >= per_document:
                continue
            per_doc[key] = per_doc.get(key, 0) + 1
            hit.scores["dense"] = dense_by_id.get(hit.chunk_id, 0.0)
            hit.scores["bm25"] = lexical_by_id.get(hit.chunk_id, 0.0)
            kept.append(hit)
            if len(kept) == k:
                break
        timings["retrieve_ms"] = (time.perf_counter() - t0) * 1000
        return SearchResult(
            hits=kept,
            best_similarity=max((s for _, s in dense), default=0.0),
            lexical_matches=len(lexical),
            timings_ms=timings,
        )

    def _fuse(
        self, dense: Sequence[tuple[int, float]], lexical: Sequence[tuple[int, float]]
    ) -> list[tuple[int, float]]:
        d, lx = _minmax(dense), _minmax(lexical)
        if not dense:
            weights = (0.0, 1.0)
        elif not lexical:
            weights = (1.0, 0.0)
        else:
            weights = (self.fusion.dense_weight, self.fusion.lexical_weight)
        scores = {
            cid: weights[0] * d.get(cid, 0.0) + weights[1] * lx.get(cid, 0.0)
            for cid in d.keys() | lx.keys()
        }
        return sorted(scores.items(), key=lambda item: (-item[1], item[0]))
