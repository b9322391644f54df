"""What one sync run is and says: its report, its progress, the mass-deletion guard,
and whether a run the store lists as running is still alive.

- :class:`SyncReport` is the per-source outcome; its dict form is the ``sync --json``
  contract (``source, added, updated, deleted, unchanged, chunks_embedded, seconds,
  error`` stay; everything else is added beside them).
- :class:`SyncProgress` is where a run has got to, in documents and in chunks (the
  work that takes time), with an estimate of the chunks still to come and an ETA.
  :class:`ProgressTracker` hands it to a progress bar and, every few seconds, to the
  store, so ``docbot status`` shows a running sync's progress from any process.
- :class:`DeleteGuard`: a source that suddenly lists much less than before (an
  unmounted volume, a wrong branch, a token that sees nothing) is far more likely
  broken than emptied on purpose, so a run that would delete more than a share of a
  source's documents (or all of them) keeps them and says why, unless told otherwise.
- :func:`settle_runs`: a run whose process died stays ``running`` in the store; if
  nobody holds its source's lock (or, when the lock cannot be checked, its process is
  gone) it is marked ``interrupted``, and it never blocks a new run.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from ingest.store import StoreContract
from ingest.store.history import CHANGE_KINDS, DocumentChange

log = logging.getLogger(__name__)

DEFAULT_MASS_DELETE_SHARE = 0.5
MASS_DELETE_MIN = 10
"""Below this many deletions only "all of them" is held: a small space losing three of
its five pages is ordinary housekeeping."""
PROGRESS_WRITE_SECONDS = 2.0


@dataclass
class SyncProgress:
    """How far one run has got. Chunks are the unit of work: embedding them is what
    takes the time, and one large page can hold hundreds."""

    source: str
    kind: str = "sync"
    documents_total: int | None = None
    documents_seen: int = 0
    """Read from the source so far."""
    documents_done: int = 0
    """Written to the index, or found unchanged."""
    chunks_pending: int = 0
    """Cut from changed documents, waiting for their embedding batch."""
    chunks_done: int = 0
    """Written to the index (embedded now, or their vectors reused)."""
    chunks_ready: int = 0
    """In the batch being embedded: vectors ready (made, or reused), not yet written."""
    chunks_embedded: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-6)

    def chunks_estimate(self) -> int:
        """Chunks this run will write in all: those known so far, plus as many per
        document still unread as the documents read so far had."""
        known = self.chunks_done + self.chunks_pending
        total, seen = self.documents_total, self.documents_seen
        if total and seen and total > seen:
            return known + round((total - seen) * known / seen)
        return known

    @property
    def chunks_progressed(self) -> int:
        """Chunks whose work is done: written, or with their vector ready to write."""
        return self.chunks_done + self.chunks_ready

    def eta_seconds(self) -> float | None:
        """Seconds left at the rate so far (chunks when there are any, else documents)."""
        estimate, progressed = self.chunks_estimate(), self.chunks_progressed
        if progressed and estimate > progressed:
            return (estimate - progressed) * self.elapsed / progressed
        total = self.documents_total
        if total and self.documents_done and total > self.documents_done:
            return (total - self.documents_done) * self.elapsed / self.documents_done
        if total is not None and self.documents_done >= total and not self.chunks_pending:
            return 0.0
        return None

    def as_dict(self) -> dict[str, Any]:
        eta = self.eta_seconds()
        return {
            "kind": self.kind,
            "documents_total": self.documents_total,
            "documents_seen": self.documents_seen,
            "documents_done": self.documents_done,
            "chunks_done": self.chunks_progressed,
            "chunks_estimate": self.chunks_estimate(),
            "chunks_embedded": self.chunks_embedded,
            "seconds": round(self.elapsed, 1),
            "eta_seconds": None if eta is None else round(eta, 1),
        }


class Progress(Protocol):
    """What a sync reports to a progress bar (the CLI's, or none)."""

    def start(self, source: str, total: int | None) -> None: ...

    def update(self, state: SyncProgress) -> None: ...

    def finish(self) -> None: ...


class ProgressTracker:
    """One run's :class:`SyncProgress`, shown on a bar and written to the store."""

    def __init__(
        self, store: StoreContract, run_id: int, source: str, kind: str, bar: Progress | None
    ) -> None:
        self.store, self.run_id, self.bar = store, run_id, bar
        self.state = SyncProgress(source=source, kind=kind)
        self._written = 0.0

    def start(self, total: int | None) -> None:
        self.state.documents_total = total
        if self.bar is not None:
            self.bar.start(self.state.source, total)
        self.changed(force=True)

    def changed(self, *, force: bool = False) -> None:
        if self.bar is not None:
            self.bar.update(self.state)
        now = time.monotonic()
        if force or now - self._written >= PROGRESS_WRITE_SECONDS:
            self._written = now
            try:
                self.store.update_run_progress(self.run_id, self.state.as_dict())
            except Exception:  # progress is a courtesy; the run's own writes report faults
                log.debug("could not record the progress of run %s", self.run_id, exc_info=True)

    def finish(self) -> None:
        self.changed(force=True)
        if self.bar is not None:
            self.bar.finish()


@dataclass(frozen=True)
class DeleteGuard:
    """Stops a run before pruning when it would delete all of a source's documents, or
    more than ``share`` of them (and at least ``MASS_DELETE_MIN``); ``allow`` lifts it
    for one run."""

    share: float = DEFAULT_MASS_DELETE_SHARE
    allow: bool = False

    def check(self, source: str, stored: int, gone: int) -> str | None:
        """Why pruning ``gone`` of ``stored`` documents is held, or None to go ahead."""
        if self.allow or gone == 0 or stored == 0:
            return None
        if gone < stored and (gone <= self.share * stored or gone < MASS_DELETE_MIN):
            return None
        why = (
            "the source lists none of them (an unmounted folder, a wrong branch or path, "
            "a token that suddenly sees nothing?)"
            if gone == stored
            else f"more than the {self.share:.0%} limit (DOCBOT_MASS_DELETE_SHARE)"
        )
        return (
            f"would delete {gone} of the {stored} documents of source {source!r}: {why}. "
            "Nothing was deleted. If that is intended, run "
            f"`docbot sync --source {source} --allow-mass-delete`."
        )


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
    """Unchanged documents whose readers changed (a restriction added or lifted)."""
    secrets_removed: int = 0
    """Secret-shaped strings replaced by a marker before indexing (``ingest/redact.py``)."""
    seconds: float = 0.0
    error: str | None = None
    failures: list[tuple[str, str]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    """(path, reason) the source refused to read (e.g. a symlink out of its root); such
    files are not content, so they do not make a run partial, and copies are pruned.
    ``skipped`` in the JSON."""
    skipped: str | None = None
    """Why the run did not happen (another sync of the source holds its lock)."""
    held: str | None = None
    """Why pruning was held by the mass-deletion guard (nothing was deleted)."""
    would_delete: int = 0
    rebuild: bool = False
    """A rebuild: written into a new index beside the live one, switched at the end."""
    changes: list[DocumentChange] = field(default_factory=list)
    run_id: int | None = field(default=None, repr=False)
    cursor: str | None = field(default=None, repr=False)
    chunking: str | None = field(default=None, repr=False)
    _listed: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def status(self) -> str:
        """``skipped``, ``failed``, ``held``, ``partial`` or ``ok``."""
        if self.skipped:
            return "skipped"
        if self.error:
            return "failed"
        if self.held:
            return "held"
        return "partial" if self.failures else "ok"

    @property
    def reason(self) -> str | None:
        """One line on why the run was skipped, failed or held."""
        return self.skipped or self.error or self.held

    @property
    def needs_attention(self) -> bool:
        """Failed or held: the CLI exits non-zero; skipped is no fault."""
        return self.status in ("failed", "held")

    def note(
        self,
        kind: str,
        doc_id: str,
        title: str | None = None,
        reason: str | None = None,
        *,
        limit: int | None = None,
    ) -> None:
        """List one changed document (at most ``limit`` of a kind; counts stay exact)."""
        listed = self._listed.get(kind, 0)
        if limit is None or listed < limit:
            self._listed[kind] = listed + 1
            self.changes.append(DocumentChange(kind, doc_id, title, reason))

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for private in ("run_id", "cursor", "chunking", "skipped", "held", "_listed", "refused"):
            data.pop(private)
        data["failures"] = [{"doc_id": d, "error": e} for d, e in self.failures]
        data["skipped"] = [{"doc_id": d, "reason": r} for d, r in self.refused]
        data["status"] = self.status
        data["reason"] = self.reason
        data["seconds"] = round(self.seconds, 3)
        data["changes"] = {
            kind: [c.as_dict() for c in self.changes if c.change == kind] for kind in CHANGE_KINDS
        }
        return data


def _pid_alive(pid: int | None, host: str | None) -> bool | None:
    if pid is None or host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, under another user
        return True
    except OSError:
        return None
    return True


def settle_runs(store: StoreContract) -> int:
    """Mark runs whose process is gone as ``interrupted``; returns how many.

    Alive means: someone holds the source's sync lock; when the lock file cannot be
    checked, the run's process still exists on this host. A run on another host whose
    lock cannot be checked is left as it is."""
    settled = 0
    for run in store.running_runs():
        alive = store.lock_held(run.source)
        if alive is None:
            alive = _pid_alive(run.pid, run.host)
        if alive is False:
            try:
                store.mark_interrupted(
                    run.id, "its process ended before the run did (killed, crashed or restarted)"
                )
                settled += 1
            except Exception:  # a read-only store still reports, it just cannot record it
                log.debug("could not mark run %s interrupted", run.id, exc_info=True)
    return settled
