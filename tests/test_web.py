"""HTTP mode: the one ASGI app (Slack requests with signature checks, /healthz, the
JSON API), driven over real HTTP semantics with Starlette's test client."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from bot.server.web import create_web_app
from tests.fakes import slack_payloads as P
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_server import FakeSlack
from tests.slack_helpers import SECRET, VPN_QUESTION, Bot, all_text, make_bot

pytest_plugins = ["tests.slack_support"]

API_TOKEN = "api-secret-token"
JSON = "application/json"


@pytest.fixture
def web(tmp_path: Path, fake_slack: FakeSlack) -> Iterator[tuple[Bot, TestClient]]:
    bot = make_bot(tmp_path, fake_slack, env={"DOCBOT_API_TOKEN": API_TOKEN})
    with TestClient(create_web_app(bot.docbot, bot.app)) as client:
        yield bot, client


def _signed(body: str, content_type: str, *, secret: str = SECRET, age: int = 0) -> dict[str, Any]:
    headers = P.sign(secret, body, int(time.time()) - age)
    return {"content": body, "headers": {**headers, "Content-Type": content_type}}


def _event(payload: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return _signed(json.dumps(payload), JSON, **kwargs)


def test_url_verification_answers_the_challenge(web: tuple[Bot, TestClient]) -> None:
    _, client = web
    body = {"token": P.VERIFICATION_TOKEN, "challenge": "c-123", "type": "url_verification"}

    response = client.post("/slack/events", **_event(body))

    assert response.status_code == 200 and "c-123" in response.text


def test_real_url_verification_payload(web: tuple[Bot, TestClient], slack_data: Any) -> None:
    _, client = web
    body = slack_data.json("events_api/url_verification__bolt.json")

    response = client.post("/slack/events", **_event(body))

    assert response.status_code == 200 and body["challenge"] in response.text


@pytest.mark.parametrize("forgery", ["wrong_secret", "expired", "unsigned", "tampered"])
def test_forged_or_expired_requests_are_refused(web: tuple[Bot, TestClient], forgery: str) -> None:
    bot, client = web
    mention = P.app_mention(f"<@{P.BOT_USER_ID}> {VPN_QUESTION}")
    request = {
        "wrong_secret": _event(mention, secret="not-the-secret"),
        "expired": _event(mention, age=6 * 60),  # outside Slack's 5-minute window
        "unsigned": {"content": json.dumps(mention), "headers": {"Content-Type": JSON}},
        "tampered": {**_event(mention), "content": json.dumps({**mention, "team_id": "T0EVIL"})},
    }[forgery]

    response = client.post("/slack/events", **request)

    assert response.status_code == 401
    assert [c.method for c in bot.slack.calls()] == ["auth.test"]  # nothing was answered


def test_signed_mention_over_http_is_answered(web: tuple[Bot, TestClient]) -> None:
    bot, client = web
    mention = P.app_mention(f"<@{P.BOT_USER_ID}> {VPN_QUESTION}")
    bot.slack.seed_event(mention)

    response = client.post("/slack/events", **_event(mention))

    assert response.status_code == 200
    answer = bot.wait_answer()
    assert answer["thread_ts"] == mention["event"]["ts"] and "TunnelGate" in answer["text"]


def test_signed_slash_command_over_http_is_acked_then_answered(web: tuple[Bot, TestClient]) -> None:
    bot, client = web
    body = P.form_body(P.slash_command(VPN_QUESTION))

    response = client.post("/slack/events", **_signed(body, "application/x-www-form-urlencoded"))

    assert (response.status_code, response.text) == (200, "")
    assert VPN_QUESTION in all_text(bot.wait_answer())


def test_healthz_reports_the_store(web: tuple[Bot, TestClient]) -> None:
    _, client = web

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"ok": True, "store": "ok", "documents": 3}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_api_ask_with_the_right_token_answers_in_the_ask_json_shape(
    web: tuple[Bot, TestClient],
) -> None:
    bot, client = web

    response = client.post("/api/ask", json={"question": VPN_QUESTION}, headers=_bearer(API_TOKEN))

    assert response.status_code == 200
    data = response.json()
    assert {"answer", "mode", "sources", "timings_ms"} <= set(data)
    assert data["mode"] == "extractive" and "TunnelGate" in data["answer"]
    assert {"title", "url", "source", "score"} <= set(data["sources"][0])
    assert bot.rows("SELECT surface, outcome FROM answers") == [("api", "answered")]


@pytest.mark.parametrize("headers", [{}, _bearer("wrong"), {"Authorization": API_TOKEN}])
def test_api_ask_without_the_right_token_is_401(
    web: tuple[Bot, TestClient], headers: dict[str, str]
) -> None:
    _, client = web

    response = client.post("/api/ask", json={"question": VPN_QUESTION}, headers=headers)

    assert response.status_code == 401 and "error" in response.json()
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("not json", "not JSON"),
        (json.dumps({"q": "x"}), "question"),
        (json.dumps({"question": "  "}), "empty"),
        (json.dumps({"question": "VPN?", "history": [{"role": "system"}]}), "history"),
    ],
)
def test_api_ask_bad_input_is_400_with_the_reason(
    web: tuple[Bot, TestClient], body: str, says: str
) -> None:
    _, client = web

    response = client.post("/api/ask", content=body, headers=_bearer(API_TOKEN))

    assert response.status_code == 400 and says in response.json()["error"]


def test_api_ask_follows_the_history(web: tuple[Bot, TestClient]) -> None:
    _, client = web
    history = [{"role": "user", "content": "Tell me about travelling."}]

    response = client.post(
        "/api/ask", json={"question": "What is the meal limit?", "history": history},
        headers=_bearer(API_TOKEN),
    )  # fmt: skip

    assert response.status_code == 200 and "75 dollars" in response.json()["answer"]


def test_api_ask_llm_failure_is_503(
    tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    bot = make_bot(tmp_path, fake_slack, openai=fake_openai, env={"DOCBOT_API_TOKEN": API_TOKEN})
    fake_openai.fail_next(status=500)
    with TestClient(create_web_app(bot.docbot, bot.app)) as client:
        response = client.post(
            "/api/ask", json={"question": VPN_QUESTION}, headers=_bearer(API_TOKEN)
        )

    assert response.status_code == 503 and "unavailable" in response.json()["error"]
    assert bot.rows("SELECT outcome, error FROM answers") == [("failed", "llm_unavailable")]


def test_api_ask_is_absent_without_a_token_setting(tmp_path: Path, fake_slack: FakeSlack) -> None:
    bot = make_bot(tmp_path, fake_slack)
    with TestClient(create_web_app(bot.docbot, bot.app)) as client:
        response = client.post("/api/ask", json={"question": VPN_QUESTION})

    assert response.status_code == 404
