"""The write side of the SQLite store: documents and their chunks, FTS rows and
vectors, each document replaced in one transaction.

One :class:`IndexWriter` writes one index generation (``ingest/store/generations.py``):
the live tables (``documents``, ``chunks``, ...) or the ones being built beside them
(``documents_build``, ...). The store's own methods write the live generation.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ingest.errors import EmbedderMismatch, StoreError
from ingest.languages import cjk_bigrams
from ingest.models import Access, Chunk, Document, StoredDocument
from ingest.store.codes import binary_code
from ingest.store.generations import LiveIndexMethods
from ingest.store.sqlite.base import SQLiteBase, _iso, _parse_time, utcnow

INDEX_TABLES = ("documents", "chunks", "chunks_fts", "chunks_cjk", "chunk_codes", "chunk_vectors")
"""The tables of one index generation, parents first. The vec0 table is not among them:
sqlite-vec cannot rename it, so each generation's has its own name, kept in ``meta``."""
T = TypeVar("T")
LEGACY_VEC_TABLE = "chunks_vec"
BUILD_SUFFIX = "_build"
BUILD_PREFIX = "build:"


@dataclass(frozen=True)
class Tables:
    """The table names of one generation: the live one (no suffix) or the build."""

    suffix: str = ""

    def __getitem__(self, name: str) -> str:
        return name + self.suffix

    @property
    def meta_prefix(self) -> str:
        return BUILD_PREFIX if self.suffix else ""

    @property
    def live(self) -> bool:
        return not self.suffix


LIVE = Tables()
BUILD = Tables(BUILD_SUFFIX)


