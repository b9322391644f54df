"""Logs: one JSON line per request and per sync run, with ids, stage timings, tokens,
cost and cited URLs; and no secret in any handler's output, even with debug logging
on for every library docbot uses."""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bot.llm import LLM, Message, Usage
from bot.ops.logs import REDACTED, REDACTION, configure_logging
from bot.server.web import create_web_app
from tests.fakes import slack_payloads as P
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_server import FakeSlack
from tests.ops_helpers import capture_logs
from tests.slack_helpers import SECRET, VPN_QUESTION, make_bot

pytest_plugins = ["tests.slack_support"]

LIBRARIES = ("slack_bolt", "slack_sdk", "httpx", "httpcore", "openai", "apscheduler",
             "uvicorn", "urllib3", "starlette")  # fmt: skip
SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-1234-5678-SeCrEtBoTtOkEn",
    "SLACK_APP_TOKEN": "xapp-1-A0APP-9999-SeCrEtApPtOkEn",
    "DOCBOT_API_TOKEN": "api-SeCrEt-token-4242",
    "CONFLUENCE_EMAIL": "docs@acme.example",
    "CONFLUENCE_API_TOKEN": "ATATT-SeCrEt-confluence",
    "CONFLUENCE_TOKEN": "dc-pat-SeCrEt-7777",
}


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("token=xoxb-111-222-abcDEF", "xoxb-111-222-abcDEF"),
        ("user token xoxp-9-8-7 here", "xoxp-9-8-7"),
        ("app xapp-1-A1-2-ffff", "xapp-1-A1-2-ffff"),
        ("key sk-proj-AbC123_xyz", "sk-proj-AbC123_xyz"),
        ("{'Authorization': 'Bearer abc.def.ghi'}", "abc.def.ghi"),
        ("authorization: Basic ZG9jczpzZWNyZXQ=", "ZG9jczpzZWNyZXQ="),
        ("sent Bearer eyJhbGciOi.payload.sig", "eyJhbGciOi.payload.sig"),
        ("GET https://bob:hunter2@wiki.acme.example/rest", "hunter2"),
        ('{"password": "pa55word!"}', "pa55word!"),
        ("client_secret=s3cr3t&x=1", "s3cr3t"),
    ],
)
def test_patterns_redact_secrets(text: str, secret: str) -> None:
    redacted = REDACTION.redact(text)
    assert secret not in redacted and REDACTED in redacted


def test_ordinary_text_is_left_alone() -> None:
    text = "mention question answered in 812 ms; tokens_in=12 prompt_tokens: 40, task-list ok"
    assert REDACTION.redact(text) == text


class LeakyLLM(LLM):
    """A model whose error message carries the API key (as some clients' errors do)."""

    model = "gpt-4o-mini"

    def stream(self, messages: Sequence[Message], usage: Usage | None = None) -> Iterator[str]:
        raise RuntimeError(f"request failed with api_key={SECRETS['CONFLUENCE_TOKEN']}")


