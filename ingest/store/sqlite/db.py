"""The one place that opens SQLite connections.

Many Python builds (this project's CI machine included) ship a stdlib ``sqlite3``
without ``enable_load_extension``, so sqlite-vec cannot be loaded there. We then
use ``sqlean`` (the sqlean.py package): the same DB-API as ``sqlite3`` with
extension loading enabled and a recent SQLite bundled, so ``pip install`` works on
every platform without a compiler. Everything above this module sees a plain
DB-API connection and never needs to know which binding it got.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import sqlite_vec

from ingest.errors import StoreError

Connection = Any  # sqlite3.Connection or sqlean.Connection (same DB-API)


def sqlite_module() -> ModuleType:
    """The DB-API module to use: stdlib ``sqlite3`` if it can load extensions."""
    if hasattr(sqlite3.Connection, "enable_load_extension"):
        probe = sqlite3.connect(":memory:")
        try:
            probe.enable_load_extension(True)
            sqlite_vec.load(probe)
            return sqlite3
        except Exception:  # any failure means: use the fallback
            pass
        finally:
            probe.close()
    import sqlean  # type: ignore[import-untyped]

    return sqlean  # type: ignore[no-any-return]


_MODULE: ModuleType | None = None


def connect(path: str | Path) -> Connection:
    """Open ``path`` with sqlite-vec loaded, WAL on, foreign keys on, autocommit.

    Autocommit (``isolation_level=None``) because transactions are explicit: see
    :func:`transaction`.
    """
    global _MODULE
    if _MODULE is None:
        _MODULE = sqlite_module()
    path = Path(path)
    if str(path) != ":memory:" and not path.parent.exists():
        raise StoreError(f"cannot create the store {path}: folder {path.parent} does not exist")
    try:
        conn = _MODULE.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
        conn.enable_load_extension(True)
        sqlite_vec.load(conn)
        conn.enable_load_extension(False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
    except _MODULE.DatabaseError as exc:
        raise StoreError(f"cannot open the store {path}: {exc}") from exc
    return conn


@contextmanager
def transaction(conn: Connection) -> Iterator[Connection]:
    """A transaction that nests: the outermost is BEGIN IMMEDIATE, inner ones SAVEPOINTs.

    IMMEDIATE takes the write lock at the start, so two writers queue on
    ``busy_timeout`` instead of failing half-way with SQLITE_BUSY.
    """
    if conn.in_transaction:
        name = f"sp_{id(object())}"
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield conn
        except BaseException:
            conn.execute(f"ROLLBACK TO {name}")
            conn.execute(f"RELEASE {name}")
            raise
        conn.execute(f"RELEASE {name}")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
