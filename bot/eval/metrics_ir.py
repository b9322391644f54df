"""Ranking metrics for ``docbot eval``: pure functions over ranked doc ids.

Relevance is graded (an int per judged document; 0 = judged not relevant).
Two nDCG@k definitions are computed, because published figures use both
(see ``EMBEDDERS.md``):

- :func:`ndcg_at_k` — standard, as trec_eval / pytrec_eval / BEIR: gain = the
  graded relevance, discount ``log2(rank + 1)``, ideal DCG over *all* judged
  documents of the query. A query with no relevant document scores 0.
- :func:`ndcg_leaderboard_at_k` — agentset-ai/embedding-leaderboard: the same DCG,
  but the ideal is the retrieved top-k's own relevances sorted descending. It
  rewards ordering what was retrieved and is 0 when nothing relevant was.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

Judgments = Mapping[str, int]
"""Graded relevance of the judged documents of one query (doc id -> grade)."""
Metric = Callable[[Sequence[str], Judgments, int], float]


def dcg(gains: Sequence[float]) -> float:
    """Discounted cumulative gain: sum of gain / log2(rank + 1), ranks from 1."""
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def ndcg_at_k(ranked: Sequence[str], judged: Judgments, k: int = 10) -> float:
    """Standard nDCG@k (ideal over every judged document)."""
    ideal = dcg(sorted((g for g in judged.values() if g > 0), reverse=True)[:k])
    if ideal <= 0:
        return 0.0
    return dcg([max(judged.get(doc, 0), 0) for doc in ranked[:k]]) / ideal


def ndcg_leaderboard_at_k(ranked: Sequence[str], judged: Judgments, k: int = 10) -> float:
    """Leaderboard nDCG@k (ideal = the retrieved top-k's relevances, sorted)."""
    gains = [judged.get(doc, 0) for doc in ranked[:k]]
    ideal = dcg(sorted(gains, reverse=True))
    return dcg(gains) / ideal if ideal > 0 else 0.0


def recall_at_k(ranked: Sequence[str], judged: Judgments, k: int = 10) -> float:
    """Share of the relevant (grade > 0) documents found in the top k."""
    relevant = {doc for doc, g in judged.items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def mrr_at_k(ranked: Sequence[str], judged: Judgments, k: int = 10) -> float:
    """1 / rank of the first relevant document in the top k (0 when none)."""
    for i, doc in enumerate(ranked[:k], start=1):
        if judged.get(doc, 0) > 0:
            return 1.0 / i
    return 0.0


def mean_over_queries(
    metric: Metric,
    run: Mapping[str, Sequence[str]],
    qrels: Mapping[str, Judgments],
    k: int = 10,
) -> float:
    """Mean of ``metric(ranked, judged, k)`` over the queries in ``qrels``; a query
    missing from ``run`` ranked nothing (scores 0)."""
    if not qrels:
        return 0.0
    total = sum(metric(run.get(qid, ()), judged, k) for qid, judged in qrels.items())
    return float(total / len(qrels))
