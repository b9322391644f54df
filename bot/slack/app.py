"""The Bolt app: which Slack events docbot listens to, and thin handlers for them.

The listeners live with their concern: messages (mentions, DMs, assistant threads,
follow-ups) in :mod:`bot.slack.listeners`, ``/ask`` in :mod:`bot.slack.slash`, the Home
tab and feedback buttons in :mod:`bot.slack.interactions`. Each parses an event into
an :class:`~bot.slack.answering.Ask` and hands it to
:class:`~bot.slack.answering.SlackAnswerer`; everything shown is built in
:mod:`bot.slack.ui`. Every Slack call goes through a ``WebClient`` whose base URL
is ``settings.slack_api_url`` (Bolt copies it into each request's client).

Bolt's ``Assistant`` middleware is not used: an assistant thread's user turns are
DM ``message`` events, and answering them through the same DM path as any other DM
keeps one code path (history from ``conversations.replies``, dedupe, records); the
middleware would add a second path and a thread-context store docbot does not need.
"""

from __future__ import annotations

import logging
import re
from concurrent.futures import Executor, ThreadPoolExecutor

from slack_bolt import App
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.app import Docbot
from bot.slack import ui
from bot.slack.answering import SlackAnswerer
from bot.slack.interactions import FeedbackButtons, HomeTab
from bot.slack.listeners import MessageListeners
from bot.slack.slash import AskCommand
from bot.slack.stream import StreamSupport
from ingest.errors import ConfigError
from ingest.settings import Settings

log = logging.getLogger(__name__)


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
    answerer = SlackAnswerer(
        docbot,
        docbot.records,
        limiter=docbot.limiter,
        streams=StreamSupport(streaming),
        interval=update_interval,
    )
    register_listeners(app, docbot, answerer)
    return app


def register_listeners(app: App, docbot: Docbot, answerer: SlackAnswerer) -> None:
    """Wire every event docbot handles; one place to read what the bot reacts to."""
    messages = MessageListeners(answerer, docbot.records)
    ask = AskCommand(answerer)
    home = HomeTab(docbot)
    buttons = FeedbackButtons(docbot.records)
    app.event("app_mention")(messages.on_mention)
    app.event("message")(messages.on_message)
    app.event("assistant_thread_started")(messages.on_assistant_thread_started)
    app.event("assistant_thread_context_changed")(messages.on_ignored_event)
    app.event("app_home_opened")(home.on_app_home_opened)
    app.command("/ask")(ack=ask.ack_ask, lazy=[ask.on_ask])
    app.action(re.compile(f"^({ui.FEEDBACK_UP}|{ui.FEEDBACK_DOWN})$"))(buttons.on_feedback)
