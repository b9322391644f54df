"""Bounded pools (a place is reserved before work is queued, and always given back),
what is kept of a refused question, and logs that carry ids, never question text."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bot.answer import MAX_QUESTION_CHARS
from bot.ops.admission import STORED_PREFIX_CHARS, BoundedPool, stored_question
from bot.server.web import create_web_app
from tests.fakes import slack_payloads as P
from tests.fakes.slack_server import FakeSlack
from tests.slack_helpers import VPN_QUESTION, Bot, make_bot
from tests.test_slack_errors import BrokenLLM

pytest_plugins = ["tests.slack_support"]

API_TOKEN = "admission-api-token"


# --- the pool --------------------------------------------------------------------------


def test_a_pool_admits_workers_plus_queue_and_refuses_the_rest() -> None:
    pool = BoundedPool(1, 2, name="test-pool")
    release = threading.Event()
    try:
        slots = [pool.reserve() for _ in range(4)]
        assert [s is not None for s in slots] == [True, True, True, False]
        assert pool.pending == 3
        done = [pool.run(s, release.wait, 5) for s in slots if s is not None]
        assert pool.submit(release.wait, 5) is None  # still full while they run or wait
        release.set()
        assert [f.result(5) for f in done] == [True, True, True]
        assert pool.pending == 0
    finally:
        release.set()
        pool.shutdown()


def test_a_place_is_given_back_once_however_often_released_or_if_the_work_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pool = BoundedPool(1, 0, name="test-pool")
    slot = pool.reserve()
    assert slot is not None and pool.reserve() is None
    slot.release()
    slot.release()
    assert pool.pending == 0

    def broken() -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR):
        future = pool.submit(broken)
        assert future is not None and future.result(5) is None
    assert pool.pending == 0
    assert any("test-pool: work failed" in r.getMessage() for r in caplog.records)
    pool.shutdown()
    spare = pool.reserve()
    assert spare is not None
    with pytest.raises(RuntimeError):
        pool.run(spare, print)
    assert pool.pending == 0


def test_a_pool_needs_a_worker() -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        BoundedPool(0, 5, name="none")


# --- what is kept of a question --------------------------------------------------------


def test_an_answerable_question_is_kept_whole_and_an_oversized_one_as_a_marked_prefix() -> None:
    assert stored_question(VPN_QUESTION) == VPN_QUESTION
    spaced = "VPN " + " " * MAX_QUESTION_CHARS + "?"
    assert stored_question(spaced) == "VPN ?"  # answerable once spaces are collapsed
    huge = "why " * 60_000
    kept = stored_question(huge)
    assert kept.startswith("why why") and kept.endswith("[truncated: 239,999 characters]")
    assert len(kept) < STORED_PREFIX_CHARS + 50


def test_a_hundred_oversized_api_questions_cost_a_bounded_prefix_each(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    env = {"DOCBOT_API_TOKEN": API_TOKEN, "DOCBOT_RATE_LIMIT_PER_USER": "0",
           "DOCBOT_RATE_LIMIT_GLOBAL": "0"}  # fmt: skip
    bot = make_bot(tmp_path, fake_slack, env=env)
    with TestClient(create_web_app(bot.docbot, bot.app)) as client:
        for _ in range(100):
            response = client.post(
                "/api/ask", json={"question": "x" * 200_000},
                headers={"Authorization": f"Bearer {API_TOKEN}"},
            )  # fmt: skip
            assert response.status_code == 400 and "limit is 4,000" in response.json()["error"]

    rows = bot.rows("SELECT question, error FROM answers")
    assert len(rows) == 100 and {error for _, error in rows} == {"input"}
    assert max(len(question) for question, _ in rows) < STORED_PREFIX_CHARS + 50
    assert all(question.endswith("[truncated: 200,000 characters]") for question, _ in rows)
    bot.docbot.store.close()


def test_an_oversized_slack_question_is_stored_as_a_marked_prefix(inline_bot: Bot) -> None:
    mention = P.app_mention(f"<@{P.BOT_USER_ID}> " + "why " * 3000)
    inline_bot.slack.seed_event(mention)

    inline_bot.deliver(mention)

    ((question, error),) = inline_bot.wait_rows("SELECT question, error FROM answers")
    assert error == "input" and len(question) < STORED_PREFIX_CHARS + 50
    assert question.endswith("[truncated: 11,999 characters]")


# --- logs ------------------------------------------------------------------------------


def test_an_internal_error_is_logged_with_ids_and_never_the_question(
    tmp_path: Path, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    bot = make_bot(tmp_path, fake_slack, llm=BrokenLLM(), inline=True)
    # Asks something the docs cover, so it reaches the model (a salary question would
    # now abstain before it: the docs hold no amount next to "salary"; so would a code
    # such as "band Q7" that no passage has).
    secret_question = "How do I connect to the VPN as Jane Example in payroll band seven?"
    mention = P.app_mention(f"<@{P.BOT_USER_ID}> {secret_question}")
    fake_slack.seed_event(mention)

    with caplog.at_level(logging.DEBUG):
        bot.deliver(mention)

    ((answer_id,),) = bot.wait_rows("SELECT id FROM answers WHERE error = 'internal'")
    failure = [r for r in caplog.records if r.exc_info and "boom" in (r.exc_text or "")]
    assert failure and answer_id in failure[0].getMessage()
    for record in caplog.records:
        logged = record.getMessage() + (record.exc_text or "")
        assert "Jane Example" not in logged and "band seven" not in logged, record.getMessage()
    bot.docbot.store.close()
