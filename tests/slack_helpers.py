"""Helpers for the Slack bot tests: a real store synced from small Markdown files,
the real Bolt app pointed at the fake Slack, and signed deliveries to it.

The fixtures built from these live in ``tests/slack_support.py`` (load them with
``pytest_plugins = ["tests.slack_support"]``); this module is a plain import, so a
test module can use the helpers without importing the plugin. Nothing is mocked:
Bolt verifies real signatures, the real ``WebClient`` talks HTTP to ``FakeSlack``,
answers come from a real SQLite store built with the deterministic ``HashEmbedder``
(and the real ``openai`` client against ``FakeOpenAI`` in LLM tests).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse

from bot.app import Docbot, build
from bot.llm import LLM, OpenAIChat
from bot.prompts import CONDENSE_PROMPT
from bot.slack.app import create_app
from ingest.settings import Settings, load_settings
from tests.fakes import slack_payloads as P
from tests.fakes.embedders import HashEmbedder
from tests.fakes.openai_server import FakeOpenAI, echo_reply, message_text
from tests.fakes.slack_server import Call, FakeSlack

SECRET = "test-signing-secret"
DOCS = {
    "vpn.md": "---\ntitle: VPN\n---\n# VPN\n\n## Connecting\n\nOpen TunnelGate and connect to "
    "vpn.acme.example. Approve the push in Orbit Authenticator within 60 seconds.\n",
    "expenses.md": "# Expenses\n\n## Meals\n\nThe meal limit is 75 dollars per day when "
    "travelling. Keep every receipt and submit it in Ledger within 30 days.\n",
    "pto.md": "# Time off\n\n## PTO\n\nEmployees in the US get 25 PTO days per year. "
    "Request time off in the HR portal two weeks ahead.\n",
}
DOCS_URL = "https://docs.acme.example/{path}"
VPN_QUESTION = "How do I connect to the VPN?"


class InlineExecutor(Executor):
    """Runs Bolt's post-ack work before ``dispatch`` returns, so a test can assert that
    an ignored event caused *no* Slack call without sleeping."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


@dataclass
class Bot:
    """A running docbot: its settings, components and Bolt app, plus the fakes."""

    settings: Settings
    docbot: Docbot
    app: App
    slack: FakeSlack
    tmp: Path
    sent: list[BoltResponse] = field(default_factory=list)

    def deliver(self, payload: dict[str, Any], *, retry: int | None = None) -> BoltResponse:
        """POST an Events API body to Bolt the way Slack does: JSON, signed, now."""
        return self.post(json.dumps(payload), "application/json", retry=retry)

    def command(self, fields: dict[str, str]) -> BoltResponse:
        return self.post(P.form_body(fields), "application/x-www-form-urlencoded")

    def action(self, payload: dict[str, Any]) -> BoltResponse:
        return self.post(P.interactive_body(payload), "application/x-www-form-urlencoded")

    def post(self, body: str, content_type: str, *, retry: int | None = None) -> BoltResponse:
        signed = {k.lower(): v for k, v in P.sign(SECRET, body).items()}
        headers = {"content-type": content_type, **signed}
        if retry is not None:
            headers |= {"x-slack-retry-num": str(retry), "x-slack-retry-reason": "http_timeout"}
        response = self.app.dispatch(BoltRequest(body=body, headers=headers))
        self.sent.append(response)
        return response

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Query the store through its own binding: a second SQLite library in the same
        process (stdlib ``sqlite3`` beside sqlean) would drop the other's file locks."""
        return [tuple(r) for r in self.docbot.store.conn.execute(sql, params).fetchall()]

    def wait_rows(self, sql: str, *params: Any, timeout: float = 5.0) -> list[tuple[Any, ...]]:
        """Rows once the query returns any (the record is written after the reply)."""
        deadline = time.monotonic() + timeout
        while not (rows := self.rows(sql, *params)) and time.monotonic() < deadline:
            time.sleep(0.01)
        return rows

    def wait_answer(self, *, count: int = 1, timeout: float = 5.0) -> dict[str, Any]:
        """Wait for the ``count``-th finished answer (a post carrying feedback buttons)
        and return that message as the workspace now holds it."""
        call = self.slack.wait_for(is_final_answer, timeout=timeout, count=count)
        channel = call.response.get("channel") or call.params["channel"]
        ts = call.response.get("ts") or call.params["ts"]
        message = self.slack.message(channel, ts)
        assert message is not None, f"answer {channel}/{ts} vanished"
        return {**message, "channel": channel}

    def wait_error(self, *, timeout: float = 5.0) -> dict[str, Any]:
        """Wait for a visible error (a :warning: post or edit); return the message."""
        call = self.slack.wait_for(
            lambda c: c.ok and ":warning:" in str(c.params.get("text", "")), timeout=timeout
        )
        channel = call.response.get("channel") or call.params["channel"]
        ts = call.response.get("ts") or call.params["ts"]
        message = self.slack.message(channel, ts)
        assert message is not None
        return {**message, "channel": channel}


def is_final_answer(call: Call) -> bool:
    if not call.ok or call.method not in ("chat.postMessage", "chat.update", "chat.stopStream"):
        return False
    blocks = call.decoded.get("blocks") or []
    return any(isinstance(b, dict) and b.get("block_id") == "docbot_feedback" for b in blocks)


def write_docs(root: Path, docs: dict[str, str] = DOCS) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in docs.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def make_bot(
    tmp: Path,
    slack: FakeSlack,
    *,
    openai: FakeOpenAI | None = None,
    llm: LLM | None = None,
    sync: bool = True,
    inline: bool = False,
    env: dict[str, str] | None = None,
    streaming: bool = True,
) -> Bot:
    docs = write_docs(tmp / "docs")
    settings = load_settings(
        {
            "DOCBOT_DB": str(tmp / "docbot.db"),
            "DOCBOT_DOCS": str(docs),
            "DOCBOT_DOCS_URL": DOCS_URL,
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack.api_url,
            **({"OPENAI_API_KEY": "sk-test"} if openai or llm else {}),
            **(env or {}),
        }
    )
    embedder = HashEmbedder()
    embedder.min_similarity = 0.3  # unrelated words hash to cosines well below this
    if openai is not None:
        llm = OpenAIChat("gpt-4o-mini", api_key="sk-test", base_url=openai.base_url, max_retries=0)
    docbot = build(settings, embedder=embedder, llm=llm)
    if sync:
        assert all(r.error is None for r in docbot.sync())
    app = create_app(
        docbot,
        settings,
        streaming=streaming,
        update_interval=0.05,
        executor=InlineExecutor() if inline else None,
    )
    return Bot(settings, docbot, app, slack, tmp)


def slack_calls(slack: FakeSlack, *prefixes: str) -> list[Call]:
    """Recorded calls whose method starts with any prefix (e.g. ``"chat."``)."""
    return [c for c in slack.calls() if c.method.startswith(prefixes or ("",))]


def block_types(message: dict[str, Any]) -> list[str]:
    return [b["type"] for b in message.get("blocks") or []]


def all_text(message: dict[str, Any]) -> str:
    """A message's text plus every text inside its blocks (what a reader sees)."""
    return json.dumps(message.get("blocks") or []) + str(message.get("text", ""))


def condensing_reply(standalone: str) -> Callable[[dict[str, Any]], str]:
    """A fake chat model that rewrites a follow-up into ``standalone`` when asked to
    condense a thread, and echoes its sources otherwise."""

    def reply(request: dict[str, Any]) -> str:
        if message_text(request["messages"][0]) == CONDENSE_PROMPT:
            return standalone
        return echo_reply(request)

    return reply
