"""One answer's life in a Slack thread: a progress signal at once, the text as it
arrives, then the finished message with sources and buttons — or a visible error.

Two ways to show text while it is written, chosen per reply:

- **stream**: Slack's chat streaming API (:mod:`bot.slack.stream`; Slack renders the
  Markdown itself). Used in threads when the workspace accepts it.
- **update**: a placeholder message edited in place with ``chat.update``, at most
  once per ``interval`` (Slack tolerates about one edit a second), batching pieces.
Every path ends in a final message or a visible error: the placeholder is never
left saying "Searching the docs…".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack import mrkdwn as md
from bot.slack import ui
from bot.slack.stream import ChatStream, StreamSupport, Target, slack_error

log = logging.getLogger(__name__)

# chat.postMessage errors that mean "not here" rather than "broken"; /ask falls back
# to its response_url, which works in any channel the command was typed in.
CANNOT_POST = frozenset({"not_in_channel", "channel_not_found", "is_archived", "restricted_action"})


class Reply:
    """Progress, streamed text and the final message of one answer. Not thread-safe:
    one Reply belongs to the worker thread answering one question."""

    def __init__(
        self,
        client: WebClient,
        target: Target,
        *,
        streams: StreamSupport,
        header: Sequence[ui.Block] = (),
        header_text: str = "",
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        respond: Callable[..., Any] | None = None,
    ) -> None:
        self.client = client
        self.respond = respond  # /ask: the response_url, for channels docbot is not in
        self.target = target
        self.streams = streams
        self.header = list(header)
        self.header_text = header_text
        self.interval = interval
        self.clock = clock
        self.citations: Mapping[int, str] = {}
        self.placeholder_ts: str | None = None
        self.stream = ChatStream(client, target, streams)
        self.message_ts: str | None = None
        self.status_set = False
        self.mode = "pending"  # -> "stream" | "update" | "respond"
        self.text = ""  # everything written so far
        self._unsent = ""  # written but not yet shown
        self._last_flush = float("-inf")

    @property
    def thread_ts(self) -> str | None:
        """The thread this answer lives in (for /ask: the answer message itself)."""
        return self.target.thread_ts or self.placeholder_ts or self.message_ts

    # --- progress -------------------------------------------------------------------

    def start(self) -> None:
        """Show at once that docbot is working: a thread status, else a placeholder."""
        t = self.target
        if t.assistant and t.thread_ts:
            try:
                self.client.assistant_threads_setStatus(
                    channel_id=t.channel,
                    thread_ts=t.thread_ts,
                    status=ui.STATUS,
                    loading_messages=ui.LOADING_MESSAGES,
                )
                self.status_set = True
                return
            except SlackApiError as exc:
                log.info("assistant.threads.setStatus failed (%s); posting a placeholder",
                         slack_error(exc))  # fmt: skip
        try:
            self._post_placeholder()
        except SlackApiError as exc:
            if self.respond is None or slack_error(exc) not in CANNOT_POST:
                raise
            # /ask in a channel docbot is not a member of: answer via the response_url
            log.info("cannot post in %s (%s); answering via response_url",
                     self.target.channel, slack_error(exc))  # fmt: skip
            self.mode = "respond"

    def _post_placeholder(self) -> None:
        response = self.client.chat_postMessage(
            channel=self.target.channel,
            thread_ts=self.target.thread_ts,
            text=ui.PLACEHOLDER,
            blocks=ui.placeholder_blocks(self.header),
        )
        self.placeholder_ts = str(response["ts"])

    # --- text as it arrives ---------------------------------------------------------

    def write(self, piece: str) -> None:
        """Add answer text; shown now if the last update is ``interval`` old."""
        self.text += piece
        self._unsent += piece
        if self.clock() - self._last_flush >= self.interval:
            self._flush()

    def _choose_mode(self) -> None:
        if self.mode == "pending":
            can_stream = self.streams.enabled and self.target.thread_ts is not None
            self.mode = "stream" if can_stream else "update"

    def _flush(self) -> None:
        if not self._unsent.strip() or self.mode == "respond":
            return
        self._choose_mode()
        if self.mode == "stream" and self._stream_unsent():
            self._last_flush = self.clock()
            return
        self._show_progress_text()
        self._last_flush = self.clock()

    def _stream_unsent(self) -> bool:
        """Send pending text through the stream; False when the stream is unusable
        (the text is then kept for the placeholder, and so is what the stream showed)."""
        text, self._unsent = self._unsent, ""
        started = self.stream.ts is not None
        rest = self.stream.send(text)
        if rest is None:
            if not started and self.stream.ts is not None:
                self._drop_placeholder()
            return True
        self._unsent = rest + self._unsent
        self.mode = "update"
        if self.stream.ts is not None:  # a broken stream: edit what it already shows
            self.placeholder_ts, self.stream.ts = self.stream.ts, None
        return False

    def _drop_placeholder(self) -> None:
        """The streamed message replaces the placeholder (which must not stay behind)."""
        if self.placeholder_ts is None:
            return
        try:
            self.client.chat_delete(channel=self.target.channel, ts=self.placeholder_ts)
        except SlackApiError as exc:
            log.warning("could not delete the placeholder (%s)", slack_error(exc))
            self._safe(self.client.chat_update, channel=self.target.channel,
                       ts=self.placeholder_ts, text="⬇️", blocks=[ui.context("⬇️")])  # fmt: skip
        self.placeholder_ts = None

    def _show_progress_text(self) -> None:
        """Edit the placeholder to show the answer so far (update mode)."""
        self._unsent = ""
        if self.placeholder_ts is None:
            self._post_placeholder()
        blocks = [*self.header, *ui.text_blocks(self.text + " …", self.citations)]
        self._safe(
            self.client.chat_update,
            channel=self.target.channel,
            ts=self.placeholder_ts,
            text=md.truncate(md.to_mrkdwn(self.text)),
            blocks=blocks[: ui.MAX_BLOCKS],
        )

    # --- the end ----------------------------------------------------------------------

    def finish(self, markdown: str, footer: Sequence[ui.Block]) -> str | None:
        """Show the final answer with its footer (sources, buttons); returns its ts."""
        if not self.text.strip():
            self.text = self._unsent = markdown  # nothing was written piece by piece
        # The answer to show is not what was written (a model answer found unsupported
        # once complete): the streamed text must not stay; the message is edited.
        replaced = self.text.strip() != markdown.strip()
        self._choose_mode()
        if self.mode == "stream" and replaced and self.stream.ts is not None:
            self._unsent = ""
            self._stop_stream(())
            self.placeholder_ts, self.stream.ts = self.stream.ts, None
            self.mode = "update"
        if self.mode == "stream" and self._stream_unsent() and self._stop_stream(footer):
            return self.message_ts
        blocks = [*self.header, *ui.text_blocks(markdown, self.citations), *footer]
        fallback = f"{self.header_text}\n\n{md.to_mrkdwn(markdown)}".strip()
        if self.mode == "respond" and self.respond is not None:
            self.respond(response_type="in_channel", text=md.truncate(fallback),
                         blocks=blocks[: ui.MAX_BLOCKS])  # fmt: skip
            return None
        self._post_messages(blocks, fallback)
        return self.message_ts

    def _stop_stream(self, footer: Sequence[ui.Block]) -> bool:
        """End the stream with the footer; overflowing text follows in its own message."""
        if self.stream.ts is None:
            return False
        self.message_ts = self.stream.ts
        footer_sent = self.stream.stop(footer)
        overflow, self.stream.overflow = self.stream.overflow, ""
        rest = ui.text_blocks(overflow, self.citations) if overflow else []
        if not footer_sent:
            rest.extend(footer)
        if rest:
            self._post_messages(rest, md.to_mrkdwn(overflow) or "Sources")
        return True

    def fail(self, message: str, footer: Sequence[ui.Block] = ()) -> None:
        """End visibly with what went wrong (never raises: it is the last resort).
        ``message`` may quote the model provider or a document: escaped here."""
        text = f":warning: {md.escape(message)}"
        nothing_posted = self.placeholder_ts is None and self.stream.ts is None
        if self.respond is not None and nothing_posted and self.message_ts is None:
            try:  # /ask: an error nobody else saw the question for stays private
                self.respond(response_type="ephemeral", text=text)
                return
            except Exception:  # fall back to posting in the channel
                log.warning("respond() failed; posting the error instead", exc_info=True)
        if self.stream.ts is not None:
            if self.stream.stop_with_error(message, footer):
                self.message_ts = self.stream.ts
                return
            self.placeholder_ts, self.stream.ts = self.stream.ts, None
        try:
            self._post_messages([*ui.error_blocks(message, self.header), *footer], text)
        except Exception:  # nothing more can be shown; make sure it is logged
            log.exception("could not post the error message to %s", self.target.channel)

    def _post_messages(self, blocks: Sequence[ui.Block], fallback: str) -> None:
        """Replace the placeholder with the first message's blocks, post the rest in the
        thread; a vanished placeholder (deleted by a user) is replaced by a new post."""
        fallback = md.truncate(fallback or ui.PLACEHOLDER)
        for i, chunk in enumerate(ui.split_messages(blocks)):
            text = fallback if i == 0 else md.truncate(fallback, 200) + " (continued)"
            if i == 0 and self.placeholder_ts is not None:
                try:
                    self.client.chat_update(
                        channel=self.target.channel, ts=self.placeholder_ts, text=text, blocks=chunk
                    )
                    self.message_ts = self.placeholder_ts
                    continue
                except SlackApiError as exc:
                    log.warning("chat.update failed (%s); posting instead", slack_error(exc))
            response = self.client.chat_postMessage(
                channel=self.target.channel, thread_ts=self.thread_ts, text=text, blocks=chunk
            )
            if i == 0 and self.message_ts is None:
                self.message_ts = str(response["ts"])

    def _safe(self, method: Callable[..., Any], **kwargs: Any) -> None:
        """An optional progress call: its failure must not lose the answer."""
        try:
            method(**kwargs)
        except SlackApiError as exc:
            log.warning("progress update failed (%s)", slack_error(exc))
