"""Slack's chat streaming API for one answer: ``chat.startStream``, ``appendStream``,
``stopStream``, within the size one streamed message may hold.

Slack renders ``markdown_text`` itself, where entities cannot be relied on, so every
piece passes through a :class:`~bot.slack.defuse.MarkdownGuard` first: no mention,
labelled link or non-web link target from a document or the model reaches Slack live.

The raw methods are called rather than slack_sdk's ``ChatStream`` helper because a
refusal of the *first* call must fall back cleanly (to editing a placeholder, in
:mod:`bot.slack.reply`). A workspace that refuses streaming (``unknown_method``,
``not_allowed``, …) is remembered in :class:`StreamSupport`, so later answers go
straight to updates.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack import ui
from bot.slack.defuse import MarkdownGuard, defuse_markdown

log = logging.getLogger(__name__)

# Errors meaning "this workspace/app cannot stream", as opposed to a one-off failure.
STREAM_REFUSALS = frozenset(
    {
        "unknown_method",
        "not_allowed",
        "not_allowed_token_type",
        "missing_scope",
        "feature_not_enabled",
        "team_not_allowed",
        "not_supported",
        "method_deprecated",
    }
)


def slack_error(exc: SlackApiError) -> str:
    response = exc.response
    data: Any = getattr(response, "data", None) or {}
    return str(data.get("error", "unknown") if isinstance(data, dict) else "unknown")


class StreamSupport:
    """Whether to try chat streaming; switched off for good by the first refusal."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.reason: str | None = None

    def disable(self, reason: str) -> None:
        if self.enabled:
            log.info("chat streaming unavailable (%s); answers will edit a placeholder", reason)
        self.enabled = False
        self.reason = reason


@dataclass(frozen=True)
class Target:
    """Where an answer goes. ``thread_ts`` None means a new top-level message (/ask)."""

    channel: str
    thread_ts: str | None
    user: str | None = None
    team: str | None = None
    assistant: bool = False  # an assistant (AI app) thread: progress via setStatus


class ChatStream:
    """One streamed message. Text beyond what it may hold is kept as ``overflow``,
    for the caller to post in a message of its own when the stream stops (as mrkdwn,
    escaped there)."""

    def __init__(self, client: WebClient, target: Target, support: StreamSupport) -> None:
        self.client = client
        self.target = target
        self.support = support
        self.ts: str | None = None
        self.overflow = ""
        self._sent = 0  # characters sent so far
        self._guard = MarkdownGuard()

    def _room(self) -> int:
        return max(ui.MAX_STREAM_CHARS - self._sent, 0)

    def send(self, text: str) -> str | None:
        """Stream ``text``, made inert. None when it is shown (or held back, or kept as
        overflow); when Slack refuses, the text not shown (with any overflow), for the
        caller to show another way."""
        if self.overflow:
            self.overflow += text
            return None
        safe = self._guard.feed(text)
        room = self._room()
        text, self.overflow = safe[:room], safe[room:]
        if self.overflow:  # what the guard holds comes after it, in the overflow message
            self.overflow += self._guard.take()
        if not text:
            return None
        t = self.target
        try:
            if self.ts is None:
                response = self.client.chat_startStream(
                    channel=t.channel,
                    thread_ts=str(t.thread_ts),
                    markdown_text=text,
                    recipient_team_id=t.team,
                    recipient_user_id=t.user,
                )
                self.ts = str(response["ts"])
            else:
                self.client.chat_appendStream(channel=t.channel, ts=self.ts, markdown_text=text)
            self._sent += len(text)
            return None
        except SlackApiError as exc:
            error = slack_error(exc)
            if error in STREAM_REFUSALS:
                self.support.disable(error)
            log.warning("chat streaming failed (%s); editing a message instead", error)
            rest, self.overflow = text + self.overflow + self._guard.take(), ""
            return rest

    def stop(self, footer: Sequence[ui.Block]) -> bool:
        """End the stream (with the text still held back), with the footer when
        nothing overflowed; True when the footer was sent with it."""
        assert self.ts is not None
        tail = self._guard.flush()
        room = self._room()
        tail, self.overflow = tail[:room], tail[room:] + self.overflow
        try:
            self.client.chat_stopStream(
                channel=self.target.channel,
                ts=self.ts,
                markdown_text=tail or None,
                blocks=list(footer) if footer and not self.overflow else None,
            )
            self._sent += len(tail)
            return not self.overflow
        except SlackApiError as exc:
            self.overflow = tail + self.overflow
            log.warning("chat.stopStream failed (%s); posting the rest separately",
                        slack_error(exc))  # fmt: skip
            return False

    def stop_with_error(self, message: str, footer: Sequence[ui.Block]) -> bool:
        """End the stream with a warning line; False when Slack refused that too."""
        assert self.ts is not None
        try:
            self.client.chat_stopStream(
                channel=self.target.channel,
                ts=self.ts,
                markdown_text=f"{self._guard.flush()}\n\n⚠️ {defuse_markdown(message)}",
                blocks=list(footer) or None,
            )
            return True
        except SlackApiError as exc:
            log.warning("chat.stopStream failed (%s)", slack_error(exc))
            return False
