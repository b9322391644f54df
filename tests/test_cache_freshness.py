"""A cached answer is served only if the question would retrieve the same sources now,
and answers made from an incomplete index are never cached (issue 13, item 2).

Before, an entry stayed valid while the chunks it *cited* were unchanged, so an answer
made from a half-built index (a first sync, or a rebuild that had emptied it) kept
being served after the page that answers the question arrived, because the wrong
pages it cited did not change. The tests drive the real app (store, sync, cache and
answerer) with the deterministic test embedder.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app import Docbot, build
from ingest.models import Document
from ingest.settings import load_settings
from ingest.sources import Scan, Source
from ingest.sources.markdown import MarkdownSource
from ingest.sync import sync_source
from tests.fakes.embedders import HashEmbedder

WAIT = 30.0
QUESTION = "How many vacation days do employees get?"


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "a-benefits.md").write_text(
        "# Benefits\n\nEmployees get a gym subsidy and vacation perks like discounts.\n"
    )
    (root / "b-onboarding.md").write_text("# Onboarding\n\nNew employees meet their buddy.\n")
    (root / "c-expenses.md").write_text("# Expenses\n\nKeep receipts for 30 days.\n")
    (root / "d-security.md").write_text("# Security\n\nLock your laptop screen.\n")
    (root / "z-vacation.md").write_text(
        "# Vacation days\n\nEmployees get 25 vacation days per year; vacation days carry over.\n"
    )
    return root


@pytest.fixture
def app(tmp_path: Path, docs: Path) -> Docbot:
    embedder = HashEmbedder()
    embedder.min_similarity = 0.2
    env = {"DOCBOT_DB": str(tmp_path / "docbot.db"), "DOCBOT_DOCS": str(docs)}
    return build(load_settings(env), embedder=embedder)


def ask(app: Docbot) -> tuple[str, bool]:
    """(first cited page, served from the cache?)"""
    answer = app.answerer.ask(QUESTION).answer
    return answer.cited_sources[0][1].doc_id, answer.cached


class GatedSource(Source):
    """The Markdown folder, read up to ``stop_after`` documents; then it waits for
    ``release`` and dies (a process killed mid-sync), or goes on when ``crash`` is off."""

    def __init__(self, root: Path, stop_after: int, *, crash: bool = True) -> None:
        self.name = "docs"
        self.inner = MarkdownSource("docs", root)
        self.stop_after, self.crash = stop_after, crash
        self.waiting, self.release = threading.Event(), threading.Event()

    def scan(self, cursor: str | None = None, *, full: bool = False) -> Scan:
        scan = self.inner.scan(cursor, full=full)

        def documents() -> Iterator[Document]:
            for i, doc in enumerate(scan.documents):
                if i == self.stop_after:
                    self.waiting.set()
                    assert self.release.wait(WAIT)
                    if self.crash:
                        raise ConnectionResetError("killed")
                yield doc

        return Scan(documents=documents(), all_ids=None, total=scan.total)


def test_an_answer_from_a_half_done_first_sync_is_not_cached(app: Docbot, docs: Path) -> None:
    source = GatedSource(docs, stop_after=4)
    source.release.set()
    assert sync_source(app.store, source, app.metered_embedder).status == "failed"
    assert ask(app) == ("a-benefits.md", False)  # the best of what is there so far
    assert app.answer_cache.entries() == 0  # ... but never cached

    assert app.sync()[0].status == "ok"
    assert ask(app) == ("z-vacation.md", False)
    assert ask(app) == ("z-vacation.md", True)


def test_a_sync_that_adds_a_better_page_makes_the_cached_answer_stale(
    app: Docbot, docs: Path
) -> None:
    vacation = (docs / "z-vacation.md").read_text()
    (docs / "z-vacation.md").unlink()
    app.sync()
    assert ask(app) == ("a-benefits.md", False)
    assert ask(app) == ("a-benefits.md", True)
    (docs / "z-vacation.md").write_text(vacation)  # the page that answers it arrives

    app.sync()

    assert ask(app) == ("z-vacation.md", False)
    assert ask(app) == ("z-vacation.md", True)


def test_a_sync_that_changes_other_pages_keeps_the_cached_answer(app: Docbot, docs: Path) -> None:
    app.sync()
    assert ask(app) == ("z-vacation.md", False)
    (docs / "d-security.md").write_text("# Security\n\nLock your screen; report phishing.\n")

    assert app.sync()[0].updated == 1

    assert ask(app) == ("z-vacation.md", True)  # same passages retrieved: still served
    assert ask(app) == ("z-vacation.md", True)


def test_asking_during_a_rebuild_that_is_killed_then_resumed_never_serves_stale_sources(
    app: Docbot, docs: Path
) -> None:
    """The issue's steps: ask during a rebuild, kill it, sync again, ask again."""
    app.sync()
    source = GatedSource(docs, stop_after=2)
    writer = threading.Thread(
        target=sync_source,
        args=(build(app.settings, embedder=HashEmbedder()).store, source, HashEmbedder()),
        kwargs={"rebuild": True},
    )
    writer.start()
    try:
        assert source.waiting.wait(WAIT)
        assert ask(app) == ("z-vacation.md", False)  # the complete old index answers
    finally:
        source.release.set()  # ... and the rebuild dies
        writer.join(WAIT)
    assert app.store.build_state() is not None  # what it built is kept for the next run

    (report,) = app.sync()  # resumes the rebuild and switches to it

    assert report.rebuild and report.status == "ok" and app.store.build_state() is None
    assert ask(app) == ("z-vacation.md", False)  # re-checked against the new index
    assert ask(app) == ("z-vacation.md", True)
