"""How the vector and keyword lists become one ranking: min-max (``fuse``), over the
union of both candidate lists (``fuse_union``), by rank (RRF), and by spread
(``fuse_zscore``, the default), plus the page lift (``lift_pages``).

Fusion by spread measures how far a candidate stands out of its own list.

Min-max normalisation maps each list's first chunk to 1 however weak it is: a German
question whose only BM25 matches are a cognate or the name "Sourcegraph" still has a
lexical first at 1, and with equal weights that chunk ties with the vector side's first
at 0.5 and takes a top-five place from a page both signals agree on. On the
cross-lingual set 22 of the 24 questions missed at hit@5 had such a chunk in their top
five (docs/BENCHMARKS.md, "Cross-lingual retrieval, second round").

Here each list is instead shifted to its head's lowest score and divided by the head's
standard deviation: ``(s - low) / sd``. A flat list (every chunk matches a word or two
alike) gives its first a small value; a list whose first stands far above the rest (an
error code, a product name only one page holds) gives it a large one, larger than a
middling vector match's, so the exact match that equal-weight min-max protects is kept
by the size of its lead instead of by decree. The chunks at the head's floor, and those
below or missing from a list, get 0 from it, as in min-max.

A list of fewer than ``SHORT_LIST`` entries (a question whose words only a handful of
chunks hold) cannot show a spread: the first of n values is at most n / sqrt(n - 1)
standard deviations above the lowest, 3.3 for 10 entries, about what a typical head's
first reaches (median 4.4 on the vector side, 3.7 on BM25 on the cross-lingual set).
Such a list, or one whose scores are all equal, is min-max normalised and scaled so its
first ties with the other list's first: exactly the equal-weight min-max rule, so a
lone keyword match is never lost. With both lists short this is ``fuse`` itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from ingest.models import Hit

Scored = Sequence[tuple[int, float]]

SHORT_LIST = 10
"""Fewer head entries than this: the list is min-max normalised instead (above)."""


def spread(scored: Scored, head: int | None = None) -> dict[int, float] | None:
    """Each score minus the head's lowest, over the head's standard deviation (None:
    fewer than ``SHORT_LIST`` head entries, or all equal). Entries below the head map
    below 0 the same way, so a longer list changes none of the head's values."""
    values = np.array([s for _, s in (scored[:head] if head else scored)], dtype=np.float64)
    if len(values) < SHORT_LIST:
        return None
    sd = float(values.std())
    if sd < 1e-12:
        return None
    low = float(values.min())
    return {cid: (s - low) / sd for cid, s in scored}


def fuse_zscore(
    dense: Scored,
    lexical: Scored,
    dense_weight: float,
    lexical_weight: float,
    head: int | None = None,
) -> list[tuple[int, float]]:
    """Weighted sum of ``spread`` scores (module docstring); a chunk missing from a
    list, or below its head, gets 0 there. Ties break by chunk id. As in
    ``fuse``, chunks in neither head follow (score 0), ordered by their
    unclipped scores, so the first results do not depend on how deep the lists were
    fetched."""
    if not dense and not lexical:
        return []
    if not dense:
        dense_weight, lexical_weight = 0.0, 1.0
    elif not lexical:
        dense_weight, lexical_weight = 1.0, 0.0
    d_spread = spread(dense, head) if dense else None
    lx_spread = spread(lexical, head) if lexical else None
    d_top = _top(dense, d_spread, head)
    lx_top = _top(lexical, lx_spread, head)
    d = d_spread if d_spread is not None else minmax(dense, head, lx_top)
    lx = lx_spread if lx_spread is not None else minmax(lexical, head, d_top)
    return _weighted_sum(dense, lexical, d, lx, dense_weight, lexical_weight, head)


def _weighted_sum(
    dense: Scored,
    lexical: Scored,
    d: dict[int, float],
    lx: dict[int, float],
    dense_weight: float,
    lexical_weight: float,
    head: int | None,
) -> list[tuple[int, float]]:
    """Rank by the weighted sum of the normalised scores each list gives inside its
    head (below the head, or missing, counts 0), then by the unclipped sum, then by
    chunk id: chunks in neither head follow in a reproducible order, and no chunk's
    place depends on how deep the lists were fetched."""
    d_head = {cid for cid, _ in (dense[:head] if head else dense)}
    lx_head = {cid for cid, _ in (lexical[:head] if head else lexical)}
    d_floor = min(d.values(), default=0.0)
    lx_floor = min(lx.values(), default=0.0)
    scores: dict[int, tuple[float, float]] = {}
    for cid in d.keys() | lx.keys():
        dv, lv = d.get(cid, d_floor), lx.get(cid, lx_floor)
        in_head = dense_weight * (max(dv, 0.0) if cid in d_head else 0.0) + lexical_weight * (
            max(lv, 0.0) if cid in lx_head else 0.0
        )
        scores[cid] = (in_head, dense_weight * dv + lexical_weight * lv)
    ranked = sorted(scores.items(), key=lambda item: (-item[1][0], -item[1][1], item[0]))
    return [(cid, score) for cid, (score, _) in ranked]


def _top(scored: Scored, normalised: dict[int, float] | None, head: int | None) -> float:
    """The highest normalised score in the head (1 for a list min-max normalises)."""
    if normalised is None:
        return 1.0
    return max(normalised[cid] for cid, _ in (scored[:head] if head else scored))


