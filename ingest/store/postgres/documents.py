"""The write side of the PostgreSQL store: documents and their chunks, the weighted
``tsvector`` and the vectors, each document replaced in one transaction.

One :class:`IndexWriter` writes one index generation (``ingest/store/generations.py``):
the live tables (``documents``, ``chunks``, ``chunk_vectors``) or the ones being built
beside them (``*_build``). The store's own methods write the live generation.

``chunk_vectors`` holds each chunk's vector (pgvector, the model's dimension, an HNSW
index with cosine distance) and its 1-bit code (``ingest/store/codes.py``); it is made
when the generation's embedder is bound, as the SQLite side makes its vec0 table, and
its index once it holds vectors (:meth:`IndexWriter.ensure_vector_index`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ingest.errors import EmbedderMismatch, StoreError
from ingest.languages import cjk_bigrams
from ingest.models import Access, Chunk, Document, StoredDocument
from ingest.store.codes import binary_code
from ingest.store.generations import LiveIndexMethods
from ingest.store.postgres.base import PostgresBase, _iso, _parse_time, utcnow
from ingest.store.postgres.lexical import TSV_SQL, fold

INDEX_TABLES = ("documents", "chunks", "chunk_vectors", "chunk_terms", "chunk_term_changes")
"""The tables of one generation, parents first (``chunk_vectors`` once an embedder is
bound; ``chunk_terms`` and ``chunk_term_changes``, the lexemes' document frequencies,
refer to no other)."""
TERMS_FOLD_EVERY = 100
"""Documents a process writes between folding ``chunk_term_changes`` into
``chunk_terms``. Updating the counts in place for every document made inserts 2.5x
slower than without counts (each common lexeme's row rewritten once per document:
MVCC churn, ~240 buffer reads per update); appending and folding every 100 documents
made them ~2x on the same worst case (50 unrelated abstracts per document;
docs/BENCHMARKS.md), and keeps a lexeme's pending changes to a few hundred rows for
the readers to add up."""
TERM_FIELDS = ("tsv", "cjk")
"""The ``tsvector`` columns whose lexemes ``chunk_terms`` counts (its ``field``)."""
BUILD_SUFFIX = "_build"
BUILD_PREFIX = "build:"
"""``maintenance_work_mem`` while an HNSW index is built: the graph of 1M 384-d vectors
needs about 2 GB to be built fully in memory; less only makes the build slower."""
HNSW_MAX_DIM = 2000
"""pgvector indexes ``vector`` columns of up to 2,000 dimensions; wider ones are
searched exactly (a sequential scan), which ``vector_plan`` says."""
HNSW_STORAGE = "halfvec"
"""How a new database's HNSW graph stores its vectors: ``vector`` (float32) or
``halfvec`` (float16, pgvector 0.7+). Recorded in ``meta['hnsw_storage']`` when the first
index is built and kept for every later generation, so a running process never queries
a graph of the other kind (``search.py``); stores from before the key keep ``vector``.
float16 halves the graph (1M 384-d chunks: 1.1 GB against 1.95 GB), so twice as much of
it stays in shared buffers; results are re-ranked by the stored float32 vectors."""
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 128
"""The graph's build parameters. pgvector's default ``ef_construction`` (64) gave a graph
whose recall@10 at 1M chunks stopped at 0.89 at ``ef_search`` 400 and needed 1000 for
0.95; 128 reached 0.96 at 400 for ~1.5x the build time (docs/BENCHMARKS.md, "PostgreSQL
at 1M chunks"). ``m`` stays at pgvector's 16."""


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


def _text(value: str) -> str:
    """PostgreSQL text cannot hold NUL characters; a document may."""
    return value.replace("\x00", " ")


def _json(value: Sequence[str]) -> str:
    return json.dumps([_text(v) for v in value])


def as_vector(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32)


def from_db(value: Any) -> np.ndarray:
    """A vector as pgvector's adapter returns it (a ``Vector``), as float32 numpy."""
    array = value.to_numpy() if hasattr(value, "to_numpy") else value
    return np.asarray(array, dtype=np.float32)


class IndexWriter:
    """Documents, chunks and their index rows in one generation (see the module doc)."""

    def __init__(self, base: PostgresBase, tables: Tables = LIVE) -> None:
        self.base = base
        self.db = base.db
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

    def check_embedder(self, model_id: str, dim: int | None = None) -> None:
        """Raise :class:`EmbedderMismatch` when vectors here come from another model."""
        where = self.base.location
        current = self.embed_model
        if current is not None and current != model_id:
            raise EmbedderMismatch(
                f"the store {where} was built with the embedding model {current!r}, "
                f"but {model_id!r} is configured; vectors from two models cannot be mixed. "
                "Rebuild it with `docbot sync --rebuild` (builds a new index beside the "
                "current one, which keeps answering until the new one is complete), "
                "or set DOCBOT_EMBEDDER / DOCBOT_EMBED_MODEL back."
            )
        if dim is not None and self.embed_dim is not None and dim != self.embed_dim:
            raise EmbedderMismatch(
                f"the store {where} holds {self.embed_dim}-dimensional vectors but the "
                f"embedder returned {dim}; rebuild it with `docbot sync --rebuild`."
            )

    def bind_embedder(self, model_id: str, dim: int) -> None:
        """Record the model and create this generation's vector table on first use
        (its HNSW index comes once it holds vectors: :meth:`ensure_vector_index`)."""
        self.check_embedder(model_id, dim)
        if self.embed_dim is not None:
            return
        prefix = self.t.meta_prefix
        table, chunks = self.t["chunk_vectors"], self.t["chunks"]
        with self.base.transaction() as conn:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {table} ("
                f"chunk_id BIGINT PRIMARY KEY REFERENCES {chunks}(id) ON DELETE CASCADE, "
                f"code BYTEA NOT NULL, embedding vector({int(dim)}) NOT NULL)"
            )
            self.base.set_meta(prefix + "embed_model", model_id)
            self.base.set_meta(prefix + "embed_dim", str(dim))

    def _generation(self) -> int:
        if not self.t.live:
            return int(self.base.get_meta(BUILD_PREFIX + "generation") or 2)
        return int(self.base.get_meta("index_generation") or 1)

    def ensure_vector_index(self) -> bool:
        """Build this generation's HNSW index if it has none yet; whether it has one.

        Built in one pass over the vectors already there, which costs a fraction of
        inserting them into the graph one by one (on this machine ~5 ms a vector), so
        a first sync and a rebuild write their vectors without it and build it at the
        end (after the first sync; before a rebuild's switch); later syncs add their
        vectors to it as they write them."""
        dim = self.embed_dim
        if dim is None or dim > HNSW_MAX_DIM:
            return False
        table = self.t["chunk_vectors"]
        name = f"chunk_vectors_hnsw_g{self._generation()}"
        if self.base._table_exists(name):
            return True
        kind = self.base.get_meta("hnsw_storage")
        if kind is None:  # the first index of this database, or one from before the key
            live = f"chunk_vectors_hnsw_g{int(self.base.get_meta('index_generation') or 1)}"
            halfvec = getattr(self.base, "pgvector_version", (0,)) >= (0, 7)
            old = not self.t.live and self.base._table_exists(live)
            kind = "halfvec" if HNSW_STORAGE == "halfvec" and halfvec and not old else "vector"
        column = (
            f"(embedding::halfvec({int(dim)})) halfvec_cosine_ops"
            if kind == "halfvec"
            else "embedding vector_cosine_ops"
        )
        with self.base.transaction() as conn:
            memory = int(self.base.build_memory_mb)  # a whole number: safe to inline
            conn.execute(f"SET LOCAL maintenance_work_mem = '{memory}MB'")
            conn.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING hnsw ({column}) "
                f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})"
            )
            self.base.set_meta("hnsw_storage", kind)
        return True

    # --- reading what is there ------------------------------------------------

    def document_access(self, source: str) -> dict[str, Access]:
        """Who may read each stored document of ``source``."""
        rows = self.db.rows(
            f"SELECT doc_id, access::text FROM {self.t['documents']} WHERE source = %s",
            (source,),
        )
        return {doc_id: Access.from_json(access) for doc_id, access in rows}

    def set_access(self, source: str, access: dict[str, Access]) -> int:
        """Record who may read these documents (unchanged content); returns how many
        changed, and moves the vectors version and the source's generation on."""
        stored = self.document_access(source)
        changed = {d: a for d, a in access.items() if d in stored and stored[d] != a}
        if not changed:
            return 0
        with self.base.transaction():
            self.db.executemany(
                f"UPDATE {self.t['documents']} SET access = %s::jsonb "
                "WHERE source = %s AND doc_id = %s",
                [(a.as_json(), source, d) for d, a in changed.items()],
            )
            self.base._bump_vectors_version()
            self._changed(source)
        return len(changed)

    def has_restricted(self) -> bool:
        """Does any document have readers (so a reader changes what a search may see)?"""
        row = self.db.row(f"SELECT 1 FROM {self.t['documents']} WHERE access IS NOT NULL LIMIT 1")
        return row is not None

    def document_shas(self, source: str) -> dict[str, str]:
        rows = self.db.rows(
            f"SELECT doc_id, sha FROM {self.t['documents']} WHERE source = %s", (source,)
        )
        return dict(rows)  # type: ignore[arg-type]

    def count(self, source: str) -> int:
        row = self.db.row(
            f"SELECT count(*) FROM {self.t['documents']} WHERE source = %s", (source,)
        )
        return int(row[0]) if row else 0

    def titles(self, source: str, doc_ids: Sequence[str]) -> dict[str, str]:
        """doc_id -> title of these documents (for reporting what a run deleted)."""
        rows = self.db.rows(
            f"SELECT doc_id, title FROM {self.t['documents']} "
            "WHERE source = %s AND doc_id = ANY(%s)",
            (source, list(doc_ids)),
        )
        return dict(rows)  # type: ignore[arg-type]

    def _vectors_from(self, tables: Tables, wanted: list[str], found: dict[str, bytes]) -> None:
        rows = self.db.rows(
            f"SELECT c.sha, v.embedding FROM {tables['chunks']} c "
            f"JOIN {tables['chunk_vectors']} v ON v.chunk_id = c.id WHERE c.sha = ANY(%s)",
            (wanted,),
            binary=True,
        )
        for sha, vector in rows:
            found.setdefault(sha, from_db(vector).tobytes())

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
        query = (
            "SELECT id, doc_id, title, url, sha, updated_at, author, breadcrumbs, tags, "
            f"version, space, access::text FROM {self.t['documents']} WHERE source = %s"
        )
        params: tuple[Any, ...] = (source,)
        if doc_ids is not None:
            query += " AND doc_id = ANY(%s)"
            params = (source, list(doc_ids))
        out = []
        for row in self.db.rows(query + " ORDER BY id", params):
            (id_, doc_id, title, url, sha, updated, author, crumbs, tags, version, space,
             access) = row  # fmt: skip
            doc = StoredDocument(
                source=source, doc_id=doc_id, title=title, url=url, body="",
                updated_at=_parse_time(updated), author=author,
                breadcrumbs=tuple(crumbs), tags=tuple(tags),
                version=version, stored_sha=sha, space=space,
                access=Access.from_json(access),
            )  # fmt: skip
            chunk_rows = self.db.rows(
                f"SELECT ordinal, text, heading_path, anchor FROM {self.t['chunks']} "
                "WHERE document_id = %s ORDER BY ordinal, id",
                (id_,),
            )
            chunks = [
                Chunk(doc_id, ordinal, text, tuple(path), anchor)
                for ordinal, text, path, anchor in chunk_rows
            ]
            out.append((doc, chunks))
        return out

    # --- writing --------------------------------------------------------------

    def replace_document(
        self, doc: Document, chunks: Sequence[Chunk], vectors: Sequence[bytes]
    ) -> None:
        """Store ``doc`` with its chunks and their vectors, replacing any old version,
        in one transaction."""
        if len(chunks) != len(vectors):
            raise StoreError("internal error: chunks and vectors differ in number")
        t = self.t
        has_vectors = self.embed_dim is not None
        config = self.base.text_config
        with self.base.transaction() as conn:
            row = conn.execute(
                f"""
                INSERT INTO {t["documents"]} (source, doc_id, title, url, sha, updated_at,
                                              author, breadcrumbs, tags, version, synced_at,
                                              space, access)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, %s, %s::jsonb)
                ON CONFLICT (source, doc_id) DO UPDATE SET
                    title = excluded.title, url = excluded.url, sha = excluded.sha,
                    updated_at = excluded.updated_at, author = excluded.author,
                    breadcrumbs = excluded.breadcrumbs, tags = excluded.tags,
                    version = excluded.version, synced_at = excluded.synced_at,
                    space = excluded.space, access = excluded.access
                RETURNING id
                """,
                (
                    _text(doc.source),
                    _text(doc.doc_id),
                    _text(doc.title),
                    _text(doc.url),
                    doc.sha,
                    _iso(doc.updated_at),
                    _text(doc.author) if doc.author else doc.author,
                    _json(doc.breadcrumbs),
                    _json(doc.tags),
                    doc.version,
                    utcnow(),
                    doc.space,
                    doc.access.as_json(),
                ),
            ).fetchone()
            assert row is not None
            document_id = row[0]
            self._count_terms(conn, [document_id], -1)
            conn.execute(f"DELETE FROM {t['chunks']} WHERE document_id = %s", (document_id,))
            title = fold(doc.title)
            rows = []
            for chunk, vector in zip(chunks, vectors, strict=True):
                heading = " ".join(chunk.heading_path[1:])
                grams = cjk_bigrams(f"{doc.title}\n{heading}\n{chunk.text}")
                row_params: list[Any] = [
                    document_id, chunk.ordinal, _text(chunk.text), _json(chunk.heading_path),
                    _text(chunk.anchor), chunk.sha,
                    config, title, config, fold(heading), config, fold(chunk.text),
                    " ".join(grams),
                ]  # fmt: skip
                if has_vectors:
                    row_params += [binary_code(vector), as_vector(vector)]
                rows.append(row_params)
            insert_chunk = (
                f"INSERT INTO {t['chunks']} (document_id, ordinal, text, heading_path, anchor, "
                f"sha, tsv, cjk) VALUES (%s, %s, %s, %s::jsonb, %s, %s, {TSV_SQL}, "
                "to_tsvector('simple', %s)) RETURNING id"
            )
            if has_vectors:
                insert_chunk = (
                    f"WITH c AS ({insert_chunk}) INSERT INTO {t['chunk_vectors']} "
                    "(chunk_id, code, embedding) SELECT id, %s, %s FROM c"
                )
            with conn.cursor() as cur:
                cur.executemany(insert_chunk, rows)
            self._count_terms(conn, [document_id], 1)
            self._changed(doc.source)
        self._fold_now_and_then()

    def _count_terms(self, conn: Any, document_ids: list[int], sign: int) -> None:
        """Add (``sign`` 1) or take away (-1) the lexemes of these documents' chunks,
        appended to ``chunk_term_changes`` inside the transaction that writes or deletes
        them, so the counts are exact whenever the chunks are visible."""
        chunks, changes = self.t["chunks"], self.t["chunk_term_changes"]
        counted = " UNION ALL ".join(
            f"SELECT '{field}', l, count(*) * %(sign)s "
            f"FROM {chunks} c, unnest(tsvector_to_array(c.{field})) AS l "
            "WHERE c.document_id = ANY(%(ids)s) GROUP BY l"
            for field in TERM_FIELDS
        )
        counted += (  # the totals behind BM25's average length (migrations.TOTALS)
            " UNION ALL SELECT '#tokens', 'tsv', coalesce(sum(c.tokens), 0) * %(sign)s "
            f"FROM {chunks} c WHERE c.document_id = ANY(%(ids)s) "
            "UNION ALL SELECT '#chunks', 'tsv', count(*) * %(sign)s "
            f"FROM {chunks} c WHERE c.document_id = ANY(%(ids)s)"
        )
        conn.execute(
            f"INSERT INTO {changes} (field, lexeme, delta) {counted}",
            {"sign": int(sign), "ids": document_ids},
        )
        key = "_terms_written" + self.t.suffix  # per generation: each folds its own
        self.base.__dict__[key] = self.base.__dict__.get(key, 0) + 1

    def fold_term_changes(self) -> None:
        """Fold the appended changes into ``chunk_terms`` in one transaction (deleted from
        the log and added to the counts together, so readers never count one twice).
        Rows go in (field, lexeme) order: two processes folding at once wait for each
        other on the common lexemes instead of deadlocking."""
        terms, changes = self.t["chunk_terms"], self.t["chunk_term_changes"]
        self.db.execute(
            f"WITH moved AS (DELETE FROM {changes} RETURNING field, lexeme, delta) "
            f"INSERT INTO {terms} (field, lexeme, df) SELECT field, lexeme, sum(delta) "
            "FROM moved GROUP BY field, lexeme ORDER BY field, lexeme "
            f"ON CONFLICT (field, lexeme) DO UPDATE SET df = {terms}.df + excluded.df"
        )
        self.base.__dict__["_terms_written" + self.t.suffix] = 0

    def _fold_now_and_then(self) -> None:
        """After a write's transaction: fold when this process has written enough."""
        if self.base.__dict__.get("_terms_written" + self.t.suffix, 0) >= TERMS_FOLD_EVERY:
            self.fold_term_changes()

    def _changed(self, source: str) -> None:
        """A live write: the in-memory codes reload, and the source's generation moves
        on (what cached answers are checked against; ``bot/freshness.py``)."""
        if not self.t.live:
            return
        self.base._bump_vectors_version()
        self.db.execute(
            "INSERT INTO sources (name, generation) VALUES (%s, 1) "
            "ON CONFLICT (name) DO UPDATE SET generation = sources.generation + 1",
            (source,),
        )

    def delete_documents(self, source: str, doc_ids: Sequence[str]) -> None:
        """Prune documents (their chunks and vectors go with them: ``ON DELETE CASCADE``)."""
        if not doc_ids:
            return
        with self.base.transaction() as conn:
            rows = conn.execute(
                f"SELECT id FROM {self.t['documents']} WHERE source = %s AND doc_id = ANY(%s) "
                "FOR UPDATE",
                (source, list(doc_ids)),
            ).fetchall()
            ids = [int(r[0]) for r in rows]
            if ids:
                self._count_terms(conn, ids, -1)
            self.db.execute(f"DELETE FROM {self.t['documents']} WHERE id = ANY(%s)", (ids,))
            self._changed(source)
        self._fold_now_and_then()

    def source_counts(self) -> dict[str, int]:
        rows = self.db.rows(f"SELECT source, count(*) FROM {self.t['documents']} GROUP BY source")
        return {source: int(n) for source, n in rows}


class Documents(LiveIndexMethods, PostgresBase):
    """The live generation's write side (see :class:`IndexWriter`)."""

    @property
    def live_index(self) -> IndexWriter:
        return IndexWriter(self, LIVE)

    def source_names(self) -> list[str]:
        rows = self.db.rows(
            "SELECT source FROM documents UNION SELECT name FROM sources ORDER BY 1"
        )
        return [row[0] for row in rows]
