"""The bot's own rows in the PostgreSQL store: Slack event claims, threads, answers,
feedback, shared by every replica on the database.

What the rows mean is decided in ``bot/records.py``; this module only keeps them.
Tables come from ``migrations.m002_bot_records``. Times are ISO-8601 UTC strings
(``TEXT``), compared as text, as the contract says.

Claims are what makes several replicas answer a Slack event once: the keys are
inserted in one transaction with ``ON CONFLICT DO NOTHING``; a second replica's insert
of the same key waits on the unique index until the first commits, then inserts
nothing, and its transaction is rolled back so it claims none of the keys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg

from ingest.store.postgres.base import PostgresBase
from ingest.store.rows import ANSWER_FIELDS, FeedbackRecord

_ANSWER_COLUMNS = ", ".join(ANSWER_FIELDS)
_ANSWER_UPDATE = ", ".join(f"{name} = excluded.{name}" for name in ANSWER_FIELDS if name != "id")


def _clean(value: Any) -> Any:
    return value.replace("\x00", " ") if isinstance(value, str) else value


class Records(PostgresBase):
    """Event claims, bot threads, answer records and votes."""

    # --- events and threads ----------------------------------------------------

    def claim_events(self, keys: Sequence[str], received_at: str, expire_before: str) -> bool:
        """Claim all ``keys`` or none, atomically across replicas (see the module doc);
        claims older than ``expire_before`` are forgotten on the way."""
        wanted = sorted(set(keys))  # one order for every claimer: no deadlock
        claimed = False
        with self.db.connection() as conn, conn.transaction() as tx:
            rows = conn.execute(
                "INSERT INTO slack_events (key, received_at) "
                "SELECT k, %s FROM unnest(%s::text[]) AS k "
                "ON CONFLICT (key) DO NOTHING RETURNING key",
                (received_at, wanted),
            ).fetchall()
            if len(rows) != len(wanted):
                raise psycopg.Rollback(tx)
            conn.execute("DELETE FROM slack_events WHERE received_at < %s", (expire_before,))
            claimed = True
        return claimed

    def remember_thread(self, channel: str, thread_ts: str, kind: str, created_at: str) -> None:
        """Note a thread docbot answers in; a thread already noted keeps its kind."""
        self.db.execute(
            "INSERT INTO bot_threads (channel, thread_ts, kind, created_at) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (channel, thread_ts) DO NOTHING",
            (channel, thread_ts, kind, created_at),
        )

    def thread_kind(self, channel: str, thread_ts: str) -> str | None:
        row = self.db.row(
            "SELECT kind FROM bot_threads WHERE channel = %s AND thread_ts = %s",
            (channel, thread_ts),
        )
        return row[0] if row else None

    # --- answers and feedback ---------------------------------------------------

    def save_answer(self, answer: Mapping[str, Any]) -> None:
        """Insert or replace the answer row with ``answer["id"]`` (fields: ``ANSWER_FIELDS``)."""
        values = [
            json.dumps(answer["timings"]) if name == "timings" else _clean(answer[name])
            for name in ANSWER_FIELDS
        ]
        marks = ", ".join(["%s"] * len(values))
        self.db.execute(
            f"INSERT INTO answers ({_ANSWER_COLUMNS}) VALUES ({marks}) "
            f"ON CONFLICT (id) DO UPDATE SET {_ANSWER_UPDATE}",
            values,
        )

    def get_answer(self, answer_id: str) -> dict[str, Any] | None:
        row = self.db.row(f"SELECT {_ANSWER_COLUMNS} FROM answers WHERE id = %s", (answer_id,))
        return _answer_from_row(row) if row is not None else None

    def answers_since(self, since: str, outcomes: Sequence[str]) -> list[dict[str, Any]]:
        """Answer rows created at or after ``since`` with one of ``outcomes``, oldest first."""
        rows = self.db.rows(
            f"SELECT {_ANSWER_COLUMNS} FROM answers WHERE created_at >= %s "
            "AND outcome = ANY(%s) ORDER BY created_at, id",
            (since, list(outcomes)),
        )
        return [_answer_from_row(row) for row in rows]

    def outcome_counts(self, since: str) -> dict[tuple[str, str], int]:
        """{(surface, outcome): count} of answers created at or after ``since``."""
        rows = self.db.rows(
            "SELECT surface, outcome, count(*) FROM answers WHERE created_at >= %s "
            "GROUP BY surface, outcome",
            (since,),
        )
        return {(surface, outcome): int(n) for surface, outcome, n in rows}

    def save_feedback(
        self, record: FeedbackRecord, *, channel: str | None, message_ts: str | None
    ) -> None:
        """Store a vote; a user's second vote on one answer replaces their first."""
        self.db.execute(
            "INSERT INTO feedback (answer_id, created_at, user_id, vote, question, answer, "
            "sources, channel, message_ts) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (answer_id, user_id) DO UPDATE SET vote = excluded.vote, "
            "created_at = excluded.created_at",
            (
                record.answer_id, record.created_at, record.user_id, record.vote,
                _clean(record.question), _clean(record.answer), _clean(record.sources),
                channel, message_ts,
            ),
        )  # fmt: skip

    def votes_since(self, since: str) -> list[tuple[FeedbackRecord, str | None]]:
        """Votes cast at or after ``since`` with the surface of the answer voted on
        (None when that answer is gone), newest first."""
        rows = self.db.rows(
            "SELECT f.answer_id, f.user_id, f.vote, f.question, f.answer, f.sources, "
            "f.created_at, a.surface FROM feedback f LEFT JOIN answers a ON a.id = f.answer_id "
            "WHERE f.created_at >= %s ORDER BY f.created_at DESC, f.id DESC",
            (since,),
        )
        return [(FeedbackRecord(*row[:7]), row[7]) for row in rows]


def _answer_from_row(row: Sequence[Any]) -> dict[str, Any]:
    data: dict[str, Any] = dict(zip(ANSWER_FIELDS, row, strict=True))
    data["timings"] = json.loads(data["timings"] or "{}")
    return data