def test_no_secret_reaches_the_logs_of_real_requests(
    tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    bot = make_bot(tmp_path, fake_slack, openai=fake_openai, env=SECRETS, inline=True)
    leaky = make_bot(tmp_path / "leaky", fake_slack, llm=LeakyLLM(), env=SECRETS, inline=True)
    configure_logging(bot.settings)  # what `docbot serve` does: secrets, every handler
    basic = base64.b64encode(
        f"{SECRETS['CONFLUENCE_EMAIL']}:{SECRETS['CONFLUENCE_API_TOKEN']}".encode()
    ).decode()

    with capture_logs("json", level=logging.DEBUG, debug_loggers=LIBRARIES) as logs:
        mention = P.app_mention(f"<@{P.BOT_USER_ID}> {VPN_QUESTION}")
        bot.slack.seed_event(mention)
        bot.deliver(mention)
        bot.wait_answer()
        with TestClient(create_web_app(bot.docbot, bot.app)) as client:
            auth = {"Authorization": f"Bearer {SECRETS['DOCBOT_API_TOKEN']}"}
            client.post("/api/ask", json={"question": "Meal limit?"}, headers=auth)
            client.post(
                "/api/ask", json={"question": "x"}, headers={"Authorization": "Bearer nope"}
            )
        leaky.deliver(P.app_mention(f"<@{P.BOT_USER_ID}> What is the meal limit?"))
        leaky.wait_error()
        for name in ("slack_sdk.web", "httpx", "openai", "apscheduler", "uvicorn.error"):
            logging.getLogger(name).debug(
                "request headers=%s url=%s", {"Authorization": f"Basic {basic}",
                "token": SECRETS["SLACK_BOT_TOKEN"]},
                f"https://docs:{SECRETS['CONFLUENCE_API_TOKEN']}@wiki.acme.example/",
            )  # fmt: skip

    output = logs.text
    for value in [*SECRETS.values(), SECRET, "sk-test", basic]:
        if value != SECRETS["CONFLUENCE_EMAIL"]:  # an address is not a secret
            assert value not in output, f"{value!r} leaked into the logs"
    assert REDACTED in output
    loggers = {line["logger"].split(".")[0] for line in logs.lines()}
    assert {"slack_sdk", "httpx", "openai", "bot"} <= loggers  # the libraries did log
    assert any("Traceback" in line.get("exc", "") for line in logs.lines())  # the leaky one


def test_one_json_line_per_request_with_stage_timings_and_cost(
    tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    bot = make_bot(tmp_path, fake_slack, openai=fake_openai, inline=True)
    mention = P.app_mention(f"<@{P.BOT_USER_ID}> {VPN_QUESTION}")
    bot.slack.seed_event(mention)

    with capture_logs("json") as logs:
        bot.deliver(mention)
        bot.wait_answer()
        bot.docbot.sync()

    (line,) = logs.events("answer")
    (record_id,) = bot.rows("SELECT id FROM answers")[0]
    assert line["request_id"] == record_id and line["level"] == "info"
    assert (line["surface"], line["outcome"], line["mode"]) == ("mention", "answered", "llm")
    assert (line["user_id"], line["channel"]) == (P.USER_ID, P.CHANNEL_ID)
    assert line["model"] == "gpt-4o-mini" and line["cache"] == "miss"
    assert line["tokens_in"] > 0 and line["tokens_out"] > 0
    assert line["cost_usd"] > 0 and line["cost_known"] is True
    assert line["sources"] == ["https://docs.acme.example/vpn.md#connecting"]
    timings = line["timings_ms"]
    assert {"retrieve_ms", "generate_ms", "first_token_ms", "post_ms", "total_ms"} <= set(timings)
    assert timings["total_ms"] >= timings["post_ms"] > 0
    assert VPN_QUESTION not in logs.text  # ids, not what people asked
    (sync,) = logs.events("sync")
    assert (sync["source"], sync["status"], sync["unchanged"]) == ("docs", "ok", 3)


def test_text_format_is_one_readable_line(tmp_path: Path, fake_slack: FakeSlack) -> None:
    bot = make_bot(tmp_path, fake_slack, inline=True)
    with capture_logs("text") as logs:
        bot.deliver(P.im_message(VPN_QUESTION))
        bot.wait_answer()
    (line,) = [x for x in logs.text.splitlines() if "bot.requests" in x]
    assert "INFO bot.requests: dm question answered in" in line


def test_serve_defaults_to_json_lines_on_stderr(tmp_path: Path) -> None:
    """In a fresh process (no test harness handlers): ``configure_logging`` installs one
    JSON handler on stderr, and a library's record comes out redacted."""
    script = (
        "import logging\n"
        "from bot.ops.logs import configure_logging\n"
        "from ingest.settings import load_settings\n"
        "s = load_settings({'DOCBOT_API_TOKEN': 'api-token-FRESH-123'})\n"
        "configure_logging(s, default_format='json')\n"
        "log = logging.getLogger('uvicorn.error')\n"
        "log.warning('auth api-token-FRESH-123 %s', 'Bearer zzzzzzzzzz')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    (line,) = [json.loads(x) for x in result.stderr.splitlines()]
    assert (line["level"], line["logger"]) == ("warning", "uvicorn.error")
    assert line["message"] == f"auth {REDACTED} Bearer {REDACTED}"
