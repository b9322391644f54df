"""Keep the store in step with the sources: ``docbot sync``, the scheduler and
``docbot eval`` all come through here.

Per source, a plain sync lists the documents, embeds what changed and prunes what
vanished, in place (``ingest/indexing.py``), each document replaced in its own
transaction so the index is whole at every moment. A change that would rewrite every
document instead builds a new index beside the live one and switches to it at the
end (``ingest/rebuild.py``):

- ``rebuild=True`` (``docbot sync --rebuild``);
- a new way of cutting pages (``chunking.signature`` differs from the one the
  source was indexed with, e.g. after an upgrade);
- an unfinished rebuild for the configured embedding model (one that was killed):
  the next sync resumes it;
- a live index built by an earlier version of the configured embedder
  (``Embedder.rebuilds``: the same model reading passages differently, e.g. the local
  model's 256-token limit before it became 128): its vectors still serve questions
  while the new ones are built. Any other model's index is refused, as before.

Each source is synced under its store lock (``store.source_lock``: a lock file for
SQLite, ``ingest/locks.py``), so a manual
``docbot sync`` and the scheduler never sync the same source at once: the one that
finds it taken is ``skipped``, which is no failure. A run that would delete more
than ``DeleteGuard.share`` of a source's documents, or all of them, keeps them and is
``held`` unless the guard is lifted (``--allow-mass-delete``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from ingest.chunking import LEGACY_SIGNATURE, signature, split_markdown
from ingest.embedding import Embedder
from ingest.errors import DocbotError
from ingest.indexing import index_source, record_run
from ingest.locks import SourceBusy
from ingest.models import Chunk, Document
from ingest.multilingual import fill_after_sync
from ingest.rebuild import rebuild_index
from ingest.runs import DeleteGuard, Progress, SyncProgress, SyncReport
from ingest.sources import Source
from ingest.store import StoreContract

log = logging.getLogger(__name__)

__all__ = [
    "DeleteGuard",
    "Progress",
    "SyncProgress",
    "SyncReport",
    "needs_rebuild",
    "sync_source",
    "sync_sources",
]


def needs_rebuild(
    store: StoreContract, source: str, chunker: Callable[[Document], list[Chunk]]
) -> bool:
    """True when ``source``'s documents were cut differently than ``chunker`` cuts."""
    current = signature(chunker)
    if current is None or not store.count(source):
        return False
    return (store.get_meta(f"chunking:{source}") or LEGACY_SIGNATURE) != current


def sync_sources(
    store: StoreContract,
    sources: Sequence[Source],
    embedder: Embedder,
    *,
    full: bool = False,
    rebuild: bool = False,
    progress: Progress | None = None,
    chunker: Callable[[Document], list[Chunk]] = split_markdown,
    guard: DeleteGuard | None = None,
    pii: bool = False,
    multilingual: Embedder | None = None,
) -> list[SyncReport]:
    """Sync ``sources``, rebuilding beside the live index when asked or needed (see
    the module doc). One report per source, in order, then any carried over. Secrets
    (and with ``pii`` personal data) are removed from every document first. With a
    ``multilingual`` embedder, its vectors are filled once the English index is
    complete (``ingest/multilingual.py``)."""
    reports = _sync_sources(store, sources, embedder, full, rebuild, progress, chunker, guard, pii)
    if any(r.added or r.updated or r.deleted for r in reports):
        _measure_vectors(store)
    fill_after_sync(store, multilingual)
    return reports


def _measure_vectors(store: StoreContract) -> None:
    """Vectors changed: measure how well the coarse pass finds them now
    (``ingest/store/vector_plan.py``); a failure here only leaves the last plan."""
    try:
        plan = store.refresh_vector_plan()
    except Exception:
        log.warning("could not measure the vector search after a sync", exc_info=True)
        return
    log.info("vector search now: %s", plan.describe())


def _sync_sources(
    store: StoreContract,
    sources: Sequence[Source],
    embedder: Embedder,
    full: bool,
    rebuild: bool,
    progress: Progress | None,
    chunker: Callable[[Document], list[Chunk]],
    guard: DeleteGuard | None,
    pii: bool,
) -> list[SyncReport]:
    guard = guard or DeleteGuard()
    try:
        store.drop_retired()  # left behind if a process died right after a switch
    except DocbotError as exc:  # the syncs below will say what is wrong with the store
        log.warning("could not drop the retired index: %s", exc)
    state = store.build_state()
    upgrade = store.embed_model in embedder.rebuilds
    if upgrade and not rebuild:
        log.info(
            "the index was built by %s, an earlier version of %s: rebuilding it beside "
            "the live one", store.embed_model, embedder.model_id,
        )  # fmt: skip
    if rebuild or upgrade or (state is not None and state.embed_model == embedder.model_id):
        return rebuild_index(
            store, sources, embedder, progress=progress, chunker=chunker, guard=guard, pii=pii
        )
    changed = [s for s in sources if needs_rebuild(store, s.name, chunker)]
    rebuilt = (
        rebuild_index(
            store, changed, embedder, progress=progress, chunker=chunker, guard=guard, pii=pii
        )
        if changed
        else []
    )
    by_name = {r.source: r for r in rebuilt[: len(changed)]}
    reports = [
        by_name.get(source.name)
        or _sync_in_place(store, source, embedder, full, progress, chunker, guard, pii)
        for source in sources
    ]
    names = {s.name for s in sources}
    return [*reports, *(r for r in rebuilt[len(changed) :] if r.source not in names)]


def sync_source(
    store: StoreContract,
    source: Source,
    embedder: Embedder,
    *,
    full: bool = False,
    rebuild: bool = False,
    progress: Progress | None = None,
    chunker: Callable[[Document], list[Chunk]] = split_markdown,
    guard: DeleteGuard | None = None,
    pii: bool = False,
    multilingual: Embedder | None = None,
) -> SyncReport:
    """Bring the store up to date with ``source``; never raises for source faults."""
    return sync_sources(
        store, [source], embedder, full=full, rebuild=rebuild, progress=progress,
        chunker=chunker, guard=guard, pii=pii, multilingual=multilingual,
    )[0]  # fmt: skip


def _sync_in_place(
    store: StoreContract,
    source: Source,
    embedder: Embedder,
    full: bool,
    progress: Progress | None,
    chunker: Callable[[Document], list[Chunk]],
    guard: DeleteGuard,
    pii: bool = False,
) -> SyncReport:
    try:
        with store.source_lock(source.name):
            report = index_source(
                store, source, embedder, store, full=full, progress=progress,
                chunker=chunker, guard=guard, pii=pii,
            )  # fmt: skip
            record_run(store, report)
            return report
    except SourceBusy as exc:
        return SyncReport(source=source.name, skipped=str(exc))
