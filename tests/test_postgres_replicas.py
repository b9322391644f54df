"""Two replicas on one PostgreSQL: two complete docbots (each its own store, pool and
Bolt app, as two ``docbot serve --http`` processes would have) share one database.
A Slack event delivered to both is answered once; a source one replica is syncing is
skipped by the other; feedback and records are seen by both."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes import slack_payloads as P
from tests.fakes.slack_server import FakeSlack
from tests.slack_helpers import VPN_QUESTION, Bot, is_final_answer, make_bot

pytest_plugins = ["tests.slack_support"]


@pytest.fixture
def replicas(tmp_path: Path, fake_slack: FakeSlack, pg_url: str) -> Iterator[tuple[Bot, Bot]]:
    env = {"DOCBOT_DATABASE_URL": pg_url, "DOCBOT_SYNC_INTERVAL": "24h"}
    first = make_bot(tmp_path / "a", fake_slack, env=env)
    second = make_bot(tmp_path / "b", fake_slack, env=env, sync=False)
    yield first, second
    first.docbot.close()
    second.docbot.close()


def test_an_event_delivered_to_both_replicas_is_answered_once(
    replicas: tuple[Bot, Bot], fake_slack: FakeSlack
) -> None:
    first, second = replicas
    mention = P.app_mention(f"<@{P.BOT_USER_ID}> {VPN_QUESTION}")
    fake_slack.seed_event(mention)
    start = threading.Barrier(2)

    def deliver(bot: Bot, retry: int | None) -> None:
        start.wait(5)
        bot.deliver(mention, retry=retry)

    threads = [
        threading.Thread(target=deliver, args=(first, None)),
        threading.Thread(target=deliver, args=(second, 1)),  # Slack's retry, to the other
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    answer = first.wait_answer()
    assert "TunnelGate" in answer["text"] or "TunnelGate" in str(answer.get("blocks"))
    time.sleep(0.5)  # room for a second answer, if either replica were to post one
    finals = [c for c in fake_slack.calls() if is_final_answer(c)]
    assert len({(c.params.get("channel"), c.params.get("ts")) for c in finals}) == 1
    assert [c.params.get("thread_ts") for c in fake_slack.calls("chat.postMessage")].count(
        mention["event"]["ts"]
    ) == 1
    # the answer recorded by one replica is what the other reports
    assert second.docbot.store.outcome_counts("1970-01-01") == {("mention", "answered"): 1}


def test_a_source_one_replica_syncs_is_skipped_by_the_other(replicas: tuple[Bot, Bot]) -> None:
    first, second = replicas
    with first.docbot.store.source_lock("docs"):
        (report,) = second.docbot.sync()
    assert report.skipped and "already being synced" in report.skipped
    (report,) = second.docbot.sync()  # once it is free, the other replica may sync it
    assert report.error is None and not report.skipped and report.chunks_embedded == 0
