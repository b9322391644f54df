"""``/ask``: acknowledged within Slack's 3 seconds, then answered in the channel.

The ack shows help, the health summary (``/ask status``) or an input error privately;
a question is answered by a lazy listener after the empty ack, visibly in the
channel (or through the command's response URL where docbot is not a member).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient

from bot.answer import clean_question
from bot.slack import conversation as conv
from bot.slack import status_view, ui
from bot.slack.answering import Ask, SlackAnswerer
from bot.slack.listeners import bot_identity
from bot.slack.stream import Target
from ingest.errors import InputError

log = logging.getLogger(__name__)


def is_status(text: str) -> bool:
    """``/ask status``: the health summary instead of a question."""
    return text.strip().lower().rstrip("?!.") in ("status", "health")


class AskCommand:
    """The ``/ask`` slash command."""

    def __init__(self, answerer: SlackAnswerer) -> None:
        self.answerer = answerer

    def ack_ask(self, ack: Ack, command: dict[str, Any]) -> None:
        """Within Slack's 3 s: help or an input error privately, else an empty ack."""
        question = conv.clean_text(command.get("text", ""))
        if conv.is_help(question):
            ack(text=ui.usage_text(command.get("command") or "/ask"))
            return
        if is_status(question):
            try:
                data = self.answerer.docbot.status()
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
        self.answerer.answer(client, ask, bot_identity(context), respond=respond)