class IndexWriter:
    """Documents, chunks and their index rows in one generation (see the module doc)."""

    def __init__(self, base: SQLiteBase, tables: Tables = LIVE) -> None:
        self.base = base
        self.t = tables

    # --- the embedding model of this generation --------------------------------

    def _meta(self, key: str) -> str | None:
        return self.base.get_meta(self.t.meta_prefix + key)

    @property
    def embed_model(self) -> str | None:
        return self._meta("embed_model")

    @property
    def embed_dim(self) -> int | None:
        dim = self._meta("embed_dim")
        return int(dim) if dim else None

    @property
    def vec_table(self) -> str | None:
        """The vec0 table of this generation (None before its first vector)."""
        name = self._meta("vec_table")
        if name is None and self.t.live and self.embed_dim is not None:
            return LEGACY_VEC_TABLE
        return name

    def check_embedder(self, model_id: str, dim: int | None = None) -> None:
        """Raise :class:`EmbedderMismatch` when vectors here come from another model."""
        path = self.base.path
        current = self.embed_model
        if current is not None and current != model_id:
            raise EmbedderMismatch(
                f"the store {path} was built with the embedding model {current!r}, "
                f"but {model_id!r} is configured; vectors from two models cannot be mixed. "
                "Rebuild it with `docbot sync --rebuild` (builds a new index beside the "
                "current one, which keeps answering until the new one is complete), "
                "or set DOCBOT_EMBEDDER / DOCBOT_EMBED_MODEL back."
            )
        if dim is not None and self.embed_dim is not None and dim != self.embed_dim:
            raise EmbedderMismatch(
                f"the store {path} holds {self.embed_dim}-dimensional vectors but the "
                f"embedder returned {dim}; rebuild it with `docbot sync --rebuild`."
            )

    def bind_embedder(self, model_id: str, dim: int) -> None:
        """Record the model and create this generation's vector index on first use."""
        self.check_embedder(model_id, dim)
        if self.embed_dim is not None:
            return
        prefix = self.t.meta_prefix
        if self.t.live:
            vec = LEGACY_VEC_TABLE
        else:
            vec = f"{LEGACY_VEC_TABLE}_g{self.base.get_meta(prefix + 'generation') or 2}"
        with self.base.transaction():
            self.base.set_meta(prefix + "embed_model", model_id)
            self.base.set_meta(prefix + "embed_dim", str(dim))
            self.base.set_meta(prefix + "vec_table", vec)
            self.base.conn.execute(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {vec} USING vec0("
                f"chunk_id INTEGER PRIMARY KEY, embedding float[{dim}] distance_metric=cosine)"
            )

    # --- reading what is there ------------------------------------------------

    def document_access(self, source: str) -> dict[str, Access]:
        """Who may read each stored document of ``source``."""
        rows = self.base.conn.execute(
            f"SELECT doc_id, access FROM {self.t['documents']} WHERE source = ?", (source,)
        ).fetchall()
        return {doc_id: Access.from_json(access) for doc_id, access in rows}

    def set_access(self, source: str, access: dict[str, Access]) -> int:
        """Record who may read these documents (unchanged content); returns how many
        changed. Searches see the change at once (the vectors version moves on, so
        cached scope masks are rebuilt), and the source's generation moves on, so
        cached answers are checked again."""
        stored = self.document_access(source)
        changed = {d: a for d, a in access.items() if d in stored and stored[d] != a}
        if not changed:
            return 0
        with self.base.transaction() as conn:
            conn.executemany(
                f"UPDATE {self.t['documents']} SET access = ? WHERE source = ? AND doc_id = ?",
                [(a.as_json(), source, d) for d, a in changed.items()],
            )
            self.base._bump_vectors_version()
            self._changed(source)
        return len(changed)

    def has_restricted(self) -> bool:
        """Does any document have readers (so a reader changes what a search may see)?"""
        row = self.base.conn.execute(
            f"SELECT 1 FROM {self.t['documents']} WHERE access IS NOT NULL LIMIT 1"
        )
        return row.fetchone() is not None

    def document_shas(self, source: str) -> dict[str, str]:
        rows = self.base.conn.execute(
            f"SELECT doc_id, sha FROM {self.t['documents']} WHERE source = ?", (source,)
        )
        return dict(rows.fetchall())

    def count(self, source: str) -> int:
        (n,) = self.base.conn.execute(
            f"SELECT count(*) FROM {self.t['documents']} WHERE source = ?", (source,)
        ).fetchone()
        return int(n)

    def titles(self, source: str, doc_ids: Sequence[str]) -> dict[str, str]:
        """doc_id -> title of these documents (for reporting what a run deleted)."""
        found: dict[str, str] = {}
        for part in _parts(list(doc_ids)):
            marks = ",".join("?" * len(part))
            rows = self.base.conn.execute(
                f"SELECT doc_id, title FROM {self.t['documents']} "
                f"WHERE source = ? AND doc_id IN ({marks})",
                [source, *part],
            )
            found.update(dict(rows.fetchall()))
        return found

    def _vectors_from(self, tables: Tables, wanted: list[str], found: dict[str, bytes]) -> None:
        for part in _parts(wanted):
            marks = ",".join("?" * len(part))
            rows = self.base.conn.execute(
                f"SELECT c.sha, v.embedding FROM {tables['chunks']} c "
                f"JOIN {tables['chunk_vectors']} v ON v.chunk_id = c.id "
                f"WHERE c.sha IN ({marks})",
                part,
            )
            for sha, blob in rows:
                found.setdefault(sha, blob)

    def cached_vectors(self, shas: Iterable[str]) -> dict[str, bytes]:
        """Vectors already stored for chunks with these content hashes: in this
        generation, and for a build also in the live one when its model is the same."""
        wanted = list(set(shas))
        found: dict[str, bytes] = {}
        if not wanted:
            return found
        if self.embed_dim is not None:
            self._vectors_from(self.t, wanted, found)
        if not self.t.live:
            live = IndexWriter(self.base, LIVE)
            if live.embed_model is not None and live.embed_model == self.embed_model:
                self._vectors_from(LIVE, [s for s in wanted if s not in found], found)
        return found

    def stored_documents(
        self, source: str, doc_ids: Sequence[str] | None = None
    ) -> list[tuple[StoredDocument, list[Chunk]]]:
        """Documents as stored here (all of ``source``, or these ids), with their chunks:
        what a rebuild carries over when the source cannot give them again."""
        docs = self.t["documents"]
        query = (
            "SELECT id, doc_id, title, url, sha, updated_at, author, breadcrumbs, tags, "
            f"version, space, access FROM {docs} WHERE source = ?"
        )
        rows: list[Any] = []
        if doc_ids is None:
            rows = self.base.conn.execute(query, (source,)).fetchall()
        else:
            for part in _parts(list(doc_ids)):
                marks = ",".join("?" * len(part))
                rows += self.base.conn.execute(
                    f"{query} AND doc_id IN ({marks})", [source, *part]
                ).fetchall()
        out = []
        for row in rows:
            (id_, doc_id, title, url, sha, updated, author, crumbs, tags, version, space,
             access) = row  # fmt: skip
            doc = StoredDocument(
                source=source, doc_id=doc_id, title=title, url=url, body="",
                updated_at=_parse_time(updated), author=author,
                breadcrumbs=tuple(json.loads(crumbs)), tags=tuple(json.loads(tags)),
                version=version, stored_sha=sha, space=space,
                access=Access.from_json(access),
            )  # fmt: skip
            chunk_rows = self.base.conn.execute(
                f"SELECT ordinal, text, heading_path, anchor FROM {self.t['chunks']} "
                "WHERE document_id = ? ORDER BY ordinal, id",
                (id_,),
            ).fetchall()
            chunks = [
                Chunk(doc_id, ordinal, text, tuple(json.loads(path)), anchor)
                for ordinal, text, path, anchor in chunk_rows
            ]
            out.append((doc, chunks))
        return out

    # --- writing --------------------------------------------------------------

    def _next_chunk_id(self) -> int:
        """One past the highest chunk id of either generation, so ids never repeat
        across them (a reader's id from the old generation names nothing in the new)."""
        conn = self.base.conn
        present = {
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (?, ?)",
                (LIVE["chunks"], BUILD["chunks"]),
            )
        }
        highest = 0
        for name in present:
            (top,) = conn.execute(f"SELECT max(id) FROM {name}").fetchone()
            highest = max(highest, top or 0)
        return highest + 1

    def replace_document(
        self, doc: Document, chunks: Sequence[Chunk], vectors: Sequence[bytes]
    ) -> None:
        """Store ``doc`` with its chunks and their vectors, replacing any old version,
        in one transaction."""
        if len(chunks) != len(vectors):
            raise StoreError("internal error: chunks and vectors differ in number")
        t = self.t
        with self.base.transaction() as conn:
            self._delete_chunks(doc.source, [doc.doc_id])
            conn.execute(
                f"""
                INSERT INTO {t["documents"]} (source, doc_id, title, url, sha, updated_at,
                                              author, breadcrumbs, tags, version, synced_at,
                                              space, access)
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
                f"SELECT id FROM {t['documents']} WHERE source = ? AND doc_id = ?",
                (doc.source, doc.doc_id),
            ).fetchone()
            vec = self.vec_table
            chunk_id = self._next_chunk_id()
            for chunk, vector in zip(chunks, vectors, strict=True):
                conn.execute(
                    f"INSERT INTO {t['chunks']} (id, document_id, ordinal, text, heading_path, "
                    "anchor, sha) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        chunk_id,
                        document_id,
                        chunk.ordinal,
                        chunk.text,
                        json.dumps(list(chunk.heading_path)),
                        chunk.anchor,
                        chunk.sha,
                    ),
                )
                heading = " ".join(chunk.heading_path[1:])
                conn.execute(
                    f"INSERT INTO {t['chunks_fts']} (rowid, title, heading, body) "
                    "VALUES (?, ?, ?, ?)",
                    (chunk_id, doc.title, heading, chunk.text),
                )
                # Every chunk gets a row, CJK or not, so BM25's document frequencies
                # (IDF) are over the whole collection, as in chunks_fts.
                grams = cjk_bigrams(f"{doc.title}\n{heading}\n{chunk.text}")
                conn.execute(
                    f"INSERT INTO {t['chunks_cjk']} (rowid, body) VALUES (?, ?)",
                    (chunk_id, " ".join(grams)),
                )
                if vec is not None:
                    conn.execute(
                        f"INSERT INTO {vec} (chunk_id, embedding) VALUES (?, ?)",
                        (chunk_id, vector),
                    )
                conn.execute(
                    f"INSERT INTO {t['chunk_vectors']} (chunk_id, embedding) VALUES (?, ?)",
                    (chunk_id, vector),
                )
                conn.execute(
                    f"INSERT INTO {t['chunk_codes']} (chunk_id, code) VALUES (?, ?)",
                    (chunk_id, binary_code(vector)),
                )
                chunk_id += 1
            self._changed(doc.source)

    def _changed(self, source: str) -> None:
        """A live write: the in-memory codes reload, and the source's generation moves
        on (what cached answers are checked against; ``bot/freshness.py``)."""
        if not self.t.live:
            return
        self.base._bump_vectors_version()
        self.base.conn.execute(
            "INSERT INTO sources (name, generation) VALUES (?, 1) "
            "ON CONFLICT (name) DO UPDATE SET generation = generation + 1",
            (source,),
        )

    def _delete_chunks(self, source: str, doc_ids: Sequence[str]) -> None:
        conn = self.base.conn
        t = self.t
        vec = self.vec_table
        for part in _parts(list(doc_ids)):
            marks = ",".join("?" * len(part))
            ids = [
                row[0]
                for row in conn.execute(
                    f"SELECT c.id FROM {t['chunks']} c JOIN {t['documents']} d "
                    f"ON d.id = c.document_id WHERE d.source = ? AND d.doc_id IN ({marks})",
                    [source, *part],
                )
            ]
            for cpart in _parts(ids):
                cmarks = ",".join("?" * len(cpart))
                conn.execute(f"DELETE FROM {t['chunks_fts']} WHERE rowid IN ({cmarks})", cpart)
                conn.execute(f"DELETE FROM {t['chunks_cjk']} WHERE rowid IN ({cmarks})", cpart)
                conn.execute(
                    f"DELETE FROM {t['chunk_vectors']} WHERE chunk_id IN ({cmarks})", cpart
                )
                conn.execute(f"DELETE FROM {t['chunk_codes']} WHERE chunk_id IN ({cmarks})", cpart)
                if vec is not None:
                    conn.execute(f"DELETE FROM {vec} WHERE chunk_id IN ({cmarks})", cpart)
                conn.execute(f"DELETE FROM {t['chunks']} WHERE id IN ({cmarks})", cpart)

    def delete_documents(self, source: str, doc_ids: Sequence[str]) -> None:
        """Prune documents (and their chunks) that no longer exist at the source."""
        if not doc_ids:
            return
        with self.base.transaction() as conn:
            self._delete_chunks(source, doc_ids)
            for part in _parts(list(doc_ids)):
                marks = ",".join("?" * len(part))
                conn.execute(
                    f"DELETE FROM {self.t['documents']} WHERE source = ? AND doc_id IN ({marks})",
                    [source, *part],
                )
            self._changed(source)

    def source_counts(self) -> dict[str, int]:
        rows = self.base.conn.execute(
            f"SELECT source, count(*) FROM {self.t['documents']} GROUP BY source"
        )
        return dict(rows.fetchall())


def _parts(items: Sequence[T], size: int = 500) -> Iterator[list[T]]:
    """``items`` in slices small enough for one statement's ``IN (...)``."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


class Documents(LiveIndexMethods, SQLiteBase):
    """The live generation's write side (see :class:`IndexWriter`)."""

    @property
    def live_index(self) -> IndexWriter:
        return IndexWriter(self, LIVE)

    def source_names(self) -> list[str]:
        rows = self.conn.execute(
            "SELECT DISTINCT source FROM documents UNION SELECT name FROM sources ORDER BY 1"
        )
        return [row[0] for row in rows]
