"""Fusion that measures how far a candidate stands out of its own list (``zscore``).

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

import numpy as np

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


def _minmax(scored: Scored, head: int | None, top: float) -> dict[int, float]:
    """Min-max over the head (as ``bot.retrieve.minmax``), scaled so the first is ``top``."""
    if not scored:
        return {}
    values = [s for _, s in (scored[:head] if head else scored)]
    low, high = min(values), max(values)
    if high - low < 1e-12:
        return {cid: top if s >= high else min(0.0, s - low) for cid, s in scored}
    return {cid: top * (s - low) / (high - low) for cid, s in scored}


def fuse_zscore(
    dense: Scored,
    lexical: Scored,
    dense_weight: float,
    lexical_weight: float,
    head: int | None = None,
) -> list[tuple[int, float]]:
    """Weighted sum of ``spread`` scores (module docstring); a chunk missing from a
    list, or below its head, gets 0 there. Ties break by chunk id. As in
    ``bot.retrieve.fuse``, chunks in neither head follow (score 0), ordered by their
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
    d = d_spread if d_spread is not None else _minmax(dense, head, lx_top)
    lx = lx_spread if lx_spread is not None else _minmax(lexical, head, d_top)
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
