"""Rebuilds never take the knowledge away (issue 13, item 1): the new index is built
beside the live one and switched to in one transaction; until then, and for good
if the rebuild fails or is killed, every answer comes from the complete old index;
the next rebuild resumes, reusing the vectors already made.

Real stores, real sync code; the embedders are real subclasses of the seam that can
be held mid-batch or made to fail, and the kill test runs a real ``docbot sync
--rebuild`` process against the fake OpenAI server and sends it SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from bot.answer import Answerer
from bot.cli.main import main
from bot.retrieve import Retriever
from ingest.errors import EmbedderError
from ingest.sources.markdown import MarkdownSource
from ingest.store import Store
from ingest.sync import sync_source, sync_sources
from tests.fakes.embedders import HashEmbedder
from tests.fakes.openai_server import FakeOpenAI

REPO = Path(__file__).resolve().parent.parent
WAIT = 30.0
PAGES = 200  # one chunk each: the first embedding batch (128 chunks) writes 128 pages


def write_pages(root: Path, count: int = PAGES) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (root / f"page{i:03d}.md").write_text(
            f"# Page {i}\n\nPage {i} explains the zq{i}x procedure for team {i % 7}.\n"
        )
    return root


class HeldEmbedder(HashEmbedder):
    """Embeds ``free_calls`` batches, then waits in the next one until released."""

    def __init__(self, model_id: str, free_calls: int) -> None:
        super().__init__(model_id=model_id)
        self.free_calls = free_calls
        self.waiting = threading.Event()
        self.release = threading.Event()

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        if self.calls >= self.free_calls:
            self.waiting.set()
            assert self.release.wait(WAIT), "the test never released the embedder"
        return super().embed_batch(texts)


class FailingEmbedder(HashEmbedder):
    """Embeds ``free_calls`` batches, then fails like an API outage."""

    def __init__(self, model_id: str, free_calls: int) -> None:
        super().__init__(model_id=model_id)
        self.free_calls = free_calls

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        if self.calls >= self.free_calls:
            raise EmbedderError("the embeddings API failed: HTTP 500")
        return super().embed_batch(texts)


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    return write_pages(tmp_path / "docs")


@pytest.fixture
def store(tmp_path: Path, docs: Path) -> Store:
    store = Store(tmp_path / "docbot.db")
    report = sync_source(store, MarkdownSource("docs", docs), HashEmbedder(model_id="test:old"))
    assert report.added == PAGES
    return store


def cited_page(store: Store, embedder: HashEmbedder, question: str) -> str:
    answer = Answerer(Retriever(store, embedder)).ask(question).answer
    return answer.cited_sources[0][1].doc_id


def index_tables(store: Store) -> set[str]:
    rows = store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {r[0] for r in rows if r[0].endswith(("_build", "_old")) and "fts" not in r[0]}


def test_a_rebuild_answers_from_the_complete_old_index_until_it_switches(
    store: Store, docs: Path, tmp_path: Path
) -> None:
    embedder = HeldEmbedder("test:new", free_calls=2)  # 2 x 64: the first 128 pages
    result: list[object] = []
    writer = threading.Thread(
        target=lambda: result.append(
            sync_source(Store(store.path), MarkdownSource("docs", docs), embedder, rebuild=True)
        )
    )
    writer.start()
    try:
        assert embedder.waiting.wait(WAIT)
        reader = Store(store.path)  # as the bot sees it while the rebuild runs
        state = reader.build_state()
        assert state is not None and state.documents == {"docs": 128}
        assert reader.stats()["documents"] == PAGES and reader.embed_model == "test:old"
        assert cited_page(reader, HashEmbedder(model_id="test:old"), "zq199x procedure") == (
            "page199.md"  # a page the new index does not have yet
        )
        running = reader.recent_runs("docs", 1)[0]
        assert (running.status, running.kind) == ("running", "rebuild")
    finally:
        embedder.release.set()
        writer.join(WAIT)
    (report,) = result
    assert (report.status, report.rebuild, report.unchanged) == ("ok", True, PAGES)  # type: ignore[attr-defined]
    after = Store(store.path)
    assert after.embed_model == "test:new" and after.stats()["documents"] == PAGES
    assert after.build_state() is None and index_tables(after) == set()
    assert cited_page(after, HashEmbedder(model_id="test:new"), "zq7x procedure") == "page007.md"
    assert after.conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_failed_rebuild_keeps_the_old_index_and_the_next_one_resumes(
    store: Store, docs: Path
) -> None:
    failed = sync_source(
        store, MarkdownSource("docs", docs), FailingEmbedder("test:new", 2), rebuild=True
    )
    assert failed.status == "failed" and "HTTP 500" in (failed.error or "")
    assert store.embed_model == "test:old" and store.stats()["documents"] == PAGES
    assert cited_page(store, HashEmbedder(model_id="test:old"), "zq150x procedure") == (
        "page150.md"
    )
    run = store.recent_runs("docs", 1)[0]
    assert run.status == "failed" and "not switched" in (run.reason or "")
    state = store.build_state()
    assert state is not None and state.documents == {"docs": 128}

    embedder = HashEmbedder(model_id="test:new")
    resumed = sync_source(store, MarkdownSource("docs", docs), embedder, rebuild=True)
    assert resumed.status == "ok"
    assert resumed.chunks_embedded == PAGES - 128  # the first 128 pages' vectors were kept
    assert len(embedder.texts) == PAGES - 128
    assert store.embed_model == "test:new" and store.stats()["documents"] == PAGES
    assert store.build_state() is None and index_tables(store) == set()


def test_a_rebuild_for_another_model_starts_afresh(store: Store, docs: Path) -> None:
    sync_source(store, MarkdownSource("docs", docs), FailingEmbedder("test:new", 2), rebuild=True)
    other = HashEmbedder(model_id="test:newer")
    report = sync_source(store, MarkdownSource("docs", docs), other, rebuild=True)
    assert (report.status, report.chunks_embedded) == ("ok", PAGES)
    assert store.embed_model == "test:newer"


def test_an_unfinished_rebuild_is_resumed_by_the_next_plain_sync(store: Store, docs: Path) -> None:
    """After a killed `docbot sync --rebuild`, the scheduler's next sync finishes it."""
    sync_source(store, MarkdownSource("docs", docs), FailingEmbedder("test:new", 2), rebuild=True)
    report = sync_source(store, MarkdownSource("docs", docs), HashEmbedder(model_id="test:new"))
    assert (report.rebuild, report.status, report.chunks_embedded) == (True, "ok", PAGES - 128)
    assert store.embed_model == "test:new"


