"""Follow-ups in docbot's threads, DMs and assistant threads, and the noise docbot
must never answer (bots, itself, edits, other people's threads, redeliveries)."""

from __future__ import annotations

from typing import Any

from bot.prompts import CONDENSE_PROMPT
from bot.slack import ui
from tests.fakes import slack_payloads as P
from tests.fakes.openai_server import FakeOpenAI, message_text
from tests.slack_helpers import VPN_QUESTION, Bot, all_text, condensing_reply, slack_calls

pytest_plugins = ["tests.slack_support"]

MENTION = f"<@{P.BOT_USER_ID}> {VPN_QUESTION}"


def _ask_in_channel(bot: Bot) -> tuple[str, dict[str, Any]]:
    mention = P.app_mention(MENTION)
    bot.slack.seed_event(mention)
    bot.deliver(mention)
    return mention["event"]["ts"], bot.wait_answer()


def _posts(bot: Bot) -> list[str]:
    return [c.method for c in slack_calls(bot.slack, "chat.", "assistant.", "reactions.")]


def test_follow_up_in_the_thread_is_answered_with_the_thread_as_history(
    llm_bot: Bot, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply = condensing_reply("How do I connect to the VPN from my phone?")
    thread_ts, first = _ask_in_channel(llm_bot)
    follow_up = P.thread_message("And does that work on my phone?", thread_ts=thread_ts)
    llm_bot.slack.seed_event(follow_up)

    llm_bot.deliver(follow_up)
    second = llm_bot.wait_answer(count=2)

    assert second["thread_ts"] == thread_ts
    condense, final = fake_openai.chat_requests()[-2:]
    condense_messages = condense.json["messages"]
    assert condense_messages[0]["content"] == CONDENSE_PROMPT
    transcript = message_text(condense_messages[-1])
    assert VPN_QUESTION in transcript and "on my phone" in transcript
    turns = [(m["role"], message_text(m)) for m in final.json["messages"][1:-1]]
    assert turns[0] == ("user", VPN_QUESTION)  # the mention, without the <@bot> markup
    assert turns[1][0] == "assistant" and turns[1][1] == first["text"].strip()
    assert "vpn.md#connecting" in message_text(final.json["messages"][-1])  # found by the
    assert llm_bot.rows("SELECT surface, search_query FROM answers ORDER BY created_at") == [
        ("mention", VPN_QUESTION),
        ("thread", "How do I connect to the VPN from my phone?"),
    ]  # condensed question


def test_follow_up_in_a_thread_the_store_forgot_is_found_via_conversations_replies(
    inline_bot: Bot,
) -> None:
    root = inline_bot.slack.seed_message(P.CHANNEL_ID, "Where is the VPN guide?")
    inline_bot.slack.seed_message(P.CHANNEL_ID, "It's here", thread_ts=root["ts"],
                                  user=P.BOT_USER_ID, bot_id=P.BOT_ID)  # fmt: skip
    follow_up = P.thread_message("How do I connect to the VPN?", thread_ts=root["ts"])
    inline_bot.slack.seed_event(follow_up)

    inline_bot.deliver(follow_up)

    answer = inline_bot.wait_answer()
    assert answer["thread_ts"] == root["ts"]
    assert inline_bot.slack.calls("conversations.replies")[0].params["ts"] == root["ts"]


def test_replies_in_other_threads_and_plain_channel_messages_are_ignored(inline_bot: Bot) -> None:
    root = inline_bot.slack.seed_message(P.CHANNEL_ID, "Lunch?")
    inline_bot.deliver(P.thread_message("How do I connect to the VPN?", thread_ts=root["ts"]))
    inline_bot.deliver(P.message("How do I connect to the VPN?"))  # top level, no mention

    assert _posts(inline_bot) == []
    inline_bot.deliver(P.thread_message("VPN again?", thread_ts=root["ts"]))  # cached verdict
    assert len(inline_bot.slack.calls("conversations.replies")) == 1


def test_reply_to_a_colleague_in_docbots_thread_is_not_for_docbot(inline_bot: Bot) -> None:
    thread_ts, _ = _ask_in_channel(inline_bot)
    before = len(_posts(inline_bot))

    inline_bot.deliver(P.thread_message("<@U0ALICE> did that work for you?", thread_ts=thread_ts))

    assert len(_posts(inline_bot)) == before


def test_dm_is_answered_in_a_thread(bot: Bot) -> None:
    dm = P.im_message(VPN_QUESTION)
    bot.slack.seed_event(dm)

    bot.deliver(dm)
    answer = bot.wait_answer()

    assert answer["channel"] == P.DM_CHANNEL_ID and answer["thread_ts"] == dm["event"]["ts"]
    assert "vpn.md#connecting" in all_text(answer)
    assert bot.wait_rows("SELECT surface, outcome FROM answers") == [("dm", "answered")]


def assistant_thread_started(thread_ts: str) -> dict[str, Any]:
    return P.event_callback(
        {
            "type": "assistant_thread_started",
            "assistant_thread": {
                "user_id": P.USER_ID,
                "context": {"channel_id": P.CHANNEL_ID, "team_id": P.TEAM_ID},
                "channel_id": P.DM_CHANNEL_ID,
                "thread_ts": thread_ts,
            },
            "event_ts": P.new_ts(),
        }
    )


def test_assistant_thread_gets_prompts_then_status_and_a_streamed_answer(inline_bot: Bot) -> None:
    thread_ts = P.new_ts()
    inline_bot.deliver(assistant_thread_started(thread_ts))

    prompts = inline_bot.slack.assistant_threads[(P.DM_CHANNEL_ID, thread_ts)]["prompts"]
    assert 1 <= len(prompts) <= 4 and all({"title", "message"} <= set(p) for p in prompts)
    assert any("VPN" in p["title"] for p in prompts)  # from the synced page titles

    question = P.im_message(VPN_QUESTION, thread_ts=thread_ts)
    inline_bot.slack.seed_event(question)
    inline_bot.deliver(question)

    answer = inline_bot.wait_answer()
    assert answer["thread_ts"] == thread_ts
    methods = _posts(inline_bot)
    assert methods[:2] == ["assistant.threads.setSuggestedPrompts", "assistant.threads.setStatus"]
    assert "chat.startStream" in methods and ui.PLACEHOLDER not in str(
        [c.params.get("text") for c in inline_bot.slack.calls("chat.postMessage")]
    )
    assert inline_bot.rows("SELECT surface FROM answers") == [("assistant",)]


def test_real_assistant_thread_started_payload(inline_bot: Bot, slack_data: Any) -> None:
    body = slack_data.json("events_api/assistant_thread_started__bolt.json")
    thread = body["event"]["assistant_thread"]

    inline_bot.deliver(body)

    assert (thread["channel_id"], thread["thread_ts"]) in inline_bot.slack.assistant_threads


def _subtype(subtype: str, **fields: Any) -> dict[str, Any]:
    event = {"type": "message", "subtype": subtype, "channel": P.CHANNEL_ID, "ts": P.new_ts()}
    return P.event_callback({**event, **fields})


def test_bots_itself_and_edits_are_never_answered(inline_bot: Bot) -> None:
    thread_ts, _ = _ask_in_channel(inline_bot)
    before = len(_posts(inline_bot))
    noise = [
        P.bot_message("I am docbot", thread_ts=thread_ts),  # itself
        P.bot_message(  # another app
            "Deploy finished", bot_id="B0OTHER", user="U0BOT2", app_id="A0APP2", thread_ts=thread_ts
        ),
        P.message_changed("VPN? (edited)", ts=thread_ts, thread_ts=thread_ts),
        _subtype("message_deleted", deleted_ts=thread_ts, hidden=True),
        _subtype("channel_join", user=P.USER_ID, text="joined"),
        _subtype("thread_broadcast", bot_id="B0OTHER", text="VPN?", thread_ts=thread_ts),
    ]

    for body in noise:
        assert inline_bot.deliver(body).status == 200

    assert len(_posts(inline_bot)) == before


def test_real_bot_and_edit_payloads_are_ignored(inline_bot: Bot, slack_data: Any) -> None:
    for name in (
        "events_api/message__bot_message_classic_subtype__bolt.json",
        "events_api/message__bot_message_modern_bot_id__bolt.json",
        "events_api/message__bot_message_other_app__bolt.json",
        "events_api/message_changed__bolt.json",
        "events_api/message_changed__channel__bolt.json",
        "events_api/message_deleted__bolt.json",
    ):
        assert inline_bot.deliver(slack_data.json(name)).status == 200, name

    assert _posts(inline_bot) == []


def test_a_redelivered_event_and_the_message_twin_are_answered_once(inline_bot: Bot) -> None:
    mention = P.app_mention(MENTION)
    inline_bot.slack.seed_event(mention)
    twin = P.message(MENTION, ts=mention["event"]["ts"])  # Slack sends message.channels too

    inline_bot.deliver(mention)
    inline_bot.deliver(mention, retry=1)  # Slack's retry of the same event_id
    inline_bot.deliver(twin)

    assert len(inline_bot.slack.calls("chat.stopStream")) == 1
    assert len(inline_bot.slack.calls("chat.postMessage")) == 1  # one placeholder
    assert inline_bot.rows("SELECT count(*) FROM answers") == [(1,)]
