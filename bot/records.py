"""What the bot remembers between events, in the same SQLite file as the docs.

- **events** already handled: Slack redelivers events (a slow ack, a reconnect) and
  sends both ``app_mention`` and ``message`` for one mention; claiming a key first
  makes every question answered once, across threads and restarts.
- **threads** docbot answered in: a reply there is a follow-up that needs no mention.
- **answers**: every question on every surface with its outcome and latency — what
  ``docbot feedback``, ``docbot status`` and metrics are built on.
- **feedback**: 👍/👎 per answer and user, with the question, answer and sources
  copied in, so a doc owner reads a vote without joining tables.

Tables are created by ``ingest.store.sqlite.migrations.m002_slack_records``. Each
thread uses the store's own per-thread connection, so Bolt's worker threads never
share one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

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
from ingest.store import Store

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


_ANSWER_COLUMNS = (
    "id, created_at, surface, outcome, error, question, search_query, answer, mode, sources, "
    "user_id, channel, thread_ts, message_ts, latency_ms, first_token_ms, model, "
    "prompt_tokens, completion_tokens, timings, cost_usd, cache"
)


@dataclass(frozen=True)
class FeedbackRecord:
    answer_id: str
    user_id: str
    vote: str  # up | down
    question: str | None
    answer: str | None
    sources: str
    created_at: str


class Records:
    """The bot's own tables in the store's SQLite file."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def _conn(self) -> Any:
        return self.store.conn

    # --- events and threads ----------------------------------------------------

    def claim(self, *keys: str, now: datetime | None = None) -> bool:
        """Claim event keys atomically; False when any was claimed before (a duplicate)."""
        moment = now or datetime.now(UTC)
        with self.store.transaction() as conn:
            for key in keys:
                if conn.execute("SELECT 1 FROM slack_events WHERE key = ?", (key,)).fetchone():
                    return False
            conn.executemany(
                "INSERT INTO slack_events (key, received_at) VALUES (?, ?)",
                [(key, now_iso(moment)) for key in keys],
            )
            conn.execute(
                "DELETE FROM slack_events WHERE received_at < ?", (now_iso(moment - EVENT_TTL),)
            )
        return True

    def remember_thread(self, channel: str, thread_ts: str, kind: str = "answer") -> None:
        """Note that docbot answers in this thread (``assistant`` threads keep their kind)."""
        self._conn.execute(
            "INSERT INTO bot_threads (channel, thread_ts, kind, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (channel, thread_ts) DO NOTHING",
            (channel, thread_ts, kind, now_iso()),
        )

    def thread_kind(self, channel: str, thread_ts: str) -> str | None:
        row = self._conn.execute(
            "SELECT kind FROM bot_threads WHERE channel = ? AND thread_ts = ?", (channel, thread_ts)
        ).fetchone()
        return row[0] if row else None

    # --- answers and feedback ---------------------------------------------------

    def record_answer(self, record: AnswerRecord) -> None:
        values = (
            record.id, record.created_at, record.surface, record.outcome, record.error,
            record.question, record.search_query, record.answer, record.mode, record.sources,
            record.user_id, record.channel, record.thread_ts, record.message_ts,
            record.latency_ms, record.first_token_ms, record.model, record.prompt_tokens,
            record.completion_tokens, json.dumps(record.timings), record.cost_usd, record.cache,
        )  # fmt: skip
        placeholders = ", ".join("?" * len(values))
        self._conn.execute(
            f"INSERT OR REPLACE INTO answers ({_ANSWER_COLUMNS}) VALUES ({placeholders})", values
        )

    def get_answer(self, answer_id: str) -> AnswerRecord | None:
        row = self._conn.execute(
            f"SELECT {_ANSWER_COLUMNS} FROM answers WHERE id = ?", (answer_id,)
        ).fetchone()
        if row is None:
            return None
        return _answer_from_row(row)

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
        self._conn.execute(
            "INSERT INTO feedback (answer_id, created_at, user_id, vote, question, answer, "
            "sources, channel, message_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (answer_id, user_id) DO UPDATE SET vote = excluded.vote, "
            "created_at = excluded.created_at",
            (
                record.answer_id, record.created_at, record.user_id, record.vote,
                record.question, record.answer, record.sources, channel, message_ts,
            ),
        )  # fmt: skip
        return record

    def outcome_counts(self, since: datetime | None = None) -> dict[tuple[str, str], int]:
        """{(surface, outcome): count} since a time: answered / abstained / failed by surface."""
        rows = self._conn.execute(
            "SELECT surface, outcome, count(*) FROM answers WHERE created_at >= ? "
            "GROUP BY surface, outcome",
            (now_iso(since) if since else "",),
        ).fetchall()
        return {(surface, outcome): n for surface, outcome, n in rows}

    def answers_since(
        self, since: datetime, outcomes: Sequence[str] = ("answered", "abstained", "failed")
    ) -> list[AnswerRecord]:
        """Answers recorded since a time, oldest first (for status and feedback reports)."""
        marks = ", ".join("?" * len(outcomes))
        rows = self._conn.execute(
            f"SELECT {_ANSWER_COLUMNS} FROM answers WHERE created_at >= ? "
            f"AND outcome IN ({marks}) ORDER BY created_at",
            (now_iso(since), *outcomes),
        ).fetchall()
        return [_answer_from_row(row) for row in rows]

    def votes_since(self, since: datetime) -> list[tuple[FeedbackRecord, str | None]]:
        """Votes cast since a time with the surface of the answer voted on, newest first."""
        rows = self._conn.execute(
            "SELECT f.answer_id, f.user_id, f.vote, f.question, f.answer, f.sources, "
            "f.created_at, a.surface FROM feedback f LEFT JOIN answers a ON a.id = f.answer_id "
            "WHERE f.created_at >= ? ORDER BY f.created_at DESC",
            (now_iso(since),),
        ).fetchall()
        return [(FeedbackRecord(*row[:7]), row[7]) for row in rows]

    # --- the knowledge base, as the bot needs it ---------------------------------

    def has_documents(self) -> bool:
        return self._conn.execute("SELECT 1 FROM chunks LIMIT 1").fetchone() is not None

    def document_titles(self, limit: int = 3) -> list[str]:
        """Recently updated page titles, for an assistant thread's suggested prompts."""
        rows = self._conn.execute(
            "SELECT title FROM documents WHERE access IS NULL "  # never a restricted title
            "ORDER BY coalesce(updated_at, synced_at) DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [r[0] for r in rows]


def _answer_from_row(row: Sequence[Any]) -> AnswerRecord:
    data: dict[str, Any] = dict(zip(_ANSWER_COLUMNS.split(", "), row, strict=True))
    data["timings"] = json.loads(data["timings"] or "{}")
    return AnswerRecord(**data)
