"""The SQLite schema as named migrations, applied in order, each in its own
transaction, and recorded in ``_migrations`` (the sqlite-utils pattern): adding a
table is one new function appended to ``MIGRATIONS``."""

from __future__ import annotations

from collections.abc import Callable

from ingest.store.sqlite.db import Connection, transaction


def run_script(conn: Connection, script: str) -> None:
    """Execute ``;``-separated statements one by one.

    Not ``executescript``: it COMMITs any open transaction first, which would
    break a migration's all-or-nothing promise.
    """
    for statement in script.split(";\n"):
        if statement.strip():
            conn.execute(statement)


def m001_create_tables(conn: Connection) -> None:
    run_script(
        conn,
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE documents (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            doc_id TEXT NOT NULL,
            title TEXT NOT NULL,
            url TEXT NOT NULL,
            sha TEXT NOT NULL,
            updated_at TEXT,
            author TEXT,
            breadcrumbs TEXT NOT NULL DEFAULT '[]',
            tags TEXT NOT NULL DEFAULT '[]',
            version TEXT,
            synced_at TEXT NOT NULL,
            UNIQUE (source, doc_id)
        );
        CREATE TABLE chunks (
            id INTEGER PRIMARY KEY,
            document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            ordinal INTEGER NOT NULL,
            text TEXT NOT NULL,
            heading_path TEXT NOT NULL DEFAULT '[]',
            anchor TEXT NOT NULL DEFAULT '',
            sha TEXT NOT NULL
        );
        CREATE INDEX chunks_document ON chunks(document_id);
        CREATE INDEX chunks_sha ON chunks(sha);
        CREATE VIRTUAL TABLE chunks_fts USING fts5(
            title, heading, body,
            tokenize = 'porter unicode61 remove_diacritics 2'
        );
        CREATE TABLE sources (
            name TEXT PRIMARY KEY,
            cursor TEXT,
            last_success_at TEXT
        );
        CREATE TABLE sync_runs (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL DEFAULT 'running',
            added INTEGER NOT NULL DEFAULT 0,
            updated INTEGER NOT NULL DEFAULT 0,
            deleted INTEGER NOT NULL DEFAULT 0,
            unchanged INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            chunks_embedded INTEGER NOT NULL DEFAULT 0,
            seconds REAL,
            error TEXT,
            failures TEXT NOT NULL DEFAULT '[]'
        );
        CREATE INDEX sync_runs_source ON sync_runs(source, id);
        """,
    )


def m002_slack_records(conn: Connection) -> None:
    """What the Slack bot remembers: events already handled (Slack redelivers), threads
    it answered in (follow-ups need no mention), every answer and every 👍/👎.

    ``answers`` is the table operations and doc owners query: one row per question on
    any surface (``mention``, ``slash``, ``dm``, ``assistant``, ``thread``, ``api``)
    with its ``outcome`` (``answered`` | ``abstained`` | ``failed``) and, when failed,
    an ``error`` kind (``rate_limited``, ``llm_unavailable``, ``llm``, ``input``,
    ``empty_index``, ``user_limit``, ``internal``). Times are ISO-8601 UTC text.
    """
    run_script(
        conn,
        """
        CREATE TABLE slack_events (
            key TEXT PRIMARY KEY,
            received_at TEXT NOT NULL
        );
        CREATE INDEX slack_events_received ON slack_events(received_at);
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
            latency_ms REAL,
            first_token_ms REAL,
            model TEXT,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            timings TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX answers_created ON answers(created_at);
        CREATE INDEX answers_surface_outcome ON answers(surface, outcome, created_at);
        CREATE TABLE feedback (
            id INTEGER PRIMARY KEY,
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
        CREATE INDEX feedback_created ON feedback(created_at);
        """,
    )


def m003_search_indexes(conn: Connection) -> None:
    """Search structures beside ``chunks_fts`` and ``chunks_vec`` (docs/BENCHMARKS.md):

    - ``chunks_cjk``: character bigrams of Chinese/Japanese/Korean text, which has no
      spaces for ``unicode61`` to split words at (``ingest/languages.py``);
    - ``chunk_codes``: each vector's 1-bit code (sign per dimension, as sqlite-vec's
      ``vec_quantize_binary``) for the coarse KNN pass on large stores;
    - ``chunk_vectors``: the float32 vectors again, in a plain table, because exact
      re-ranking reads a few hundred by id and vec0 point lookups are slow.
    Existing chunks are indexed here, so an upgraded store needs no re-sync.
    """
    import json

    from ingest.languages import cjk_bigrams

    run_script(
        conn,
        """
        CREATE VIRTUAL TABLE chunks_cjk USING fts5(
            body, tokenize = 'unicode61 remove_diacritics 2'
        );
        CREATE TABLE chunk_codes (chunk_id INTEGER PRIMARY KEY, code BLOB NOT NULL);
        CREATE TABLE chunk_vectors (chunk_id INTEGER PRIMARY KEY, embedding BLOB NOT NULL)
        """,
    )
    rows = conn.execute(
        "SELECT c.id, d.title, c.heading_path, c.text FROM chunks c "
        "JOIN documents d ON d.id = c.document_id"
    ).fetchall()
    for chunk_id, title, heading_path, text in rows:
        heading = " ".join(json.loads(heading_path)[1:])
        grams = cjk_bigrams(f"{title}\n{heading}\n{text}")  # a row for every chunk (IDF)
        conn.execute(
            "INSERT INTO chunks_cjk (rowid, body) VALUES (?, ?)", (chunk_id, " ".join(grams))
        )
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'chunks_vec'").fetchone():
        conn.execute(
            "INSERT INTO chunk_vectors (chunk_id, embedding) "
            "SELECT chunk_id, embedding FROM chunks_vec"
        )
        conn.execute(
            "INSERT INTO chunk_codes (chunk_id, code) "
            "SELECT chunk_id, vec_quantize_binary(embedding) FROM chunks_vec"
        )


def m004_answer_cache(conn: Connection) -> None:
    """Operations: the answer cache, and cost and cache use per answer.

    - ``answer_cache``: one finished answer per normalised, history-less question
      (``key`` also covers the mode, model and prompt), JSON in ``answer``;
    - ``answer_cache_chunks``: the cited chunks each cached answer was produced from,
      with their content hash and document URL and title. An entry is served only while
      all of them are still in ``chunks`` unchanged, so a sync that edits or deletes a
      page invalidates exactly the answers that cited it, with no invalidation step;
    - ``answers.cost_usd``: estimated model cost of the answer (tokens x list price);
    - ``answers.cache``: ``hit``, ``miss`` or ``stale`` when the cache was consulted,
      NULL when it was not (follow-ups with history, failures before the lookup).
    """
    run_script(
        conn,
        """
        CREATE TABLE answer_cache (
            key TEXT PRIMARY KEY,
            question TEXT NOT NULL,
            mode TEXT NOT NULL,
            model TEXT,
            answer TEXT NOT NULL,
            created_at TEXT NOT NULL,
            last_hit_at TEXT,
            hits INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX answer_cache_created ON answer_cache(created_at);
        CREATE TABLE answer_cache_chunks (
            key TEXT NOT NULL REFERENCES answer_cache(key) ON DELETE CASCADE,
            chunk_id INTEGER NOT NULL,
            sha TEXT NOT NULL,
            url TEXT NOT NULL,
            title TEXT NOT NULL,
            PRIMARY KEY (key, chunk_id)
        );
        CREATE INDEX answer_cache_chunks_chunk ON answer_cache_chunks(chunk_id);
        ALTER TABLE answers ADD COLUMN cost_usd REAL;
        ALTER TABLE answers ADD COLUMN cache TEXT
        """,
    )


def m005_sync_integrity(conn: Connection) -> None:
    """What makes syncs and rebuilds visible and safe (issue 13):

    - ``sync_runs``: ``kind`` (``sync`` or ``rebuild``), the ``pid`` and ``host`` of the
      process running it (``interrupted`` runs are told apart from running ones by
      their lock, else by that pid), ``progress`` (JSON, updated while it runs) and
      ``reason`` (why a run was held, skipped, not switched or interrupted);
    - ``sync_run_changes``: the documents a run added, updated, deleted, failed to read
      or would have deleted (held), with their titles and reasons, for ``docbot status``;
    - ``sources.generation``: bumped in the transaction of every write that adds,
      changes or deletes a document of the source, so anything derived from the index
      (cached answers) knows when it may be out of date;
    - ``answer_cache.stamp``: the generations of the sources an answer could draw on
      when it was made (``bot/freshness.py``).
    """
    run_script(
        conn,
        """
        ALTER TABLE sync_runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'sync';
        ALTER TABLE sync_runs ADD COLUMN pid INTEGER;
        ALTER TABLE sync_runs ADD COLUMN host TEXT;
        ALTER TABLE sync_runs ADD COLUMN progress TEXT;
        ALTER TABLE sync_runs ADD COLUMN reason TEXT;
        CREATE TABLE sync_run_changes (
            run_id INTEGER NOT NULL REFERENCES sync_runs(id) ON DELETE CASCADE,
            change TEXT NOT NULL
                CHECK (change IN ('added', 'updated', 'deleted', 'failed', 'held')),
            doc_id TEXT NOT NULL,
            title TEXT,
            reason TEXT
        );
        CREATE INDEX sync_run_changes_run ON sync_run_changes(run_id);
        ALTER TABLE sources ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE answer_cache ADD COLUMN stamp TEXT
        """,
    )


def m006_document_access(conn: Connection) -> None:
    """Who may read each document, and the space it belongs to (issue: permissions).

    - ``documents.space``: a Confluence space key (NULL for files), which channel
      scopes in ``docbot.toml`` can select;
    - ``documents.access``: NULL for a document everyone may read, else JSON
      ``{"readers": [lower-case emails], "why": "..."}`` (``ingest.models.Access``);
    - ``answer_cache_chunks.access``: who could read each cited chunk when the answer
      was cached; an entry is served only while that is unchanged, so a page restricted
      after an answer cited it is not served from the cache to those it now excludes.
    Documents stored before this migration are public, as they were served before;
    the next sync of a Confluence source re-reads their restrictions. Columns already
    there (a store made by a development build that named this migration m005) are
    left as they are.
    """
    for table, column in (
        ("documents", "space"),
        ("documents", "access"),
        ("answer_cache_chunks", "access"),
    ):
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT")


def m007_multilingual_vectors(conn: Connection) -> None:
    """The second vector set (``ingest/multilingual.py``): one vector of the
    multilingual model per chunk text, keyed by the chunk's content hash
    (``chunks.sha``) rather than its id, so the vectors outlive re-chunking and
    rebuilds (identical text is never embedded twice) and no generation needs a copy.
    ``lang`` is the text's language (``ingest.languages.chunk_language``), so an English
    question can look at the pages not in English. Its model and dimension are kept in
    ``meta`` (``multilingual_model``, ``multilingual_dim``), apart from the English
    model's. Stores from before start with none; the next sync fills them."""
    conn.execute(
        "CREATE TABLE multilingual_vectors "
        "(sha TEXT PRIMARY KEY, embedding BLOB NOT NULL, lang TEXT NOT NULL)"
    )


Migration = Callable[[Connection], None]

MIGRATIONS: list[Migration] = [
    m001_create_tables,
    m002_slack_records,
    m003_search_indexes,
    m004_answer_cache,
    m005_sync_integrity,
    m006_document_access,
    m007_multilingual_vectors,
]


def migrate(conn: Connection, migrations: list[Migration] | None = None) -> list[str]:
    """Apply the migrations not yet recorded; return the names applied."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    applied = []
    for fn in migrations if migrations is not None else MIGRATIONS:
        if fn.__name__ in done:
            continue
        with transaction(conn):
            fn(conn)
            conn.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, datetime('now'))",
                (fn.__name__,),
            )
        applied.append(fn.__name__)
    return applied
