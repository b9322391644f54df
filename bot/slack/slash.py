"""``/ask``: acknowledged within Slack's 3 seconds, then answered in the channel.

One listener, run in the ack path (the Bolt app uses ``process_before_response``): the
ack shows help, the health summary (``/ask status``), an input error, a rate limit or
"busy" privately; an admitted question is acked empty and answered on docbot's own
pools, visibly in the channel (or through the command's response URL where docbot is
not a member). A signed request replayed within Slack's five-minute window is acked
and ignored: each invocation (its ``trigger_id``) is claimed once in the store.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, BoltContext, BoltRequest, Respond
from slack_sdk import WebClient

from bot.answer import clean_question
from bot.slack import conversation as conv
from bot.slack import mrkdwn as md
from bot.slack import status_view, ui
from bot.slack.answering import Ask, Refusal, SlackAnswerer
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

    def on_ask(
        self, ack: Ack, command: dict[str, Any], client: WebClient, context: BoltContext,
        respond: Respond, request: BoltRequest,
    ) -> None:  # fmt: skip
        """Within Slack's 3 s, never calling Slack: private help, status or refusal, else
        an empty ack and the question on its way."""
        question = conv.clean_text(command.get("text", ""))
        if conv.is_help(question):
            ack(text=ui.usage_text(command.get("command") or "/ask"))
            return
        if is_status(question):
            self._ack_status(ack)
            return
        try:
            clean_question(question)
        except InputError as exc:
            ack(text=f":warning: {md.escape(ui.error_message(exc))}")
            return
        if not self._claim(command, request):
            log.info("/ask %s already handled; ignoring the replay", command.get("trigger_id"))
            ack()
            return
        target = Target(command["channel_id"], None, command.get("user_id"), command.get("team_id"))
        ask = Ask(question, "slash", target, show_question=True)
        admission = self.answerer.admit(ask)
        if isinstance(admission, Refusal):
            ack(text=f":warning: {md.escape(admission.message)}")
            self.answerer.refuse(client, ask, admission, show=False)
            return
        ack()
        self.answerer.start(client, ask, bot_identity(context), admission, respond=respond)

    def _ack_status(self, ack: Ack) -> None:
        try:
            data = self.answerer.docbot.status()
        except Exception:
            log.exception("could not collect the status for /ask status")
            ack(text=f":warning: {ui.INTERNAL_ERROR}")
            return
        ack(text=status_view.status_text(data), blocks=status_view.status_blocks(data))

    def _claim(self, command: dict[str, Any], request: BoltRequest) -> bool:
        """True the first time this invocation is seen. The key comes from the signed
        request: the ``trigger_id`` Slack gives every invocation, else the signature."""
        trigger = command.get("trigger_id")
        signature = (request.headers.get("x-slack-signature") or [""])[0]
        if not trigger and not signature:
            return True
        return self.answerer.records.claim(f"slash:{trigger}" if trigger else f"slash:{signature}")
