"""Reading the SQLite store out whole, for ``docbot migrate`` (``ingest/migrate.py``):
documents with their chunks and stored vectors, threads and votes as they were kept.

Only reads. Vectors come from ``chunk_vectors`` (the plain float32 copy every chunk
has), so a migration never re-embeds; documents stream one at a time, so a store of a
million chunks is copied in bounded memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from ingest.models import Access, Chunk, StoredDocument
from ingest.store.rows import FeedbackRecord
from ingest.store.sqlite.base import SQLiteBase, _parse_time


class Export(SQLiteBase):
    """``ExportableStore`` (``ingest/store/contract.py``) for the SQLite file."""

    def export_documents(
        self, source: str
    ) -> Iterator[tuple[StoredDocument, list[Chunk], list[bytes]]]:
        """Each live document of ``source`` with its chunks (in order) and their vectors."""
        ids = [
            row[0]
            for row in self.conn.execute(
                "SELECT id FROM documents WHERE source = ? ORDER BY id", (source,)
            ).fetchall()
        ]
        for id_ in ids:
            row = self.conn.execute(
                "SELECT doc_id, title, url, sha, updated_at, author, breadcrumbs, tags, "
                "version, space, access FROM documents WHERE id = ?",
                (id_,),
            ).fetchone()
            if row is None:  # deleted since the list was read
                continue
            doc_id, title, url, sha, updated, author, crumbs, tags, version, space, access = row
            doc = StoredDocument(
                source=source, doc_id=doc_id, title=title, url=url, body="",
                updated_at=_parse_time(updated), author=author,
                breadcrumbs=tuple(json.loads(crumbs)), tags=tuple(json.loads(tags)),
                version=version, stored_sha=sha, space=space, access=Access.from_json(access),
            )  # fmt: skip
            rows = self.conn.execute(
                "SELECT c.ordinal, c.text, c.heading_path, c.anchor, v.embedding FROM chunks c "
                "LEFT JOIN chunk_vectors v ON v.chunk_id = c.id "
                "WHERE c.document_id = ? ORDER BY c.ordinal, c.id",
                (id_,),
            ).fetchall()
            chunks = [
                Chunk(doc_id, ordinal, text, tuple(json.loads(path)), anchor)
                for ordinal, text, path, anchor, _ in rows
            ]
            yield doc, chunks, [bytes(r[4]) if r[4] is not None else b"" for r in rows]

    def export_threads(self) -> list[tuple[str, str, str, str]]:
        rows = self.conn.execute(
            "SELECT channel, thread_ts, kind, created_at FROM bot_threads ORDER BY created_at"
        ).fetchall()
        return [tuple(row) for row in rows]  # type: ignore[misc]

    def export_feedback(self) -> list[tuple[FeedbackRecord, str | None, str | None]]:
        rows = self.conn.execute(
            "SELECT answer_id, user_id, vote, question, answer, sources, created_at, channel, "
            "message_ts FROM feedback ORDER BY created_at, id"
        ).fetchall()
        return [(FeedbackRecord(*row[:7]), row[7], row[8]) for row in rows]
