"""The bot's own rows in the SQLite store: Slack event claims, threads, answers, feedback.

What the rows mean (outcome kinds, how long a claim is kept) is decided in
``bot/records.py``; this module only keeps them. Tables come from
``migrations.m002_slack_records``. Times are ISO-8601 UTC strings, compared as text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ingest.store.rows import ANSWER_FIELDS, FeedbackRecord
from ingest.store.sqlite.base import SQLiteBase

_ANSWER_COLUMNS = ", ".join(ANSWER_FIELDS)


class Records(SQLiteBase):
    """Event claims, bot threads, answer records and votes."""

    # --- events and threads ----------------------------------------------------

    def claim_events(self, keys: Sequence[str], received_at: str, expire_before: str) -> bool:
        """Claim event keys in one write transaction (SQLite's ``BEGIN IMMEDIATE``
        serialises claimers across processes); False when any was claimed before.
        Claims older than ``expire_before`` are forgotten on the way."""
        with self.transaction() as conn:
            for key in keys:
                if conn.execute("SELECT 1 FROM slack_events WHERE key = ?", (key,)).fetchone():
                    return False
            conn.executemany(
                "INSERT INTO slack_events (key, received_at) VALUES (?, ?)",
                [(key, received_at) for key in keys],
            )
            conn.execute("DELETE FROM slack_events WHERE received_at < ?", (expire_before,))
        return True

    def remember_thread(self, channel: str, thread_ts: str, kind: str, created_at: str) -> None:
        """Note a thread docbot answers in; a thread already noted keeps its kind."""
        self.conn.execute(
            "INSERT INTO bot_threads (channel, thread_ts, kind, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (channel, thread_ts) DO NOTHING",
            (channel, thread_ts, kind, created_at),
        )

    def thread_kind(self, channel: str, thread_ts: str) -> str | None:
        row = self.conn.execute(
            "SELECT kind FROM bot_threads WHERE channel = ? AND thread_ts = ?", (channel, thread_ts)
        ).fetchone()
        return row[0] if row else None

    # --- answers and feedback ---------------------------------------------------

    def save_answer(self, answer: Mapping[str, Any]) -> None:
        """Insert or replace the answer row with ``answer["id"]`` (fields: ``ANSWER_FIELDS``)."""
        values = [
            json.dumps(answer["timings"]) if name == "timings" else answer[name]
            for name in ANSWER_FIELDS
        ]
        placeholders = ", ".join("?" * len(values))
        self.conn.execute(
            f"INSERT OR REPLACE INTO answers ({_ANSWER_COLUMNS}) VALUES ({placeholders})", values
        )

    def get_answer(self, answer_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            f"SELECT {_ANSWER_COLUMNS} FROM answers WHERE id = ?", (answer_id,)
        ).fetchone()
        return _answer_from_row(row) if row is not None else None

    def answers_since(self, since: str, outcomes: Sequence[str]) -> list[dict[str, Any]]:
        """Answer rows created at or after ``since`` with one of ``outcomes``, oldest first."""
        marks = ", ".join("?" * len(outcomes))
        rows = self.conn.execute(
            f"SELECT {_ANSWER_COLUMNS} FROM answers WHERE created_at >= ? "
            f"AND outcome IN ({marks}) ORDER BY created_at",
            (since, *outcomes),
        ).fetchall()
        return [_answer_from_row(row) for row in rows]

    def outcome_counts(self, since: str) -> dict[tuple[str, str], int]:
        """{(surface, outcome): count} of answers created at or after ``since``."""
        rows = self.conn.execute(
            "SELECT surface, outcome, count(*) FROM answers WHERE created_at >= ? "
            "GROUP BY surface, outcome",
            (since,),
        ).fetchall()
        return {(surface, outcome): n for surface, outcome, n in rows}

    def save_feedback(
        self, record: FeedbackRecord, *, channel: str | None, message_ts: str | None
    ) -> None:
        """Store a vote; a user's second vote on one answer replaces their first."""
        self.conn.execute(
            "INSERT INTO feedback (answer_id, created_at, user_id, vote, question, answer, "
            "sources, channel, message_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (answer_id, user_id) DO UPDATE SET vote = excluded.vote, "
            "created_at = excluded.created_at",
            (
                record.answer_id, record.created_at, record.user_id, record.vote,
                record.question, record.answer, record.sources, channel, message_ts,
            ),
        )  # fmt: skip

    def votes_since(self, since: str) -> list[tuple[FeedbackRecord, str | None]]:
        """Votes cast at or after ``since`` with the surface of the answer voted on
        (None when that answer is gone), newest first."""
        rows = self.conn.execute(
            "SELECT f.answer_id, f.user_id, f.vote, f.question, f.answer, f.sources, "
            "f.created_at, a.surface FROM feedback f LEFT JOIN answers a ON a.id = f.answer_id "
            "WHERE f.created_at >= ? ORDER BY f.created_at DESC",
            (since,),
        ).fetchall()
        return [(FeedbackRecord(*row[:7]), row[7]) for row in rows]


def _answer_from_row(row: Sequence[Any]) -> dict[str, Any]:
    data: dict[str, Any] = dict(zip(ANSWER_FIELDS, row, strict=True))
    data["timings"] = json.loads(data["timings"] or "{}")
    return data
