"""Moving up: copy the SQLite store into another store (``docbot migrate --to URL``).

What is copied, through the store contract only (so any backend can be the target):
every source's documents with their chunks, access and *stored vectors* (nothing is
re-embedded), the embedding model they were built with, each source's chunking
signature (so the next sync does not re-chunk), its sync-run history with the
documents each run changed (replayed in order, which also installs its cursor and its
last success), and the bot's answer records, votes and threads (follow-ups in threads
answered before the move still need no mention). Not copied: the answer cache (chunk
ids change, so every entry would be stale; it refills) and Slack event claims (kept
minutes; a replica answering now claims anew), nor an unfinished rebuild (only the
live index is copied; run ``docbot sync --rebuild`` again on the target).

Safety: the source is only read. Both stores' sync locks of every source are held
while copying, so no sync changes either side half-way. A target that already holds
anything is refused unless ``force``; with it the copy makes the target's documents
of each copied source equal the source's (documents whose content hash already
matches are skipped, so re-running a killed migration resumes where it stopped, and a
second run copies nothing), and history is replayed only for sources whose target has
none (so re-running never doubles it). A target bound to another embedding model is
refused (``EmbedderMismatch``). Replayed runs keep their outcomes, counts, errors and
changes; their times are the migration's (the contract writes runs as they happen).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from ingest.errors import ConfigError, InputError, StoreError
from ingest.settings import POSTGRES_SCHEMES, Settings
from ingest.store import StoreContract, open_store
from ingest.store.contract import ExportableStore
from ingest.store.history import SyncRun

ANSWER_OUTCOMES = ("answered", "abstained", "failed")
"""Every outcome an answer row may have (``bot/records.py``): all of them are copied."""
SQLITE_SCHEME = "sqlite:///"
ALL_RUNS = 1_000_000
"""``recent_runs`` limit that reads a source's whole history."""


class MigrateProgress(Protocol):
    """What a migration reports as it copies (the CLI's progress, or none)."""

    def start(self, source: str, total: int) -> None: ...

    def update(self, source: str, documents: int, chunks: int) -> None: ...

    def finish(self) -> None: ...


@dataclass
class SourceCopy:
    """What was copied of one source."""

    source: str
    documents: int = 0
    chunks: int = 0
    unchanged: int = 0
    """Already in the target with the same content hash (a resumed or repeated run)."""
    deleted: int = 0
    """In the target but no longer in the source (only with ``force``)."""
    runs: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "documents": self.documents, "chunks": self.chunks,
            "unchanged": self.unchanged, "deleted": self.deleted, "runs": self.runs,
        }  # fmt: skip


@dataclass
class MigrationReport:
    """``docbot migrate``'s summary (``--json`` prints :meth:`as_dict`)."""

    source: str
    target: str
    backend: str
    embed_model: str | None = None
    sources: list[SourceCopy] = field(default_factory=list)
    answers: int = 0
    feedback: int = 0
    threads: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.source, "to": self.target, "backend": self.backend,
            "embed_model": self.embed_model, "sources": [s.as_dict() for s in self.sources],
            "answers": self.answers, "feedback": self.feedback, "threads": self.threads,
            "seconds": round(self.seconds, 2),
        }  # fmt: skip


def target_settings(settings: Settings, url: str) -> Settings:
    """The settings that open ``url``: ``postgresql://…`` (or ``postgres://…``), or
    ``sqlite:///PATH`` for another SQLite file (``sqlite:////abs/path`` is absolute)."""
    url = url.strip()
    if url.startswith(POSTGRES_SCHEMES):
        return replace(settings, database_url=url)
    if url.startswith(SQLITE_SCHEME) and len(url) > len(SQLITE_SCHEME):
        return replace(settings, database_url=None, db_path=Path(url[len(SQLITE_SCHEME) :]))
    raise ConfigError(
        f"--to {url!r}: give a postgresql://USER:PASSWORD@HOST/DB URL "
        "(or sqlite:///PATH for another SQLite file)"
    )


def open_target(settings: Settings, url: str) -> StoreContract:
    """The store ``--to URL`` names, opened the way ``open_store`` opens any store (so an
    unreachable server or a missing driver is the same one line as for the bot)."""
    return open_store(target_settings(settings, url))


def open_source(settings: Settings) -> ExportableStore:
    """The SQLite store ``DOCBOT_DB``, which must exist (an empty one is not made)."""
    from ingest.store import Store

    path = settings.db_path
    if not path.is_file():
        raise InputError(
            f"the SQLite store {path} does not exist; set DOCBOT_DB to the file to migrate"
        )
    return Store(path)


def target_is_empty(target: StoreContract) -> bool:
    return (
        target.document_count() == 0
        and target.embed_model is None
        and not target.last_runs()
        and not target.outcome_counts("")
    )


