"""Running ``docbot serve --http`` for real in a test: ``bot.server.serve.run`` on a
thread (uvicorn on 127.0.0.1 and a free port), stopped when the test ends."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from bot.server.serve import run
from tests.fakes import slack_payloads as P
from tests.slack_helpers import SECRET, Bot


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(bot: Bot, port: int | None = None) -> Iterator[str]:
    """The bot served over HTTP; yields its base URL. ``bot``'s settings should set
    ``DOCBOT_SYNC_INTERVAL`` so the scheduler does not resync during the test."""
    port = port or free_port()
    stop, result = threading.Event(), []
    thread = threading.Thread(
        target=lambda: result.append(run(bot.docbot, http=True, port=port, stop=stop)),
        name="docbot-serve",
        daemon=True,
    )
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            break
        except httpx.HTTPError:
            assert thread.is_alive() and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.05)
    try:
        yield base
    finally:
        stop.set()
        thread.join(15)
    assert result == [0], "docbot serve did not stop cleanly"


def signed_event(payload: dict[str, Any], *, secret: str = SECRET) -> dict[str, Any]:
    """httpx keyword arguments for an Events API body signed as Slack signs it."""
    body = json.dumps(payload)
    return {
        "content": body,
        "headers": {**P.sign(secret, body), "Content-Type": "application/json"},
    }
