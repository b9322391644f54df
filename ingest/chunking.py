"""Heading-aware chunking of Markdown.

Each chunk belongs to one section and carries its heading path ("Page > Section >
Subsection") and the section's anchor, so a citation points at the right heading
and the embedder sees the context a passage lives in. A long section is split at
block boundaries (paragraphs, lists, fenced code, tables); a code block or table is
cut only when it alone exceeds the hard limit, and then at line boundaries.

Sizes are in characters. The defaults were chosen with ``docbot eval`` (see
docs/BENCHMARKS.md): MiniLM reads at most 256 word pieces, about 1,000 characters
of English, so longer chunks are mostly invisible to the embedder.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from urllib.parse import quote

from ingest.models import Chunk, Document

DEFAULT_CHUNK_CHARS = 1000
"""Target size: a chunk is closed once adding the next block would pass this."""
DEFAULT_MAX_CHARS = 1600
"""Hard limit: a single block longer than this (a huge code block) is cut."""
DEFAULT_MIN_CHARS = 200
"""A section shorter than this is merged into the previous chunk of the same parent."""
DEFAULT_OVERLAP_CHARS = 0
"""Whole blocks repeated from the end of one chunk at the start of the next (same
section). Off: on the handbook questions it did not help (docs/BENCHMARKS.md)."""
CHUNKING_VERSION = 1
"""Bump when :func:`split_markdown` cuts the same text differently: stores re-chunk."""
LEGACY_SIGNATURE = "v1 chunk_chars=1000 max_chars=1600 min_chars=200 overlap_chars=0"
"""How stores made before signatures were recorded were chunked."""

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})")


def github_slug(heading: str) -> str:
    """GitHub's heading anchor: lowercase, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|__|\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = unicodedata.normalize("NFKC", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _rendered(text: str) -> str:
    """Heading or title text as the page shows it: code, emphasis and link marks gone."""
    text = re.sub(r"`|\*\*|__|\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return unicodedata.normalize("NFKC", text).strip()


def confluence_slug(title: str) -> Callable[[str], str]:
    """Confluence's heading ids (Cloud and Data Center): the page title and the heading
    text, each with its spaces removed, joined by "-" (``VPN setup`` / ``Connect`` ->
    ``VPNsetup-Connect``), URL-escaped for the fragment. Case and punctuation stay."""
    prefix = re.sub(r"\s+", "", _rendered(title))

    def slug(heading: str) -> str:
        anchor = prefix + "-" + re.sub(r"\s+", "", _rendered(heading))
        return quote(anchor, safe="-._~!$&'()*+,;=:@")

    return slug


def anchor_style(doc: Document) -> tuple[Callable[[str], str], str]:
    """How ``doc``'s source names heading anchors, and what it appends to a repeated
    one: Confluence pages (they have a space) their way and ``.1``, files GitHub's
    and ``-1``."""
    if doc.space is not None:
        return confluence_slug(doc.title), "."
    return github_slug, "-"


@dataclass
class _Section:
    path: tuple[str, ...]  # headings below the page title
    anchor: str
    blocks: list[str]


def _blocks(lines: list[str]) -> Iterator[str]:
    """Group lines into blocks: paragraphs, list runs, whole fenced code, whole tables."""
    block: list[str] = []
    fence: str | None = None
    for line in lines:
        if fence is not None:
            block.append(line)
            if line.strip().startswith(fence):
                fence = None
                yield "\n".join(block)
                block = []
            continue
        match = _FENCE.match(line)
        if match:
            if block:
                yield "\n".join(block)
            block = [line]
            fence = match.group(1)[:3]
            continue
        if not line.strip():
            if block:
                yield "\n".join(block)
                block = []
            continue
        block.append(line)
    if block:
        yield "\n".join(block)


def _sections(body: str, slugify: Callable[[str], str], repeat: str = "-") -> list[_Section]:
    sections = [_Section(path=(), anchor="", blocks=[])]
    stack: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    lines: list[str] = []
    fence: str | None = None

    def close() -> None:
        sections[-1].blocks.extend(_blocks(lines))
        lines.clear()

    for line in body.splitlines():
        if fence is None:
            fence_match = _FENCE.match(line)
            if fence_match:
                fence = fence_match.group(1)[:3]
            else:
                heading = _HEADING.match(line)
                if heading:
                    close()
                    level, title = len(heading.group(1)), heading.group(2).strip()
                    while stack and stack[-1][0] >= level:
                        stack.pop()
                    stack.append((level, title))
                    slug = slugify(title)
                    if slug in seen:
                        seen[slug] += 1
                        slug = f"{slug}{repeat}{seen[slug]}"
                    else:
                        seen[slug] = 0
                    sections.append(
                        _Section(path=tuple(t for _, t in stack), anchor=slug, blocks=[])
                    )
                    continue
        elif line.strip().startswith(fence):
            fence = None
        lines.append(line)
    close()
    return sections


def _cut(block: str, max_chars: int) -> list[str]:
    """Cut an oversized block at line boundaries (or hard, for one giant line)."""
    pieces: list[str] = []
    current = ""
    for line in block.split("\n"):
        while len(line) > max_chars:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:max_chars])
            line = line[max_chars:]
        if current and len(current) + len(line) + 1 > max_chars:
            pieces.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        pieces.append(current)
    return pieces


