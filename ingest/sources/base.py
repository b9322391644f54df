"""Sources: where documents come from.

A source has one job, ``scan``: say which documents exist now and hand over the
ones that may have changed. ``sync`` does the rest (diff by content hash, embed,
store, prune), so a new source type is one class with one method.

A scan may be *incremental* (Confluence with a cursor: only pages modified since
the last good run are fetched) as long as ``all_ids`` still lists every document
that exists, so deletions are pruned on every run. Documents that could not be
read are reported in ``failures`` and also kept in ``all_ids``: a page that fails
to convert today keeps its previous content rather than being deleted. Documents
deliberately not read (a symlink leaving the source root, ...) are reported in
``skipped`` and left out of ``all_ids``: they are not legitimate content, so a copy
indexed before is pruned.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field

from ingest.models import Access, Document


@dataclass
class Scan:
    """The result of one scan of a source."""

    documents: Iterable[Document]
    """Documents to (re)consider; all of them for a full scan, the changed ones otherwise."""
    all_ids: set[str] | None = None
    """Every doc id that exists now, for pruning. ``None`` means: the ids of ``documents``."""
    cursor: str | None = None
    """Opaque position to pass to the next scan; stored only after a successful sync."""
    failures: list[tuple[str, str]] = field(default_factory=list)
    """(doc_id, reason) of documents that could not be read; filled while iterating."""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(path, reason) of files deliberately not read, e.g. a symlink out of the root."""
    total: int | None = None
    """How many documents ``documents`` will yield, when known (for the progress bar)."""
    access: dict[str, Access] = field(default_factory=dict)
    """Who may read each document now, for documents an incremental scan does not yield:
    a restriction added or lifted must take effect although the page did not change."""


class Source(ABC):
    """A named place documents come from (a Markdown folder, a Confluence site)."""

    name: str

    @abstractmethod
    def scan(self, cursor: str | None = None, *, full: bool = False) -> Scan:
        """List the documents. ``cursor`` is what the last successful scan returned;
        ``full`` asks for every document regardless of the cursor."""
