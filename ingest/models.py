"""The nouns of the knowledge base: what flows from a source to the store.

``Document`` is what a source produces (one page or file, already converted to
Markdown); ``Chunk`` is a heading-scoped piece of it that gets embedded; ``Hit``
is a chunk found by a search, with its score. These are plain frozen values so
every layer (sources, chunking, store, retrieval, Slack rendering) can pass them
around without importing each other.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime

EMBED_OPENING_CHARS = 200
"""How much of a chunk's start is checked for its headings (see ``Chunk.embed_text``)."""


def content_hash(text: str) -> str:
    """A stable fingerprint of text; used to skip unchanged documents and embeddings."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Access:
    """Who may read a document, as its source says.

    ``readers`` None means everyone docbot answers for may read it (a public page of a
    space everyone can read, a Markdown file). Otherwise it lists who may: lower-case
    email addresses (the only identity a Slack user can be matched by) and, for accounts
    whose email the source does not reveal, ``account:<id>`` entries, which no Slack user
    matches. An empty tuple means nobody docbot can identify. ``why`` says where the
    restriction comes from (the page's own, an ancestor's, the space's), for admins.
    """

    readers: tuple[str, ...] | None = None
    why: str = ""

    @property
    def public(self) -> bool:
        return self.readers is None

    def allows(self, email: str | None) -> bool:
        if self.readers is None:
            return True
        return email is not None and email.lower() in self.readers

    def as_json(self) -> str | None:
        """The stored form: None for public documents."""
        if self.readers is None:
            return None
        return json.dumps({"readers": sorted(self.readers), "why": self.why})

    @classmethod
    def from_json(cls, text: str | None) -> Access:
        if not text:
            return PUBLIC
        data = json.loads(text)
        return cls(tuple(data.get("readers") or ()), str(data.get("why") or ""))


PUBLIC = Access()


@dataclass(frozen=True)
class Document:
    """One page of documentation, as Markdown, from one source.

    ``doc_id`` is unique within its source (a relative file path, a Confluence page
    id). ``breadcrumbs`` are the titles above the page (Confluence ancestors, folders),
    used as the start of every chunk's heading path.
    """

    source: str
    doc_id: str
    title: str
    url: str
    body: str
    updated_at: datetime | None = None
    author: str | None = None
    breadcrumbs: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    version: str | None = None
    space: str | None = None
    """The container a scope can select (a Confluence space key); None for files."""
    access: Access = PUBLIC

    @property
    def sha(self) -> str:
        """Hash over everything that changes what is indexed or cited."""
        parts = [self.title, self.url, " > ".join(self.breadcrumbs), ",".join(self.tags)]
        if self.space is not None:  # only then: files synced before spaces keep their hash
            parts.append(self.space)
        # Not ``access``: who may read a page changes without its text, and sync updates
        # it in place (``Store.set_access``) instead of re-chunking the page.
        meta = "\x1f".join(parts)
        return content_hash(meta + "\x1e" + self.body)


@dataclass(frozen=True)
class StoredDocument(Document):
    """A document read back from the store, to carry it into a rebuilt index when its
    source cannot give it again (it failed to read, or the source is no longer
    configured). Its body is not stored, so its hash is the stored one: the next sync
    that can read it compares against that, as it would have against the old index."""

    stored_sha: str = ""

    @property
    def sha(self) -> str:
        return self.stored_sha


@dataclass(frozen=True)
class Chunk:
    """A heading-scoped passage of a document, the unit that is embedded and cited.

    ``heading_path`` is ("Page", "Section", "Subsection"); ``anchor`` is the slug of
    the deepest heading, so a citation can link to ``url#anchor``.
    """

    doc_id: str
    ordinal: int
    text: str
    heading_path: tuple[str, ...] = ()
    anchor: str = ""

    @property
    def sha(self) -> str:
        return content_hash(self.embed_text)

    @property
    def embed_text(self) -> str:
        """What the embedder sees: the heading path as context, then the passage.

        A heading the passage's opening already states is left out, so a page whose
        first line names its subject is not pulled twice towards that name (measured
        in docs/BENCHMARKS.md)."""
        opening = self.text[:EMBED_OPENING_CHARS].casefold()
        path = [p for p in self.heading_path if p.strip() and p.casefold() not in opening]
        if path:
            return " > ".join(path) + "\n\n" + self.text
        return self.text


@dataclass(frozen=True)
class Hit:
    """A chunk returned by retrieval, with enough of its document to cite it."""

    chunk_id: int
    source: str
    doc_id: str
    title: str
    url: str
    text: str
    heading_path: tuple[str, ...]
    anchor: str
    score: float
    updated_at: datetime | None = None
    scores: dict[str, float] = field(default_factory=dict, compare=False)
    space: str | None = None
    restricted: bool = False
    """Not every asker may read this page: it may only be shown privately."""
    breadcrumbs: tuple[str, ...] = ()
    """The titles above the page (folders, Confluence ancestors) that start
    ``heading_path``: context for the embedder, not part of a citation."""

    @property
    def link(self) -> str:
        """The citation URL, pointing at the section when the source supports anchors."""
        if self.anchor and "#" not in self.url:
            return f"{self.url}#{self.anchor}"
        return self.url

    @property
    def section(self) -> str:
        """'Page > Section' label for a citation: the page and its headings, without
        the folders or ancestors above it, and without Markdown emphasis."""
        path = self.heading_path
        crumbs = self.breadcrumbs
        if crumbs and path[: len(crumbs)] == crumbs:
            path = path[len(crumbs) :]
        elif self.title in path:  # a hit from before breadcrumbs were kept with it
            path = path[len(path) - path[::-1].index(self.title) - 1 :]
        parts = [plain_heading(p) for p in path]
        return " > ".join(p for p in parts if p) or plain_heading(self.title)


_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1|(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?!\w)|`([^`]*)`")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")


def plain_heading(text: str) -> str:
    """A heading as a reader sees it: ``**Set up** the `vpn` [client](url)`` ->
    ``Set up the vpn client`` (links, emphasis and code marks removed)."""
    text = _LINK.sub(r"\1", text)
    for _ in range(3):  # nested emphasis: ***bold italic***
        text = _EMPHASIS.sub(lambda m: next(g for g in m.groups()[1:] if g is not None), text)
    return " ".join(text.split())