def _pack(blocks: list[str], chunk_chars: int, max_chars: int, overlap_chars: int = 0) -> list[str]:
    """Pack blocks into chunks of about ``chunk_chars``. With ``overlap_chars``, a chunk
    after the first of a section starts with the previous chunk's last blocks (whole
    blocks, together at most ``overlap_chars``), so a passage cut at a chunk boundary
    is still read whole by one of the two."""
    texts: list[str] = []
    current: list[str] = []
    size = 0
    for block in blocks:
        for piece in _cut(block, max_chars) if len(block) > max_chars else [block]:
            if current and size + len(piece) + 2 > chunk_chars:
                texts.append("\n\n".join(current))
                current = _tail(current, overlap_chars, chunk_chars - len(piece) - 2)
                size = sum(len(b) + 2 for b in current) - 2 if current else 0
            size = size + len(piece) + 2 if current else len(piece)
            current.append(piece)
    if current:
        texts.append("\n\n".join(current))
    return texts


def _tail(blocks: list[str], overlap_chars: int, room: int) -> list[str]:
    """The last whole blocks of a chunk that fit in ``min(overlap_chars, room)``."""
    budget = min(overlap_chars, room)
    tail: list[str] = []
    used = 0
    for block in reversed(blocks):
        used += len(block) + 2
        if used > budget:
            break
        tail.insert(0, block)
    return tail


def split_markdown(
    doc: Document,
    *,
    chunk_chars: int = DEFAULT_CHUNK_CHARS,
    max_chars: int = DEFAULT_MAX_CHARS,
    min_chars: int = DEFAULT_MIN_CHARS,
    overlap_chars: int = DEFAULT_OVERLAP_CHARS,
    slugify: Callable[[str], str] | None = None,
) -> list[Chunk]:
    """Split a document's Markdown body into heading-scoped chunks. Anchors follow the
    document's source (:func:`anchor_style`) unless ``slugify`` is given."""
    repeat = "-"
    if slugify is None:
        slugify, repeat = anchor_style(doc)
    root = (*doc.breadcrumbs, doc.title)
    chunks: list[Chunk] = []
    last_parent: tuple[str, ...] | None = None
    for section in _sections(doc.body, slugify, repeat):
        blocks = section.blocks
        # The page's own "# Title" heading repeats the title: drop it from the path.
        path = section.path
        if path and path[0].strip().lower() == doc.title.strip().lower():
            path = path[1:]
        texts = _pack(blocks, chunk_chars, max_chars, overlap_chars)
        if not texts:
            continue
        parent = path[:-1]
        size = sum(len(t) for t in texts)
        if (
            chunks
            and len(texts) == 1
            and size < min_chars
            and last_parent is not None
            and parent == last_parent
            and len(chunks[-1].text) + size < chunk_chars
        ):
            # A short sibling section: keep it with the previous one, under its heading.
            prev = chunks[-1]
            heading = "#" * (len(path) + 1) + " " + path[-1] if path else ""
            merged = f"{prev.text}\n\n{heading}\n{texts[0]}" if heading else prev.text
            chunks[-1] = Chunk(
                doc_id=doc.doc_id,
                ordinal=prev.ordinal,
                text=merged,
                heading_path=prev.heading_path,
                anchor=prev.anchor,
            )
            continue
        for text in texts:
            chunks.append(
                Chunk(
                    doc_id=doc.doc_id,
                    ordinal=len(chunks),
                    text=text,
                    heading_path=(*root, *path),
                    anchor=section.anchor,
                )
            )
        last_parent = parent
    if not chunks and doc.title:
        # An empty page still deserves to be findable by its title.
        chunks.append(Chunk(doc_id=doc.doc_id, ordinal=0, text=doc.title, heading_path=root))
    return chunks


def signature(chunker: Callable[[Document], list[Chunk]]) -> str | None:
    """What decides how ``chunker`` cuts a document, as a string a store can keep; a
    sync that finds another one stored re-chunks every document of the source (see
    ``ingest/sync.py``). ``None`` for a chunker that is not :func:`split_markdown`."""
    params = {
        "chunk_chars": DEFAULT_CHUNK_CHARS,
        "max_chars": DEFAULT_MAX_CHARS,
        "min_chars": DEFAULT_MIN_CHARS,
        "overlap_chars": DEFAULT_OVERLAP_CHARS,
    }
    if isinstance(chunker, partial) and chunker.func is split_markdown and not chunker.args:
        params.update(chunker.keywords)
    elif chunker is not split_markdown:
        return None
    if "slugify" in params:
        return None
    return f"v{CHUNKING_VERSION} " + " ".join(f"{k}={params[k]}" for k in sorted(params))
