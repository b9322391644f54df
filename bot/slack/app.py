"""The Bolt app: which Slack events docbot listens to, and thin handlers for them.

Handlers parse an event into an :class:`~bot.slack.answering.Ask` and hand it to
:class:`~bot.slack.answering.SlackAnswerer`; the rules about *which* messages to
answer are plain functions in :mod:`bot.slack.conversation`, and everything shown is built
in :mod:`bot.slack.ui`. Every Slack call goes through a ``WebClient`` whose base URL
is ``settings.slack_api_url`` (Bolt copies it into each request's client).

Bolt's ``Assistant`` middleware is not used: an assistant thread's user turns are
DM ``message`` events, and answering them through the same DM path as any other DM
keeps one code path (history from ``conversations.replies``, dedupe, records); the
middleware would add a second path and a thread-context store docbot does not need.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.answer import clean_question
from bot.app import Docbot
from bot.records import Records
from bot.slack import conversation as conv
from bot.slack import status_view, ui
from bot.slack.answering import Ask, SlackAnswerer, fetch_replies
from bot.slack.reply import StreamSupport, Target, slack_error
from ingest.errors import ConfigError, InputError
from ingest.settings import Settings

log = logging.getLogger(__name__)

NOT_OURS_TTL = 600.0  # seconds a "docbot never posted in this thread" verdict is trusted
ASSISTANT_TITLE = "Ask me about the docs"


class _BoltTokenNotice(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment by itself and then warns that
    the client we pass (which carries that same token) wins; that is intended here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


_BOLT_TOKEN_NOTICE = _BoltTokenNotice()  # one instance: addFilter ignores repeats


def make_web_client(settings: Settings, token: str | None = None) -> WebClient:
    """A WebClient for ``settings.slack_api_url`` that waits out Slack's 429s."""
    client = WebClient(
        token=token or settings.slack_bot_token, base_url=settings.slack_api_url, timeout=30
    )
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    return client


