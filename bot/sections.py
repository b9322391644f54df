"""The section a passage belongs to, for quoting: its chunk with what the chunker cut off.

Retrieval ranks chunks, and the chunker cuts a page's sections into chunks at a size
(``ingest/chunking.py``), not where their meaning ends: the steps of a procedure go on
in the next chunk ("3. Send resignation email" after steps 1 and 2), a section's first
chunk is its introduction and its sub-section holds the answer ("1-1 meetings" and
then "How we do 1-1s: weekly 25-minute meetings"), a list is cut in the middle. The
answer then sits in a chunk of a page already cited that ranks below the ones shown
(docs/BENCHMARKS.md, "Passages and quotes": 11 such misses). So an extractive answer
chooses its quote from the chunk's *section text*:

- the chunk itself, first, so the window the ranked chunk holds keeps its place
  (``best_passage`` prefers the earliest of equally good windows);
- after it, the chunks that follow in the same section or in its sub-sections (a
  heading path that extends the chunk's), up to ``AFTER`` chunks;
- before it, only when the chunk starts inside a list, the earlier chunks of the same
  section up to ``BEFORE`` (the list's start and the line that introduces it). Text
  ahead of a chunk that starts a sentence is another part of the section, which the
  ranking placed lower: preferring it would move the quote away from what was ranked.

A chunk another quoted passage already shows ends the extension, so no text is
quoted twice. The abstention gates are not changed: they weigh the chunks found. The
text added is of the same document, so a cached answer stays safe: any change to a
document gives all of its chunks new ids, and the cache drops entries whose cited
chunks are gone (``bot/answer_cache.py``).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from ingest.models import Hit
from ingest.store.contract import StoreContract

AFTER = 2
"""Chunks after the passage's own that may be read for its quote (one was enough on the
handbook questions: 1, 3 and 6 give the same figures; docs/BENCHMARKS.md)."""
BEFORE = 2
"""Chunks before it, read only while each starts inside a list."""
MAX_CHARS = 6000
"""The most text one section offers to the quote chooser, the passage's own chunk
always whole (the quote itself stays within ``bot/extractive.py``'s limits)."""

_ITEM = re.compile(r"\s*(\d+[.)]|[-*+])\s")


def _starts_in_list(text: str) -> bool:
    first = next((line for line in text.splitlines() if line.strip()), "")
    return bool(_ITEM.match(first + " ")) or first.startswith((" ", "\t"))


@dataclass(frozen=True)
class Section:
    """A passage's section text and the chunk it starts with (for its lead-in line)."""

    text: str
    first_chunk_id: int


def section_of(
    store: StoreContract,
    hit: Hit,
    shown: Collection[int] = (),
    *,
    after: int | None = None,
    before: int | None = None,
) -> Section:
    """``hit``'s section text (see the module docstring); ``shown``: chunk ids that other
    quoted passages show, which the section does not take in. ``after`` / ``before``
    default to ``AFTER`` / ``BEFORE``."""
    after = AFTER if after is None else after
    before = BEFORE if before is None else before
    near = store.chunks_around(hit.chunk_id, before, after)
    at = next((i for i, c in enumerate(near) if c.chunk_id == hit.chunk_id), None)
    if at is None:
        return Section(hit.text, hit.chunk_id)
    path = near[at].heading_path
    room = MAX_CHARS - len(hit.text)
    ahead: list[str] = []
    first = hit.chunk_id
    opening = hit.text
    for chunk in reversed(near[:at]):
        if chunk.chunk_id in shown or chunk.heading_path != path:
            break
        if not _starts_in_list(opening) or len(chunk.text) > room:
            break
        ahead.insert(0, chunk.text)
        room -= len(chunk.text)
        first, opening = chunk.chunk_id, chunk.text
    behind: list[str] = []
    for chunk in near[at + 1 :]:
        if chunk.chunk_id in shown or chunk.heading_path[: len(path)] != path:
            break
        if len(chunk.text) > room:
            break
        behind.append(chunk.text)
        room -= len(chunk.text)
    return Section("\n\n".join([*ahead, hit.text, *behind]), first)
