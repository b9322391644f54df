"""The answer cache: a repeated question is answered without the model while every
cited chunk is unchanged; a sync that edits the cited page invalidates exactly that
answer; follow-ups and abstentions are never cached; size and age are bounded."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from bot.answer_cache import AnswerCache, normalise_question
from bot.server.web import create_web_app
from tests.fakes import slack_payloads as P
from tests.fakes.embedders import HashEmbedder
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_server import FakeSlack
from tests.ops_helpers import metric
from tests.slack_helpers import DOCS, VPN_QUESTION, Bot, all_text, make_bot

pytest_plugins = ["tests.slack_support"]

TOKEN = "cache-test-api-token"


@pytest.fixture
def api(
    tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> Iterator[tuple[Bot, TestClient]]:
    bot = make_bot(tmp_path, fake_slack, openai=fake_openai, env={"DOCBOT_API_TOKEN": TOKEN})
    with TestClient(create_web_app(bot.docbot, bot.app)) as client:
        yield bot, client


def _ask(client: TestClient, question: str, **body: Any) -> dict[str, Any]:
    response = client.post(
        "/api/ask", json={"question": question, **body},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def _edit(bot: Bot, name: str, text: str) -> None:
    (bot.tmp / "docs" / name).write_text(text, encoding="utf-8")
    assert all(r.error is None for r in bot.docbot.sync())


def test_repeat_is_served_from_cache_until_the_cited_page_changes(
    api: tuple[Bot, TestClient], fake_openai: FakeOpenAI
) -> None:
    bot, client = api
    first = _ask(client, VPN_QUESTION)
    second = _ask(client, "  how do i CONNECT to the vpn  ")  # same question, normalised

    assert (first["cached"], second["cached"]) == (False, True)
    assert len(fake_openai.chat_requests()) == 1  # the model was asked once
    assert second["answer"] == first["answer"] and second["sources"] == first["sources"]
    assert "cache_ms" in second["timings_ms"] and "generate_ms" not in second["timings_ms"]

    _edit(bot, "pto.md", DOCS["pto.md"].replace("25 PTO days", "26 PTO days"))  # not cited
    assert _ask(client, VPN_QUESTION)["cached"] is True
    assert len(fake_openai.chat_requests()) == 1

    _edit(bot, "vpn.md", DOCS["vpn.md"].replace("60 seconds", "90 seconds"))  # cited
    third = _ask(client, VPN_QUESTION)

    assert third["cached"] is False
    assert len(fake_openai.chat_requests()) == 2  # the model answered again
    assert "90 seconds" in str(fake_openai.chat_requests()[-1].json["messages"][-1])
    rows = bot.rows("SELECT cache FROM answers ORDER BY created_at")
    assert rows == [("miss",), ("hit",), ("hit",), ("miss",)]  # purged by the sync: a miss
    text = bot.docbot.metrics.render().decode()
    assert metric(text, "docbot_answer_cache_lookups_total", result="hit") == 2
    assert metric(text, "docbot_answer_cache_purged_total") == 1


def test_a_deleted_page_invalidates_its_answers_without_a_purge(
    tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    bot = make_bot(tmp_path, fake_slack, openai=fake_openai)
    answerer = bot.docbot.answerer
    answerer.ask(VPN_QUESTION).answer  # noqa: B018 - fills the cache
    assert answerer.ask(VPN_QUESTION).answer.cached
    bot.docbot.store.delete_documents("docs", ["vpn.md"])  # no sync, so no purge

    again = answerer.ask(VPN_QUESTION).answer

    assert not again.cached and again.cache == "stale"
    assert "vpn.md" not in str([h.url for h in again.sources])


def test_follow_ups_and_abstentions_are_not_cached(
    api: tuple[Bot, TestClient], fake_openai: FakeOpenAI
) -> None:
    bot, client = api
    history = [{"role": "user", "content": "Tell me about the VPN."}]
    for _ in range(2):
        assert _ask(client, VPN_QUESTION, history=history)["cached"] is False
    for _ in range(2):
        assert _ask(client, "Quantum chromodynamics lattice gauge?")["cached"] is False

    assert bot.docbot.answer_cache.entries() == 0
    assert bot.rows("SELECT DISTINCT cache FROM answers ORDER BY 1") == [(None,), ("miss",)]


def test_slack_answers_share_the_cache_with_the_api(
    api: tuple[Bot, TestClient], fake_openai: FakeOpenAI
) -> None:
    bot, client = api
    _ask(client, VPN_QUESTION)
    mention = P.app_mention(f"<@{P.BOT_USER_ID}> How do I connect to the VPN")
    bot.slack.seed_event(mention)

    bot.deliver(mention)

    answer = bot.wait_answer()
    assert "vpn.md#connecting" in all_text(answer) and len(fake_openai.chat_requests()) == 1
    assert bot.wait_rows("SELECT cache FROM answers WHERE surface = 'mention'") == [("hit",)]


def test_the_cache_is_bounded_in_size_and_age(
    tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    bot = make_bot(tmp_path, fake_slack, openai=fake_openai, env={"DOCBOT_ANSWER_CACHE_SIZE": "1"})
    answerer, cache = bot.docbot.answerer, bot.docbot.answer_cache
    answerer.ask(VPN_QUESTION).answer  # noqa: B018
    answerer.ask("What is the meal limit when travelling?").answer  # noqa: B018
    assert cache.entries() == 1  # the least recently used went

    (key,) = [row[0] for row in bot.rows("SELECT key FROM answer_cache")]
    assert cache.get(key)[0] == "hit"
    later = datetime.now(UTC) + timedelta(days=2)  # past the default 24 h
    assert cache.get(key, now=later) == ("stale", None)
    assert cache.entries() == 0


def test_the_cache_can_be_turned_off(
    tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    bot = make_bot(tmp_path, fake_slack, openai=fake_openai, env={"DOCBOT_ANSWER_CACHE_SIZE": "0"})
    for _ in range(2):
        assert bot.docbot.answerer.ask(VPN_QUESTION).answer.cache is None
    assert len(fake_openai.chat_requests()) == 2


def test_extractive_answers_are_cached_too(inline_bot: Bot) -> None:
    first = inline_bot.docbot.answerer.ask(VPN_QUESTION).answer
    second = inline_bot.docbot.answerer.ask(VPN_QUESTION).answer
    assert (first.cache, second.cache, second.mode) == ("miss", "hit", "extractive")
    assert second.text == first.text and second.as_json()["cached"] is True


def test_question_normalisation() -> None:
    assert normalise_question("How do I use the VPN?") == "how do i use the vpn"
    assert normalise_question("  HOW   do i use — the VPN!!") == "how do i use the vpn"
    assert normalise_question("Ｖｐｎ？") == "vpn"  # full-width forms fold too
    assert normalise_question("VPN setup") != normalise_question("VPN set up")


def test_query_vectors_are_cached_by_the_embedder_base_class() -> None:
    embedder = HashEmbedder()
    first = embedder.embed_query("vpn")
    second = embedder.embed_query("vpn")
    assert embedder.calls == 1 and (first == second).all()
    embedder.query_cache_size = 0
    embedder.embed_query("other")
    embedder.embed_query("other")
    assert embedder.calls == 3


def test_an_upgrade_starts_with_fresh_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Answers rendered by one docbot release are not served by the next (a change
    in how quotes or sources are rendered shows at once, not after the TTL)."""
    from bot import answer_cache

    before = AnswerCache.key(VPN_QUESTION, "extractive")
    monkeypatch.setattr(answer_cache, "RELEASE", "99.0.0")
    assert AnswerCache.key(VPN_QUESTION, "extractive") != before
