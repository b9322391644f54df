"""The answer cache's rows in the SQLite store: entries and the chunks each one cited.

When an entry may be served (TTL, freshness, what is cacheable) is decided in
``bot/answer_cache.py``; this module keeps the rows and answers the one question only
the database can: does every chunk an entry cited still exist unchanged? Tables come
from ``migrations.m004_answer_cache`` (+ m005 stamp, m006 access).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ingest.store.rows import CachedAnswer, CitedChunk
from ingest.store.sqlite.base import SQLiteBase


class AnswerCacheRows(SQLiteBase):
    """``answer_cache`` and ``answer_cache_chunks``."""

    def cache_get(self, key: str) -> CachedAnswer | None:
        row = self.conn.execute(
            "SELECT answer, created_at, stamp FROM answer_cache WHERE key = ?", (key,)
        ).fetchone()
        return CachedAnswer(row[0], row[1], row[2]) if row is not None else None

    def cache_hit(self, key: str, at: str, *, stamp: str | None = None) -> None:
        """Count a hit on an entry (and give it ``stamp`` when one is passed)."""
        if stamp is None:
            self.conn.execute(
                "UPDATE answer_cache SET hits = hits + 1, last_hit_at = ? WHERE key = ?",
                (at, key),
            )
        else:
            self.conn.execute(
                "UPDATE answer_cache SET stamp = ?, hits = hits + 1, last_hit_at = ? WHERE key = ?",
                (stamp, at, key),
            )

    def cache_drop(self, key: str) -> None:
        self.conn.execute("DELETE FROM answer_cache WHERE key = ?", (key,))

    def cache_sources_unchanged(self, key: str) -> bool:
        """True when the entry cited chunks and each is still stored with the same id,
        content hash, page URL, title and access."""
        conn = self.conn
        (wanted,) = conn.execute(
            "SELECT count(*) FROM answer_cache_chunks WHERE key = ?", (key,)
        ).fetchone()
        (present,) = conn.execute(
            "SELECT count(*) FROM answer_cache_chunks acc "
            "JOIN chunks c ON c.id = acc.chunk_id AND c.sha = acc.sha "
            "JOIN documents d ON d.id = c.document_id AND d.url = acc.url AND d.title = acc.title "
            "AND d.access IS acc.access WHERE acc.key = ?",
            (key,),
        ).fetchone()
        return bool(wanted) and wanted == present

    def cited_chunks(self, chunk_ids: Sequence[int]) -> dict[int, CitedChunk]:
        """The chunks of ``chunk_ids`` still stored, as a cache entry would depend on them."""
        ids = sorted(set(chunk_ids))
        marks = ",".join("?" * len(ids))
        rows = self.conn.execute(
            "SELECT c.id, c.sha, c.text, d.url, d.title, d.access FROM chunks c "
            f"JOIN documents d ON d.id = c.document_id WHERE c.id IN ({marks})",
            ids,
        ).fetchall()
        return {row[0]: CitedChunk(*row) for row in rows}

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
            conn.execute("DELETE FROM answer_cache WHERE key = ?", (key,))
            conn.execute(
                "INSERT INTO answer_cache (key, question, mode, model, answer, created_at, stamp) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, question, mode, model, entry.answer, entry.created_at, entry.stamp),
            )
            conn.executemany(
                "INSERT OR IGNORE INTO answer_cache_chunks (key, chunk_id, sha, url, title, "
                "access) VALUES (?, ?, ?, ?, ?, ?)",
                [(key, c.chunk_id, c.sha, c.url, c.title, c.access) for c in cited],
            )
            _evict(conn, expire_before, max_entries)

    def cache_purge(self, expire_before: str, max_entries: int) -> int:
        """Drop entries whose cited chunks changed, expired ones and the excess; returns
        how many went."""
        with self.transaction() as conn:
            stale = conn.execute(
                "DELETE FROM answer_cache WHERE key IN ("
                "SELECT acc.key FROM answer_cache_chunks acc "
                "LEFT JOIN chunks c ON c.id = acc.chunk_id AND c.sha = acc.sha "
                "LEFT JOIN documents d ON d.id = c.document_id AND d.url = acc.url "
                "AND d.title = acc.title AND d.access IS acc.access WHERE d.id IS NULL)"
            ).rowcount
            return max(stale, 0) + _evict(conn, expire_before, max_entries)

    def cache_entries(self) -> int:
        (count,) = self.conn.execute("SELECT count(*) FROM answer_cache").fetchone()
        return int(count)


def _evict(conn: Any, expire_before: str, max_entries: int) -> int:
    expired = conn.execute(
        "DELETE FROM answer_cache WHERE created_at < ?", (expire_before,)
    ).rowcount
    excess = conn.execute(
        "DELETE FROM answer_cache WHERE key IN (SELECT key FROM answer_cache "
        "ORDER BY coalesce(last_hit_at, created_at) DESC LIMIT -1 OFFSET ?)",
        (max_entries,),
    ).rowcount
    return max(expired, 0) + max(excess, 0)
