"""Values every store backend returns about sync history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

RUN_STATUSES = ("running", "ok", "partial", "held", "failed", "interrupted")
"""``held``: stopped before pruning by the mass-deletion guard (nothing deleted);
``interrupted``: its process died (killed, crashed, machine restarted) before it ended."""

CHANGE_KINDS = ("added", "updated", "deleted", "failed", "held")
"""What a run did to one document; ``held``: would have been deleted, kept by the guard."""


@dataclass(frozen=True)
class DocumentChange:
    """One document a run added, updated, deleted, failed to read or kept (held)."""

    change: str
    doc_id: str
    title: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"doc_id": self.doc_id, "title": self.title}
        if self.reason:
            data["reason"] = self.reason
        return data


@dataclass(frozen=True)
class SyncRun:
    """One recorded sync of one source (what ``docbot status`` shows)."""

    id: int
    source: str
    started_at: datetime
    finished_at: datetime | None
    status: str  # one of RUN_STATUSES
    added: int
    updated: int
    deleted: int
    unchanged: int
    failed: int
    chunks_embedded: int
    seconds: float | None
    error: str | None
    failures: list[tuple[str, str]]
    kind: str = "sync"  # sync | rebuild
    pid: int | None = None
    host: str | None = None
    progress: dict[str, Any] | None = None
    """While running: documents and chunks done so far, estimates (``SyncProgress``)."""
    reason: str | None = None
    """Why it was held, not switched (a rebuild) or interrupted."""
    changes: list[DocumentChange] = field(default_factory=list)
