"""``docbot migrate --to URL``: the SQLite store copied into another store without
re-embedding, run as a user runs it (the real CLI, the real offline embedder).

The target is each backend of ``tests/store_backends.py``, reached by the URL a user
would give. What is checked: documents, chunks and their vectors arrive byte for byte;
the copy answers searches as the original does; a sync against the copy embeds
nothing; history, cursors, answer records, votes and threads come along; a non-empty
target is refused without ``--force``, and with it a repeated run copies nothing and
a stopped one resumes; every bad input is one line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bot.cli.main import main
from ingest.models import Chunk, Document
from ingest.settings import load_settings
from ingest.store import Store, StoreContract, open_store
from ingest.store.rows import FeedbackRecord
from tests.store_backends import BACKENDS, open_backend, settings_env


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Three small docs, synced into the SQLite store ``docbot.db``, with one question
    asked (an answer record), one vote and one thread."""
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
    for key in ("DOCBOT_CONFIG", "OPENAI_API_KEY", "DOCBOT_EMBEDDER", "DOCBOT_EMBED_MODEL",
                "CONFLUENCE_URL", "DOCBOT_DOCS_URL", "DOCBOT_DATABASE_URL"):  # fmt: skip
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DOCBOT_DB", str(tmp_path / "docbot.db"))
    monkeypatch.setenv("DOCBOT_DOCS", str(docs))
    monkeypatch.chdir(tmp_path)
    assert main(["sync"]) == 0
    assert main(["ask", "How do I connect to the VPN?", "--json"]) == 0
    store = Store(tmp_path / "docbot.db")
    (answer,) = store.answers_since("", ("answered", "abstained", "failed"))
    store.save_feedback(
        FeedbackRecord(answer["id"], "U1", "down", answer["question"], answer["answer"], "[]",
                       "2026-01-02T03:04:05+00:00"),
        channel="C1", message_ts="171.2",
    )  # fmt: skip
    store.remember_thread("C1", "171.1", "answer", "2026-01-02T03:04:00+00:00")
    store.close()
    return tmp_path


@pytest.fixture(params=BACKENDS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreContract]:
    """An empty store of each backend to migrate into."""
    (tmp_path / "target").mkdir()
    pg_url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    opened = open_backend(request.param, tmp_path / "target", pg_url)
    yield opened
    opened.close()


