"""One pass of one source into one index generation: list, diff by content hash,
embed only what changed, replace each document in one transaction, prune (unless the
mass-deletion guard holds it), and say what was done.

The same pass serves a plain sync (into the live index) and a rebuild (into the
generation being built beside it, ``ingest/rebuild.py``). Two comparisons are kept
apart for that: what to *write* is decided against the target (so a resumed rebuild
skips the documents it already built, reusing their vectors), and what is *reported*
(added, updated, deleted, unchanged) against what users see, the live index.

Safety rules, in order of importance:
- What was stored before survives any failure. Each document is replaced in its
  own transaction; pruning happens only after a complete scan; a source that
  fails (unreachable, bad credentials) prunes nothing, and neither does one that
  would lose more than a share of its documents (:class:`~ingest.runs.DeleteGuard`).
- A second run over unchanged documents embeds nothing: unchanged documents are
  skipped by hash, and chunks whose text is already in the store reuse their
  vectors (``cached_vectors``).
- The incremental cursor advances only after a run that read the whole source.

Chunks of several documents are embedded together (``EMBED_BATCH_CHUNKS``), since
the local model is several times faster on full batches than on one small page.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from ingest.chunking import signature
from ingest.embedding import Embedder
from ingest.errors import DocbotError
from ingest.models import Chunk, Document
from ingest.redact import kinds_summary, redact_document
from ingest.runs import DeleteGuard, Progress, ProgressTracker, SyncReport
from ingest.sources import Source
from ingest.store import StoreContract
from ingest.store.generations import IndexWriter

log = logging.getLogger(__name__)

EMBED_BATCH_CHUNKS = 128
MAX_CHANGES_RECORDED = 2000
"""Documents listed per change kind and run (the counts are always complete)."""


@dataclass
class _Pending:
    doc: Document
    chunks: list[Chunk]
    carried: bool


class _Writer:
    """Buffers changed documents so their chunks are embedded in large batches."""

    def __init__(
        self,
        target: IndexWriter,
        embedder: Embedder,
        report: SyncReport,
        tracker: ProgressTracker,
        before: dict[str, str],
    ) -> None:
        self.target, self.embedder, self.report = target, embedder, report
        self.tracker, self.before = tracker, before
        self.pending: list[_Pending] = []
        self.size = 0

    def add(self, doc: Document, chunks: list[Chunk], *, carried: bool = False) -> None:
        self.pending.append(_Pending(doc, chunks, carried))
        self.size += len(chunks)
        self.tracker.state.chunks_pending += len(chunks)
        if self.size >= EMBED_BATCH_CHUNKS:
            self.flush()

    def _embedded(self, count: int) -> None:
        self.tracker.state.chunks_embedded += count
        self.tracker.state.chunks_ready += count
        self.tracker.changed(force=True)  # one write per embedding batch

    def flush(self) -> None:
        if not self.pending:
            return
        self.tracker.changed(force=True)  # a batch may take a while: status shows it now
        chunks = [c for p in self.pending for c in p.chunks]
        cached = self.target.cached_vectors(c.sha for c in chunks)
        missing: dict[str, str] = {}
        for chunk in chunks:
            if chunk.sha not in cached:
                missing.setdefault(chunk.sha, chunk.embed_text)
        state = self.tracker.state
        state.chunks_ready += sum(1 for c in chunks if c.sha in cached)
        if missing:
            vectors = self.embedder.embed(list(missing.values()), progress=self._embedded)
            for sha, vector in zip(missing, vectors, strict=True):
                cached[sha] = vector.tobytes()
            self.report.chunks_embedded += len(missing)
        if cached:
            dim = len(next(iter(cached.values()))) // 4
            self.target.bind_embedder(self.embedder.model_id, dim)
        for item in self.pending:
            doc = item.doc
            self.target.replace_document(doc, item.chunks, [cached[c.sha] for c in item.chunks])
            state.chunks_pending -= len(item.chunks)
            state.chunks_ready = max(state.chunks_ready - len(item.chunks), 0)
            state.chunks_done += len(item.chunks)
            if not item.carried:
                state.documents_done += 1
                if doc.doc_id not in self.before:
                    self.report.added += 1
                    _note(self.report, "added", doc.doc_id, doc.title)
                elif self.before[doc.doc_id] != doc.sha:
                    self.report.updated += 1
                    _note(self.report, "updated", doc.doc_id, doc.title)
                else:  # a rebuild re-writing a document users already had as it is
                    self.report.unchanged += 1
            self.tracker.changed()
        self.pending, self.size = [], 0


def _note(report: SyncReport, kind: str, doc_id: str, title: str | None, why: str = "") -> None:
    report.note(kind, doc_id, title, why or None, limit=MAX_CHANGES_RECORDED)


def index_source(
    store: StoreContract,
    source: Source,
    embedder: Embedder,
    target: IndexWriter,
    *,
    rebuild: bool = False,
    full: bool = False,
    progress: Progress | None = None,
    chunker: Callable[[Document], list[Chunk]],
    guard: DeleteGuard,
    pii: bool = False,
) -> SyncReport:
    """One pass of ``source`` into ``target``; never raises for source or store faults.
    Secrets (and with ``pii`` personal data) are removed from every document first.

    The caller holds the source's sync lock and records the run's end
    (:func:`record_run`), because a rebuild decides the outcome only at its switch.
    """
    live: IndexWriter = store
    report = SyncReport(source=source.name, rebuild=rebuild)
    report.chunking = signature(chunker)
    started = time.monotonic()
    report.run_id = store.start_run(source.name, "rebuild" if rebuild else "sync")
    tracker = ProgressTracker(
        store, report.run_id, source.name, "rebuild" if rebuild else "sync", progress
    )
    try:
        target.check_embedder(embedder.model_id)
        stored = target.document_shas(source.name)
        before = live.document_shas(source.name) if rebuild else stored
        full = full or rebuild
        scan = source.scan(None if full else store.get_cursor(source.name), full=full)
        tracker.start(scan.total)
        writer = _Writer(target, embedder, report, tracker, before)
        seen: set[str] = set()
        access = {}  # readers of unchanged documents, which may change on their own
        state = tracker.state
        documents = iter(scan.documents)
        while True:
            try:
                doc = next(documents)
            except StopIteration:
                break
            except Exception:  # the source broke off: keep what it gave before that
                writer.flush()
                raise
            seen.add(doc.doc_id)
            state.documents_seen += 1
            doc, removed = redact_document(doc, pii=pii)
            if removed:
                report.secrets_removed += len(removed)
                log.warning("source %s: %s: removed %s before indexing; fix the page",
                            source.name, doc.doc_id, kinds_summary(removed))  # fmt: skip
            if stored.get(doc.doc_id) == doc.sha:
                report.unchanged += 1
                access[doc.doc_id] = doc.access
                state.documents_done += 1
                tracker.changed()
            else:
                writer.add(doc, chunker(doc))
        writer.flush()
        report.access_changed = target.set_access(source.name, {**scan.access, **access})
        report.refused = list(scan.skipped)
        report.cursor = scan.cursor  # read after the scan: a source may hold it back
        failed_ids = {doc_id for doc_id, _ in scan.failures}
        present = (scan.all_ids if scan.all_ids is not None else seen) | failed_ids
        if scan.all_ids is not None:
            # Incremental scans only yield changed documents; the rest are unchanged.
            report.unchanged += len(present & set(before) - seen - failed_ids)
        report.failures = list(scan.failures)
        report.failed = len(scan.failures)
        for doc_id, why in scan.failures:
            _note(report, "failed", doc_id, None, why)
        if rebuild:  # what cannot be read now keeps its last good version
            keep = sorted(failed_ids & set(before) - set(target.document_shas(source.name)))
            for doc, chunks in live.stored_documents(source.name, keep):
                writer.add(doc, chunks, carried=True)
            writer.flush()
        _prune(report, live, target, source.name, before, present, guard, rebuild)
    except DocbotError as exc:
        report.error = str(exc)
    except Exception as exc:  # a sync must end recorded, whatever broke
        log.exception("sync of source %s crashed", source.name)
        report.error = f"internal error: {type(exc).__name__}: {exc}"
    finally:
        tracker.finish()
    report.seconds = time.monotonic() - started
    return report


def _prune(
    report: SyncReport,
    live: IndexWriter,
    target: IndexWriter,
    source: str,
    before: dict[str, str],
    present: set[str],
    guard: DeleteGuard,
    rebuild: bool,
) -> None:
    gone = sorted(set(before) - present)
    titles = live.titles(source, gone)
    held = guard.check(source, len(before), len(gone))
    if held:
        report.held, report.would_delete = held, len(gone)
        for doc_id in gone:
            _note(report, "held", doc_id, titles.get(doc_id))
        log.warning("source %s: %s", source, held)
        return
    stale = sorted(set(target.document_shas(source)) - present) if rebuild else gone
    target.delete_documents(source, stale)
    report.deleted = len(gone)
    for doc_id in gone:
        _note(report, "deleted", doc_id, titles.get(doc_id))


def record_run(
    store: StoreContract, report: SyncReport, *, install: bool = True, reason: str | None = None
) -> None:
    """Record the end of ``report``'s run (and, for a plain sync, its cursor and the
    chunking signature). A store that cannot record it (a full disk) turns the report
    into a failure instead of raising."""
    if report.run_id is None:
        return
    if install and report.chunking is not None and report.status in ("ok", "partial", "held"):
        try:
            store.set_meta(f"chunking:{report.source}", report.chunking)
        except DocbotError as exc:
            report.error = report.error or str(exc)
    try:
        store.finish_run(
            report.run_id,
            status=report.status,
            counts={
                "added": report.added,
                "updated": report.updated,
                "deleted": report.deleted,
                "unchanged": report.unchanged,
                "failed": report.failed,
                "chunks_embedded": report.chunks_embedded,
            },
            seconds=report.seconds,
            error=report.error,
            failures=report.failures,
            cursor=report.cursor,
            reason=reason or report.held,
            changes=report.changes,
            install_cursor=install,
        )
    except DocbotError as exc:
        report.error = report.error or str(exc)