def test_a_failing_source_stops_the_switch_for_every_source(
    store: Store, docs: Path, tmp_path: Path
) -> None:
    sources = [MarkdownSource("docs", docs), MarkdownSource("wiki", tmp_path / "unmounted")]
    reports = sync_sources(store, sources, HashEmbedder(model_id="test:new"), rebuild=True)
    assert [r.status for r in reports] == ["failed", "failed"]
    assert "does not exist" in (reports[1].error or "")
    assert "not switched in because source 'wiki' failed" in (reports[0].error or "")
    assert store.embed_model == "test:old" and store.stats()["documents"] == PAGES


def test_a_page_that_cannot_be_read_during_a_rebuild_keeps_its_last_version(
    store: Store, docs: Path
) -> None:
    before = store.document_shas("docs")["page042.md"]
    (docs / "page042.md").write_bytes("# Page 42 caf\xe9\n".encode("latin-1"))
    report = sync_source(
        store, MarkdownSource("docs", docs), HashEmbedder(model_id="test:new"), rebuild=True
    )
    assert (report.status, report.failed, report.deleted) == ("partial", 1, 0)
    assert store.embed_model == "test:new"
    assert store.document_shas("docs")["page042.md"] == before
    assert cited_page(store, HashEmbedder(model_id="test:new"), "zq42x procedure") == ("page042.md")


def test_sources_not_rebuilt_are_carried_over(store: Store, docs: Path, tmp_path: Path) -> None:
    """A source no longer configured keeps its documents through a rebuild of the
    others (re-embedded for the new model), as a plain sync would keep them."""
    wiki = tmp_path / "wiki"
    wiki.mkdir()
    (wiki / "legacy.md").write_text("# Legacy\n\nThe yp3 archive lives on the old NAS.\n")
    sync_source(store, MarkdownSource("wiki", wiki), HashEmbedder(model_id="test:old"))

    reports = sync_sources(
        store, [MarkdownSource("docs", docs)], HashEmbedder(model_id="test:new"), rebuild=True
    )
    assert [(r.source, r.status) for r in reports] == [("docs", "ok"), ("wiki", "ok")]
    assert store.embed_model == "test:new"
    assert set(store.document_shas("wiki")) == {"legacy.md"}
    assert cited_page(store, HashEmbedder(model_id="test:new"), "yp3 archive") == "legacy.md"


def test_a_scheduled_sync_during_a_rebuild_is_skipped(store: Store, docs: Path) -> None:
    embedder = HeldEmbedder("test:new", free_calls=0)
    writer = threading.Thread(
        target=sync_source,
        args=(Store(store.path), MarkdownSource("docs", docs), embedder),
        kwargs={"rebuild": True},
    )
    writer.start()
    try:
        assert embedder.waiting.wait(WAIT)
        other = sync_source(
            Store(store.path), MarkdownSource("docs", docs), HashEmbedder(model_id="test:old")
        )
        assert other.status == "skipped" and "already being synced" in (other.reason or "")
    finally:
        embedder.release.set()
        writer.join(WAIT)


