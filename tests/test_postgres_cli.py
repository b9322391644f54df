"""The docbot command end to end on PostgreSQL: ``DOCBOT_DATABASE_URL`` is the only
difference from ``tests/test_cli.py`` (same docs, the real offline embedder, a real
PostgreSQL with pgvector started by the tests)."""

from __future__ import annotations

import json
from pathlib import Path

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
