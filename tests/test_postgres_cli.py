"""The docbot command end to end on PostgreSQL: ``DOCBOT_DATABASE_URL`` is the only
difference from ``tests/test_cli.py`` (same docs, the real offline embedder, a real
PostgreSQL with pgvector started by the tests)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from tests.test_cli import run
from tests.test_cli import workdir as sqlite_workdir

__all__ = ["sqlite_workdir"]


@pytest.fixture
def workdir(sqlite_workdir: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DOCBOT_DATABASE_URL", pg_url)
    return sqlite_workdir


def test_sync_ask_search_and_status_on_postgres(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "sync", "--json")
    (first,) = json.loads(out)
    assert (code, first["added"], first["error"]) == (0, 3, None)
    code, out, _ = run(capsys, "sync", "--json")
    (second,) = json.loads(out)
    assert (code, second["chunks_embedded"], second["unchanged"]) == (0, 0, 3)
    assert not (workdir / "docbot.db").exists()  # nothing went to the SQLite file

    code, out, _ = run(capsys, "ask", "How do I connect to the VPN?", "--json")
    data = json.loads(out)
    assert code == 0 and data["mode"] == "extractive" and not data["abstained"]
    assert data["sources"][0]["title"] == "VPN" and "TunnelGate" in data["answer"]
    code, out, _ = run(capsys, "ask", "What is the Expensify approval chain in Berlin?", "--json")
    assert code == 0 and json.loads(out)["abstained"]

    code, out, err = run(capsys, "search", '"foo AND ( NEAR/ * meal limit', "--json")
    assert code == 0 and err == "" and json.loads(out)["results"][0]["title"] == "Expenses"

    code, out, _ = run(capsys, "status", "--json")
    status = json.loads(out)
    assert code == 0 and status["backend"] == "postgres" and status["index"]["documents"] == 3
    assert "@" in status["db"] or status["db"].startswith("postgresql://")
    # The multilingual vector set is a capability PostgreSQL does not have yet: docbot
    # says so and ranks other languages with the English model and BM25, never failing.
    assert status["index"]["multilingual"]["supported"] is False
    code, out, _ = run(capsys, "ask", "Wie verbinde ich mich mit dem VPN?", "--json")
    assert code == 0 and "answer" in json.loads(out)
    code, out, _ = run(capsys, "status")
    assert code == 0 and "postgres" in out and "HNSW" in out


def test_eval_indexes_into_a_schema_of_its_own_on_postgres(
    pg_cluster: Any, pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``docbot eval`` with ``DOCBOT_DATABASE_URL`` measures the PostgreSQL backend: the
    dataset goes into a throwaway schema of that database, which is gone afterwards,
    and the knowledge base beside it is untouched (issue 15: the same eval on both
    backends)."""
    from bot.app import build
    from bot.cli.commands import evaluate as run_cli
    from ingest.settings import Settings
    from ingest.store.postgres.scratch import SCHEMA_PREFIX
    from tests.fakes.embedders import HashEmbedder
    from tests.test_eval import CORPUS, write_dataset

    dataset = write_dataset(tmp_path)
    knowledge_base = build(Settings(database_url=pg_url), embedder=HashEmbedder())
    before = knowledge_base.store.document_count()
    args = argparse.Namespace(
        dataset=str(dataset), k=10, run=None, json=True, chunk_chars=None, overlap=None
    )
    assert run_cli(args, knowledge_base) == 0
    report = json.loads(capsys.readouterr().out)

    assert report["config"]["backend"] == "postgres"
    assert report["documents"] == len(CORPUS) and report["mrr@10"] == 1.0
    assert knowledge_base.store.document_count() == before  # the live store untouched
    with pg_cluster.admin("docbot_tests") as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE %s", (SCHEMA_PREFIX + "%",)
        ).fetchone()[0]
    assert left == 0  # the scratch schema was dropped


def test_eval_without_the_right_to_create_a_schema_says_so(
    pg_cluster: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A database user who may write the knowledge base but not create schemas (a
    common grant) gets one line saying what to grant, no traceback, and nothing left
    behind in the database."""
    from tests.postgres_fixtures import DATABASE
    from tests.test_eval import write_dataset

    role = "docbot_no_create"
    with pg_cluster.admin(DATABASE) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {role}")
        conn.execute(f"CREATE ROLE {role} LOGIN")
    try:
        url = pg_cluster.url(DATABASE).replace("postgresql://postgres:", f"postgresql://{role}:")
        monkeypatch.setenv("DOCBOT_DATABASE_URL", url)
        code, out, err = run(capsys, "eval", str(write_dataset(tmp_path)), "--json")
        assert code != 0 and out == ""
        assert "cannot be written by this user" in err and "CREATE" in err
        assert "Traceback" not in err and role in err  # the redacted URL names the user
        with pg_cluster.admin(DATABASE) as conn:
            left = conn.execute(
                "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'docbot_eval_%'"
            ).fetchone()[0]
        assert left == 0
    finally:
        with pg_cluster.admin(DATABASE) as conn:
            conn.execute(f"DROP ROLE IF EXISTS {role}")
