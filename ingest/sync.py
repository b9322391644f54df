"""Sync one source into the store: list, diff by content hash, embed only what
changed, replace each document in one transaction, prune what disappeared, record
the run.

Safety rules, in order of importance:
- What was stored before survives any failure. Each document is replaced in its
  own transaction; pruning happens only after a complete scan; a source that
  fails (unreachable, bad credentials) prunes nothing.
- A second run over unchanged documents embeds nothing: unchanged documents are
  skipped by hash, and chunks whose text is already in the store reuse their
  vectors (``Store.cached_vectors``).
- The incremental cursor advances only after a successful run.
- A document is re-chunked when the way documents are cut changed (a new release's
  chunk size or overlap, ``chunking.signature``): the first sync after such a change
  scans the whole source and re-chunks every page, embedding only chunk texts not
  already stored, and the new signature is kept once that sync succeeds.

Chunks of several documents are embedded together (``EMBED_BATCH_CHUNKS``), since
the local model is several times faster on full batches than on one small page.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from ingest.chunking import LEGACY_SIGNATURE, signature, split_markdown
from ingest.embedding import Embedder
from ingest.errors import DocbotError
from ingest.locks import SourceBusy, source_lock
from ingest.models import Chunk, Document
from ingest.redact import kinds_summary, redact_document
from ingest.sources import Source
from ingest.store import Store

log = logging.getLogger(__name__)

EMBED_BATCH_CHUNKS = 512


class Progress(Protocol):
    """What sync reports to a progress bar (the CLI's, or none)."""

    def start(self, source: str, total: int | None) -> None: ...

    def advance(self, documents: int) -> None: ...

    def finish(self) -> None: ...


@dataclass
class SyncReport:
    """Per-source outcome; its dict form is the ``sync --json`` contract."""

    source: str
    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    failed: int = 0
    chunks_embedded: int = 0
    access_changed: int = 0
    secrets_removed: int = 0
    """Secret-shaped strings replaced by a marker before indexing (``ingest/redact.py``)."""
    """Unchanged documents whose readers changed (a restriction added or lifted)."""
    seconds: float = 0.0
    error: str | None = None
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.error:
            return "failed"
        return "partial" if self.failures else "ok"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failures"] = [{"doc_id": d, "error": e} for d, e in self.failures]
        data["status"] = self.status
        data["seconds"] = round(self.seconds, 3)
        return data


@dataclass
class _Pending:
    doc: Document
    chunks: list[Chunk]
    is_new: bool


class _Writer:
    """Buffers changed documents so their chunks are embedded in large batches."""

    def __init__(self, store: Store, embedder: Embedder, report: SyncReport) -> None:
        self.store, self.embedder, self.report = store, embedder, report
        self.pending: list[_Pending] = []
        self.size = 0

    def add(self, doc: Document, chunks: list[Chunk], is_new: bool) -> None:
        self.pending.append(_Pending(doc, chunks, is_new))
        self.size += len(chunks)
        if self.size >= EMBED_BATCH_CHUNKS:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        chunks = [c for p in self.pending for c in p.chunks]
        cached = self.store.cached_vectors(c.sha for c in chunks)
        missing: dict[str, str] = {}
        for chunk in chunks:
            if chunk.sha not in cached:
                missing.setdefault(chunk.sha, chunk.embed_text)
        if missing:
            vectors = self.embedder.embed(list(missing.values()))
            self.store.bind_embedder(self.embedder.model_id, int(vectors.shape[1]))
            for sha, vector in zip(missing, vectors, strict=True):
                cached[sha] = vector.tobytes()
            self.report.chunks_embedded += len(missing)
        for item in self.pending:
            self.store.replace_document(item.doc, item.chunks, [cached[c.sha] for c in item.chunks])
            if item.is_new:
                self.report.added += 1
            else:
                self.report.updated += 1
        self.pending, self.size = [], 0


def sync_source(
    store: Store,
    source: Source,
    embedder: Embedder,
    *,
    full: bool = False,
    progress: Progress | None = None,
    chunker: Callable[[Document], list[Chunk]] = split_markdown,
    pii: bool = False,
) -> SyncReport:
    """Bring the store up to date with ``source``; never raises for source faults.
    Secrets (and with ``pii`` personal data) are removed from every document first.

    A per-source lock file next to the store keeps a manual ``docbot sync`` and the
    scheduler from syncing the same source at once; a busy source is skipped and
    not recorded as a failed run.
    """
    try:
        with source_lock(store.path, source.name):
            return _sync_locked(store, source, embedder, full, progress, chunker, pii)
    except SourceBusy as exc:
        return SyncReport(source=source.name, error=str(exc))


def _sync_locked(
    store: Store,
    source: Source,
    embedder: Embedder,
    full: bool,
    progress: Progress | None,
    chunker: Callable[[Document], list[Chunk]],
    pii: bool = False,
) -> SyncReport:
    report = SyncReport(source=source.name)
    started = time.monotonic()
    run_id = store.start_run(source.name)
    cursor: str | None = None
    chunking_key, chunking = f"chunking:{source.name}", signature(chunker)
    try:
        store.check_embedder(embedder.model_id)
        existing = store.document_shas(source.name)
        stored = store.get_meta(chunking_key) or LEGACY_SIGNATURE
        rechunk = bool(existing) and chunking is not None and stored != chunking
        if rechunk:
            log.info("source %s: chunking changed; re-chunking every document", source.name)
            existing = {doc_id: "" for doc_id in existing}  # nothing matches: all re-chunked
        full = full or rechunk
        scan = source.scan(None if full else store.get_cursor(source.name), full=full)
        if progress:
            progress.start(source.name, scan.total)
        writer = _Writer(store, embedder, report)
        seen: set[str] = set()
        access = {}  # readers of unchanged documents, which may change on their own
        for doc in scan.documents:
            seen.add(doc.doc_id)
            doc, removed = redact_document(doc, pii=pii)
            if removed:
                report.secrets_removed += len(removed)
                log.warning("source %s: %s: removed %s before indexing; fix the page",
                            source.name, doc.doc_id, kinds_summary(removed))  # fmt: skip
            if existing.get(doc.doc_id) == doc.sha:
                report.unchanged += 1
                access[doc.doc_id] = doc.access
            else:
                writer.add(doc, chunker(doc), is_new=doc.doc_id not in existing)
            if progress:
                progress.advance(1)
        writer.flush()
        report.access_changed = store.set_access(source.name, {**scan.access, **access})
        cursor = scan.cursor  # read after the scan: a source may hold it back for failed pages
        failed_ids = {doc_id for doc_id, _ in scan.failures}
        present = scan.all_ids if scan.all_ids is not None else seen
        present = present | failed_ids
        if scan.all_ids is not None:
            # Incremental scans only yield changed documents; the rest are unchanged.
            report.unchanged += len(present & set(existing) - seen - failed_ids)
        gone = sorted(set(existing) - present)
        store.delete_documents(source.name, gone)
        report.deleted = len(gone)
        report.failures = list(scan.failures)
        report.failed = len(scan.failures)
    except DocbotError as exc:
        report.error = str(exc)
    except Exception as exc:  # a sync must end recorded, whatever broke
        log.exception("sync of source %s crashed", source.name)
        report.error = f"internal error: {type(exc).__name__}: {exc}"
    finally:
        if progress:
            progress.finish()
    report.seconds = time.monotonic() - started
    if chunking is not None and report.status in ("ok", "partial"):
        store.set_meta(chunking_key, chunking)
    store.finish_run(
        run_id,
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
        cursor=cursor,
    )
    return report
