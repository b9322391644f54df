"""@mentions: progress at once, the answer in the thread (streamed, or edited in place
where streaming is refused), working source links, feedback buttons, no placeholder
left behind — through the real Bolt app and WebClient against the fake Slack."""

from __future__ import annotations

import time

from bot.slack import ui
from tests.fakes import slack_payloads as P
from tests.fakes.slack_server import FakeSlack
from tests.slack_helpers import VPN_QUESTION, Bot, all_text, slack_calls

pytest_plugins = ["tests.slack_support"]

MENTION = f"<@{P.BOT_USER_ID}> {VPN_QUESTION}"


def _thread_texts(slack: FakeSlack, ts: str) -> list[str]:
    return [m.get("text", "") for m in slack.messages(P.CHANNEL_ID, ts)]


def test_mention_shows_progress_then_streams_the_answer_with_sources(bot: Bot) -> None:
    mention = P.app_mention(MENTION)
    bot.slack.seed_event(mention)
    ts = mention["event"]["ts"]
    delivered = time.time()

    response = bot.deliver(mention)
    answer = bot.wait_answer()

    assert response.status == 200
    calls = slack_calls(bot.slack, "chat.", "assistant.")
    first = calls[0]
    assert first.method == "chat.postMessage"  # progress before anything slow
    assert first.at - delivered < 1.0  # DESIGN: first visible reaction within a second
    assert (first.params["thread_ts"], first.params["text"]) == (ts, ui.PLACEHOLDER)
    assert [c.method for c in calls[1:]] == ["chat.startStream", "chat.delete", "chat.stopStream"]
    start = calls[1].params
    assert (start["thread_ts"], start["recipient_user_id"], start["recipient_team_id"]) == (
        ts, P.USER_ID, P.TEAM_ID,
    )  # fmt: skip
    assert "TunnelGate" in answer["text"]  # the streamed Markdown
    assert answer["thread_ts"] == ts
    text = all_text(answer)
    assert "https://docs.acme.example/vpn.md#connecting" in text  # the exact section
    assert ui.EXTRACTIVE_NOTE in text
    buttons = next(b for b in answer["blocks"] if b["type"] == "actions")["elements"]
    assert [b["action_id"] for b in buttons] == [ui.FEEDBACK_UP, ui.FEEDBACK_DOWN]
    assert buttons[0]["value"] == buttons[1]["value"]
    assert ui.PLACEHOLDER not in _thread_texts(bot.slack, ts)  # never left spinning
    assert bot.slack.calls()[0].method == "auth.test"  # Bolt checked the token there too


def test_without_streaming_the_placeholder_is_edited_into_the_answer(bot: Bot) -> None:
    bot.slack.fail("chat.startStream", "unknown_method", times=None)
    first, second = P.app_mention(MENTION), P.app_mention(MENTION)

    bot.deliver(first)
    answer = bot.wait_answer()
    bot.deliver(second)
    bot.wait_answer(count=2)

    placeholder = bot.slack.calls("chat.postMessage")[0]
    versions = bot.slack.message_versions(P.CHANNEL_ID, placeholder.response["ts"])
    assert versions[0]["text"] == ui.PLACEHOLDER
    assert "TunnelGate" in all_text(versions[-1])
    assert answer["ts"] == placeholder.response["ts"]
    assert "<https://docs.acme.example/vpn.md#connecting|VPN>" in all_text(answer)  # mrkdwn link
    assert len(bot.slack.calls("chat.startStream")) == 1  # the refusal is remembered
    assert not bot.slack.calls("chat.delete")


def test_mention_inside_a_human_thread_uses_it_as_context(llm_bot: Bot) -> None:
    root = llm_bot.slack.seed_message(P.CHANNEL_ID, "Our laptops need the VPN for the wiki.")
    llm_bot.slack.seed_message(P.CHANNEL_ID, "Which app do we use?", thread_ts=root["ts"])
    mention = P.app_mention(f"<@{P.BOT_USER_ID}> how do I connect?", thread_ts=root["ts"])
    llm_bot.slack.seed_event(mention)

    llm_bot.deliver(mention)
    answer = llm_bot.wait_answer()

    assert answer["thread_ts"] == root["ts"]
    replies = llm_bot.slack.calls("conversations.replies")
    assert replies and replies[0].params["ts"] == root["ts"]


def test_empty_mention_gets_the_help(inline_bot: Bot) -> None:
    inline_bot.deliver(P.app_mention(f"<@{P.BOT_USER_ID}>"))

    (post,) = inline_bot.slack.calls("chat.postMessage")
    assert "/ask" in post.params["text"]


def test_empty_store_says_an_admin_must_sync(tmp_path, fake_slack: FakeSlack) -> None:  # type: ignore[no-untyped-def]
    from tests.slack_helpers import make_bot

    bot = make_bot(tmp_path, fake_slack, sync=False, inline=True)
    mention = P.app_mention(MENTION)

    bot.deliver(mention)

    error = bot.wait_error()
    assert "docbot sync" in all_text(error)
    assert ui.PLACEHOLDER not in _thread_texts(fake_slack, mention["event"]["ts"])
    assert bot.rows("SELECT outcome, error, surface FROM answers") == [
        ("failed", "empty_index", "mention")
    ]
