"""The store backends the contract tests run against, and how to open each.

Adding a backend (PostgreSQL) is three steps here: name it in ``BACKENDS``, open it in
:func:`open_backend` (a throwaway database per test), and say in :func:`settings_env`
which settings reach it, so a child process can open the same store.
"""

from __future__ import annotations

from pathlib import Path

from ingest.settings import load_settings
from ingest.store import Store, StoreContract, open_store

BACKENDS = ("sqlite",)


def open_backend(backend: str, tmp_path: Path) -> StoreContract:
    """A fresh, empty store of ``backend``, reached through :func:`open_store`."""
    if backend == "sqlite":
        store = open_store(load_settings({"DOCBOT_DB": str(tmp_path / "contract.db")}))
        assert isinstance(store, Store)
        return store
    raise ValueError(f"unknown store backend {backend!r}")


def settings_env(store: StoreContract) -> dict[str, str]:
    """The settings (environment) that open ``store``'s database, in any process."""
    if store.backend == "sqlite":
        return {"DOCBOT_DB": store.location}
    raise ValueError(f"unknown store backend {store.backend!r}")


def second_handle(store: StoreContract) -> StoreContract:
    """Another store object on the same database (what a second process would hold)."""
    return open_store(load_settings(settings_env(store)))