def url_of(store: StoreContract) -> str:
    """What a user types after ``--to`` to reach ``store``."""
    env = settings_env(store)
    return env.get("DOCBOT_DATABASE_URL") or "sqlite:///" + env["DOCBOT_DB"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def vectors_by_text(store: StoreContract) -> dict[str, bytes]:
    ids, matrix = store.vector_matrix()
    texts = {hit.chunk_id: hit.text for hit in store.load_hits([(int(i), 0.0) for i in ids])}
    return {
        texts[int(i)]: row.astype(np.float32).tobytes() for i, row in zip(ids, matrix, strict=True)
    }


def test_migrate_copies_everything_without_re_embedding(
    workdir: Path, target: StoreContract, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    code, out, err = run(capsys, "migrate", "--to", url_of(target), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["backend"] == target.backend and report["to"] == target.location
    (docs,) = report["sources"]
    assert (docs["source"], docs["documents"], docs["unchanged"], docs["runs"]) == ("docs", 3, 0, 1)
    assert (report["answers"], report["feedback"], report["threads"]) == (1, 1, 1)
    assert "docbot: migrate: docs: 3 documents" in err  # progress, also off a terminal

    source = Store(workdir / "docbot.db")
    assert vectors_by_text(target) == vectors_by_text(source)  # byte for byte
    assert target.stats()["embed_model"] == source.stats()["embed_model"]
    assert target.get_meta("chunking:docs") == source.get_meta("chunking:docs")
    assert target.get_cursor("docs") == source.get_cursor("docs")
    assert target.last_success("docs") is not None and not target.incomplete_sources()
    (run_copy,) = target.recent_runs("docs")
    (run_orig,) = source.recent_runs("docs")
    assert (run_copy.status, run_copy.added, run_copy.chunks_embedded) == (
        run_orig.status, run_orig.added, run_orig.chunks_embedded,
    )  # fmt: skip
    assert {c.doc_id for c in run_copy.changes} == {c.doc_id for c in run_orig.changes}
    (answer,) = target.answers_since("", ("answered",))
    assert answer == source.get_answer(answer["id"])
    ((vote, _),) = target.votes_since("")
    assert (vote.user_id, vote.vote, vote.answer_id) == ("U1", "down", answer["id"])
    assert target.thread_kind("C1", "171.1") == "answer"

    # The copy ranks as the original does, and a sync against it embeds nothing.
    query = "connect to the VPN"
    code, out, _ = run(capsys, "search", query, "--json")  # the original
    original = [(r["title"], r["section"]) for r in json.loads(out)["results"]]
    for key, value in settings_env(target).items():
        monkeypatch.setenv(key, value)
    code, out, _ = run(capsys, "search", query, "--json")
    assert original == [(r["title"], r["section"]) for r in json.loads(out)["results"]]
    code, out, _ = run(capsys, "sync", "--json")
    (synced,) = json.loads(out)
    assert (synced["chunks_embedded"], synced["unchanged"], synced["added"]) == (0, 3, 0)

    # `docbot status` on the copy: its backend, where it lives, what it holds and did.
    code, out, _ = run(capsys, "status", "--json")
    status = json.loads(out)
    assert (code, status["backend"], status["db"]) == (0, target.backend, target.location)
    assert (status["index"]["documents"], status["index"]["embed_model"]) == (
        3, source.stats()["embed_model"],
    )  # fmt: skip
    assert status["index"]["bytes"] > 0
    (docs_status,) = status["sources"]
    assert [r["status"] for r in docs_status["runs"]] == ["ok", "ok"]  # the sync, the copy
    assert status["questions"]["total"] == 1  # the answer record came along
    code, out, _ = run(capsys, "status")
    assert code == 0 and target.backend in out and "docs" in out
    source.close()


def test_a_non_empty_target_needs_force_and_then_copies_only_what_differs(
    workdir: Path, target: StoreContract, capsys: pytest.CaptureFixture[str]
) -> None:
    url = url_of(target)
    assert run(capsys, "migrate", "--to", url)[0] == 0
    code, out, err = run(capsys, "migrate", "--to", url)
    assert code == 2 and out == ""
    (line,) = err.strip().splitlines()
    assert "is not empty" in line and "--force" in line and "Traceback" not in err

    code, out, _ = run(capsys, "migrate", "--to", url, "--force", "--json")
    (docs,) = json.loads(out)["sources"]
    assert (code, docs["documents"], docs["unchanged"], docs["runs"]) == (0, 0, 3, 0)
    assert len(target.recent_runs("docs", 10)) == 1  # history is never doubled
    assert len(target.answers_since("", ("answered",))) == 1

    # A migration that stopped half-way (one document missing) and a document the
    # source no longer has: --force resumes with the one and removes the other.
    target.delete_documents("docs", ["pto.md"])
    stray = Document(source="docs", doc_id="old.md", title="Old", url="old.md", body="x")
    target.replace_document(stray, [Chunk("old.md", 0, "x")], [vectors_by_text(target)[
        next(iter(vectors_by_text(target)))]])  # fmt: skip
    code, out, _ = run(capsys, "migrate", "--to", url, "--force", "--json")
    (docs,) = json.loads(out)["sources"]
    assert (docs["documents"], docs["unchanged"], docs["deleted"]) == (1, 2, 1)
    assert target.source_counts() == {"docs": 3}


def test_migrate_refuses_bad_inputs_in_one_line(
    workdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    other = Store(tmp_path / "other.db")
    other.bind_embedder("openai:text-embedding-3-small", 1536)
    other.close()
    cases = {
        ("--to", "mysql://db/docbot"): "postgresql://",
        ("--to", f"sqlite:///{workdir / 'docbot.db'}"): "itself",
        ("--to", f"sqlite:///{tmp_path / 'other.db'}"): "embedding model",
        ("--to", "postgresql://docbot:secret@127.0.0.1:1/docbot"): "127.0.0.1",  # nobody there
    }
    for argv, expected in cases.items():
        code, _, err = run(capsys, "migrate", *argv)
        (line,) = err.strip().splitlines()
        assert code != 0 and expected in line and line.startswith("docbot: error:"), err
        assert "secret" not in err
    monkeypatch.setenv("DOCBOT_DB", str(tmp_path / "missing.db"))
    code, _, err = run(capsys, "migrate", "--to", f"sqlite:///{tmp_path / 'new.db'}")
    (line,) = err.strip().splitlines()
    assert code == 2 and "does not exist" in line
    assert not (tmp_path / "missing.db").exists() and not (tmp_path / "new.db").exists()


def test_the_target_settings_open_what_the_url_names(tmp_path: Path) -> None:
    from ingest.migrate import target_settings

    settings = load_settings({"DOCBOT_DB": str(tmp_path / "a.db")})
    relative = target_settings(settings, "sqlite:///b.db")
    absolute = target_settings(settings, f"sqlite:///{tmp_path / 'c.db'}")
    pg = target_settings(settings, "postgresql://u@localhost/docbot")
    assert (relative.db_path, relative.database_url) == (Path("b.db"), None)
    assert absolute.db_path == tmp_path / "c.db"
    assert pg.database_url == "postgresql://u@localhost/docbot"
    store = open_store(absolute)
    assert store.backend == "sqlite" and store.location == str(tmp_path / "c.db")
    store.close()
