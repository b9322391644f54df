"""A terminal progress bar for long CLI jobs (``docbot sync``, ``docbot eval``).

It implements ``ingest.sync.Progress`` and shows itself only when stderr is a
terminal, so piped output and ``--json`` stay clean. The bar counts chunks, the unit
that takes time (one big page can hold hundreds), against an estimate of how many
this run will write, and shows the documents done and an ETA beside it; a run with
nothing to embed counts documents instead.
"""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ingest.sync import SyncProgress


def describe(state: SyncProgress) -> str:
    """``1,234/~5,000 chunks · 120/884 documents · ETA 1:12`` (what the bar says)."""
    parts = []
    estimate = state.chunks_estimate()
    if estimate:
        approx = (
            "~" if state.documents_total and state.documents_seen < state.documents_total else ""
        )
        parts.append(f"{state.chunks_progressed:,}/{approx}{estimate:,} chunks")
    total = f"/{state.documents_total:,}" if state.documents_total is not None else ""
    parts.append(f"{state.documents_done:,}{total} documents")
    eta = state.eta_seconds()
    if eta is not None:
        minutes, seconds = divmod(round(eta), 60)
        parts.append(f"ETA {minutes // 60}:{minutes % 60:02d}:{seconds:02d}" if minutes >= 60
                     else f"ETA {minutes}:{seconds:02d}")  # fmt: skip
    return " · ".join(parts)


class TerminalProgress:
    """A rich progress bar on stderr; ``label`` may use ``{source}``."""

    def __init__(self, label: str = "sync {source}") -> None:
        self.label = label
        self._progress: Progress | None = None
        self._task: Any = None

    def start(self, source: str, total: int | None) -> None:
        if not sys.stderr.isatty():
            return
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task(
            self.label.format(source=source), total=total, detail=""
        )

    def update(self, state: SyncProgress) -> None:
        if self._progress is None:
            return
        estimate = state.chunks_estimate()
        if estimate:
            total, done = float(estimate), float(state.chunks_progressed)
        else:
            total = float(state.documents_total) if state.documents_total is not None else None  # type: ignore[assignment]
            done = float(state.documents_done)
        self._progress.update(self._task, total=total, completed=done, detail=describe(state))

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


class MigrationBar:
    """``docbot migrate``'s progress (``ingest.migrate.MigrateProgress``): a bar of
    documents per source on a terminal; elsewhere one line per source on stderr, so
    a migration run by a script still shows it is moving."""

    def __init__(self) -> None:
        self._progress: Progress | None = None
        self._task: Any = None
        self._tty = sys.stderr.isatty()

    def start(self, source: str, total: int) -> None:
        self.finish()
        if not self._tty:
            print(f"docbot: migrate: {source}: {total:,} documents", file=sys.stderr)
            return
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task(f"migrate {source}", total=total, detail="")

    def update(self, source: str, documents: int, chunks: int) -> None:
        if self._progress is not None:
            self._progress.update(
                self._task,
                completed=documents,
                detail=f"{documents:,} documents · {chunks:,} chunks",
            )

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
