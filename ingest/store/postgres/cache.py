"""The answer cache's rows in the PostgreSQL store: entries and the chunks each cited,
shared by every replica (a question answered by one is served from the cache by all).

When an entry may be served is decided in ``bot/answer_cache.py``; this module keeps
the rows and answers the one question only the database can: does every chunk an
entry cited still exist unchanged? Tables come from ``migrations.m002_bot_records``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ingest.store.postgres.base import PostgresBase
from ingest.store.rows import CachedAnswer, CitedChunk

_SAME_CHUNK = (
    "JOIN chunks c ON c.id = acc.chunk_id AND c.sha = acc.sha "
    "JOIN documents d ON d.id = c.document_id AND d.url = acc.url AND d.title = acc.title "
    "AND d.access::text IS NOT DISTINCT FROM acc.access"
)


class AnswerCacheRows(PostgresBase):
    """``answer_cache`` and ``answer_cache_chunks``."""

    def cache_get(self, key: str) -> CachedAnswer | None:
        row = self.db.row(
            "SELECT answer, created_at, stamp FROM answer_cache WHERE key = %s", (key,)
        )
        return CachedAnswer(row[0], row[1], row[2]) if row is not None else None

    def cache_hit(self, key: str, at: str, *, stamp: str | None = None) -> None:
        """Count a hit on an entry (and give it ``stamp`` when one is passed)."""
        self.db.execute(
            "UPDATE answer_cache SET stamp = coalesce(%s, stamp), hits = hits + 1, "
            "last_hit_at = %s WHERE key = %s",
            (stamp, at, key),
        )

    def cache_drop(self, key: str) -> None:
        self.db.execute("DELETE FROM answer_cache WHERE key = %s", (key,))

    def cache_sources_unchanged(self, key: str) -> bool:
        """True when the entry cited chunks and each is still stored with the same id,
        content hash, page URL, title and access."""
        row = self.db.row(
            "SELECT (SELECT count(*) FROM answer_cache_chunks WHERE key = %s), "
            f"(SELECT count(*) FROM answer_cache_chunks acc {_SAME_CHUNK} WHERE acc.key = %s)",
            (key, key),
        )
        wanted, present = row or (0, 0)
        return bool(wanted) and wanted == present

    def cited_chunks(self, chunk_ids: Sequence[int]) -> dict[int, CitedChunk]:
        """The chunks of ``chunk_ids`` still stored, as a cache entry would depend on them."""
        rows = self.db.rows(
            "SELECT c.id, c.sha, c.text, d.url, d.title, d.access::text FROM chunks c "
            "JOIN documents d ON d.id = c.document_id WHERE c.id = ANY(%s)",
            (sorted({int(i) for i in chunk_ids}),),
        )
        return {int(row[0]): CitedChunk(int(row[0]), *row[1:]) for row in rows}

    def cache_put(
        self,
        key: str,
        entry: CachedAnswer,
        *,
        question: str,
        mode: str,
        model: str | None,
        cited: Sequence[CitedChunk],
        expire_before: str,
        max_entries: int,
    ) -> None:
        """Replace the entry ``key`` and its cited chunks, then evict (expired entries,
        then the least recently used beyond ``max_entries``), all in one transaction."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM answer_cache WHERE key = %s", (key,))
            conn.execute(
                "INSERT INTO answer_cache (key, question, mode, model, answer, created_at, "
                "stamp) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (key, question.replace("\x00", " "), mode, model, entry.answer,
                 entry.created_at, entry.stamp),
            )  # fmt: skip
            self.db.executemany(
                "INSERT INTO answer_cache_chunks (key, chunk_id, sha, url, title, access) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [(key, c.chunk_id, c.sha, c.url, c.title, c.access) for c in cited],
            )
            _evict(conn, expire_before, max_entries)

    def cache_purge(self, expire_before: str, max_entries: int) -> int:
        """Drop entries whose cited chunks changed, expired ones and the excess; returns
        how many went."""
        with self.transaction() as conn:
            stale = conn.execute(
                "DELETE FROM answer_cache WHERE key IN (SELECT acc.key FROM "
                "answer_cache_chunks acc "
                "LEFT JOIN chunks c ON c.id = acc.chunk_id AND c.sha = acc.sha "
                "LEFT JOIN documents d ON d.id = c.document_id AND d.url = acc.url "
                "AND d.title = acc.title AND d.access::text IS NOT DISTINCT FROM acc.access "
                "WHERE d.id IS NULL)"
            ).rowcount
            return max(stale, 0) + _evict(conn, expire_before, max_entries)

    def cache_entries(self) -> int:
        row = self.db.row("SELECT count(*) FROM answer_cache")
        return int(row[0]) if row else 0


def _evict(conn: Any, expire_before: str, max_entries: int) -> int:
    expired = conn.execute(
        "DELETE FROM answer_cache WHERE created_at < %s", (expire_before,)
    ).rowcount
    excess = conn.execute(
        "DELETE FROM answer_cache WHERE key IN (SELECT key FROM answer_cache "
        "ORDER BY coalesce(last_hit_at, created_at) DESC, key OFFSET %s)",
        (max_entries,),
    ).rowcount
    return max(expired, 0) + max(excess, 0)
