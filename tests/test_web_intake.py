"""What an HTTP request must pass before docbot parses or answers it: the body cap
(bytes read, not memory), the Slack signature before parsing, malformed bodies as a
4xx without a traceback, replayed ``/ask`` answered once, ``X-Forwarded-For`` only
from trusted proxies, and the bind address setting."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.testclient import TestClient

from bot.server.intake import client_address, trusted_networks
from bot.server.serve import http_server
from bot.server.web import MAX_SLACK_BODY_BYTES, create_web_app
from tests.fakes import slack_payloads as P
from tests.fakes.slack_server import FakeSlack
from tests.http_helpers import free_port, serving
from tests.slack_helpers import SECRET, VPN_QUESTION, Bot, all_text, make_bot

pytest_plugins = ["tests.slack_support"]

API_TOKEN = "intake-api-token"
SERVE_ENV = {"DOCBOT_SYNC_INTERVAL": "1h", "DOCBOT_HOST": "127.0.0.1"}
CHUNK = 64 * 1024


@pytest.fixture
def web(bot: Bot) -> Iterator[TestClient]:
    with TestClient(create_web_app(bot.docbot, bot.app), raise_server_exceptions=False) as client:
        yield client


# --- the body cap --------------------------------------------------------------------


def _post_to_app(app: Any, total: int, headers: list[tuple[bytes, bytes]]) -> tuple[int, int]:
    """POST ``total`` bytes to the ASGI app in 64 KB pieces; (status, bytes it read)."""
    read = 0
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal read
        size = min(CHUNK, total - read)
        read += size
        return {"type": "http.request", "body": b"x" * size, "more_body": read < total}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/slack/events", "raw_path": b"/slack/events",
        "query_string": b"", "root_path": "", "headers": headers,
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 3000),
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    return status, read


@pytest.mark.parametrize("declared", [False, True], ids=["chunked", "content-length"])
def test_an_oversized_unsigned_body_is_413_after_reading_at_most_the_cap(
    bot: Bot, declared: bool
) -> None:
    total = 50 * 1024 * 1024
    headers = [(b"content-type", b"application/json")]
    if declared:
        headers.append((b"content-length", str(total).encode()))

    status, read = _post_to_app(create_web_app(bot.docbot, bot.app), total, headers)

    assert status == 413
    assert read <= (0 if declared else MAX_SLACK_BODY_BYTES + CHUNK)
    assert [c.method for c in bot.slack.calls()] == ["auth.test"]


def test_an_oversized_body_over_real_http_is_cut_off_with_413(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    bot = make_bot(tmp_path, fake_slack, env=SERVE_ENV)
    sent = 0
    with (
        serving(bot) as base,
        socket.create_connection(("127.0.0.1", int(base.rsplit(":")[-1]))) as sock,
    ):
        sock.sendall(
            b"POST /slack/events HTTP/1.1\r\nHost: docbot\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )

        def push() -> None:  # 200 MB unless the server stops reading first
            nonlocal sent
            piece = b"%x\r\n%s\r\n" % (CHUNK, b"x" * CHUNK)
            try:
                while sent < 200 * 1024 * 1024:
                    sock.sendall(piece)
                    sent += CHUNK
            except OSError:
                return

        pusher = threading.Thread(target=push, daemon=True)
        pusher.start()
        sock.settimeout(10)
        status_line = sock.recv(4096).split(b"\r\n", 1)[0]
        sock.shutdown(socket.SHUT_RDWR)
        pusher.join(10)

    assert status_line == b"HTTP/1.1 413 Request Entity Too Large"
    assert sent < 64 * 1024 * 1024  # the server stopped reading long before 200 MB


# --- signature before parsing; malformed bodies --------------------------------------


def _signed(body: bytes | str, content_type: str) -> dict[str, Any]:
    return {"content": body, "headers": {**P.sign(SECRET, body), "Content-Type": content_type}}


def _signed_later(body: bytes | str, content_type: str) -> dict[str, Any]:
    """Signed when the test runs, not when it is collected: Slack's timestamp window is
    five minutes, and on a loaded machine the suite can take longer to reach the test."""
    return {"content": body, "sign_as": content_type}


@pytest.mark.parametrize(
    ("request_kwargs", "status"),
    [
        ({"content": "{not json", "headers": {"Content-Type": "application/json"}}, 401),
        ({"content": b"\xff\xfe" * 50, "headers": {"Content-Type": "application/json"}}, 401),
        (_signed_later("{not json", "application/json"), 400),
        (_signed_later("[1, 2, 3]", "application/json"), 400),
        (_signed_later(b"\xff\xfe{}", "application/json"), 400),
        (_signed_later("payload=%7Bbroken", "application/x-www-form-urlencoded"), 400),
        (
            {
                "content": "{}",
                "headers": {"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=00"},
            },
            401,
        ),
    ],
    ids=[
        "unsigned",
        "unsigned-binary",
        "signed-bad-json",
        "signed-list",
        "signed-binary",
        "signed-bad-payload",
        "bad-timestamp",
    ],
)
def test_a_malformed_body_is_a_4xx_without_a_traceback(
    web: TestClient, bot: Bot, caplog: pytest.LogCaptureFixture,
    request_kwargs: dict[str, Any], status: int,
) -> None:  # fmt: skip
    if "sign_as" in request_kwargs:
        request_kwargs = _signed(request_kwargs["content"], request_kwargs["sign_as"])
    with caplog.at_level(logging.DEBUG):
        response = web.post("/slack/events", **request_kwargs)

    assert response.status_code == status and "error" in response.json()
    assert [
        r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR
    ] == []
    assert [c.method for c in bot.slack.calls()] == ["auth.test"]


def test_slack_ssl_check_is_answered_without_a_signature(web: TestClient) -> None:
    response = web.post("/slack/events", content="ssl_check=1&token=x",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert response.status_code == 200


# --- replays -------------------------------------------------------------------------


def test_a_replayed_slash_command_is_answered_once(web: TestClient, bot: Bot) -> None:
    request = _signed(
        P.form_body(P.slash_command(VPN_QUESTION)), "application/x-www-form-urlencoded"
    )

    first = web.post("/slack/events", **request)
    replay = web.post("/slack/events", **request)  # the same signed bytes, seconds later

    assert (first.status_code, replay.status_code) == (200, 200)
    assert VPN_QUESTION in all_text(bot.wait_answer())
    time.sleep(0.3)  # time for a second answer to start, if one were coming
    top_level = [c for c in bot.slack.calls("chat.postMessage") if "thread_ts" not in c.params]
    assert len(top_level) == 1
    assert bot.rows("SELECT surface FROM answers") == [("slash",)]


# --- X-Forwarded-For -----------------------------------------------------------------


def _api(base: str, forwarded_for: str) -> int:
    response = httpx.post(
        f"{base}/api/ask", json={"question": VPN_QUESTION}, timeout=10,
        headers={"Authorization": f"Bearer {API_TOKEN}", "X-Forwarded-For": forwarded_for},
    )  # fmt: skip
    return response.status_code


def test_x_forwarded_for_from_a_client_does_not_buy_a_fresh_rate_limit(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    env = {**SERVE_ENV, "DOCBOT_API_TOKEN": API_TOKEN, "DOCBOT_RATE_LIMIT_PER_USER": "1"}
    bot = make_bot(tmp_path, fake_slack, env=env)
    with serving(bot) as base:
        statuses = [_api(base, f"203.0.113.{n}") for n in (1, 2, 3)]

    assert statuses == [200, 429, 429]


def test_x_forwarded_for_from_a_trusted_proxy_names_the_client(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    env = {**SERVE_ENV, "DOCBOT_API_TOKEN": API_TOKEN, "DOCBOT_RATE_LIMIT_PER_USER": "1",
           "DOCBOT_TRUSTED_PROXIES": "127.0.0.0/8"}  # fmt: skip
    bot = make_bot(tmp_path, fake_slack, env=env)
    with serving(bot) as base:
        statuses = [
            _api(base, "203.0.113.1"),
            _api(base, "203.0.113.2"),
            _api(base, "198.51.100.7, 203.0.113.1"),  # the client's own entry is ignored
        ]

    assert statuses == [200, 200, 429]


def _request(peer: str, *forwarded: str) -> Request:
    headers = [(b"x-forwarded-for", f.encode()) for f in forwarded]
    return Request({"type": "http", "headers": headers, "client": (peer, 1234)})


@pytest.mark.parametrize(
    ("proxies", "peer", "forwarded", "client"),
    [
        ((), "10.0.0.5", ("203.0.113.1",), "10.0.0.5"),
        (("10.0.0.0/8",), "192.0.2.9", ("203.0.113.1",), "192.0.2.9"),
        (("10.0.0.0/8",), "10.0.0.5", ("203.0.113.1",), "203.0.113.1"),
        (("10.0.0.0/8",), "10.0.0.5", ("6.6.6.6, 203.0.113.1, 10.0.0.4",), "203.0.113.1"),
        (("10.0.0.0/8",), "10.0.0.5", ("6.6.6.6", "203.0.113.1"), "203.0.113.1"),
        (("10.0.0.0/8",), "10.0.0.5", (), "10.0.0.5"),
        (("10.0.0.0/8", "::1/128"), "::1", ("2001:db8::1",), "2001:db8::1"),
    ],
)
def test_client_address(
    proxies: tuple[str, ...], peer: str, forwarded: tuple[str, ...], client: str
) -> None:
    assert client_address(_request(peer, *forwarded), trusted_networks(proxies)) == client


# --- the bind address ----------------------------------------------------------------


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def test_the_bind_address_setting_is_used(tmp_path: Path, fake_slack: FakeSlack) -> None:
    with socket.socket() as probe:  # is 127.0.0.2 routed to this host's loopback?
        probe.bind(("0.0.0.0", 0))
        probe.listen()
        if not _reachable("127.0.0.2", probe.getsockname()[1]):
            pytest.skip("127.0.0.2 is not a loopback address here")
    bot = make_bot(tmp_path, fake_slack, env=SERVE_ENV)
    port = free_port()
    with serving(bot, port):
        on_loopback = _reachable("127.0.0.1", port)
        elsewhere = _reachable("127.0.0.2", port)  # would answer if bound to 0.0.0.0

    assert (on_loopback, elsewhere) == (True, False)


def test_the_bind_address_defaults_to_all_interfaces(bot: Bot) -> None:
    server = http_server(bot.docbot, bot.app, 0)  # `bot` sets no DOCBOT_HOST

    assert (server.config.host, server.config.proxy_headers) == ("0.0.0.0", False)
