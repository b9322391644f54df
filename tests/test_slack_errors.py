"""Every failure ends visibly in the thread, the placeholder is always replaced, and
the outcome is recorded: LLM 429/500, a stream cut mid-answer, bad input, a bug,
no relevant docs, and a user over the per-minute limit."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from bot.llm import LLM, Message, Usage
from bot.records import Records
from bot.slack import ui
from tests.fakes import slack_payloads as P
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_server import FakeSlack
from tests.slack_helpers import VPN_QUESTION, Bot, all_text, make_bot

pytest_plugins = ["tests.slack_support"]


def _mention(bot: Bot, question: str = VPN_QUESTION) -> str:
    mention = P.app_mention(f"<@{P.BOT_USER_ID}> {question}")
    bot.slack.seed_event(mention)
    bot.deliver(mention)
    return str(mention["event"]["ts"])


def _thread_texts(bot: Bot, ts: str) -> list[str]:
    return [all_text(m) for m in bot.slack.messages(P.CHANNEL_ID, ts)]


def _no_placeholder_left(bot: Bot, ts: str) -> bool:
    return not any(
        ui.PLACEHOLDER in m.get("text", "") for m in bot.slack.messages(P.CHANNEL_ID, ts)
    )


@pytest.mark.parametrize(
    ("status", "says", "kind"),
    [(429, "rate-limiting me", "rate_limited"), (500, "can't reach", "llm_unavailable")],
)
def test_llm_failure_is_shown_in_the_thread_with_the_pages_found(
    llm_bot: Bot, fake_openai: FakeOpenAI, status: int, says: str, kind: str
) -> None:
    fake_openai.fail_next(status=status, retry_after=0)

    ts = _mention(llm_bot)

    error = llm_bot.wait_error()
    assert error["thread_ts"] == ts and says in all_text(error)
    assert "vpn.md#connecting" in all_text(error)  # the closest pages, still useful
    assert _no_placeholder_left(llm_bot, ts)
    assert llm_bot.rows("SELECT outcome, error FROM answers") == [("failed", kind)]


def test_a_stream_cut_mid_answer_ends_with_the_error_appended(
    llm_bot: Bot, fake_openai: FakeOpenAI
) -> None:
    # Cited early: model text is shown only once it cites a source (bot/answer.py).
    fake_openai.reply = "[1] Open TunnelGate and connect to vpn.acme.example, then approve it [1]."
    fake_openai.fail_next(drop_stream_after=3)

    ts = _mention(llm_bot)

    stop = llm_bot.slack.wait_for("chat.stopStream")
    assert "can't reach the language model" in stop.params["markdown_text"]
    streamed = llm_bot.slack.message(P.CHANNEL_ID, stop.params["ts"])
    assert streamed is not None and streamed["text"].startswith("[1]")
    assert _no_placeholder_left(llm_bot, ts)


def test_an_oversized_question_is_answered_with_the_limit(inline_bot: Bot) -> None:
    ts = _mention(inline_bot, "why " * 1200)

    assert "the limit is 4,000" in all_text(inline_bot.wait_error())
    assert _no_placeholder_left(inline_bot, ts)
    assert inline_bot.rows("SELECT error FROM answers") == [("input",)]


class BrokenLLM(LLM):
    """A chat model with a bug in it (not an LLMError): the bot must still answer."""

    model = "broken"

    def stream(self, messages: Sequence[Message], usage: Usage | None = None) -> Iterator[str]:
        raise RuntimeError("boom")


def test_an_unexpected_error_is_logged_and_apologised_for(
    tmp_path: Path, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    bot = make_bot(tmp_path, fake_slack, llm=BrokenLLM(), inline=True)

    with caplog.at_level(logging.ERROR, logger="bot"):
        ts = _mention(bot)

    assert ui.INTERNAL_ERROR in all_text(bot.wait_error())
    assert _no_placeholder_left(bot, ts)
    assert any("RuntimeError: boom" in (r.exc_text or "") for r in caplog.records)
    assert bot.rows("SELECT outcome, error FROM answers") == [("failed", "internal")]


def test_no_relevant_docs_is_an_honest_abstention(inline_bot: Bot) -> None:
    _mention(inline_bot, "Quantum chromodynamics lattice gauge?")

    answer = inline_bot.wait_answer()
    assert "couldn't find this in the docs" in all_text(answer)
    assert "*Sources*" not in all_text(answer)
    assert inline_bot.rows("SELECT outcome FROM answers") == [("abstained",)]


def test_a_user_over_the_limit_is_asked_to_wait(tmp_path: Path, fake_slack: FakeSlack) -> None:
    bot = make_bot(tmp_path, fake_slack, inline=True, env={"DOCBOT_RATE_LIMIT_PER_USER": "1"})
    _mention(bot)
    bot.wait_answer()

    ts = _mention(bot)

    assert "Please wait a moment" in all_text(bot.wait_error())
    assert len(bot.slack.calls("chat.startStream")) == 1
    assert _thread_texts(bot, ts)
    assert bot.rows("SELECT error FROM answers ORDER BY created_at") == [(None,), ("user_limit",)]
    assert Records(bot.docbot.store).outcome_counts() == {
        ("mention", "answered"): 1,
        ("mention", "failed"): 1,
    }
