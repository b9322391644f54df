"""The one place that opens SQLite connections.

Many Python builds (this project's CI machine included) ship a stdlib ``sqlite3``
without ``enable_load_extension``, so sqlite-vec cannot be loaded there. We then
use ``sqlean`` (the sqlean.py package): the same DB-API as ``sqlite3`` with
extension loading enabled and a recent SQLite bundled, so ``pip install`` works on
every platform without a compiler. Everything above this module sees a plain
DB-API connection and never needs to know which binding it got.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import sqlite_vec

from ingest.errors import StoreError, StoreFull, StoreReadOnly

Connection = Any  # sqlite3.Connection or sqlean.Connection (same DB-API)

# SQLite's primary result codes for what the environment, not the code, got wrong.
_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 10, 11, 13, 14, 26
_PERM = 3


LOW_SPACE_BYTES = 1 << 20
"""Less free space than this beside the store, with an I/O error: the disk is full."""


def _free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def store_error(exc: BaseException, path: str | Path) -> StoreError | None:
    """The :class:`StoreError` saying what to do about ``exc`` (an SQLite error caused
    by the disk, permissions or another process), or None for anything else (a bug
    should stay loud). SQLite reports a full disk as "disk is full" only sometimes;
    growing its shared-memory file on a full disk is "disk I/O error", and a folder
    it cannot write is "unable to open database file", so those are told apart by
    looking at the folder."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return None
    path = Path(path)
    folder = path.parent.resolve() if str(path) != ":memory:" else Path(".").resolve()
    primary = code & 0xFF
    unclear = primary in (_IOERR, _CANTOPEN)
    free = _free_bytes(folder) if unclear or primary == _FULL else None
    if primary == _FULL or (unclear and free is not None and free < LOW_SPACE_BYTES):
        return StoreFull(
            f"the disk holding the store {path} is full ({exc}); free some space in "
            f"{folder} or move DOCBOT_DB to a disk with room, then try again. What was "
            "stored before is intact."
        )
    if primary in (_READONLY, _PERM) or (unclear and not os.access(folder, os.W_OK)):
        return StoreReadOnly(
            f"the store {path} cannot be written ({exc}): docbot writes the store and its "
            f"-wal and -shm files in {folder}; make that folder and the store writable by "
            "the user running docbot, or set DOCBOT_DB to a path in a writable folder"
        )
    if primary == _CANTOPEN:
        return StoreError(
            f"cannot open the store {path} ({exc}): check that it is a file docbot may read "
            f"and write, in a folder ({folder}) it may write, or set DOCBOT_DB elsewhere"
        )
    if primary == _IOERR:
        return StoreError(
            f"disk I/O error on the store {path} ({exc}): the disk may be failing or gone "
            f"(an unmounted volume?); check {folder}, then try again"
        )
    if primary in (_BUSY, _LOCKED):
        return StoreError(
            f"the store {path} is busy: another process held its write lock for too long "
            f"({exc}); try again in a moment"
        )
    if primary in (_CORRUPT, _NOTADB):
        return StoreError(
            f"the store {path} is damaged or not a docbot store ({exc}); move it away and "
            "run `docbot sync` to build a new one"
        )
    return None


def _connection_class(module: ModuleType, path: Path) -> type:
    """The binding's Connection with SQLite's environment errors translated into
    :class:`StoreError` (one line saying what to do) where the store runs them."""

    class TranslatingConnection(module.Connection):  # type: ignore[name-defined,misc]
        def execute(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().execute(*args, **kwargs)
            except module.DatabaseError as exc:
                translated = store_error(exc, path)
                if translated is None:
                    raise
                raise translated from exc

        def executemany(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().executemany(*args, **kwargs)
            except module.DatabaseError as exc:
                translated = store_error(exc, path)
                if translated is None:
                    raise
                raise translated from exc

    return TranslatingConnection


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
        raise StoreError(
            f"cannot create the store {path}: folder {path.parent} does not exist; create it "
            "or set DOCBOT_DB to a path in an existing folder"
        )
    try:
        conn = _MODULE.connect(
            str(path),
            isolation_level=None,
            check_same_thread=False,
            timeout=30,
            factory=_connection_class(_MODULE, path),
        )
        conn.enable_load_extension(True)
        sqlite_vec.load(conn)
        conn.enable_load_extension(False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
    except StoreError:
        raise
    except _MODULE.DatabaseError as exc:
        raise store_error(exc, path) or StoreError(f"cannot open the store {path}: {exc}") from exc
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
            if conn.in_transaction:  # SQLite may have rolled back on its own (a full disk)
                conn.execute(f"ROLLBACK TO {name}")
                conn.execute(f"RELEASE {name}")
            raise
        conn.execute(f"RELEASE {name}")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