def migrate(
    source: ExportableStore,
    target: StoreContract,
    *,
    force: bool = False,
    progress: MigrateProgress | None = None,
) -> MigrationReport:
    """Copy ``source`` into ``target`` (see the module doc); the source is only read."""
    started = time.perf_counter()
    if source.backend == target.backend and source.location == target.location:
        raise InputError(f"--to names the store being migrated ({source.location}) itself")
    stats = source.stats()
    report = MigrationReport(
        source=source.location, target=target.location, backend=target.backend,
        embed_model=stats["embed_model"],
    )  # fmt: skip
    model, dim = stats["embed_model"], stats["embed_dim"]
    if model is not None:  # another model's vectors: refused, --force or not
        target.check_embedder(model, int(dim) if dim is not None else None)
    if not force and not target_is_empty(target):
        raise InputError(
            f"the target store {target.location} is not empty; docbot migrate copies into "
            "an empty store. Re-run with --force to make its documents equal this store's "
            "(it skips those already copied, so it also resumes a migration that stopped)"
        )
    names = sorted(set(source.source_names()) | set(source.last_runs()))
    with source.source_locks(names), target.source_locks(names):
        if model is not None and dim is not None:
            target.bind_embedder(model, int(dim))
        for name in names:
            report.sources.append(_copy_source(source, target, name, force, progress))
        report.answers = _copy_answers(source, target)
        report.feedback, report.threads = _copy_feedback_and_threads(source, target)
    if progress is not None:
        progress.finish()
    if any(s.documents or s.deleted for s in report.sources):
        target.refresh_vector_plan()
    report.seconds = time.perf_counter() - started
    return report


def _copy_source(
    source: ExportableStore,
    target: StoreContract,
    name: str,
    force: bool,
    progress: MigrateProgress | None,
) -> SourceCopy:
    copy = SourceCopy(name)
    existing = target.document_shas(name)
    if progress is not None:
        progress.start(name, source.count(name))
    seen: set[str] = set()
    access = {}
    for doc, chunks, vectors in source.export_documents(name):
        seen.add(doc.doc_id)
        if existing.get(doc.doc_id) == doc.sha:
            copy.unchanged += 1
            access[doc.doc_id] = doc.access  # who may read it may have changed since
        else:
            if any(not v for v in vectors):
                raise StoreError(
                    f"{name}: {doc.doc_id} has chunks without vectors in {source.location}; "
                    "run `docbot sync` (or `docbot sync --rebuild`) on it first"
                )
            target.replace_document(doc, chunks, vectors)
            copy.documents += 1
            copy.chunks += len(chunks)
        if progress is not None:
            progress.update(name, copy.documents + copy.unchanged, copy.chunks)
    if access:
        target.set_access(name, access)
    stale = sorted(set(existing) - seen)
    if stale:  # only reachable with force: an empty target has no documents
        target.delete_documents(name, stale)
        copy.deleted = len(stale)
    chunking = source.get_meta(f"chunking:{name}")
    if chunking is not None:
        target.set_meta(f"chunking:{name}", chunking)
    if not target.recent_runs(name, 1, changes=False):
        runs = source.recent_runs(name, ALL_RUNS, changes=True)
        cursor = source.get_cursor(name)
        for run in reversed(runs):  # oldest first, as they happened
            _replay(target, run, cursor)
        copy.runs = len(runs)
    return copy


def _replay(target: StoreContract, run: SyncRun, cursor: str | None) -> None:
    """Write one finished run again. A run still ``running`` in the source belongs to a
    process that died (its lock is held by this migration): it becomes ``interrupted``."""
    run_id = target.start_run(run.source, run.kind)
    if run.status in ("running", "interrupted"):
        target.mark_interrupted(
            run_id, run.reason or "its process ended before the run did (killed or crashed)"
        )
        return
    counts = {
        "added": run.added, "updated": run.updated, "deleted": run.deleted,
        "unchanged": run.unchanged, "failed": run.failed, "chunks_embedded": run.chunks_embedded,
    }  # fmt: skip
    target.finish_run(
        run_id, status=run.status, counts=counts, seconds=run.seconds or 0.0, error=run.error,
        failures=run.failures, cursor=cursor, reason=run.reason, changes=run.changes,
    )  # fmt: skip


def _copy_answers(source: StoreContract, target: StoreContract) -> int:
    """Answer rows keep their ids, so a repeated copy replaces them (never doubles)."""
    rows: Sequence[dict[str, Any]] = source.answers_since("", ANSWER_OUTCOMES)
    for row in rows:
        target.save_answer(row)
    return len(rows)


def _copy_feedback_and_threads(source: ExportableStore, target: StoreContract) -> tuple[int, int]:
    votes = source.export_feedback()
    for record, channel, message_ts in votes:  # one vote per user and answer: idempotent
        target.save_feedback(record, channel=channel, message_ts=message_ts)
    threads = source.export_threads()
    for channel, thread_ts, kind, created_at in threads:  # a noted thread keeps its kind
        target.remember_thread(channel, thread_ts, kind, created_at)
    return len(votes), len(threads)
