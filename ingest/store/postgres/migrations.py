"""The PostgreSQL schema as named migrations, applied in order, each in its own
transaction (PostgreSQL's DDL is transactional), recorded in ``schema_migrations``:
adding a table is one new function appended to ``MIGRATIONS``, as on the SQLite side.

Several replicas may start at once: :func:`migrate` holds an advisory lock while it
runs, so one applies the migrations and the others then find them recorded.

Chunk and document ids come from sequences of their own, not ``serial`` columns, so
that the tables of a rebuilt generation (``generations.py``) draw from the same ones
and ids never repeat across generations. The vector table is created when the first
embedder is bound (``documents.py``), because its column has the model's dimension.
"""

from __future__ import annotations

from collections.abc import Callable

from ingest.store.postgres.db import Connection

MIGRATE_LOCK = 0x646F63626F74  # "docbot": the advisory lock key held while migrating

TEXT_CONFIG = "english"
"""The text search configuration of the lexical index (``search.py`` says why). Recorded
in ``meta['text_config']`` when the store is made, so a later change here never mixes
two configurations in one index."""


def m001_create_tables(conn: Connection) -> None:
    """The index (documents, chunks with their weighted ``tsvector`` and CJK bigrams),
    sources and the sync history."""
    conn.execute(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE SEQUENCE document_ids;
        CREATE SEQUENCE chunk_ids;
        CREATE TABLE documents (
            id BIGINT PRIMARY KEY DEFAULT nextval('document_ids'),
            source TEXT NOT NULL,
            doc_id TEXT NOT NULL,
            title TEXT NOT NULL,
            url TEXT NOT NULL,
            sha TEXT NOT NULL,
            updated_at TEXT,
            author TEXT,
            breadcrumbs JSONB NOT NULL DEFAULT '[]',
            tags JSONB NOT NULL DEFAULT '[]',
            version TEXT,
            synced_at TIMESTAMPTZ NOT NULL,
            space TEXT,
            access JSONB,
            UNIQUE (source, doc_id)
        );
        CREATE TABLE chunks (
            id BIGINT PRIMARY KEY DEFAULT nextval('chunk_ids'),
            document_id BIGINT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            ordinal INTEGER NOT NULL,
            text TEXT NOT NULL,
            heading_path JSONB NOT NULL DEFAULT '[]',
            anchor TEXT NOT NULL DEFAULT '',
            sha TEXT NOT NULL,
            tsv TSVECTOR NOT NULL,
            cjk TSVECTOR NOT NULL
        );
        CREATE INDEX chunks_document ON chunks (document_id);
        CREATE INDEX chunks_sha ON chunks (sha);
        CREATE INDEX chunks_tsv ON chunks USING gin (tsv);
        CREATE INDEX chunks_cjk ON chunks USING gin (cjk);
        CREATE TABLE sources (
            name TEXT PRIMARY KEY,
            cursor TEXT,
            last_success_at TIMESTAMPTZ,
            generation BIGINT NOT NULL DEFAULT 0
        );
        CREATE TABLE sync_runs (
            id BIGSERIAL PRIMARY KEY,
            source TEXT NOT NULL,
            started_at TIMESTAMPTZ NOT NULL,
            finished_at TIMESTAMPTZ,
            status TEXT NOT NULL DEFAULT 'running',
            added INTEGER NOT NULL DEFAULT 0,
            updated INTEGER NOT NULL DEFAULT 0,
            deleted INTEGER NOT NULL DEFAULT 0,
            unchanged INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            chunks_embedded INTEGER NOT NULL DEFAULT 0,
            seconds DOUBLE PRECISION,
            error TEXT,
            failures JSONB NOT NULL DEFAULT '[]',
            kind TEXT NOT NULL DEFAULT 'sync',
            pid INTEGER,
            host TEXT,
            progress JSONB,
            reason TEXT
        );
        CREATE INDEX sync_runs_source ON sync_runs (source, id);
        CREATE TABLE sync_run_changes (
            id BIGSERIAL PRIMARY KEY,
            run_id BIGINT NOT NULL REFERENCES sync_runs(id) ON DELETE CASCADE,
            change TEXT NOT NULL
                CHECK (change IN ('added', 'updated', 'deleted', 'failed', 'held')),
            doc_id TEXT NOT NULL,
            title TEXT,
            reason TEXT
        );
        CREATE INDEX sync_run_changes_run ON sync_run_changes (run_id);
        """
    )
    conn.execute("INSERT INTO meta (key, value) VALUES ('text_config', %s)", (TEXT_CONFIG,))


def m002_bot_records(conn: Connection) -> None:
    """What the bot remembers, shared by every replica: Slack events claimed (one
    replica answers each), threads it answers in, every answer and 👍/👎, and the answer
    cache with the chunks each entry cited. Times are ISO-8601 UTC text, as the store
    contract exchanges them (``ingest/store/contract.py``)."""
    conn.execute(
        """
        CREATE TABLE slack_events (key TEXT PRIMARY KEY, received_at TEXT NOT NULL);
        CREATE INDEX slack_events_received ON slack_events (received_at);
        CREATE TABLE bot_threads (
            channel TEXT NOT NULL,
            thread_ts TEXT NOT NULL,
            kind TEXT NOT NULL DEFAULT 'answer',
            created_at TEXT NOT NULL,
            PRIMARY KEY (channel, thread_ts)
        );
        CREATE TABLE answers (
            id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,
            surface TEXT NOT NULL,
            outcome TEXT NOT NULL CHECK (outcome IN ('answered', 'abstained', 'failed')),
            error TEXT,
            question TEXT NOT NULL,
            search_query TEXT,
            answer TEXT,
            mode TEXT,
            sources TEXT NOT NULL DEFAULT '[]',
            user_id TEXT,
            channel TEXT,
            thread_ts TEXT,
            message_ts TEXT,
            latency_ms DOUBLE PRECISION,
            first_token_ms DOUBLE PRECISION,
            model TEXT,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            timings TEXT NOT NULL DEFAULT '{}',
            cost_usd DOUBLE PRECISION,
            cache TEXT
        );
        CREATE INDEX answers_created ON answers (created_at);
        CREATE INDEX answers_surface_outcome ON answers (surface, outcome, created_at);
        CREATE TABLE feedback (
            id BIGSERIAL PRIMARY KEY,
            answer_id TEXT NOT NULL,
            created_at TEXT NOT NULL,
            user_id TEXT NOT NULL,
            vote TEXT NOT NULL CHECK (vote IN ('up', 'down')),
            question TEXT,
            answer TEXT,
            sources TEXT NOT NULL DEFAULT '[]',
            channel TEXT,
            message_ts TEXT,
            UNIQUE (answer_id, user_id)
        );
        CREATE INDEX feedback_created ON feedback (created_at);
        CREATE TABLE answer_cache (
            key TEXT PRIMARY KEY,
            question TEXT NOT NULL,
            mode TEXT NOT NULL,
            model TEXT,
            answer TEXT NOT NULL,
            created_at TEXT NOT NULL,
            last_hit_at TEXT,
            hits INTEGER NOT NULL DEFAULT 0,
            stamp TEXT
        );
        CREATE INDEX answer_cache_created ON answer_cache (created_at);
        CREATE TABLE answer_cache_chunks (
            key TEXT NOT NULL REFERENCES answer_cache(key) ON DELETE CASCADE,
            chunk_id BIGINT NOT NULL,
            sha TEXT NOT NULL,
            url TEXT NOT NULL,
            title TEXT NOT NULL,
            access TEXT,
            PRIMARY KEY (key, chunk_id)
        );
        CREATE INDEX answer_cache_chunks_chunk ON answer_cache_chunks (chunk_id);
        """
    )


def m003_chunk_terms(conn: Connection) -> None:
    """Each lexeme's document frequency (how many chunks hold it) in ``tsv`` and in
    ``cjk``, so the lexical search can pick a question's rarest words and rank only
    their postings without counting them through the GIN index on every query
    (``search.py``). A count is ``chunk_terms.df`` plus the changes not yet folded into
    it (``chunk_term_changes``: the write side appends +1/-1 per lexeme per document in
    the transaction that writes it, and folds them in every so often; ``documents.py``
    says why), so it is exact whenever the chunks are visible. A count can reach 0 and
    stay (the lexeme then matches nothing). Filled here from the chunks already
    stored: one pass over them (``ts_stat``)."""
    conn.execute(
        """
        CREATE TABLE chunk_terms (
            field TEXT NOT NULL,
            lexeme TEXT NOT NULL,
            df BIGINT NOT NULL,
            PRIMARY KEY (field, lexeme)
        );
        CREATE TABLE chunk_term_changes (field TEXT NOT NULL, lexeme TEXT NOT NULL,
                                         delta BIGINT NOT NULL);
        CREATE INDEX chunk_term_changes_lexeme ON chunk_term_changes (field, lexeme);
        INSERT INTO chunk_terms (field, lexeme, df)
        SELECT 'tsv', word, ndoc FROM ts_stat('SELECT tsv FROM chunks')
        UNION ALL
        SELECT 'cjk', word, ndoc FROM ts_stat('SELECT cjk FROM chunks');
        """
    )


TOKENS_FUNCTION = "docbot_tsv_tokens"
"""The indexed tokens of a ``tsvector`` (its positions, stop words not among them): a
chunk's document length for BM25 (``search.py``)."""
TOTALS = (("#tokens", "tsv"), ("#chunks", "tsv"))
"""The (field, lexeme) rows of ``chunk_terms`` that hold the collection's total
``chunks.tokens`` and its number of chunks (BM25's average document length); ``#`` is
no field of a lexeme, so no lexeme count is ever confused with them."""


def m004_chunk_tokens(conn: Connection) -> None:
    """Each chunk's length in indexed tokens (``chunks.tokens``, a generated column, so
    every insert and replace keeps it, and ``LIKE ... INCLUDING ALL`` copies it to a
    rebuild's table) and the collection's totals (:data:`TOTALS`, kept by the write
    side with the lexeme counts, ``documents.py``): what real BM25 needs beyond the
    document frequencies. The ``ALTER`` fills the column for the chunks already stored
    (one rewrite of the table). A rebuild under way is started again: the chunks'
    columns changed (``generations.py``)."""
    conn.execute(
        f"""
        CREATE FUNCTION {TOKENS_FUNCTION}(tsvector) RETURNS integer
            LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
            AS $$ SELECT coalesce(sum(cardinality(positions)), 0)::integer FROM unnest($1) $$;
        ALTER TABLE chunks ADD COLUMN tokens INTEGER NOT NULL
            GENERATED ALWAYS AS ({TOKENS_FUNCTION}(tsv)) STORED;
        INSERT INTO chunk_terms (field, lexeme, df)
        SELECT '#tokens', 'tsv', coalesce(sum(tokens), 0) FROM chunks
        UNION ALL SELECT '#chunks', 'tsv', count(*) FROM chunks;
        """
    )


Migration = Callable[[Connection], None]

MIGRATIONS: list[Migration] = [
    m001_create_tables,
    m002_bot_records,
    m003_chunk_terms,
    m004_chunk_tokens,
]


def migrate(conn: Connection, migrations: list[Migration] | None = None) -> list[str]:
    """Create the ``vector`` extension if needed and apply the migrations not yet
    recorded; return the names applied. ``conn`` is in autocommit."""
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK,))
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
        applied = []
        for fn in migrations if migrations is not None else MIGRATIONS:
            if fn.__name__ in done:
                continue
            with conn.transaction():
                fn(conn)
                conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (fn.__name__,))
            applied.append(fn.__name__)
        return applied
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATE_LOCK,))