def create_app(
    docbot: Docbot,
    settings: Settings,
    *,
    client: WebClient | None = None,
    streaming: bool = True,
    update_interval: float = 1.0,
    executor: Executor | None = None,
) -> App:
    """The Bolt app with docbot's listeners; checks the bot token with ``auth.test``.

    ``executor`` runs listeners after the ack (default: a pool of 8 threads).
    """
    if client is None and not settings.slack_bot_token:
        raise ConfigError(
            "SLACK_BOT_TOKEN is not set: copy the Bot User OAuth Token (xoxb-…) from your "
            "Slack app's OAuth & Permissions page"
        )
    client = client or make_web_client(settings)
    bolt_logger = logging.getLogger("bot.slack_bolt")
    bolt_logger.addFilter(_BOLT_TOKEN_NOTICE)
    try:
        app = App(
            client=client,
            signing_secret=settings.slack_signing_secret or "",
            name="docbot",
            logger=bolt_logger,
            listener_executor=executor
            or ThreadPoolExecutor(max_workers=8, thread_name_prefix="docbot"),
        )
    except BoltError as exc:
        raise ConfigError(
            f"Slack refused SLACK_BOT_TOKEN ({exc}); check the token, and that the app is "
            "installed to the workspace"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot reach Slack at {settings.slack_api_url}: {exc}") from None
    records = docbot.records
    answerer = SlackAnswerer(
        docbot,
        records,
        limiter=docbot.limiter,
        streams=StreamSupport(streaming),
        interval=update_interval,
    )
    register_listeners(app, Listeners(answerer, records))
    return app


def register_listeners(app: App, listeners: Listeners) -> None:
    """Wire every event docbot handles; one place to read what the bot reacts to."""
    app.event("app_mention")(listeners.on_mention)
    app.event("message")(listeners.on_message)
    app.event("assistant_thread_started")(listeners.on_assistant_thread_started)
    app.event("assistant_thread_context_changed")(listeners.on_ignored_event)
    app.event("app_home_opened")(listeners.on_app_home_opened)
    app.command("/ask")(ack=listeners.ack_ask, lazy=[listeners.on_ask])
    app.action(re.compile(f"^({ui.FEEDBACK_UP}|{ui.FEEDBACK_DOWN})$"))(listeners.on_feedback)


def is_status(text: str) -> bool:
    """``/ask status``: the health summary instead of a question."""
    return text.strip().lower().rstrip("?!.") in ("status", "health")


def _me(context: BoltContext) -> conv.BotIdentity:
    return conv.BotIdentity(user_id=context.bot_user_id, bot_id=context.bot_id)


def _event_keys(body: dict[str, Any], event: dict[str, Any]) -> list[str]:
    """Dedupe keys: the delivery (``event_id``) and the message itself, since Slack
    sends both ``app_mention`` and ``message`` for one mention, with different ids."""
    keys = [f"msg:{event.get('channel')}:{event['ts']}"] if event.get("ts") else []
    if body.get("event_id"):
        keys.append(f"event:{body['event_id']}")
    return keys


class Listeners:
    """Bolt listeners (thin: parse, decide, delegate)."""

    def __init__(self, answerer: SlackAnswerer, records: Records) -> None:
        self.answerer = answerer
        self.records = records
        self._not_ours: dict[tuple[str, str], float] = {}
        self._not_ours_lock = threading.Lock()  # listeners run on several threads

    def _claim(self, body: dict[str, Any], event: dict[str, Any]) -> bool:
        if self.records.claim(*_event_keys(body, event)):
            return True
        log.info("event %s already handled; skipping the redelivery", body.get("event_id"))
        return False

    def _help(self, client: WebClient, channel: str, thread_ts: str) -> None:
        text = ui.usage_text()
        client.chat_postMessage(
            channel=channel, thread_ts=thread_ts, text=text, blocks=[ui.section(text)]
        )

    # --- mentions, DMs, follow-ups ----------------------------------------------

    def on_mention(
        self, event: dict[str, Any], body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        me = _me(context)
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
        )  # fmt: skip
        self.answerer.answer(client, ask, me)

    def on_message(
        self, event: dict[str, Any], body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        me = _me(context)
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
        )  # fmt: skip
        self.answerer.answer(client, ask, me)

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
        replies = None
        if self.records.thread_kind(channel, thread_ts) is None:
            if event.get("parent_user_id") != me.user_id:
                replies = self._replies_if_ours(client, channel, thread_ts, me)
                if replies is None:
                    return
            self.records.remember_thread(channel, thread_ts)
        if not self._claim(body, event):
            return
        question = conv.clean_text(text, me.user_id)
        target = Target(channel, thread_ts, event.get("user"), body.get("team_id"))
        ask = Ask(
            question, "thread", target, event_ts=event["ts"], history_thread=thread_ts,
            replies=replies,
        )  # fmt: skip
        self.answerer.answer(client, ask, me)

    def _replies_if_ours(
        self, client: WebClient, channel: str, thread_ts: str, me: conv.BotIdentity
    ) -> list[dict[str, Any]] | None:
        """The thread's messages if docbot posted in it (the store may not know, e.g. a
        new database); None otherwise. Negative answers are cached to spare the API."""
        now = time.monotonic()
        with self._not_ours_lock:
            if self._not_ours.get((channel, thread_ts), 0.0) > now:
                return None
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

    # --- health: the App Home tab and /ask status -------------------------------------

    def _status(self) -> dict[str, Any]:
        return self.answerer.docbot.status()

    def on_app_home_opened(self, event: dict[str, Any], client: WebClient) -> None:
        """Publish the health summary whenever someone opens docbot's Home tab."""
        if event.get("tab", "home") != "home" or not event.get("user"):
            return
        try:
            view = status_view.home_view(self._status())
            client.views_publish(user_id=event["user"], view=view)
        except SlackApiError as exc:
            log.warning("views.publish failed (%s)", slack_error(exc))
        except Exception:
            log.exception("could not build the App Home status view")

    # --- /ask -----------------------------------------------------------------------------

    def ack_ask(self, ack: Ack, command: dict[str, Any]) -> None:
        """Within Slack's 3 s: help or an input error privately, else an empty ack."""
        question = conv.clean_text(command.get("text", ""))
        if conv.is_help(question):
            ack(text=ui.usage_text(command.get("command") or "/ask"))
            return
        if is_status(question):
            try:
                data = self._status()
            except Exception:
                log.exception("could not collect the status for /ask status")
                ack(text=f":warning: {ui.INTERNAL_ERROR}")
                return
            ack(text=status_view.status_text(data), blocks=status_view.status_blocks(data))
            return
        try:
            clean_question(question)
        except InputError as exc:
            ack(text=f":warning: {ui.error_message(exc)}")
            return
        ack()

    def on_ask(
        self, command: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond
    ) -> None:
        question = conv.clean_text(command.get("text", ""))
        try:
            clean_question(question)
        except InputError:
            return  # already answered in the ack
        if conv.is_help(question) or is_status(question):
            return
        target = Target(command["channel_id"], None, command.get("user_id"), command.get("team_id"))
        ask = Ask(question, "slash", target, show_question=True)
        self.answerer.answer(client, ask, _me(context), respond=respond)

    # --- 👍 / 👎 ---------------------------------------------------------------------------

    def on_feedback(
        self, ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient,
        respond: Respond,
    ) -> None:  # fmt: skip
        ack()
        vote = "up" if action.get("action_id") == ui.FEEDBACK_UP else "down"
        user = (body.get("user") or {}).get("id", "")
        container = body.get("container") or {}
        channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
        message = body.get("message") or {}
        self.records.record_feedback(
            str(action.get("value", "")), user, vote, channel=channel,
            message_ts=container.get("message_ts"),
        )  # fmt: skip
        thanks = ui.feedback_thanks(vote)
        try:
            client.chat_postEphemeral(
                channel=str(channel), user=user, text=thanks,
                thread_ts=container.get("thread_ts") or message.get("thread_ts"),
            )  # fmt: skip
        except SlackApiError as exc:
            log.info("chat.postEphemeral failed (%s); using the response_url", slack_error(exc))
            respond(text=thanks, response_type="ephemeral", replace_original=False)
