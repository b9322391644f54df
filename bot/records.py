"""What the bot remembers between events, in the same store as the docs.

- **events** already handled: Slack redelivers events (a slow ack, a reconnect) and
  sends both ``app_mention`` and ``message`` for one mention; claiming a key first
  makes every question answered once, across threads and restarts.
- **threads** docbot answered in: a reply there is a follow-up that needs no mention.
- **answers**: every question on every surface with its outcome and latency — what
  ``docbot feedback``, ``docbot status`` and metrics are built on.
- **feedback**: 👍/👎 per answer and user, with the question, answer and sources
  copied in, so a doc owner reads a vote without joining tables.

The rows are kept by the store (``ingest/store/sqlite/records.py`` for SQLite); what
they mean — outcome kinds, how long a claim is remembered — is decided here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.answer import Answer, EmptyIndex
from ingest.errors import (
    EmbedderError,
    InputError,
    LLMError,
    LLMRateLimited,
    LLMTimeout,
    LLMUnavailable,
    StoreError,
)
from ingest.models import Hit
from ingest.store.contract import StoreContract
from ingest.store.rows import ANSWER_FIELDS, FeedbackRecord

EVENT_TTL = timedelta(days=2)  # Slack retries for minutes; two days is plenty


def now_iso(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).isoformat(timespec="milliseconds")


def new_answer_id() -> str:
    """An id to put on the feedback buttons before the answer is finished."""
    return uuid.uuid4().hex[:16]


def sources_json(cited: Sequence[tuple[int, Hit]]) -> str:
    return json.dumps(
        [
            {
                "n": n,
                "title": hit.title,
                "url": hit.link,
                "section": hit.section,
                "source": hit.source,
                "score": round(hit.score, 4),
            }
            for n, hit in cited
        ]
    )


def error_kind(exc: BaseException) -> str:
    """A short, stable label for the ``answers.error`` column."""
    for kind, cls in (
        ("rate_limited", LLMRateLimited),
        ("llm_timeout", LLMTimeout),
        ("llm_unavailable", LLMUnavailable),
        ("llm", LLMError),
        ("input", InputError),
        ("empty_index", EmptyIndex),
        ("store", StoreError),
        ("embedder", EmbedderError),
    ):
        if isinstance(exc, cls):
            return kind
    return "internal"


@dataclass
class AnswerRecord:
    """One question and what became of it (a row of ``answers``)."""

    id: str
    surface: str
    question: str
    outcome: str = "failed"  # answered | abstained | failed
    error: str | None = None
    search_query: str | None = None
    answer: str | None = None
    mode: str | None = None
    sources: str = "[]"
    user_id: str | None = None
    channel: str | None = None
    thread_ts: str | None = None
    message_ts: str | None = None
    latency_ms: float | None = None
    first_token_ms: float | None = None
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    timings: dict[str, float] = field(default_factory=dict)
    created_at: str = field(default_factory=now_iso)
    cost_usd: float | None = None
    cache: str | None = None  # hit | miss | stale; None when the cache was not consulted

    def fill(self, answer: Answer) -> None:
        """Copy a finished answer's text, sources, mode and timings in."""
        self.outcome = "abstained" if answer.abstained else "answered"
        self.error = None
        self.answer = answer.text
        self.mode = answer.mode
        self.search_query = answer.search_query
        self.sources = sources_json(answer.cited_sources)
        self.model = answer.model
        self.timings = dict(answer.timings_ms)
        self.first_token_ms = answer.timings_ms.get("first_token_ms")
        self.note_attempt(answer)

    def note_attempt(self, answer: Answer) -> None:
        """What a started answer used even if it then failed: tokens, model, cache,
        retrieval timings."""
        self.model = answer.model
        self.cache = answer.cache
        self.search_query = answer.search_query or self.search_query
        for key, value in answer.timings_ms.items():
            self.timings.setdefault(key, value)
        prompt, completion = answer.tokens
        self.prompt_tokens = prompt or None
        self.completion_tokens = completion or None


class Records:
    """The bot's own rows, kept by the store (``ingest/store/contract.py``: ``records``)."""

    def __init__(self, store: StoreContract) -> None:
        self.store = store

    # --- events and threads ----------------------------------------------------

    def claim(self, *keys: str, now: datetime | None = None) -> bool:
        """Claim event keys atomically; False when any was claimed before (a duplicate)."""
        moment = now or datetime.now(UTC)
        return self.store.claim_events(keys, now_iso(moment), now_iso(moment - EVENT_TTL))

    def remember_thread(self, channel: str, thread_ts: str, kind: str = "answer") -> None:
        """Note that docbot answers in this thread (``assistant`` threads keep their kind)."""
        self.store.remember_thread(channel, thread_ts, kind, now_iso())

    def thread_kind(self, channel: str, thread_ts: str) -> str | None:
        return self.store.thread_kind(channel, thread_ts)

    # --- answers and feedback ---------------------------------------------------

    def record_answer(self, record: AnswerRecord) -> None:
        self.store.save_answer({name: getattr(record, name) for name in ANSWER_FIELDS})

    def get_answer(self, answer_id: str) -> AnswerRecord | None:
        row = self.store.get_answer(answer_id)
        return AnswerRecord(**row) if row is not None else None

    def record_feedback(
        self,
        answer_id: str,
        user_id: str,
        vote: str,
        *,
        channel: str | None = None,
        message_ts: str | None = None,
    ) -> FeedbackRecord:
        """Store a vote (a user's second click replaces their first)."""
        if vote not in ("up", "down"):
            raise ValueError(f"vote must be 'up' or 'down', not {vote!r}")
        answer = self.get_answer(answer_id)
        record = FeedbackRecord(
            answer_id=answer_id,
            user_id=user_id,
            vote=vote,
            question=answer.question if answer else None,
            answer=answer.answer if answer else None,
            sources=answer.sources if answer else "[]",
            created_at=now_iso(),
        )
        self.store.save_feedback(record, channel=channel, message_ts=message_ts)
        return record

    def outcome_counts(self, since: datetime | None = None) -> dict[tuple[str, str], int]:
        """{(surface, outcome): count} since a time: answered / abstained / failed by surface."""
        return self.store.outcome_counts(now_iso(since) if since else "")

    def answers_since(
        self, since: datetime, outcomes: Sequence[str] = ("answered", "abstained", "failed")
    ) -> list[AnswerRecord]:
        """Answers recorded since a time, oldest first (for status and feedback reports)."""
        return [AnswerRecord(**row) for row in self.store.answers_since(now_iso(since), outcomes)]

    def votes_since(self, since: datetime) -> list[tuple[FeedbackRecord, str | None]]:
        """Votes cast since a time with the surface of the answer voted on, newest first."""
        return self.store.votes_since(now_iso(since))

    # --- the knowledge base, as the bot needs it ---------------------------------

    def has_documents(self) -> bool:
        return self.store.has_chunks()

    def document_titles(self, limit: int = 3) -> list[str]:
        """Recently updated page titles, for an assistant thread's suggested prompts."""
        return self.store.recent_titles(limit)
