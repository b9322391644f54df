"""Never starved: Slack's acks, ``/healthz``, first reactions, busy replies and rate
limits do not wait for slow answers, whatever ``/api/ask`` or the model are doing.

The model is the fake OpenAI server held at a gate: every chat request waits until
the test opens it, so the slow answers are really in flight while the test measures.
The first test runs ``docbot serve --http`` for real (uvicorn on 127.0.0.1) and talks
to it over HTTP; the others dispatch signed requests to the Bolt app in-process.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bot.slack import ui
from tests.fakes import slack_payloads as P
from tests.fakes.openai_server import FakeOpenAI, echo_reply
from tests.fakes.slack_server import Call, FakeSlack
from tests.http_helpers import serving, signed_event
from tests.slack_helpers import VPN_QUESTION, Bot, all_text, make_bot

pytest_plugins = ["tests.slack_support"]

API_TOKEN = "load-test-token"
ACK_BUDGET = 3.0  # Slack's protocol limit for an ack, not a benchmark
SERVE_ENV = {"DOCBOT_SYNC_INTERVAL": "1h", "DOCBOT_HOST": "127.0.0.1"}


@pytest.fixture
def gate(fake_openai: FakeOpenAI) -> Iterator[threading.Event]:
    """The model answers only once the test sets this (after 20 s at the latest)."""
    opened = threading.Event()
    fake_openai.reply = lambda request: (opened.wait(20), echo_reply(request))[1]
    yield opened
    opened.set()


def _wait(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _count(bot: Bot, surface: str) -> int:
    return len(bot.rows("SELECT id FROM answers WHERE surface = ?", surface))


def _mention(bot: Bot, i: int, user: str | None = None) -> str:
    """Deliver a signed mention from its own user (or ``user``); returns its thread."""
    mention = P.app_mention(f"<@{P.BOT_USER_ID}> {VPN_QUESTION} ({i})", user=user or f"U{i:04d}")
    bot.slack.seed_event(mention)
    bot.deliver(mention)
    return str(mention["event"]["ts"])


def _in_thread(ts: str, *methods: str) -> Callable[[Call], bool]:
    return lambda c: c.ok and c.method in methods and c.params.get("thread_ts") == ts


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    with contextlib.suppress(httpx.TimeoutException):  # counted as the time it took
        fn()
    return time.perf_counter() - started


def test_slack_acks_and_healthz_stay_fast_while_50_slow_api_calls_are_in_flight(
    tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI, gate: threading.Event
) -> None:
    env = {**SERVE_ENV, "DOCBOT_API_TOKEN": API_TOKEN, "DOCBOT_RATE_LIMIT_PER_USER": "0",
           "DOCBOT_RATE_LIMIT_GLOBAL": "0"}  # fmt: skip
    bot = make_bot(tmp_path, fake_slack, openai=fake_openai, env=env)
    acks: list[float] = []
    health: list[float] = []
    limits = httpx.Limits(max_connections=100)
    with (
        serving(bot) as base,
        ThreadPoolExecutor(50) as pool,
        httpx.Client(base_url=base, timeout=60, limits=limits) as http,
    ):
        try:
            ask = {"headers": {"Authorization": f"Bearer {API_TOKEN}"}}
            api = [
                pool.submit(http.post, "/api/ask", json={"question": f"{VPN_QUESTION} {i}"}, **ask)
                for i in range(50)
            ]
            _wait(lambda: len(fake_openai.chat_requests()) >= 4, "API calls at the model")
            time.sleep(0.3)  # every call that will be taken is taken
            in_flight = len(fake_openai.chat_requests())
            for i in range(20):
                mention = P.app_mention(f"<@{P.BOT_USER_ID}> {VPN_QUESTION} #{i}", user=f"U{i}")
                bot.slack.seed_event(mention)
                request = signed_event(mention)
                acks.append(_timed(lambda r=request: http.post(
                    "/slack/events", timeout=10, **r).raise_for_status()))  # fmt: skip
                health.append(_timed(lambda: http.get("/healthz", timeout=10)))
            assert sum(not f.done() for f in api) >= 4  # the slow ones are still waiting
        finally:
            gate.set()
        responses = [f.result() for f in api]
        _wait(lambda: _count(bot, "mention") == 20, "the mentions to be answered", 30)

    assert max(acks) < ACK_BUDGET, f"Slack acks took {sorted(acks)[-3:]} s"
    assert max(health) < ACK_BUDGET, f"/healthz took {sorted(health)[-3:]} s"
    assert in_flight >= 4  # slow answers really were at the model while events arrived
    assert {r.status_code for r in responses} <= {200, 503}
    assert all(r.headers["retry-after"] for r in responses if r.status_code == 503)
    outcomes = bot.rows("SELECT DISTINCT outcome FROM answers WHERE surface = 'mention'")
    assert ("failed",) not in outcomes  # every mention, admitted at once, was answered


def test_a_full_queue_gets_a_visible_busy_reply_at_once(
    tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI, gate: threading.Event
) -> None:
    env = {"DOCBOT_ANSWER_WORKERS": "1", "DOCBOT_ANSWER_QUEUE": "1"}
    bot = make_bot(tmp_path, fake_slack, openai=fake_openai, env=env)

    running, waiting, refused = (_mention(bot, i) for i in range(3))

    busy = fake_slack.wait_for(_in_thread(refused, "chat.postMessage"), timeout=3)
    assert ui.BUSY.split(",")[0] in all_text(busy.params)
    assert ":warning:" in busy.params["text"]
    for ts in (running, waiting):  # both got their first reaction though one waits
        fake_slack.wait_for(_in_thread(ts, "chat.postMessage"), timeout=3)
    _wait(lambda: len(fake_openai.chat_requests()) == 1, "the one worker at the model")
    time.sleep(0.2)
    assert len(fake_openai.chat_requests()) == 1  # the second waits for the worker
    gate.set()
    answers = [bot.wait_answer(count=n, timeout=10) for n in (1, 2)]
    assert {a["thread_ts"] for a in answers} == {running, waiting}
    errors = bot.wait_rows("SELECT error FROM answers WHERE error = 'busy'")
    assert errors == [("busy",)]


def test_while_every_worker_is_busy_a_mention_gets_its_first_reaction_and_the_rate_limit_at_once(
    tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI, gate: threading.Event
) -> None:
    bot = make_bot(tmp_path, fake_slack, openai=fake_openai,
                   env={"DOCBOT_RATE_LIMIT_PER_USER": "1"})  # fmt: skip
    for i in range(8):  # the default number of answer workers, all held by the model
        _mention(bot, i)
    _wait(lambda: len(fake_openai.chat_requests()) == 8, "every worker at the model")

    late = _mention(bot, 8)  # a ninth asker, who has to wait for a worker
    again = _mention(bot, 9, user="U0000")  # the first asker, again within the minute

    reaction: Call = fake_slack.wait_for(_in_thread(late, "chat.postMessage"), timeout=3)
    assert ui.PLACEHOLDER in reaction.params["text"]
    limited = fake_slack.wait_for(_in_thread(again, "chat.postMessage"), timeout=3)
    assert "Please wait a moment" in limited.params["text"]
    assert len(fake_openai.chat_requests()) == 8  # nobody was answered in the meantime
    gate.set()
    bot.wait_answer(count=9, timeout=15)
    assert bot.wait_rows("SELECT error FROM answers WHERE error IS NOT NULL") == [("user_limit",)]
