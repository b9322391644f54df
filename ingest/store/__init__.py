"""The knowledge base: where documents, chunks and vectors are kept and searched.

``contract`` lists what every backend provides (and guarantees); ``sqlite/`` is the
embedded backend (one file, FTS5 + sqlite-vec); ``codes`` (the coarse vector pass),
``history`` (sync-run values), ``generations`` (rebuilds) and ``rows`` (the bot's
records and cache rows) are shared by every backend. :func:`open_store` picks the
backend from the settings, so switching is one setting (``DOCBOT_DATABASE_URL``).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from ingest.errors import ConfigError
from ingest.settings import POSTGRES_SCHEMES, Settings
from ingest.store.codes import VectorCodes, binary_code, coarse_pool
from ingest.store.contract import StoreContract
from ingest.store.history import SyncRun
from ingest.store.sqlite.store import Store

__all__ = [
    "Store",
    "StoreContract",
    "SyncRun",
    "VectorCodes",
    "binary_code",
    "coarse_pool",
    "open_store",
    "scratch_store",
]

POSTGRES_MODULE = "ingest.store.postgres"
"""The PostgreSQL backend, imported only when ``DOCBOT_DATABASE_URL`` asks for it (so
SQLite users never need its driver). It provides ``PostgresStore(url)``."""


def open_store(settings: Settings) -> StoreContract:
    """The store the settings name: PostgreSQL when ``DOCBOT_DATABASE_URL`` is a
    ``postgresql://`` URL, else the SQLite file ``DOCBOT_DB``."""
    url = settings.database_url
    if url is None:
        return Store(settings.db_path)
    store: StoreContract = _postgres(url).PostgresStore(url, **_postgres_options(settings))
    return store


@contextmanager
def scratch_store(settings: Settings, directory: Path) -> Iterator[StoreContract]:
    """A throwaway store of the backend the settings name, for ``docbot eval``: a SQLite
    file in ``directory``, or a schema of its own in the PostgreSQL database (dropped
    afterwards, ``ingest/store/postgres/scratch.py``), so one eval measures either."""
    url = settings.database_url
    if url is None:
        store = Store(directory / "eval.db")
        try:
            yield store
        finally:
            store.close()
        return
    _postgres(url)  # the ConfigError first, if the backend cannot be used
    scratch = importlib.import_module(POSTGRES_MODULE + ".scratch")
    with scratch.scratch_store(url, **_postgres_options(settings)) as pg_store:
        yield pg_store


def _postgres_options(settings: Settings) -> dict[str, Any]:
    return {
        "ef_search": settings.pg_ef_search,
        "build_memory_mb": settings.pg_build_memory_mb,
        "lexical_candidates": settings.pg_lexical_candidates,
    }


def _postgres(url: str) -> ModuleType:
    """The PostgreSQL backend's module, or the ConfigError that says what is missing."""
    if not url.startswith(POSTGRES_SCHEMES):  # load_settings checks too; a Settings
        raise ConfigError(  # built by hand may not have been
            "DOCBOT_DATABASE_URL: must start with postgresql:// (or postgres://); "
            "unset it to keep the SQLite file DOCBOT_DB"
        )
    try:
        return importlib.import_module(POSTGRES_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name == POSTGRES_MODULE:
            raise ConfigError(
                "DOCBOT_DATABASE_URL: this docbot has no PostgreSQL backend yet; "
                "unset it to use the SQLite file DOCBOT_DB"
            ) from None
        raise ConfigError(
            f"DOCBOT_DATABASE_URL: the PostgreSQL backend needs {exc.name!r}, which is not "
            "installed; install docbot's postgres extra, or unset it to use DOCBOT_DB"
        ) from None