def minmax(scored: Scored, head: int | None = None, top: float = 1.0) -> dict[int, float]:
    """Scores rescaled to [0, ``top``] within the list (all ``top`` when they are
    equal); with ``head``, the bounds come from the first ``head`` entries only and the
    rest are mapped the same way (to 0 or below), so a longer list changes none of the
    head's values."""
    if not scored:
        return {}
    values = [s for _, s in scored[:head]] if head else [s for _, s in scored]
    low, high = min(values), max(values)
    if high - low < 1e-12:
        return {i: top if s >= high else min(0.0, s - low) for i, s in scored}
    return {i: top * (s - low) / (high - low) for i, s in scored}


def fuse(
    dense: Scored,
    lexical: Scored,
    dense_weight: float,
    lexical_weight: float,
    head: int | None = None,
) -> list[tuple[int, float]]:
    """Weighted sum of min-max normalised scores; a chunk missing from a list gets 0
    there. Ties break by chunk id, so a ranking is reproducible.

    With ``head``, each list is normalised over its first ``head`` entries and a
    chunk below them gets 0 from that list, as a missing one does: a chunk's fused
    score then does not depend on how deep the lists were fetched, so the first
    results are the same whatever ``k`` is asked. Chunks in neither head (fused
    score 0) follow, ordered by their unclipped scores."""
    d, lx = minmax(dense, head), minmax(lexical, head)
    if not dense:
        dense_weight, lexical_weight = 0.0, 1.0
    elif not lexical:
        dense_weight, lexical_weight = 1.0, 0.0
    return _weighted_sum(dense, lexical, d, lx, dense_weight, lexical_weight, head)


FUSION_METHODS = ("rrf-union", "minmax-union", "rrf", "minmax", "zscore")
UNION_METHODS = ("rrf-union", "minmax-union", "rrf")
MULTILINGUAL_METHODS = ("zscore", "minmax")
"""The multilingual path fuses its heads only (its lexical side is weighted per term)."""


def ranks(scores: dict[int, float]) -> dict[int, int]:
    """1-based rank of each chunk by score, best first; ties break by chunk id."""
    ordered = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return {cid: rank for rank, (cid, _) in enumerate(ordered, 1)}


def fuse_union(
    dense: dict[int, float],
    lexical: dict[int, float],
    dense_weight: float,
    lexical_weight: float,
    *,
    method: str = "minmax-union",
    rrf_k: int = 60,
) -> list[tuple[int, float]]:
    """Fuse candidates that carry both signals: ``dense`` holds every candidate's
    cosine, ``lexical`` the BM25 of those that match a query term (a chunk absent
    from ``lexical`` matches none, a real 0 rather than an unknown).

    ``minmax-union``: both signals min-max normalised over the candidates (BM25 0 for
    a non-matching chunk), weighted sum: a chunk BM25 scores far above the rest keeps
    that lead, whatever the vector side thought of it. ``rrf-union``: w_d / (rrf_k +
    dense rank) + w_l / (rrf_k + BM25 rank), ranks within the candidates, no BM25 term
    for a chunk matching no word, scaled so that first on both signals scores 1; it
    sees ranks only, so chunks middling on both sides can outrank BM25's clear first.
    Ties break by chunk id."""
    ids = dense.keys() | lexical.keys()
    if not ids:
        return []
    if method == "minmax-union":
        d = minmax(list(dense.items()))
        lx = minmax([(cid, lexical.get(cid, 0.0)) for cid in ids])
        scores = {
            cid: dense_weight * d.get(cid, 0.0) + lexical_weight * lx.get(cid, 0.0) for cid in ids
        }
    elif method in ("rrf-union", "rrf"):
        d_rank = ranks(dense)
        lx_rank = ranks({cid: s for cid, s in lexical.items() if s > 0})
        scale = (rrf_k + 1) / max(dense_weight + lexical_weight, 1e-12)
        scores = {
            cid: scale
            * (
                (dense_weight / (rrf_k + d_rank[cid]) if cid in d_rank else 0.0)
                + (lexical_weight / (rrf_k + lx_rank[cid]) if cid in lx_rank else 0.0)
            )
            for cid in ids
        }
    else:
        raise ValueError(f"unknown fusion method {method!r}; one of {', '.join(FUSION_METHODS)}")
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def merge_lexical(*lists: Scored) -> list[tuple[int, float]]:
    """One BM25 list from lists over disjoint term sets (words, CJK bigrams): BM25 is
    a sum over query terms, so a chunk's scores add up."""
    total: dict[int, float] = {}
    for scored in lists:
        for cid, score in scored:
            total[cid] = total.get(cid, 0.0) + score
    return sorted(total.items(), key=lambda item: (-item[1], item[0]))


def lift_pages(hits: Sequence[Hit], share: float) -> list[Hit]:
    """``hits`` (fused order) with each page's best chunk scored its own fused score
    plus ``share`` times the page's second-best chunk's, re-sorted by score (stable:
    equal scores keep their order). Other chunks keep their place and score, so a
    page's second chunk never comes before its first."""
    first: dict[tuple[str, str], int] = {}
    second: dict[int, float] = {}
    for position, hit in enumerate(hits):
        key = (hit.source, hit.doc_id)
        if key not in first:
            first[key] = position
        elif first[key] not in second:
            second[first[key]] = hit.score
    out = [
        replace(hit, score=hit.score + share * second[p]) if p in second else hit
        for p, hit in enumerate(hits)
    ]
    return sorted(out, key=lambda hit: -hit.score)
