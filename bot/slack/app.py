"""The Bolt app: which Slack events docbot listens to, and thin handlers for them.

The listeners live with their concern: messages (mentions, DMs, assistant threads,
follow-ups) in :mod:`bot.slack.listeners`, ``/ask`` in :mod:`bot.slack.slash`, the Home
tab and feedback buttons in :mod:`bot.slack.interactions`. Each parses an event into
an :class:`~bot.slack.answering.Ask` and hands it to
:class:`~bot.slack.answering.SlackAnswerer`; everything shown is built in
:mod:`bot.slack.ui`. Every Slack call goes through a ``WebClient`` whose base URL
is ``settings.slack_api_url`` (Bolt copies it into each request's client).

Nothing slow runs where Slack waits for its ack. The app is built with
``process_before_response=True``, so each listener runs in the thread that dispatches
the request and its return *is* the ack; listeners only parse, claim and admit (no
Slack calls), then hand work to docbot's own bounded pools (:mod:`bot.ops.admission`):

- the **reply pool** (``DOCBOT_SLACK_REPLY_THREADS``): short Slack calls only — the
  first visible reaction, help, busy and rate-limit replies, the Home tab;
- the **answer workers** (``DOCBOT_ANSWER_WORKERS``, with ``DOCBOT_ANSWER_QUEUE``
  waiting): retrieval, the model, the streamed answer.

Bolt's own ``listener_executor`` (and its lazy listeners, which run on it) is handed
the reply pool's threads but has nothing to run: a lazy listener cannot take over the
place its ack reserved (Bolt deep-copies the request for it), and with
``process_before_response=False`` the ``/ask`` ack itself would wait for a free
executor thread behind slow answers.

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
from bot.ops.admission import BoundedPool
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

REPLY_BACKLOG = 1000  # short Slack calls waiting for a reply thread; past it, dropped


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

    ``executor`` runs docbot's work after the ack instead of the reply pool's and the
    answer workers' own threads (tests pass one that runs it at once); the pools'
    bounds stay those of the settings.
    """
    if client is None and not settings.slack_bot_token:
        raise ConfigError(
            "SLACK_BOT_TOKEN is not set: copy the Bot User OAuth Token (xoxb-…) from your "
            "Slack app's OAuth & Permissions page"
        )
    client = client or make_web_client(settings)
    bolt_logger = logging.getLogger("bot.slack_bolt")
    bolt_logger.addFilter(_BOLT_TOKEN_NOTICE)
    reply_threads = executor or ThreadPoolExecutor(
        settings.slack_reply_threads, thread_name_prefix="docbot-reply"
    )
    replies = BoundedPool(
        settings.slack_reply_threads, REPLY_BACKLOG, name="slack-replies", executor=reply_threads
    )
    workers = BoundedPool(
        settings.answer_workers, settings.answer_queue, name="slack-answers", executor=executor
    )
    try:
        app = App(
            client=client,
            signing_secret=settings.slack_signing_secret or "",
            name="docbot",
            logger=bolt_logger,
            process_before_response=True,
            listener_executor=reply_threads,
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
        workers=workers,
        replies=replies,
    )
    register_listeners(app, docbot, answerer)
    return app


def register_listeners(app: App, docbot: Docbot, answerer: SlackAnswerer) -> None:
    """Wire every event docbot handles; one place to read what the bot reacts to."""
    messages = MessageListeners(answerer, docbot.records)
    ask = AskCommand(answerer)
    home = HomeTab(docbot, answerer.replies)
    buttons = FeedbackButtons(docbot.records, answerer.replies)
    app.event("app_mention")(messages.on_mention)
    app.event("message")(messages.on_message)
    app.event("assistant_thread_started")(messages.on_assistant_thread_started)
    app.event("assistant_thread_context_changed")(messages.on_ignored_event)
    app.event("app_home_opened")(home.on_app_home_opened)
    app.command("/ask")(ask.on_ask)
    app.action(re.compile(f"^({ui.FEEDBACK_UP}|{ui.FEEDBACK_DOWN})$"))(buttons.on_feedback)
