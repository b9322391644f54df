"""Index generations: how a rebuild happens beside the live index, never in place.

Every backend keeps the searchable index (documents, chunks, the lexical index and the
vectors) as one *generation*. Questions read only the live generation. A rebuild
(``docbot sync --rebuild``, a new embedding model, a new way of cutting pages) writes a
second generation beside it, and :meth:`switch_build` makes it live in one
transaction; the retired generation is dropped afterwards. So:

- until the switch every answer comes from the complete old index, and a rebuild that
  fails or is killed leaves it live;
- the generation being built survives a kill: the next rebuild with the same embedding
  model resumes it (documents already built are unchanged there and are skipped, so
  their vectors are reused), and a rebuild with another model starts it afresh;
- chunk ids are unique across both generations, so an id read from one generation
  never names a different chunk in the other.

How a backend does it is its own business. SQLite (``sqlite/generations.py``) builds
tables named ``*_build`` from the live tables' own DDL and renames both sets in one
transaction (SQLite's DDL is transactional, so readers see the old set or the new one).
PostgreSQL can do the same (its DDL is transactional too) or keep a generation column
read from ``meta``; either way the contract below is what ``ingest/rebuild.py`` uses.

The write side of a generation is an :class:`IndexWriter`: the store itself writes
the live one, and ``Store.begin_build`` returns another over the generation being built.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from ingest.models import Access, Chunk, Document, StoredDocument


@dataclass(frozen=True)
class BuildState:
    """A generation being built beside the live one (possibly by a run that was killed)."""

    generation: int
    embed_model: str
    started_at: datetime | None
    documents: dict[str, int] = field(default_factory=dict)
    """Documents built so far, per source."""


@dataclass(frozen=True)
class BuiltSource:
    """What one source's rebuild leaves for the switch to install."""

    cursor: str | None = None
    chunking: str | None = None


class IndexWriter(Protocol):
    """What a sync writes through: one generation's documents, chunks and vectors."""

    @property
    def embed_model(self) -> str | None: ...

    def check_embedder(self, model_id: str, dim: int | None = None) -> None: ...

    def bind_embedder(self, model_id: str, dim: int) -> None: ...

    def document_shas(self, source: str) -> dict[str, str]: ...

    def cached_vectors(self, shas: Iterable[str]) -> dict[str, bytes]: ...

    def replace_document(
        self, doc: Document, chunks: Sequence[Chunk], vectors: Sequence[bytes]
    ) -> None: ...

    def delete_documents(self, source: str, doc_ids: Sequence[str]) -> None: ...

    def count(self, source: str) -> int: ...

    def titles(self, source: str, doc_ids: Sequence[str]) -> dict[str, str]: ...

    def stored_documents(
        self, source: str, doc_ids: Sequence[str] | None = None
    ) -> list[tuple[StoredDocument, list[Chunk]]]: ...

    def source_counts(self) -> dict[str, int]: ...

    def document_access(self, source: str) -> dict[str, Access]: ...

    def set_access(self, source: str, access: dict[str, Access]) -> int: ...

    def has_restricted(self) -> bool:
        """Whether any document of this generation has an access list."""
        ...


class LiveIndexMethods:
    """The live generation's write side as methods of the store itself, each handed to
    ``live_index`` (the backend's :class:`IndexWriter` over its live tables): both
    backends expose the same surface without writing it twice."""

    @property
    def live_index(self) -> IndexWriter:
        raise NotImplementedError

    def check_embedder(self, model_id: str, dim: int | None = None) -> None:
        self.live_index.check_embedder(model_id, dim)

    def bind_embedder(self, model_id: str, dim: int) -> None:
        self.live_index.bind_embedder(model_id, dim)

    def document_shas(self, source: str) -> dict[str, str]:
        return self.live_index.document_shas(source)

    def cached_vectors(self, shas: Iterable[str]) -> dict[str, bytes]:
        """Vectors already stored for chunks with these content hashes."""
        return self.live_index.cached_vectors(shas)

    def replace_document(
        self, doc: Document, chunks: Sequence[Chunk], vectors: Sequence[bytes]
    ) -> None:
        """Store ``doc`` with its chunks and their vectors, replacing any old version,
        in one transaction."""
        self.live_index.replace_document(doc, chunks, vectors)

    def delete_documents(self, source: str, doc_ids: Sequence[str]) -> None:
        """Prune documents (and their chunks) that no longer exist at the source."""
        self.live_index.delete_documents(source, doc_ids)

    def titles(self, source: str, doc_ids: Sequence[str]) -> dict[str, str]:
        return self.live_index.titles(source, doc_ids)

    def count(self, source: str) -> int:
        return self.live_index.count(source)

    def stored_documents(
        self, source: str, doc_ids: Sequence[str] | None = None
    ) -> list[tuple[StoredDocument, list[Chunk]]]:
        return self.live_index.stored_documents(source, doc_ids)

    def source_counts(self) -> dict[str, int]:
        return self.live_index.source_counts()

    def document_access(self, source: str) -> dict[str, Access]:
        return self.live_index.document_access(source)

    def set_access(self, source: str, access: dict[str, Access]) -> int:
        return self.live_index.set_access(source, access)

    def has_restricted(self) -> bool:
        return self.live_index.has_restricted()
