"""The store backends the contract tests run against, and how to open each.

Each backend is named in ``BACKENDS``, opened by :func:`open_backend` (a throwaway
database per test: a SQLite file in the test's folder, or a fresh database on the
session's PostgreSQL, ``tests/postgres_fixtures.py``), and :func:`settings_env` says
which settings reach it, so a child process can open the same store.
"""

from __future__ import annotations

from pathlib import Path

from ingest.settings import load_settings
from ingest.store import Store, StoreContract, open_store

BACKENDS = ("sqlite", "postgres")


def open_backend(backend: str, tmp_path: Path, pg_url: str | None = None) -> StoreContract:
    """A fresh, empty store of ``backend``, reached through :func:`open_store`
    (PostgreSQL: the fresh database ``pg_url`` of ``tests/postgres_fixtures.py``)."""
    if backend == "sqlite":
        store = open_store(load_settings({"DOCBOT_DB": str(tmp_path / "contract.db")}))
        assert isinstance(store, Store)
        return store
    if backend == "postgres" and pg_url is not None:
        return open_store(load_settings({"DOCBOT_DATABASE_URL": pg_url}))
    raise ValueError(f"unknown store backend {backend!r}")


def settings_env(store: StoreContract) -> dict[str, str]:
    """The settings (environment) that open ``store``'s database, in any process."""
    if store.backend == "sqlite":
        return {"DOCBOT_DB": store.location}
    if store.backend == "postgres":
        return {"DOCBOT_DATABASE_URL": store.url}  # type: ignore[attr-defined]
    raise ValueError(f"unknown store backend {store.backend!r}")


def second_handle(store: StoreContract) -> StoreContract:
    """Another store object on the same database (what a second process would hold)."""
    return open_store(load_settings(settings_env(store)))
