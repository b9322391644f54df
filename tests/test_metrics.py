"""Prometheus metrics, incremented by real requests through the fake Slack and the
fake OpenAI: ``GET /metrics`` in HTTP mode and ``DOCBOT_METRICS_PORT`` in Socket Mode;
rate limits (Slack message, HTTP 429 with Retry-After) and their counter; prices."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from bot.app import build
from bot.ops.metrics import Metrics
from bot.ops.pricing import Cost, PriceTable
from bot.server.serve import run
from bot.server.web import create_web_app
from tests.fakes import slack_payloads as P
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_server import FakeSlack
from tests.ops_helpers import metric
from tests.slack_helpers import SECRET, VPN_QUESTION, all_text, make_bot

pytest_plugins = ["tests.slack_support"]

TOKEN = "metrics-test-api-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def _signed_event(payload: dict[str, object]) -> dict[str, object]:
    body = json.dumps(payload)
    return {
        "content": body,
        "headers": {**P.sign(SECRET, body), "Content-Type": "application/json"},
    }


def test_metrics_endpoint_counts_real_requests(
    tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    bot = make_bot(tmp_path, fake_slack, openai=fake_openai, env={"DOCBOT_API_TOKEN": TOKEN})
    mention = P.app_mention(f"<@{P.BOT_USER_ID}> {VPN_QUESTION}")
    bot.slack.seed_event(mention)
    with TestClient(create_web_app(bot.docbot, bot.app)) as client:
        assert client.post("/slack/events", **_signed_event(mention)).status_code == 200
        bot.wait_answer()
        bot.wait_rows("SELECT 1 FROM answers WHERE surface = 'mention'")
        asked = client.post("/api/ask", json={"question": "What is the meal limit?"},
                            headers=BEARER)  # fmt: skip
        assert asked.status_code == 200
        response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert metric(text, "docbot_questions_total", surface="mention", outcome="answered") == 1
    assert metric(text, "docbot_questions_total", surface="api", outcome="answered") == 1
    assert metric(text, "docbot_question_duration_seconds_count", surface="mention") == 1
    assert metric(text, "docbot_retrieval_duration_seconds_count") == 2
    model = {"model": "gpt-4o-mini"}
    assert metric(text, "docbot_llm_response_duration_seconds_count", **model) == 2
    assert metric(text, "docbot_llm_first_token_seconds_count", **model) == 2
    prompt = metric(text, "docbot_llm_tokens_total", kind="prompt", **model)
    completion = metric(text, "docbot_llm_tokens_total", kind="completion", **model)
    assert prompt > 0 and completion > 0
    expected_cost = (prompt * 0.15 + completion * 0.60) / 1e6
    assert metric(text, "docbot_llm_cost_usd_total", **model) == pytest.approx(expected_cost)
    assert metric(text, "docbot_llm_price_known", **model) == 1
    assert metric(text, "docbot_embedding_calls_total", kind="query") == 2
    chunks = bot.rows("SELECT count(*) FROM chunks")[0][0]
    assert metric(text, "docbot_embedding_texts_total", kind="document") == chunks
    assert metric(text, "docbot_sync_runs_total", source="docs", status="ok") == 1
    assert metric(text, "docbot_sync_documents_total", source="docs", change="added") == 3
    assert metric(text, "docbot_sync_last_success_timestamp_seconds", source="docs") > 0
    assert metric(text, "docbot_answer_cache_lookups_total", result="miss") == 2
    costs = bot.rows("SELECT cost_usd FROM answers")
    assert sum(c for (c,) in costs) == pytest.approx(expected_cost)


def test_a_failed_answer_is_counted_with_its_error(
    tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    bot = make_bot(tmp_path, fake_slack, openai=fake_openai, inline=True)
    fake_openai.fail_next(status=500)
    mention = P.app_mention(f"<@{P.BOT_USER_ID}> {VPN_QUESTION}")
    bot.slack.seed_event(mention)

    bot.deliver(mention)

    bot.wait_error()
    text = bot.docbot.metrics.render().decode()
    assert metric(text, "docbot_questions_total", surface="mention", outcome="failed") == 1
    labels = {"surface": "mention", "error": "llm_unavailable"}
    assert metric(text, "docbot_question_errors_total", **labels) == 1
    assert metric(text, "docbot_retrieval_duration_seconds_count") == 1  # it got that far


def test_each_app_has_its_own_registry(tmp_path: Path) -> None:
    one, two = Metrics(), Metrics()
    one.observe_rate_limited("dm", "user")
    assert metric(one.render().decode(), "docbot_rate_limited_total") == 1
    assert metric(two.render().decode(), "docbot_rate_limited_total") == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get_metrics(port: int, thread: threading.Thread) -> str:
    for _ in range(300):
        try:
            return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
        except httpx.ConnectError:
            thread.join(0.02)
    raise AssertionError(f"nothing served metrics on port {port}")


def test_socket_mode_serves_metrics_on_the_metrics_port(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    port = _free_port()
    env = {"SLACK_APP_TOKEN": "xapp-1-test", "DOCBOT_SYNC_INTERVAL": "1h",
           "DOCBOT_METRICS_PORT": str(port)}  # fmt: skip
    bot = make_bot(tmp_path, fake_slack, env=env)
    stop, result = threading.Event(), []
    thread = threading.Thread(target=lambda: result.append(run(bot.docbot, stop=stop)), daemon=True)
    thread.start()
    try:
        fake_slack.wait_for_socket(timeout=10)
        fake_slack.socket_send(P.app_mention(f"<@{P.BOT_USER_ID}> {VPN_QUESTION}"))
        bot.wait_answer()
        bot.wait_rows("SELECT 1 FROM answers")
        bot.wait_rows("SELECT id FROM sync_runs WHERE id > 1")  # the scheduler's first run
        deadline = time.monotonic() + 5
        while True:  # the scheduler's sync counts once its report is back
            text = _get_metrics(port, thread)
            if metric(text, "docbot_sync_runs_total", source="docs") >= 2:
                break
            assert time.monotonic() < deadline, text
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(15)
    assert result == [0]
    assert metric(text, "docbot_questions_total", surface="mention", outcome="answered") == 1
    assert metric(text, "docbot_embedding_calls_total", kind="query") == 1
    with pytest.raises(httpx.ConnectError):  # stopped with the bot
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1)


def test_api_over_the_limit_is_429_with_retry_after(tmp_path: Path, fake_slack: FakeSlack) -> None:
    env = {"DOCBOT_API_TOKEN": TOKEN, "DOCBOT_RATE_LIMIT_PER_USER": "1"}
    bot = make_bot(tmp_path, fake_slack, env=env)
    with TestClient(create_web_app(bot.docbot, bot.app)) as client:
        ok = client.post("/api/ask", json={"question": VPN_QUESTION}, headers=BEARER)
        limited = client.post("/api/ask", json={"question": VPN_QUESTION}, headers=BEARER)
        text = client.get("/metrics").text

    assert ok.status_code == 200
    assert limited.status_code == 429 and "wait a moment" in limited.json()["error"]
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert metric(text, "docbot_rate_limited_total", surface="api", scope="user") == 1
    assert bot.rows("SELECT outcome, error FROM answers ORDER BY created_at") == [
        ("answered", None), ("failed", "user_limit"),
    ]  # fmt: skip


def test_the_global_limit_is_one_budget_for_slack_and_the_api(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    env = {"DOCBOT_API_TOKEN": TOKEN, "DOCBOT_RATE_LIMIT_GLOBAL": "1"}
    bot = make_bot(tmp_path, fake_slack, env=env, inline=True)
    with TestClient(create_web_app(bot.docbot, bot.app)) as client:
        assert client.post("/api/ask", json={"question": VPN_QUESTION},
                           headers=BEARER).status_code == 200  # fmt: skip
        mention = P.app_mention(f"<@{P.BOT_USER_ID}> What is the meal limit?")
        bot.slack.seed_event(mention)
        bot.deliver(mention)
        error = bot.wait_error()
        limited = client.post("/api/ask", json={"question": "PTO?"}, headers=BEARER)

    assert "a lot of questions" in all_text(error)
    assert limited.status_code == 429 and "retry-after" in limited.headers
    text = bot.docbot.metrics.render().decode()
    assert metric(text, "docbot_rate_limited_total", surface="mention", scope="global") == 1
    assert metric(text, "docbot_rate_limited_total", surface="api", scope="global") == 1


def test_prices(caplog: pytest.LogCaptureFixture) -> None:
    prices = PriceTable()
    assert prices.cost("gpt-4o-mini", 1_000_000, 1_000_000) == Cost(0.75, True)
    assert prices.cost("gpt-4o-mini-2024-07-18", 2000, 0).usd == pytest.approx(0.0003)
    assert prices.price("gpt-4o-2024-08-06") == (2.50, 10.00)
    with caplog.at_level(logging.WARNING, logger="bot.ops.pricing"):
        assert prices.cost("my-azure-deployment", 100, 10) == Cost(0.0, False)
        prices.cost("my-azure-deployment", 100, 10)
    assert [r.getMessage().count("my-azure-deployment") for r in caplog.records] == [1]


def test_status_command_shape_without_activity(tmp_path: Path) -> None:
    from ingest.settings import load_settings

    app = build(load_settings({"DOCBOT_DB": str(tmp_path / "db.sqlite")}))
    data = app.status()
    assert data["questions"]["total"] == 0 and data["questions"]["latency_ms"]["p50"] is None
    assert data["feedback"] == {"days": 7, "up": 0, "down": 0}
    assert data["answer_cache"]["hit_rate"] is None and data["answer_cache"]["entries"] == 0
