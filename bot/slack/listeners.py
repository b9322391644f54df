"""Message listeners: mentions, DMs, assistant threads and follow-ups in docbot's threads.

Thin: each parses an event into an :class:`~bot.slack.answering.Ask` and hands it to
:class:`~bot.slack.answering.SlackAnswerer`; *which* messages to answer is decided by
the plain functions of :mod:`bot.slack.conversation`. Every event is claimed once in
the store first, so Slack's redeliveries (and the ``app_mention`` + ``message`` pair
one mention produces) are answered once.

These run in Slack's ack path (the Bolt app uses ``process_before_response``): they
decide, claim and admit, and never call Slack themselves. Every Slack call (help,
the first reaction, a follow-up's ``conversations.replies``) runs on the reply pool.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from slack_bolt import BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.ops.admission import BoundedPool
from bot.records import Records
from bot.slack import conversation as conv
from bot.slack import ui
from bot.slack.answering import Ask, SlackAnswerer, fetch_replies
from bot.slack.stream import Target, slack_error

log = logging.getLogger(__name__)

NOT_OURS_TTL = 600.0  # seconds a "docbot never posted in this thread" verdict is trusted
ASSISTANT_TITLE = "Ask me about the docs"


def _shared(body: dict[str, Any]) -> bool | None:
    """What the envelope says about Slack Connect (None when it says nothing)."""
    value = body.get("is_ext_shared_channel")
    return bool(value) if value is not None else None


def bot_identity(context: BoltContext) -> conv.BotIdentity:
    return conv.BotIdentity(user_id=context.bot_user_id, bot_id=context.bot_id)


def _event_keys(body: dict[str, Any], event: dict[str, Any]) -> list[str]:
    """Dedupe keys: the delivery (``event_id``) and the message itself, since Slack
    sends both ``app_mention`` and ``message`` for one mention, with different ids."""
    keys = [f"msg:{event.get('channel')}:{event['ts']}"] if event.get("ts") else []
    if body.get("event_id"):
        keys.append(f"event:{body['event_id']}")
    return keys


def post_help(client: WebClient, channel: str, thread_ts: str) -> None:
    text = ui.usage_text()
    try:
        client.chat_postMessage(
            channel=channel, thread_ts=thread_ts, text=text, blocks=[ui.section(text)]
        )
    except SlackApiError as exc:
        log.warning("could not post the help text (%s)", slack_error(exc))


class MessageListeners:
    """Bolt listeners for messages (thin: parse, decide, delegate)."""

    def __init__(self, answerer: SlackAnswerer, records: Records) -> None:
        self.answerer = answerer
        self.records = records
        self.replies: BoundedPool = answerer.replies
        self._not_ours: dict[tuple[str, str], float] = {}
        self._not_ours_lock = threading.Lock()  # listeners run on several threads

    def _claim(self, body: dict[str, Any], event: dict[str, Any]) -> bool:
        if self.records.claim(*_event_keys(body, event)):
            return True
        log.info("event %s already handled; skipping the redelivery", body.get("event_id"))
        return False

    def _help(self, client: WebClient, channel: str, thread_ts: str) -> None:
        self.replies.submit(post_help, client, channel, thread_ts)

    # --- mentions, DMs, follow-ups ----------------------------------------------

    def on_mention(
        self, event: dict[str, Any], body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        me = bot_identity(context)
        if conv.ignore_reason(event, me) or not self._claim(body, event):
            return
        question = conv.clean_text(event.get("text", ""), me.user_id)
        thread_ts = conv.reply_thread(event)
        if conv.is_help(question):
            self._help(client, event["channel"], thread_ts)
            return
        in_thread = conv.is_thread_reply(event)
        target = Target(event["channel"], thread_ts, event.get("user"), body.get("team_id"))
        ask = Ask(
            question, "mention", target, event_ts=event["ts"],
            history_thread=event["thread_ts"] if in_thread else None,
            shared=_shared(body),
        )  # fmt: skip
        self.answerer.take(client, ask, me)

    def on_message(
        self, event: dict[str, Any], body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        me = bot_identity(context)
        reason = conv.ignore_reason(event, me)
        if reason:
            log.debug("ignoring message %s: %s", event.get("ts"), reason)
            return
        if conv.is_dm(event):
            self._on_direct_message(event, body, client, me)
        else:
            self._on_channel_message(event, body, client, me)

    def _on_direct_message(
        self, event: dict[str, Any], body: dict[str, Any], client: WebClient, me: conv.BotIdentity
    ) -> None:
        if not self._claim(body, event):
            return
        channel, thread_ts = event["channel"], conv.reply_thread(event)
        question = conv.clean_text(event.get("text", ""), me.user_id)
        if conv.is_help(question):
            self._help(client, channel, thread_ts)
            return
        assistant = bool(event.get("assistant_thread")) or (
            self.records.thread_kind(channel, thread_ts) == "assistant"
        )
        target = Target(channel, thread_ts, event.get("user"), body.get("team_id"), assistant)
        in_thread = conv.is_thread_reply(event)
        ask = Ask(
            question, "assistant" if assistant else "dm", target, event_ts=event["ts"],
            history_thread=thread_ts if in_thread else None,
            shared=_shared(body),
        )  # fmt: skip
        self.answerer.take(client, ask, me)

    def _on_channel_message(
        self, event: dict[str, Any], body: dict[str, Any], client: WebClient, me: conv.BotIdentity
    ) -> None:
        """Only follow-ups in docbot's threads; a mention is handled as ``app_mention``."""
        text = event.get("text", "")
        if conv.mentions(text, me.user_id) or not conv.is_thread_reply(event):
            return
        if conv.mentions_someone_else(text, me):
            return
        channel, thread_ts = event["channel"], event["thread_ts"]
        if self.records.thread_kind(channel, thread_ts) is None:
            if event.get("parent_user_id") != me.user_id:  # ask Slack, off the ack path
                if not self._known_not_ours(channel, thread_ts):
                    self.replies.submit(self._follow_up_if_ours, event, body, client, me)
                return
            self.records.remember_thread(channel, thread_ts)
        self._follow_up(event, body, client, me, None)

    def _follow_up_if_ours(
        self, event: dict[str, Any], body: dict[str, Any], client: WebClient, me: conv.BotIdentity
    ) -> None:
        channel, thread_ts = event["channel"], event["thread_ts"]
        replies = self._replies_if_ours(client, channel, thread_ts, me)
        if replies is None:
            return
        self.records.remember_thread(channel, thread_ts)
        self._follow_up(event, body, client, me, replies)

    def _follow_up(
        self, event: dict[str, Any], body: dict[str, Any], client: WebClient,
        me: conv.BotIdentity, replies: list[dict[str, Any]] | None,
    ) -> None:  # fmt: skip
        if not self._claim(body, event):
            return
        channel, thread_ts = event["channel"], event["thread_ts"]
        question = conv.clean_text(event.get("text", ""), me.user_id)
        target = Target(channel, thread_ts, event.get("user"), body.get("team_id"))
        ask = Ask(
            question, "thread", target, event_ts=event["ts"], history_thread=thread_ts,
            replies=replies, shared=_shared(body),
        )  # fmt: skip
        self.answerer.take(client, ask, me)

    def _known_not_ours(self, channel: str, thread_ts: str) -> bool:
        with self._not_ours_lock:
            return self._not_ours.get((channel, thread_ts), 0.0) > time.monotonic()

    def _replies_if_ours(
        self, client: WebClient, channel: str, thread_ts: str, me: conv.BotIdentity
    ) -> list[dict[str, Any]] | None:
        """The thread's messages if docbot posted in it (the store may not know, e.g. a
        new database); None otherwise. Negative answers are cached to spare the API."""
        if self._known_not_ours(channel, thread_ts):
            return None
        now = time.monotonic()
        try:
            replies = fetch_replies(client, channel, thread_ts)
        except SlackApiError as exc:
            log.warning("conversations.replies failed (%s)", slack_error(exc))
            return None
        if conv.thread_has_bot(replies, me):
            return replies
        with self._not_ours_lock:
            if len(self._not_ours) > 5000:
                self._not_ours = {k: v for k, v in self._not_ours.items() if v > now}
            self._not_ours[(channel, thread_ts)] = now + NOT_OURS_TTL
        return None

    # --- assistant threads ----------------------------------------------------------

    def on_assistant_thread_started(
        self, event: dict[str, Any], body: dict[str, Any], client: WebClient
    ) -> None:
        thread = event.get("assistant_thread") or {}
        channel, thread_ts = thread.get("channel_id"), thread.get("thread_ts")
        if not channel or not thread_ts or not self.records.claim(f"event:{body.get('event_id')}"):
            return
        self.records.remember_thread(channel, thread_ts, "assistant")
        self.replies.submit(self._suggest_prompts, client, channel, thread_ts)

    def _suggest_prompts(self, client: WebClient, channel: str, thread_ts: str) -> None:
        try:
            client.assistant_threads_setSuggestedPrompts(
                channel_id=channel,
                thread_ts=thread_ts,
                title=ASSISTANT_TITLE,
                prompts=ui.suggested_prompts(self.records.document_titles()),
            )
        except SlackApiError as exc:
            log.warning("assistant.threads.setSuggestedPrompts failed (%s)", slack_error(exc))

    def on_ignored_event(self) -> None:
        """Events docbot subscribes to but has nothing to do for (acked by Bolt)."""
