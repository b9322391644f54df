"""The App Home tab (docbot's health) and the 👍/👎 buttons under answers.

The listeners run in Slack's ack path: they ack and hand the work (the status, the
vote, the Slack calls) to the reply pool.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.app import Docbot
from bot.ops.admission import BoundedPool
from bot.records import Records
from bot.slack import status_view, ui
from bot.slack.stream import slack_error

log = logging.getLogger(__name__)


class HomeTab:
    """Publishes the health summary whenever someone opens docbot's Home tab."""

    def __init__(self, docbot: Docbot, replies: BoundedPool) -> None:
        self.docbot = docbot
        self.replies = replies

    def on_app_home_opened(self, event: dict[str, Any], client: WebClient) -> None:
        """Publish the health summary whenever someone opens docbot's Home tab."""
        if event.get("tab", "home") != "home" or not event.get("user"):
            return
        self.replies.submit(self._publish, event, client)

    def _publish(self, event: dict[str, Any], client: WebClient) -> None:
        try:
            view = status_view.home_view(self.docbot.status())
            client.views_publish(user_id=event["user"], view=view)
        except SlackApiError as exc:
            log.warning("views.publish failed (%s)", slack_error(exc))
        except Exception:
            log.exception("could not build the App Home status view")


class FeedbackButtons:
    """Records a vote and thanks the voter privately."""

    def __init__(self, records: Records, replies: BoundedPool) -> None:
        self.records = records
        self.replies = replies

    def on_feedback(
        self, ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient,
        respond: Respond,
    ) -> None:  # fmt: skip
        ack()
        self.replies.submit(self._record, body, action, client, respond)

    def _record(
        self, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
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
