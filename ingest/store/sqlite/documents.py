"""The write side of the SQLite store: documents and their chunks, FTS rows and
vectors, each document replaced in one transaction."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from ingest.errors import StoreError
from ingest.languages import cjk_bigrams
from ingest.models import Access, Chunk, Document
from ingest.store.codes import binary_code
from ingest.store.sqlite.base import SQLiteBase, _iso, utcnow


class Documents(SQLiteBase):
    """Documents, chunks and their index rows."""

    def reset_index(self) -> None:
        """Forget every document, vector and cursor (``sync --rebuild``)."""
        with self.transaction():
            self.conn.execute("DELETE FROM chunks_fts")
            self.conn.execute("DELETE FROM chunks_cjk")
            self.conn.execute("DELETE FROM chunk_vectors")
            self.conn.execute("DELETE FROM chunk_codes")
            self.conn.execute("DROP TABLE IF EXISTS chunks_vec")
            self._bump_vectors_version()
            self.conn.execute("DELETE FROM documents")
            self.conn.execute("UPDATE sources SET cursor = NULL")
            self.conn.execute("DELETE FROM meta WHERE key IN ('embed_model', 'embed_dim')")

    def document_access(self, source: str) -> dict[str, Access]:
        """Who may read each stored document of ``source``."""
        rows = self.conn.execute(
            "SELECT doc_id, access FROM documents WHERE source = ?", (source,)
        ).fetchall()
        return {doc_id: Access.from_json(access) for doc_id, access in rows}

    def set_access(self, source: str, access: dict[str, Access]) -> int:
        """Record who may read these documents (unchanged content); returns how many
        changed. Searches see the change at once (the vectors version moves on, so
        cached scope masks are rebuilt)."""
        stored = self.document_access(source)
        changed = {d: a for d, a in access.items() if d in stored and stored[d] != a}
        if not changed:
            return 0
        with self.transaction():
            self.conn.executemany(
                "UPDATE documents SET access = ? WHERE source = ? AND doc_id = ?",
                [(a.as_json(), source, d) for d, a in changed.items()],
            )
            self._bump_vectors_version()
        return len(changed)

    def has_restricted(self) -> bool:
        """Does any document have readers (so a reader changes what a search may see)?"""
        row = self.conn.execute("SELECT 1 FROM documents WHERE access IS NOT NULL LIMIT 1")
        return row.fetchone() is not None

    def document_shas(self, source: str) -> dict[str, str]:
        rows = self.conn.execute("SELECT doc_id, sha FROM documents WHERE source = ?", (source,))
        return dict(rows.fetchall())

    def cached_vectors(self, shas: Iterable[str]) -> dict[str, bytes]:
        """Vectors already stored for chunks with these content hashes."""
        wanted = list(set(shas))
        if not wanted or not self._has_vectors():
            return {}
        found: dict[str, bytes] = {}
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self.conn.execute(
                "SELECT c.sha, v.embedding FROM chunks c JOIN chunks_vec v ON v.chunk_id = c.id "
                f"WHERE c.sha IN ({marks})",
                part,
            )
            for sha, blob in rows:
                found.setdefault(sha, blob)
        return found

    def replace_document(
        self, doc: Document, chunks: Sequence[Chunk], vectors: Sequence[bytes]
    ) -> None:
        """Store ``doc`` with its chunks and their vectors, replacing any old version,
        in one transaction."""
        if len(chunks) != len(vectors):
            raise StoreError("internal error: chunks and vectors differ in number")
        conn = self.conn
        with self.transaction():
            self._delete_chunks(doc.source, [doc.doc_id])
            conn.execute(
                """
                INSERT INTO documents (source, doc_id, title, url, sha, updated_at, author,
                                       breadcrumbs, tags, version, synced_at, space, access)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (source, doc_id) DO UPDATE SET
                    title = excluded.title, url = excluded.url, sha = excluded.sha,
                    updated_at = excluded.updated_at, author = excluded.author,
                    breadcrumbs = excluded.breadcrumbs, tags = excluded.tags,
                    version = excluded.version, synced_at = excluded.synced_at,
                    space = excluded.space, access = excluded.access
                """,
                (
                    doc.source,
                    doc.doc_id,
                    doc.title,
                    doc.url,
                    doc.sha,
                    _iso(doc.updated_at),
                    doc.author,
                    json.dumps(list(doc.breadcrumbs)),
                    json.dumps(list(doc.tags)),
                    doc.version,
                    utcnow().isoformat(),
                    doc.space,
                    doc.access.as_json(),
                ),
            )
            (document_id,) = conn.execute(
                "SELECT id FROM documents WHERE source = ? AND doc_id = ?",
                (doc.source, doc.doc_id),
            ).fetchone()
            for chunk, vector in zip(chunks, vectors, strict=True):
                cur = conn.execute(
                    "INSERT INTO chunks (document_id, ordinal, text, heading_path, anchor, sha) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        document_id,
                        chunk.ordinal,
                        chunk.text,
                        json.dumps(list(chunk.heading_path)),
                        chunk.anchor,
                        chunk.sha,
                    ),
                )
                chunk_id = cur.lastrowid
                conn.execute(
                    "INSERT INTO chunks_fts (rowid, title, heading, body) VALUES (?, ?, ?, ?)",
                    (chunk_id, doc.title, " ".join(chunk.heading_path[1:]), chunk.text),
                )
                heading = " ".join(chunk.heading_path[1:])
                # Every chunk gets a row, CJK or not, so BM25's document frequencies
                # (IDF) are over the whole collection, as in chunks_fts.
                grams = cjk_bigrams(f"{doc.title}\n{heading}\n{chunk.text}")
                conn.execute(
                    "INSERT INTO chunks_cjk (rowid, body) VALUES (?, ?)",
                    (chunk_id, " ".join(grams)),
                )
                conn.execute(
                    "INSERT INTO chunks_vec (chunk_id, embedding) VALUES (?, ?)",
                    (chunk_id, vector),
                )
                conn.execute(
                    "INSERT INTO chunk_vectors (chunk_id, embedding) VALUES (?, ?)",
                    (chunk_id, vector),
                )
                conn.execute(
                    "INSERT INTO chunk_codes (chunk_id, code) VALUES (?, ?)",
                    (chunk_id, binary_code(vector)),
                )
            self._bump_vectors_version()

    def _delete_chunks(self, source: str, doc_ids: Sequence[str]) -> None:
        conn = self.conn
        for start in range(0, len(doc_ids), 500):
            part = list(doc_ids[start : start + 500])
            marks = ",".join("?" * len(part))
            ids = [
                row[0]
                for row in conn.execute(
                    "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id "
                    f"WHERE d.source = ? AND d.doc_id IN ({marks})",
                    [source, *part],
                )
            ]
            for cstart in range(0, len(ids), 500):
                cpart = ids[cstart : cstart + 500]
                cmarks = ",".join("?" * len(cpart))
                conn.execute(f"DELETE FROM chunks_fts WHERE rowid IN ({cmarks})", cpart)
                conn.execute(f"DELETE FROM chunks_cjk WHERE rowid IN ({cmarks})", cpart)
                conn.execute(f"DELETE FROM chunk_vectors WHERE chunk_id IN ({cmarks})", cpart)
                conn.execute(f"DELETE FROM chunk_codes WHERE chunk_id IN ({cmarks})", cpart)
                if self._has_vectors():
                    conn.execute(f"DELETE FROM chunks_vec WHERE chunk_id IN ({cmarks})", cpart)
                conn.execute(f"DELETE FROM chunks WHERE id IN ({cmarks})", cpart)

    def delete_documents(self, source: str, doc_ids: Sequence[str]) -> None:
        """Prune documents (and their chunks) that no longer exist at the source."""
        if not doc_ids:
            return
        with self.transaction():
            self._delete_chunks(source, doc_ids)
            for start in range(0, len(doc_ids), 500):
                part = list(doc_ids[start : start + 500])
                marks = ",".join("?" * len(part))
                self.conn.execute(
                    f"DELETE FROM documents WHERE source = ? AND doc_id IN ({marks})",
                    [source, *part],
                )

    def source_names(self) -> list[str]:
        rows = self.conn.execute(
            "SELECT DISTINCT source FROM documents UNION SELECT name FROM sources ORDER BY 1"
        )
        return [row[0] for row in rows]
