"""When a cached answer may be served: only if the question would retrieve the same
sources now, and never one made from an incomplete index.

The answer cache (``bot/answer_cache.py``) already refuses an entry once a chunk it
cited changed. That misses the other way an answer goes wrong: a sync adds or changes
*another* page that now answers the question better (or a page the question should
have found was missing when the answer was made: a first sync half-way, a rebuild
that wiped the index). So, separately from how entries are keyed and stored:

1. **Stamps.** Every source has a generation in the store that moves on with each
   write adding, changing or deleting one of its documents (and with every switch to
   a rebuilt index). An entry remembers the stamp of its *scope* (the sources the
   question may draw on; all of them unless the caller narrows it) at the moment the
   answer was started.
2. **Lookups.** An entry whose stamp is still current is served. One whose stamp
   moved on is served only after retrieval, run again, returns the same passages
   (same chunks, same text) the answer was made from; then it is re-stamped. Else it
   is stale: a page that now ranks among them may change the answer. Retrieval
   costs milliseconds; the model call it saves costs seconds.
3. **Storing.** An answer is cached only if every source in its scope had completed
   a sync when it was made (``Store.incomplete_sources``: none is in a first sync, or
   stopped before finishing one) and the stamp did not move while it was being made.

The hit-rate cost of the rule on a replayed question log is in docs/BENCHMARKS.md
(``scripts/bench_cache.py``).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence

from ingest.models import Hit
from ingest.store import StoreContract

Scope = Collection[str] | None
"""The sources an answer may draw on; ``None``: every source in the store."""


class Freshness:
    """Stamps of the store's state per scope, and whether an index is complete."""

    def __init__(self, store: StoreContract) -> None:
        self.store = store

    def stamp(self, scope: Scope = None) -> str:
        """The generations of the sources in ``scope``, as one comparable string."""
        generations = self.store.source_generations()
        names = sorted(generations if scope is None else set(scope))
        return json.dumps([[name, generations.get(name, 0)] for name in names])

    def complete(self, scope: Scope = None) -> bool:
        """False while any source in ``scope`` is only partly indexed."""
        incomplete = self.store.incomplete_sources()
        return not (incomplete if scope is None else incomplete & set(scope))

    def cacheable(self, stamp: str, scope: Scope = None) -> bool:
        """May an answer started at ``stamp`` be cached now (rule 3)?"""
        return self.complete(scope) and self.stamp(scope) == stamp


def same_passages(given: Sequence[Hit], now: Sequence[Hit]) -> bool:
    """True when retrieval now returns the passages an answer was made from: the same
    chunks with the same text and page (their order may differ: the cached answer
    keeps its own numbering)."""

    def key(hits: Sequence[Hit]) -> set[tuple[int, str, str, str]]:
        return {(h.chunk_id, h.text, h.url, h.title) for h in hits}

    return bool(given) and len(given) == len(now) and key(given) == key(now)
