"""The docbot command end to end, with the real offline embedder: the interface
contract's JSON shapes, and one clear line (no traceback) for every bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli.main import main

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with three small docs and a clean environment."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "vpn.md").write_text(
        "---\ntitle: VPN\n---\n# VPN\n\n## Connecting\n\nOpen TunnelGate and connect to "
        "vpn.acme.example, then approve the push notification in Orbit Authenticator.\n"
    )
    (docs / "expenses.md").write_text(
        "# Expenses\n\n## Meals\n\nThe meal limit is 75 dollars per day when travelling.\n"
    )
    (docs / "pto.md").write_text("# Time off\n\nUS employees get 25 PTO days per year.\n")
    for key in (
        "DOCBOT_CONFIG",
        "OPENAI_API_KEY",
        "DOCBOT_EMBEDDER",
        "DOCBOT_EMBED_MODEL",
        "CONFLUENCE_URL",
        "DOCBOT_DOCS_URL",
    ):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DOCBOT_DB", str(tmp_path / "docbot.db"))
    monkeypatch.setenv("DOCBOT_DOCS", str(docs))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_sync_twice_embeds_nothing_the_second_time(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "sync", "--json")
    (first,) = json.loads(out)
    assert code == 0
    assert {
        "source",
        "added",
        "updated",
        "deleted",
        "unchanged",
        "chunks_embedded",
        "seconds",
        "error",
    } <= set(first)
    assert first["added"] == 3 and first["chunks_embedded"] >= 3 and first["error"] is None
    code, out, _ = run(capsys, "sync", "--json")
    (second,) = json.loads(out)
    assert (code, second["chunks_embedded"], second["unchanged"]) == (0, 0, 3)


def test_ask_json_contract(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "sync")
    code, out, _ = run(capsys, "ask", "How do I connect to the VPN?", "--json")
    data = json.loads(out)
    assert code == 0 and data["mode"] == "extractive"
    assert data["sources"][0]["title"] == "VPN" and data["sources"][0]["url"].endswith(
        "vpn.md#connecting"
    )
    assert {"title", "url", "source", "score"} <= set(data["sources"][0])
    assert "TunnelGate" in data["answer"] and isinstance(data["timings_ms"], dict)


def test_ask_prints_answer_and_sources(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "sync")
    code, out, _ = run(capsys, "ask", "How many PTO days do US employees get?")
    assert code == 0 and "25 PTO days" in out and "Sources:" in out and "pto.md" in out


def test_search_json_and_fts_syntax(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "sync")
    code, out, _ = run(capsys, "search", "meal limit", "-k", "2", "--json")
    data = json.loads(out)
    assert code == 0 and data["results"][0]["title"] == "Expenses" and len(data["results"]) <= 2
    for query in ('"foo AND (', "NEAR/", "*"):
        code, out, err = run(capsys, "search", query, "--json")
        assert code == 0 and err == "" and "results" in json.loads(out)


@pytest.mark.parametrize(
    ("question", "needle"), [("", "empty"), ("   ", "empty"), ("x" * 20_000, "20,000")]
)
def test_bad_questions_are_one_clear_line(
    workdir: Path, capsys: pytest.CaptureFixture[str], question: str, needle: str
) -> None:
    code, out, err = run(capsys, "ask", question)
    assert code == 2 and out == ""
    assert err.startswith("docbot: error: ") and needle in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_missing_docs_folder(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCBOT_DOCS", str(workdir / "nope"))
    code, out, _err = run(capsys, "sync", "--json")
    (report,) = json.loads(out)
    assert code == 1 and "does not exist" in report["error"]


def test_malformed_config_names_the_key(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "docbot.toml").write_text("[[sources]]\nname = 'x'\npath = 'docs'\nevry = '30m'\n")
    code, _, err = run(capsys, "sync")
    assert code == 2 and "sources[0].evry" in err and "Traceback" not in err


def test_no_sources_configured(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOCBOT_DOCS")
    code, _, err = run(capsys, "sync")
    assert code == 2 and "DOCBOT_DOCS" in err


def test_status_json(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "sync")
    code, out, _ = run(capsys, "status", "--json")
    data = json.loads(out)
    assert code == 0 and data["index"]["documents"] == 3
    assert data["index"]["embed_model"].startswith("local:")
    (source,) = data["sources"]
    assert source["name"] == "docs" and source["last_run"]["status"] == "ok"


def test_status_names_the_store_backend(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "sync")
    code, out, _ = run(capsys, "status", "--json")
    data = json.loads(out)
    assert code == 0 and data["backend"] == "sqlite" and data["db"].endswith(".db")
    code, out, _ = run(capsys, "status")
    assert code == 0 and f"store       {data['db']}  (sqlite, " in out


def test_a_database_url_of_another_kind_fails_in_one_line(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCBOT_DATABASE_URL", "mysql://db/docbot")
    code, _, err = run(capsys, "status")
    assert code == 2 and "DOCBOT_DATABASE_URL" in err and err.strip().count("\n") == 0


def test_dotenv_file_is_read(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOCBOT_DOCS")
    (workdir / ".env").write_text(f"DOCBOT_DOCS={workdir / 'docs'}\n")
    code, out, _ = run(capsys, "sync", "--json")
    assert code == 0 and json.loads(out)[0]["added"] == 3


def test_python_dash_m_bot(workdir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "ask", ""],
        capture_output=True,
        text=True,
        cwd=workdir,
        timeout=60,
    )
    assert result.returncode == 2 and "empty" in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0  # one line: no log warning beside it


def test_a_source_that_cannot_be_built_is_a_failed_run_in_status(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Confluence source whose options are wrong fails before it scans; `docbot
    status` must show that failure, not report the source as never synced."""
    (workdir / "docbot.toml").write_text(
        "[[sources]]\nname = 'docs'\npath = 'docs'\n\n"
        "[[sources]]\nname = 'wiki'\ntype = 'confluence'\nurl = 'https://wiki.example'\n"
        "spaces = ['ENG']\npage_limit = 500\n"
    )
    code, out, _ = run(capsys, "sync", "--json")
    reports = {r["source"]: r for r in json.loads(out)}
    assert code == 1 and reports["docs"]["status"] == "ok"
    assert "page_limit" in reports["wiki"]["error"]
    code, out, _ = run(capsys, "status", "--json")
    sources = {s["name"]: s for s in json.loads(out)["sources"]}
    assert sources["docs"]["last_run"]["status"] == "ok"
    wiki = sources["wiki"]["last_run"]
    assert wiki["status"] == "failed" and "page_limit" in wiki["error"]


def test_a_bad_url_template_is_one_line_before_anything_syncs(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCBOT_DOCS_URL", "https://github.com/acme/h/blob/main/{path.__class__}")
    code, _, err = run(capsys, "sync")
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1
    assert "DOCBOT_DOCS_URL: unknown placeholder {path.__class__}" in err
    assert not (workdir / "docbot.db").exists()  # refused at load, before any sync
