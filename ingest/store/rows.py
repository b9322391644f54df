"""The values the bot's own tables exchange with a store, shared by every backend.

The bot decides what an answer record, a vote or a cached answer *means* (``bot/records.py``,
``bot/answer_cache.py``); a store only keeps these rows. They are plain values so that
``ingest/`` never imports ``bot/``.
"""

from __future__ import annotations

from dataclasses import dataclass

ANSWER_FIELDS = (
    "id", "created_at", "surface", "outcome", "error", "question", "search_query", "answer",
    "mode", "sources", "user_id", "channel", "thread_ts", "message_ts", "latency_ms",
    "first_token_ms", "model", "prompt_tokens", "completion_tokens", "timings", "cost_usd",
    "cache",
)  # fmt: skip
"""The fields of an answer row, in the order a backend stores them. ``timings`` travels
as a dict of floats; every other field is a str, int, float or None."""


@dataclass(frozen=True)
class FeedbackRecord:
    """One user's vote on one answer, with the question, answer and sources copied in."""

    answer_id: str
    user_id: str
    vote: str  # up | down
    question: str | None
    answer: str | None
    sources: str
    created_at: str


@dataclass(frozen=True)
class CachedAnswer:
    """An ``answer_cache`` row: the answer as JSON text, when it was made, and the
    stamp of the index it was made from."""

    answer: str
    created_at: str
    stamp: str | None


@dataclass(frozen=True)
class CitedChunk:
    """A chunk as stored now, as an answer cache entry depends on it: the entry holds
    while a chunk with this id, content hash, page URL, title and access still exists."""

    chunk_id: int
    sha: str
    text: str
    url: str
    title: str
    access: str | None


@dataclass(frozen=True)
class NearChunk:
    """A chunk of the same document as another, for quoting a whole section: the
    chunker cuts sections at a size, not where their meaning ends, so a list or a
    procedure one chunk starts may end in the next (``bot/sections.py``)."""

    chunk_id: int
    ordinal: int
    heading_path: tuple[str, ...]
    text: str
