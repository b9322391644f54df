"""A throwaway PostgreSQL store: a schema of its own in the configured database.

``docbot eval`` indexes its dataset into a store that lives only as long as the run. With
``DOCBOT_DATABASE_URL`` set, that store is PostgreSQL too, so the same eval measures
either backend (issue 15: hybrid quality of both, same eval). A schema of its own keeps
it apart from the knowledge base in the same database (its tables, counts and HNSW
graph are separate), and it is dropped with everything in it afterwards, also when the
run fails. It needs the right to create a schema in that database.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

from ingest.store.postgres.db import CONNECT_TIMEOUT_S, redacted, store_error
from ingest.store.postgres.store import PostgresStore

SCHEMA_PREFIX = "docbot_eval_"


def with_search_path(url: str, schema: str) -> str:
    """``url`` with the connection option that makes ``schema`` (then ``public``, where
    the vector extension usually lives) the search path of every connection."""
    option = quote(f"-csearch_path={schema},public", safe="-")
    return f"{url}{'&' if '?' in url else '?'}options={option}"


def _admin(url: str, statement: sql.Composed) -> None:
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
            conn.execute(statement)
    except psycopg.Error as exc:
        raise store_error(exc, url) or exc from exc


@contextmanager
def scratch_store(url: str, **options: Any) -> Iterator[PostgresStore]:
    """A :class:`PostgresStore` in a new schema of the database ``url`` names, dropped
    (``CASCADE``) when the block ends; ``options`` go to the store."""
    schema = SCHEMA_PREFIX + secrets.token_hex(6)
    _admin(url, sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    store: PostgresStore | None = None
    try:
        store = PostgresStore(with_search_path(url, schema), **options)
        yield store
    finally:
        if store is not None:
            store.close()
        _admin(url, sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


__all__ = ["SCHEMA_PREFIX", "redacted", "scratch_store", "with_search_path"]
