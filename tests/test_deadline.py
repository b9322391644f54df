"""A model that hangs cannot hold a question (issue 13, item 7): every question has an
overall deadline (``DOCBOT_ANSWER_TIMEOUT``), model retries included, after which the
asker is told plainly. The fake OpenAI server is made to never answer: each request
waits far longer than the deadline (until the fake stops)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bot.answer import Answerer
from bot.cli.main import main
from bot.llm import OpenAIChat, until_deadline
from bot.retrieve import Retriever
from ingest.errors import LLMTimeout
from ingest.settings import load_settings
from ingest.sources.markdown import MarkdownSource
from ingest.store import Store
from ingest.sync import sync_source
from tests.fakes import slack_payloads as P
from tests.fakes.embedders import HashEmbedder
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_server import FakeSlack
from tests.slack_helpers import VPN_QUESTION, all_text, make_bot

pytest_plugins = ["tests.slack_support"]

NEVER = 600.0  # seconds the fake waits before answering: it never does within a test


def hang(fake: FakeOpenAI) -> None:
    fake.fail_next(delay=NEVER, path="/v1/chat/completions", times=20)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "vpn.md").write_text("# VPN\n\n## Connecting\n\nOpen TunnelGate to reach the vpn.\n")
    store = Store(tmp_path / "docbot.db")
    sync_source(store, MarkdownSource("docs", docs), HashEmbedder())
    return store


def test_a_model_that_never_answers_is_given_up_at_the_deadline(
    store: Store, fake_openai: FakeOpenAI
) -> None:
    hang(fake_openai)
    llm = OpenAIChat("gpt-4o-mini", api_key="sk-test", base_url=fake_openai.base_url, timeout=60)
    answerer = Answerer(Retriever(store, HashEmbedder()), llm, timeout=1.0)
    started = time.monotonic()
    stream = answerer.ask("How do I open TunnelGate for the vpn?")
    with pytest.raises(LLMTimeout, match=r"did not answer within 1 s \(DOCBOT_ANSWER_TIMEOUT\)"):
        _ = stream.answer
    assert time.monotonic() - started < 30  # not the client's 60 s timeout, nor its retries
    assert stream.partial.sources  # the pages found are still there to show


def test_the_deadline_covers_a_follow_up_rewrite_too(store: Store, fake_openai: FakeOpenAI) -> None:
    hang(fake_openai)
    llm = OpenAIChat("gpt-4o-mini", api_key="sk-test", base_url=fake_openai.base_url)
    answerer = Answerer(Retriever(store, HashEmbedder()), llm, timeout=1.0)
    history = [{"role": "user", "content": "vpn?"}, {"role": "assistant", "content": "Yes."}]
    started = time.monotonic()
    with pytest.raises(LLMTimeout):
        _ = answerer.ask("and then?", history).answer
    assert time.monotonic() - started < 30


def test_pieces_before_the_deadline_arrive_and_errors_pass_through() -> None:
    assert list(until_deadline(iter(["a", "b"]), time.monotonic() + 5, 5)) == ["a", "b"]

    def broken() -> object:
        yield "a"
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        list(until_deadline(broken(), time.monotonic() + 5, 5))  # type: ignore[arg-type]


def test_the_setting(tmp_path: Path) -> None:
    assert load_settings({}).answer_timeout == 60
    assert load_settings({"DOCBOT_ANSWER_TIMEOUT": "2m"}).answer_timeout == 120


def test_docbot_ask_says_the_model_did_not_answer(
    tmp_path: Path,
    fake_openai: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "vpn.md").write_text("# VPN\n\nOpen TunnelGate to reach the vpn.\n")
    for key in list(os.environ):
        if key.startswith(("DOCBOT_", "OPENAI_")):
            monkeypatch.delenv(key)
    for key, value in {
        "DOCBOT_DB": str(tmp_path / "docbot.db"), "DOCBOT_DOCS": str(docs),
        "DOCBOT_EMBEDDER": "openai", "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": fake_openai.base_url, "DOCBOT_ANSWER_TIMEOUT": "1s",
    }.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    assert main(["sync"]) == 0
    capsys.readouterr()
    hang(fake_openai)

    code = main(["ask", "How do I reach the vpn?"])

    err = capsys.readouterr().err.strip()
    assert code == 1 and "Traceback" not in err
    assert err == (
        "docbot: error: the language model did not answer within 1 s (DOCBOT_ANSWER_TIMEOUT), "
        "so docbot stopped waiting; try again in a few minutes"
    )
    rows = Store(tmp_path / "docbot.db").conn.execute("SELECT surface, outcome, error FROM answers")
    assert rows.fetchall() == [("cli", "failed", "llm_timeout")]


def test_slack_shows_a_clear_message_at_the_deadline(
    tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    bot = make_bot(
        tmp_path, fake_slack, openai=fake_openai, inline=True, env={"DOCBOT_ANSWER_TIMEOUT": "1s"}
    )
    hang(fake_openai)
    mention = P.app_mention(f"<@{P.BOT_USER_ID}> {VPN_QUESTION}")
    bot.slack.seed_event(mention)

    bot.deliver(mention)

    error = all_text(bot.wait_error())
    assert "did not answer within 1 seconds, so I stopped waiting" in error
    assert bot.rows("SELECT outcome, error FROM answers") == [("failed", "llm_timeout")]
