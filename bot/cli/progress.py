"""A terminal progress bar for long CLI jobs (``docbot sync``, ``docbot eval``).

It implements ``ingest.sync.Progress`` and shows itself only when stderr is a
terminal, so piped output and ``--json`` stay clean.
"""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


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
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task(self.label.format(source=source), total=total)

    def advance(self, documents: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, documents)

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
