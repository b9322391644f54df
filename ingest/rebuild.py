"""Rebuilding the index beside the live one, and switching to it in one transaction.

Why: a rebuild (a new embedding model, a new way of cutting pages, or
``docbot sync --rebuild``) that emptied the live index first would leave questions
answered from a fraction of the docs while it runs, and for good if it is killed.
Instead every source is written into a new generation (``ingest/store/generations.py``)
while questions keep reading the complete old one; only when every source has been
rebuilt does :meth:`Store.switch_build` make the new one live, in one transaction.

- Every source's sync lock is held for the whole rebuild, so no plain sync changes
  the live index (or a cursor) under it; a scheduled sync meanwhile is ``skipped``.
- Sources in the live index that are not being rebuilt (no longer configured, or
  not asked for) are carried over as they are stored, re-embedded only if the model
  changed, so a rebuild never loses what a plain sync would have kept.
- A document that cannot be read during a rebuild keeps its last good version,
  as in a plain sync; a source that fails, or would lose more documents than the
  mass-deletion guard allows, stops the switch: the old index stays live, and the
  documents built so far stay for the next rebuild, which resumes there (documents
  already built are skipped, their vectors reused) if the embedding model is the
  same, or starts afresh with another.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence

from ingest.chunking import split_markdown
from ingest.embedding import Embedder
from ingest.errors import DocbotError
from ingest.indexing import index_source, record_run
from ingest.locks import SourceBusy
from ingest.models import Chunk, Document
from ingest.runs import DeleteGuard, Progress, SyncReport
from ingest.sources import Scan, Source
from ingest.store import StoreContract
from ingest.store.generations import BuiltSource, IndexWriter

log = logging.getLogger(__name__)

CARRY_BATCH = 200


class StoredSource(Source):
    """A source read back from the live index: how a rebuild carries over documents
    it cannot (or was not asked to) read from their origin."""

    def __init__(self, name: str, live: IndexWriter, cursor: str | None) -> None:
        self.name = name
        self.live = live
        self.cursor = cursor
        self._chunks: dict[str, list[Chunk]] = {}

    def scan(self, cursor: str | None = None, *, full: bool = False) -> Scan:
        ids = sorted(self.live.document_shas(self.name))
        return Scan(documents=self._documents(ids), total=len(ids), cursor=self.cursor)

    def _documents(self, ids: list[str]) -> Iterator[Document]:
        for start in range(0, len(ids), CARRY_BATCH):
            for doc, chunks in self.live.stored_documents(
                self.name, ids[start : start + CARRY_BATCH]
            ):
                self._chunks[doc.doc_id] = chunks
                yield doc

    def chunks(self, doc: Document) -> list[Chunk]:
        """The stored chunks of ``doc`` (the chunker of this source)."""
        return self._chunks.pop(doc.doc_id, [])


def rebuild_index(
    store: StoreContract,
    sources: Sequence[Source],
    embedder: Embedder,
    *,
    progress: Progress | None = None,
    chunker: Callable[[Document], list[Chunk]] = split_markdown,
    guard: DeleteGuard | None = None,
    pii: bool = False,
) -> list[SyncReport]:
    """Rebuild ``sources`` beside the live index and switch when all succeeded.

    Returns one report per source (``rebuild`` set), then one per source carried
    over. Never raises for source or store faults; a busy source skips the rebuild.
    """
    guard = guard or DeleteGuard()
    names = [s.name for s in sources]
    others = [n for n in sorted(store.source_counts()) if n not in names]
    try:
        with store.source_locks([*names, *others]):
            return _rebuild_locked(store, sources, others, embedder, progress, chunker, guard, pii)
    except SourceBusy as exc:
        return [SyncReport(source=n, rebuild=True, skipped=str(exc)) for n in names]


def _rebuild_locked(
    store: StoreContract,
    sources: Sequence[Source],
    others: list[str],
    embedder: Embedder,
    progress: Progress | None,
    chunker: Callable[[Document], list[Chunk]],
    guard: DeleteGuard,
    pii: bool = False,
) -> list[SyncReport]:
    try:
        build, resumed = store.begin_build(embedder.model_id)
    except DocbotError as exc:
        return [SyncReport(source=s.name, rebuild=True, error=str(exc)) for s in sources]
    if resumed:
        log.info("resuming the rebuild of the index (%s)", store.build_state())
    reports = [
        index_source(store, source, embedder, build, rebuild=True, progress=progress,
                     chunker=chunker, guard=guard, pii=pii)
        for source in sources
    ]  # fmt: skip
    for name in others:
        carried = StoredSource(name, store, store.get_cursor(name))
        report = index_source(store, carried, embedder, build, rebuild=True, progress=progress,
                              chunker=carried.chunks, guard=guard)  # fmt: skip
        report.chunking = None  # carried as cut before: its signature stays as it is
        reports.append(report)
    blocking = [r for r in reports if r.needs_attention]
    reason = None
    if blocking:
        first = blocking[0]
        reason = (
            f"the new index was not switched in because source {first.source!r} "
            f"{'failed' if first.error else 'was held'}; answers still come from the previous "
            "index. The documents rebuilt so far are kept: fix that source and run "
            "`docbot sync --rebuild` again to resume."
        )
    else:
        try:
            store.switch_build(
                {r.source: BuiltSource(r.cursor, r.chunking) for r in reports[: len(sources)]}
            )
        except DocbotError as exc:
            reason = f"the new index could not be switched in: {exc}"
    for report in reports:
        if reason and not report.needs_attention:
            report.error = reason
        record_run(store, report, install=False, reason=reason if reason else None)
    if reason:
        log.warning("rebuild not switched: %s", reason)
    else:
        log.info("rebuilt index switched in (%d sources)", len(reports))
    return reports
