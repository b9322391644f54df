"""What operators and doc owners read: ``docbot feedback`` (text and ``--json``),
``docbot status --json`` with question counts, and the same health summary in
Slack (the App Home tab and ``/ask status``). Questions go through the real bot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.cli.main import main
from bot.ops.feedback import parse_since
from bot.slack import ui
from ingest.errors import InputError
from tests.fakes import slack_payloads as P
from tests.slack_helpers import VPN_QUESTION, Bot, slack_calls

pytest_plugins = ["tests.slack_support"]

UNKNOWN = "Quantum chromodynamics lattice gauge?"


def _mention(bot: Bot, question: str) -> dict[str, Any]:
    mention = P.app_mention(f"<@{P.BOT_USER_ID}> {question}")
    bot.slack.seed_event(mention)
    bot.deliver(mention)
    return mention


def _vote(bot: Bot, action: str, count: int, user: str = P.USER_ID) -> None:
    answer = bot.wait_answer(count=count)
    buttons = next(b for b in answer["blocks"] if b.get("block_id") == ui.FEEDBACK_BLOCK_ID)
    click = P.block_actions(action, buttons["elements"][0]["value"], user=user,
                            message_ts=answer["ts"], thread_ts=answer.get("thread_ts"))  # fmt: skip
    assert bot.action(click).status == 200


@pytest.fixture
def history(inline_bot: Bot, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Bot:
    """Two 👎 on the VPN answer, one 👍, the VPN question again in a DM (a cache hit), the
    same unanswered question three times on two surfaces, one failure (an oversized
    question); then a CLI pointed at the same store."""
    bot = inline_bot
    _mention(bot, VPN_QUESTION)
    _vote(bot, ui.FEEDBACK_DOWN, 1)
    _vote(bot, ui.FEEDBACK_DOWN, 1, user="U0OTHER")
    _mention(bot, "What is the meal limit when travelling?")
    _vote(bot, ui.FEEDBACK_UP, 2)
    bot.deliver(P.im_message(VPN_QUESTION))
    for text in (UNKNOWN, "quantum  chromodynamics, lattice gauge"):
        bot.deliver(P.im_message(text))
    bot.command(P.slash_command(UNKNOWN))
    _mention(bot, "why " * 1200)
    for key in ("DOCBOT_CONFIG", "DOCBOT_DOCS", "OPENAI_API_KEY", "SLACK_BOT_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DOCBOT_DB", str(bot.settings.db_path))
    monkeypatch.chdir(tmp_path)
    return bot


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_feedback_json_groups_what_is_missing(
    history: Bot, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _cli(capsys, "feedback", "--json")

    assert code == 0
    report = json.loads(out)
    assert report["summary"] == {
        "upvotes": 1, "downvotes": 2, "abstained": 3, "failed": 1, "rate_limited": 0,
    }  # fmt: skip
    (page,) = report["pages_downvoted"]
    assert page["url"] == "https://docs.acme.example/vpn.md#connecting"
    assert (page["downvotes"], page["questions"]) == (2, [VPN_QUESTION])
    (unanswered,) = report["unanswered_questions"]
    assert unanswered["count"] == 3 and unanswered["surfaces"] == ["dm", "slash"]
    assert unanswered["closest"]  # the nearest pages docbot had
    (down,) = report["downvoted"]
    assert (down["question"], down["surface"], down["downvotes"]) == (VPN_QUESTION, "mention", 2)
    assert {s["url"] for s in down["sources"]} == {page["url"]}
    assert [a["surface"] for a in report["abstained"]] == ["slash", "dm", "dm"]
    (failed,) = report["failed"]
    assert (failed["surface"], failed["error"]) == ("mention", "input")


def test_feedback_text_report(history: Bot, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "feedback", "--since", "24h")

    assert code == 0
    assert "1 👍 · 2 👎 · 3 unanswered · 1 failed" in out
    pages = "Most downvoted pages\n  2 👎  VPN > Connecting — https://docs.acme.example/vpn.md"
    assert pages in out
    assert f"3×  “{UNKNOWN}”  (last " in out  # the latest wording of the group
    assert "Failed questions" in out and "input" in out


@pytest.mark.parametrize(("text", "seconds"), [("90m", 5400), ("24h", 86400), ("7d", 604800),
                                              ("2w", 1209600), (" 3D ", 259200)])  # fmt: skip
def test_since_ages(text: str, seconds: int) -> None:
    assert parse_since(text).total_seconds() == seconds


@pytest.mark.parametrize("bad", ["7", "7x", "-1d", "0d", "soon", ""])
def test_a_bad_since_is_one_clear_line(
    bad: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCBOT_DB", str(tmp_path / "db.sqlite"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError):
        parse_since(bad)
    code, out, err = _cli(capsys, "feedback", f"--since={bad}")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("docbot: error: --since")
    assert "90m, 24h, 7d or 2w" in err


def test_status_json_counts_questions(history: Bot, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "status", "--json")

    assert code == 0
    data = json.loads(out)
    q = data["questions"]
    assert (q["total"], q["answered"], q["abstained"], q["failed"]) == (7, 3, 3, 1)
    assert q["by_surface"]["mention"] == {"answered": 2, "abstained": 0, "failed": 1}
    assert q["by_surface"]["dm"] == {"answered": 1, "abstained": 2, "failed": 0}
    assert 0 < q["latency_ms"]["p50"] <= q["latency_ms"]["p95"]
    assert data["feedback"] == {"days": 7, "up": 1, "down": 2}
    cache = data["answer_cache"]
    assert (cache["lookups"], cache["hits"]) == (6, 1)  # the DM; abstentions are not cached
    assert cache["hit_rate"] == pytest.approx(1 / 6, abs=1e-3)
    assert cache["entries"] == 2
    code, out, _ = _cli(capsys, "status")
    assert "questions   last 24 h: 3 answered, 3 abstained, 1 failed" in out
    assert "feedback    last 7 days: 1 👍, 2 👎" in out and "17% hit rate" in out


def test_app_home_shows_the_health_summary(history: Bot) -> None:
    event = {"type": "app_home_opened", "user": P.USER_ID, "channel": P.DM_CHANNEL_ID,
             "tab": "home", "event_ts": P.new_ts()}  # fmt: skip

    history.deliver(P.event_callback(event))

    view = history.slack.home_views[P.USER_ID]
    text = json.dumps(view["blocks"], ensure_ascii=False)
    assert "Questions, last 24 h*: 3 answered · 3 not found in the docs · 1 failed" in text
    assert "1 👍 · 2 👎" in text and "*docs* (markdown): 3 pages" in text
    assert str(history.settings.db_path) not in text  # server details stay on the server


def test_ask_status_is_private_and_not_a_question(history: Bot) -> None:
    before = len(slack_calls(history.slack, "chat."))

    response = history.command(P.slash_command("status"))

    body = json.loads(response.body)
    assert response.status == 200 and body.get("response_type", "ephemeral") == "ephemeral"
    assert "3 answered" in body["text"] and body["blocks"][0]["type"] == "header"
    assert len(slack_calls(history.slack, "chat.")) == before  # nothing posted
    assert history.rows("SELECT count(*) FROM answers WHERE question = 'status'") == [(0,)]
