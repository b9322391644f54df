"""👍/👎 clicks are stored with the question, answer and sources, and acknowledged."""

from __future__ import annotations

import json
from typing import Any

from bot.slack import ui
from tests.fakes import slack_payloads as P
from tests.slack_helpers import VPN_QUESTION, Bot

pytest_plugins = ["tests.slack_support"]


def _answer(bot: Bot) -> tuple[dict[str, Any], str]:
    mention = P.app_mention(f"<@{P.BOT_USER_ID}> {VPN_QUESTION}")
    bot.slack.seed_event(mention)
    bot.deliver(mention)
    answer = bot.wait_answer()
    buttons = next(b for b in answer["blocks"] if b.get("block_id") == ui.FEEDBACK_BLOCK_ID)
    return answer, buttons["elements"][0]["value"]


def test_thumbs_down_is_stored_with_the_answer_and_acknowledged(inline_bot: Bot) -> None:
    answer, answer_id = _answer(inline_bot)
    click = P.block_actions(
        ui.FEEDBACK_DOWN, answer_id, message_ts=answer["ts"], thread_ts=answer["thread_ts"],
        block_id=ui.FEEDBACK_BLOCK_ID,
    )  # fmt: skip

    assert inline_bot.action(click).status == 200

    (thanks,) = inline_bot.slack.calls("chat.postEphemeral")
    assert thanks.params["user"] == P.USER_ID and "👎" in thanks.params["text"]
    assert thanks.params["thread_ts"] == answer["thread_ts"]
    ((vote, user, question, text, sources, message_ts),) = inline_bot.rows(
        "SELECT vote, user_id, question, answer, sources, message_ts FROM feedback "
        "WHERE answer_id = ?", answer_id,
    )  # fmt: skip
    assert (vote, user, question, message_ts) == ("down", P.USER_ID, VPN_QUESTION, answer["ts"])
    assert "TunnelGate" in text
    assert json.loads(sources)[0]["url"].endswith("vpn.md#connecting")


def test_a_second_click_changes_the_vote(inline_bot: Bot) -> None:
    answer, answer_id = _answer(inline_bot)
    for action_id in (ui.FEEDBACK_DOWN, ui.FEEDBACK_UP):
        inline_bot.action(P.block_actions(action_id, answer_id, message_ts=answer["ts"]))

    assert inline_bot.rows("SELECT vote FROM feedback WHERE answer_id = ?", answer_id) == [("up",)]


def test_real_block_actions_payload_is_recorded(inline_bot: Bot, slack_data: Any) -> None:
    body = slack_data.json("interactivity/block_actions__button__bolt.json")
    body["actions"][0] |= {"action_id": ui.FEEDBACK_UP, "value": "unknown-answer"}
    body["response_url"] = inline_bot.slack.response_url(body["channel"]["id"])

    assert inline_bot.action(body).status == 200

    assert inline_bot.rows("SELECT vote, user_id FROM feedback") == [("up", "W111")]