# --- kill -9 of a real `docbot sync --rebuild` --------------------------------------


def in_process(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    *args: str,
) -> tuple[int, str, str]:
    """``docbot ARGS`` run by ``main`` in this process, with exactly ``env``'s settings."""
    for key in list(os.environ):
        if key.startswith(("DOCBOT_", "OPENAI_")):
            monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith(("DOCBOT_", "OPENAI_")):
            monkeypatch.setenv(key, value)
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_kill_9_during_a_rebuild_keeps_the_old_index_and_the_next_run_resumes(
    tmp_path: Path,
    fake_openai: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    docs = write_pages(tmp_path / "docs")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCBOT_", "OPENAI_"))}
    env.update(
        DOCBOT_DB=str(tmp_path / "docbot.db"), DOCBOT_DOCS=str(docs), DOCBOT_EMBEDDER="openai",
        OPENAI_BASE_URL=fake_openai.base_url, OPENAI_API_KEY="test",
    )  # fmt: skip
    old = {**env, "DOCBOT_EMBED_MODEL": "embed-old"}
    new = {**env, "DOCBOT_EMBED_MODEL": "embed-new"}
    monkeypatch.chdir(tmp_path)
    assert in_process(monkeypatch, capsys, old, "sync", "--json")[0] == 0

    # Every embeddings request of the rebuild now takes a while: 200 pages are two
    # requests (128 + 72); kill it once the first 128 pages are in the new index.
    fake_openai.fail_next(delay=2.0, path="/v1/embeddings", times=50)
    rebuild = subprocess.Popen(
        [sys.executable, "-m", "bot", "sync", "--rebuild", "--json"],
        env=new, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        reader = Store(tmp_path / "docbot.db")
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            state = reader.build_state()
            if state is not None and state.documents.get("docs", 0) >= 128:
                break
            assert rebuild.poll() is None, "the rebuild ended before it could be killed"
            time.sleep(0.05)
        else:
            pytest.fail("the rebuild never wrote its first batch")
        os.kill(rebuild.pid, signal.SIGKILL)
        rebuild.wait(WAIT)
    finally:
        if rebuild.poll() is None:
            rebuild.kill()
            rebuild.wait(WAIT)
    fake_openai.clear()

    # Answers still come from the complete old index, also in a process configured
    # for the new model (BM25 alone until the rebuild is done).
    assert reader.stats()["documents"] == PAGES and reader.embed_model == "openai:embed-old"
    assert reader.conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    for config in (old, new):
        code, out, err = in_process(
            monkeypatch, capsys, config, "ask", "How does the zq199x procedure work?", "--json"
        )
        assert code == 0, err
        assert json.loads(out)["sources"][0]["url"].endswith("page199.md#page-199")
    status = json.loads(in_process(monkeypatch, capsys, new, "status", "--json")[1])
    (source,) = status["sources"]
    assert source["last_run"]["status"] == "interrupted" and source["last_run"]["kind"] == "rebuild"
    assert status["rebuild"]["documents"] >= 128 and not status["rebuild"]["running"]

    # The next run resumes: only the pages the killed run had not written are embedded.
    again = subprocess.run(
        [sys.executable, "-m", "bot", "sync", "--rebuild", "--json"],
        env=new, cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    (report,) = json.loads(again.stdout)
    assert report["status"] == "ok" and report["rebuild"] is True
    assert report["chunks_embedded"] == PAGES - status["rebuild"]["documents"]
    done = Store(tmp_path / "docbot.db")
    assert done.embed_model == "openai:embed-new" and done.stats()["documents"] == PAGES
    assert done.build_state() is None


def test_tables_a_switch_left_behind_are_dropped_by_the_next_sync(store: Store, docs: Path) -> None:
    """A process that died between the switch and dropping the old tables."""
    with store.transaction() as conn:
        conn.execute("CREATE TABLE documents_old (id INTEGER PRIMARY KEY)")
        conn.execute("CREATE TABLE chunks_old (id INTEGER PRIMARY KEY)")
        conn.execute(
            "CREATE VIRTUAL TABLE chunks_vec_g9 USING vec0(chunk_id INTEGER PRIMARY KEY, "
            "embedding float[64])"
        )
        store.set_meta("retired_vec_table", "chunks_vec_g9")
    assert (
        sync_source(store, MarkdownSource("docs", docs), HashEmbedder(model_id="test:old")).status
        == "ok"
    )
    names = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master")}
    assert not {"documents_old", "chunks_old", "chunks_vec_g9"} & names
    assert store.get_meta("retired_vec_table") is None
