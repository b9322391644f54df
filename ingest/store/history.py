"""Values every store backend returns about sync history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class SyncRun:
    """One recorded sync of one source (what ``docbot status`` shows)."""

    id: int
    source: str
    started_at: datetime
    finished_at: datetime | None
    status: str  # running | ok | partial | failed
    added: int
    updated: int
    deleted: int
    unchanged: int
    failed: int
    chunks_embedded: int
    seconds: float | None
    error: str | None
    failures: list[tuple[str, str]]
