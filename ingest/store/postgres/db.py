"""The one place that opens PostgreSQL connections, and translates what the server or
the network got wrong into :class:`StoreError`.

A :class:`psycopg_pool.ConnectionPool` owns the connections (the pgvector-python way:
types registered once per connection, in ``configure``). Connections are in autocommit;
a transaction is explicit (:meth:`Database.transaction`) and nests as savepoints. While
a thread is inside one, every statement of that thread runs on its connection, so the
store's methods compose into one transaction as the SQLite side's do.
"""

from __future__ import annotations

import atexit
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from pgvector.psycopg import register_vector
from psycopg_pool import ConnectionPool, PoolTimeout

from ingest.errors import StoreError, StoreFull, StoreReadOnly

POOL_MIN = 1
POOL_MAX = 10
"""Connections per process: the answer workers, the API workers and one sync, each
needs one only while a statement or transaction runs."""
CONNECT_TIMEOUT_S = 10

Connection = psycopg.Connection[Any]


def redacted(url: str) -> str:
    """``url`` without its password, fit for a log line or an error message."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1@", url)


def store_error(exc: BaseException, url: str) -> StoreError | None:
    """The :class:`StoreError` saying what to do about ``exc`` (the server unreachable,
    full, read-only or refusing us), or None for anything else (a bug stays loud)."""
    where = redacted(url)
    if isinstance(exc, PoolTimeout):
        return StoreError(
            f"cannot reach the PostgreSQL server at {where} (no connection within "
            f"{CONNECT_TIMEOUT_S} s); check DOCBOT_DATABASE_URL and that the server is running"
        )
    if not isinstance(exc, psycopg.Error):
        return None
    state = getattr(exc, "sqlstate", None) or ""
    first = " ".join(str(exc).split()) or type(exc).__name__
    if state == "53100":
        return StoreFull(
            f"the PostgreSQL server at {where} is out of disk space ({first}); free some "
            "space on it, then try again. What was stored before is intact."
        )
    if state in ("25006", "42501"):
        return StoreReadOnly(
            f"the PostgreSQL database at {where} cannot be written by this user ({first}); "
            "grant it CREATE and write rights on the database, or connect to the primary "
            "rather than a read replica"
        )
    refused = ("does not exist", "authentication failed", "no pg_hba.conf entry", "permission")
    if state.startswith("28") or state == "3D000" or any(r in first for r in refused):
        return StoreError(
            f"PostgreSQL at {where} refused the connection ({first}); check the user, "
            "password and database name in DOCBOT_DATABASE_URL"
        )
    if isinstance(exc, psycopg.OperationalError) and not state:
        return StoreError(
            f"cannot reach the PostgreSQL server at {where} ({first}); check "
            "DOCBOT_DATABASE_URL and that the server is running"
        )
    if state.startswith("08") or state.startswith("57P"):
        return StoreError(
            f"the connection to PostgreSQL at {where} was lost ({first}); try again in a moment"
        )
    return None


_OPEN_POOLS: set[ConnectionPool[Any]] = set()
"""Every open pool, until closed. A pool left to the garbage collector may be collected
on one of its own worker threads, where its ``__del__`` cannot join them; held here,
an unclosed pool lives until the interpreter exits and is closed then."""


@atexit.register
def _close_pools() -> None:
    for pool in list(_OPEN_POOLS):
        pool.close()
    _OPEN_POOLS.clear()


def _configure(conn: Connection) -> None:
    """Every pooled connection: UTC, pgvector's types (binary numpy adapters)."""
    conn.execute("SET TIME ZONE 'UTC'")
    register_vector(conn)


class Database:
    """A pool of connections to one PostgreSQL database. Cheap to share between threads."""

    def __init__(self, url: str, *, max_size: int = POOL_MAX) -> None:
        self.url = url
        self.max_size = max_size
        self._local = threading.local()
        self._pool: ConnectionPool[Connection] | None = None
        self._pool_lock = threading.Lock()

    def open(self) -> None:
        """Open the pool (now, so a wrong URL fails here with one clear line)."""
        self._open_pool()

    def _open_pool(self) -> ConnectionPool[Connection]:
        with self._pool_lock:
            if self._pool is not None:
                return self._pool
            pool: ConnectionPool[Connection] = ConnectionPool(
                self.url,
                min_size=POOL_MIN,
                max_size=self.max_size,
                kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S},
                configure=_configure,
                open=False,
                name="docbot",
            )
            try:
                pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
            except Exception as exc:
                pool.close()
                raise store_error(exc, self.url) or exc from exc
            self._pool = pool
            _OPEN_POOLS.add(pool)
            return pool

    def close(self) -> None:
        """Close the pool's connections; the next statement opens a new pool."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            _OPEN_POOLS.discard(pool)
            pool.close()

    def connect_once(self) -> Connection:
        """A connection outside the pool (migrations: before the vector type exists)."""
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        except psycopg.Error as exc:
            raise store_error(exc, self.url) or exc from exc

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """This thread's transaction's connection, or one from the pool."""
        current = getattr(self._local, "conn", None)
        if current is not None:
            yield current
            return
        try:
            with self._open_pool().connection() as conn:
                yield conn
        except (psycopg.Error, PoolTimeout) as exc:
            translated = store_error(exc, self.url)
            if translated is None:
                raise
            raise translated from exc

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A transaction that nests (inner ones are savepoints), on one connection that
        every statement of this thread uses until it ends."""
        current = getattr(self._local, "conn", None)
        if current is not None:
            with current.transaction():
                yield current
            return
        with self.connection() as conn:
            self._local.conn = conn
            try:
                with conn.transaction():
                    yield conn
            finally:
                self._local.conn = None

    def rows(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = (), *, binary: bool = False
    ) -> list[tuple[Any, ...]]:
        """Run ``sql``; its rows (none for a statement that returns none). ``binary``
        asks for them in binary format: what rows of vectors need, since parsing
        pgvector's text form ('[0.1,...]') cost ~20 ms per 50 384-d vectors in Python,
        ten times the HNSW search itself (docs/BENCHMARKS.md, "PostgreSQL + pgvector")."""
        with self.connection() as conn:
            cur = conn.execute(sql, params, binary=binary)  # type: ignore[arg-type]
            return list(cur.fetchall()) if cur.description else []

    def row(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> tuple[Any, ...] | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """Run a statement; the number of rows it touched."""
        with self.connection() as conn:
            return conn.execute(sql, params).rowcount  # type: ignore[arg-type]

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        if not params:
            return
        with self.connection() as conn, conn.cursor() as cur:
            cur.executemany(sql, params)  # type: ignore[arg-type]
