"""``/ask``: acked within Slack's 3 seconds, answered visibly in the channel with the
question shown; help and input errors privately in the ack."""

from __future__ import annotations

import json
from typing import Any

from bot.answer import MAX_QUESTION_CHARS
from bot.slack import ui
from tests.fakes import slack_payloads as P
from tests.slack_helpers import VPN_QUESTION, Bot, all_text, slack_calls

pytest_plugins = ["tests.slack_support"]


def _ack_text(response: Any) -> str:
    """What Slack shows the user privately: the ack body (plain text or JSON)."""
    body = response.body or ""
    return str(json.loads(body)["text"]) if body.startswith("{") else body


def test_ask_acks_at_once_then_posts_question_and_answer_in_the_channel(bot: Bot) -> None:
    response = bot.command(P.slash_command(VPN_QUESTION))
    answer = bot.wait_answer()

    assert (response.status, response.body) == (200, "")  # the empty ack
    placeholder = bot.slack.calls("chat.postMessage")[0]
    assert placeholder.params["channel"] == P.CHANNEL_ID
    assert "thread_ts" not in placeholder.params  # visible in the channel, not a thread
    assert answer["ts"] == placeholder.response["ts"]  # the placeholder became the answer
    text = all_text(answer)
    assert f"<@{P.USER_ID}> asked" in text and VPN_QUESTION in text
    assert "TunnelGate" in text and "vpn.md#connecting" in text
    assert answer["text"].startswith(f"<@{P.USER_ID}> asked: {VPN_QUESTION}")
    assert not bot.slack.calls("chat.startStream")  # a top-level post is edited, not streamed
    assert bot.wait_rows("SELECT surface, outcome, thread_ts FROM answers") == [
        ("slash", "answered", answer["ts"])
    ]


def test_a_reply_in_the_ask_thread_is_a_follow_up(inline_bot: Bot) -> None:
    inline_bot.command(P.slash_command(VPN_QUESTION))
    root = inline_bot.wait_answer()
    follow_up = P.thread_message("What is the meal limit when travelling?", thread_ts=root["ts"])
    inline_bot.slack.seed_event(follow_up)

    inline_bot.deliver(follow_up)

    second = inline_bot.wait_answer(count=2)
    assert second["thread_ts"] == root["ts"] and "75 dollars" in all_text(second)


def test_ask_without_a_question_or_with_help_shows_usage_privately(inline_bot: Bot) -> None:
    for text in ("", "   ", "help"):
        response = inline_bot.command(P.slash_command(text))
        assert response.status == 200
        assert "/ask How do I connect to the VPN?" in _ack_text(response)
    assert slack_calls(inline_bot.slack, "chat.") == []


def test_an_oversized_question_is_refused_in_the_ack(inline_bot: Bot) -> None:
    response = inline_bot.command(P.slash_command("why " * MAX_QUESTION_CHARS))

    assert "the limit is" in _ack_text(response)
    assert slack_calls(inline_bot.slack, "chat.") == []


def test_ask_in_a_channel_docbot_is_not_in_answers_through_the_response_url(
    inline_bot: Bot,
) -> None:
    inline_bot.slack.fail("chat.postMessage", "not_in_channel")
    fields = P.slash_command(VPN_QUESTION, response_url=inline_bot.slack.response_url())

    inline_bot.command(fields)

    (call,) = inline_bot.slack.calls("response_url")
    assert call.decoded["response_type"] == "in_channel"
    posted = inline_bot.slack.last_message(P.CHANNEL_ID)
    assert "TunnelGate" in all_text(posted) and VPN_QUESTION in all_text(posted)
    assert any(b.get("block_id") == ui.FEEDBACK_BLOCK_ID for b in posted["blocks"])


def test_real_slash_command_payload(inline_bot: Bot, slack_data: Any) -> None:
    fields = slack_data.json("slash_commands/hello_world__bolt.parsed.json")
    fields |= {
        "command": "/ask",
        "text": VPN_QUESTION,
        "response_url": inline_bot.slack.response_url(fields["channel_id"]),
    }

    assert inline_bot.command(fields).status == 200

    answer = inline_bot.wait_answer()
    assert answer["channel"] == fields["channel_id"] and "TunnelGate" in all_text(answer)
