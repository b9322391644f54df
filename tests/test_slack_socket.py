"""Socket Mode through the fake's websocket (mention and /ask), and ``docbot serve``:
both modes start, answer and stop; missing settings fail with one clear line."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.server.serve import run, socket_mode_handler
from bot.slack import ui
from bot.slack.app import create_app
from ingest.errors import ConfigError
from ingest.settings import load_settings
from tests.fakes import slack_payloads as P
from tests.fakes.slack_server import FakeSlack
from tests.slack_helpers import VPN_QUESTION, Bot, all_text, make_bot

pytest_plugins = ["tests.slack_support"]

APP_TOKEN = "xapp-1-test"


@pytest.fixture
def socket_bot(tmp_path: Path, fake_slack: FakeSlack) -> Iterator[Bot]:
    bot = make_bot(tmp_path, fake_slack, env={"SLACK_APP_TOKEN": APP_TOKEN})
    handler = socket_mode_handler(bot.app, bot.settings)
    handler.connect()
    fake_slack.wait_for_socket()
    try:
        yield bot
    finally:
        handler.close()


def test_mention_and_ask_over_socket_mode(socket_bot: Bot) -> None:
    """One connection for several deliveries: closing Bolt's builtin client takes ~3 s."""
    slack = socket_bot.slack
    (opened,) = slack.calls("apps.connections.open")
    assert opened.token == APP_TOKEN  # the app-level token, sent to SLACK_API_URL
    mention = P.app_mention(f"<@{P.BOT_USER_ID}> {VPN_QUESTION}")

    envelope_id = slack.socket_send(mention)

    assert slack.wait_for_ack(envelope_id).payload is None
    answer = socket_bot.wait_answer()
    assert answer["thread_ts"] == mention["event"]["ts"] and "TunnelGate" in answer["text"]

    envelope_id = slack.socket_send(P.slash_command("What is the meal limit?"))

    slack.wait_for_ack(envelope_id)
    answer = socket_bot.wait_answer(count=2)
    assert "What is the meal limit?" in all_text(answer) and "75 dollars" in all_text(answer)

    envelope_id = slack.socket_send(P.slash_command(""))

    ack = slack.wait_for_ack(envelope_id)
    assert ack.payload is not None and "/ask How do I" in str(ack.payload)


def test_real_socket_mode_envelope_is_acked(socket_bot: Bot, slack_data: Any) -> None:
    envelope = slack_data.json("socket_mode/envelope_3_events_api__bolt.json")

    socket_bot.slack.socket_send(envelope)

    assert socket_bot.slack.wait_for_ack(envelope["envelope_id"])


Served = tuple[threading.Thread, threading.Event, list[int]]


def _serve_in_thread(bot: Bot, **kwargs: Any) -> Served:
    stop, result = threading.Event(), []
    thread = threading.Thread(
        target=lambda: result.append(run(bot.docbot, stop=stop, **kwargs)), daemon=True
    )
    thread.start()
    return thread, stop, result


def test_serve_runs_socket_mode_until_stopped(tmp_path: Path, fake_slack: FakeSlack) -> None:
    env = {"SLACK_APP_TOKEN": APP_TOKEN, "DOCBOT_SYNC_INTERVAL": "1h"}
    bot = make_bot(tmp_path, fake_slack, env=env)
    thread, stop, result = _serve_in_thread(bot)
    fake_slack.wait_for_socket(timeout=10)

    fake_slack.socket_send(P.app_mention(f"<@{P.BOT_USER_ID}> {VPN_QUESTION}"))
    bot.wait_answer()
    scheduled = bot.wait_rows("SELECT id FROM sync_runs WHERE id > 1")  # the start-up sync
    stop.set()
    thread.join(10)

    assert result == [0] and scheduled
    assert fake_slack.socket.connections[-1].closed_at is not None  # closed cleanly


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_http_mode_serves_until_stopped(tmp_path: Path, fake_slack: FakeSlack) -> None:
    bot = make_bot(tmp_path, fake_slack)
    port = _free_port()
    thread, stop, result = _serve_in_thread(bot, http=True, port=port)
    try:
        for _ in range(200):
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.ConnectError:
                thread.join(0.02)
        assert response.status_code == 200 and response.json()["ok"] is True
    finally:
        stop.set()
        thread.join(10)
    assert result == [0]


@pytest.mark.parametrize(
    ("env", "http", "names"),
    [
        ({}, False, "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, True, "SLACK_SIGNING_SECRET"),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, False, "SLACK_SIGNING_SECRET"),  # no app token: HTTP
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xoxb-2"}, False, "SLACK_APP_TOKEN"),
    ],
)
def test_serve_names_the_missing_setting(
    tmp_path: Path, env: dict[str, str], http: bool, names: str
) -> None:
    settings = load_settings({"DOCBOT_DB": str(tmp_path / "db.sqlite"), **env})
    from bot.app import build

    with pytest.raises(ConfigError, match=names):
        run(build(settings), http=http)


def test_a_rejected_bot_token_is_a_config_error(tmp_path: Path, fake_slack: FakeSlack) -> None:
    bot = make_bot(tmp_path, fake_slack)
    fake_slack.fail("auth.test", "invalid_auth")

    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN"):
        create_app(bot.docbot, bot.settings)


def test_feedback_block_ids_are_stable() -> None:
    # Other tools (metrics, docbot feedback) match on these ids; keep them fixed.
    assert (ui.FEEDBACK_UP, ui.FEEDBACK_DOWN) == ("docbot_feedback_up", "docbot_feedback_down")
