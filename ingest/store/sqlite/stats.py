"""What the bot reads about the corpus itself: counts, recent titles, and how many
chunks hold a word (the rarity behind the abstention gate, ``bot/evidence.py``).

Words are matched as FTS5 phrases with the porter stemming the lexical search uses, so a
word's rarity and a passage's coverage agree with how BM25 ranked it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ingest.store.rows import NearChunk
from ingest.store.sqlite.base import SQLiteBase
from ingest.store.sqlite.db import sqlite_module


def _phrase(term: str) -> str:
    return f'"{term}"'


class Stats(SQLiteBase):
    """Counts and term statistics of the live index."""

    def has_chunks(self) -> bool:
        return self.conn.execute("SELECT 1 FROM chunks LIMIT 1").fetchone() is not None

    def chunk_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0])

    def document_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM documents").fetchone()[0])

    def recent_titles(self, limit: int) -> list[str]:
        """Titles of unrestricted documents, most recently updated first."""
        rows = self.conn.execute(
            "SELECT title FROM documents WHERE access IS NULL "  # never a restricted title
            "ORDER BY coalesce(updated_at, synced_at) DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [r[0] for r in rows]

    def term_frequencies(
        self, terms: Sequence[str], among: Sequence[int]
    ) -> tuple[dict[str, int], dict[int, set[str]]]:
        """({term: chunks of the whole index holding it}, {chunk id of ``among``: the
        terms it holds}). A term is a word or several, matched as one phrase (no query
        syntax)."""
        conn = self.conn
        counts: dict[str, int] = {}
        covered: dict[int, set[str]] = {cid: set() for cid in among}
        ids = list(covered)
        marks = ",".join("?" * len(ids))
        for term in terms:
            match = _phrase(term)
            counts[term] = int(
                conn.execute(
                    "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (match,)
                ).fetchone()[0]
            )
            if not ids or counts[term] == 0:
                continue
            rows = conn.execute(
                f"SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ? AND rowid IN ({marks})",
                (match, *ids),
            )
            for (rowid,) in rows:
                covered[int(rowid)].add(term)
        return counts, covered

    def previous_chunk_text(self, chunk_id: int) -> str | None:
        """The text of the chunk just before ``chunk_id`` in its document, if any."""
        row = self.conn.execute(
            "SELECT p.text FROM chunks c JOIN chunks p ON p.document_id = c.document_id "
            "AND p.ordinal = c.ordinal - 1 WHERE c.id = ?",
            (chunk_id,),
        ).fetchone()
        return None if row is None else str(row[0])

    def chunks_around(self, chunk_id: int, before: int, after: int) -> list[NearChunk]:
        """The chunks of ``chunk_id``'s document within ``before`` / ``after`` ordinals
        of it, itself included, in document order."""
        rows = self.conn.execute(
            "SELECT n.id, n.ordinal, n.heading_path, n.text FROM chunks c JOIN chunks n "
            "ON n.document_id = c.document_id AND n.ordinal BETWEEN c.ordinal - ? AND "
            "c.ordinal + ? WHERE c.id = ? ORDER BY n.ordinal",
            (before, after, chunk_id),
        ).fetchall()
        return [NearChunk(int(i), int(o), tuple(json.loads(h)), str(t)) for i, o, h, t in rows]

    def texts_holding(self, texts: Sequence[str], terms: Sequence[str]) -> dict[str, set[int]]:
        """{term: indexes of ``texts`` that hold it}, matched the way the lexical search
        matches (a throwaway in-memory FTS5 table; the store itself is not touched)."""
        found: dict[str, set[int]] = {}
        conn = sqlite_module().connect(":memory:")
        try:
            conn.execute(
                "CREATE VIRTUAL TABLE u USING fts5(body, tokenize = 'porter unicode61 "
                "remove_diacritics 2')"
            )
            conn.executemany("INSERT INTO u(rowid, body) VALUES (?, ?)", list(enumerate(texts)))
            for term in terms:
                rows = conn.execute("SELECT rowid FROM u WHERE u MATCH ?", (_phrase(term),))
                found[term] = {int(rowid) for (rowid,) in rows}
        finally:
            conn.close()
        return found
