"""Answering one Slack question, whatever the surface: progress, history, the answer
streamed into the thread, sources and feedback buttons, a record of what happened.

The handlers in ``slack_app`` only parse events into an :class:`Ask`; everything a
mention, ``/ask``, a DM, an assistant thread and a follow-up have in common lives
here, so they behave the same — including how each failure is shown and recorded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.access import PRIVATE_SURFACES, Audience, Decision
from bot.answer import EmptyIndex
from bot.app import Docbot
from bot.llm import Message
from bot.ops.ratelimit import RateLimiter
from bot.records import AnswerRecord, Records, error_kind, new_answer_id
from bot.slack import mrkdwn as md
from bot.slack import ui
from bot.slack.conversation import BotIdentity, history_from_replies
from bot.slack.directory import SlackDirectory
from bot.slack.reply import Reply
from bot.slack.stream import StreamSupport, Target, slack_error
from ingest.models import Hit

log = logging.getLogger(__name__)

MAX_REPLY_PAGES = 5  # conversations.replies pages read for history (200 messages each)


@dataclass(frozen=True)
class Ask:
    """A question as a handler parsed it from Slack."""

    question: str
    surface: str  # mention | slash | dm | assistant | thread
    target: Target
    event_ts: str | None = None  # the asking message (history stops before it)
    history_thread: str | None = None  # read this thread's replies as history
    replies: Sequence[Mapping[str, Any]] | None = None  # already fetched
    show_question: bool = False  # /ask: show the question above the answer
    shared: bool | None = None  # the envelope's is_ext_shared_channel, when it has one


class SlackTime:
    """Milliseconds spent in Slack calls, summed: the ``post`` stage of an answer.

    While streaming, the model's clock keeps running while we post each piece, so the
    time spent writing is subtracted from ``generate_ms`` to leave the model's own time.
    """

    def __init__(self) -> None:
        self.ms = 0.0
        self.writing_ms = 0.0

    @contextmanager
    def posting(self, writing: bool = False) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            self.ms += elapsed
            if writing:
                self.writing_ms += elapsed


def fetch_replies(client: WebClient, channel: str, thread_ts: str) -> list[dict[str, Any]]:
    """A thread's messages, oldest first (a few pages at most; the newest matter most)."""
    messages: list[dict[str, Any]] = []
    cursor = None
    for _ in range(MAX_REPLY_PAGES):
        response = client.conversations_replies(
            channel=channel, ts=thread_ts, limit=200, cursor=cursor
        )
        messages.extend(response.get("messages") or [])
        cursor = (response.get("response_metadata") or {}).get("next_cursor")
        if not response.get("has_more") or not cursor:
            break
    return messages


class SlackAnswerer:
    """Runs questions from Slack through docbot's one answer path."""

    def __init__(
        self,
        docbot: Docbot,
        records: Records,
        *,
        limiter: RateLimiter,
        streams: StreamSupport,
        interval: float = 1.0,
    ) -> None:
        self.docbot = docbot
        self.records = records
        self.limiter = limiter
        self.streams = streams
        self.interval = interval
        self.directory = SlackDirectory()

    def answer(
        self, client: WebClient, ask: Ask, me: BotIdentity, *, respond: Any = None
    ) -> AnswerRecord:
        """Answer in Slack and record the outcome. Never raises: failures are shown."""
        started = time.perf_counter()
        t = ask.target
        record = AnswerRecord(
            id=new_answer_id(), surface=ask.surface, question=ask.question,
            user_id=t.user, channel=t.channel, thread_ts=t.thread_ts,
        )  # fmt: skip
        header = [ui.question_block(ask.question, t.user)] if ask.show_question else []
        who = f"<@{t.user}> asked" if t.user else "Question"
        reply = Reply(
            client, t, streams=self.streams, header=header, interval=self.interval,
            header_text=f"{who}: {md.escape(ask.question)}" if ask.show_question else "",
            respond=respond,
        )  # fmt: skip
        sources: list[Hit] = []
        slack = SlackTime()
        stream = None
        try:
            limited = self.limiter.limit(t.user)
            if limited:
                record.error = f"{limited.scope}_limit"
                self.docbot.metrics.observe_rate_limited(ask.surface, limited.scope)
                with slack.posting():
                    reply.fail(limited.message)
                return record
            with slack.posting():
                reply.start()
            if reply.thread_ts:
                kind = "assistant" if t.assistant else "answer"
                self.records.remember_thread(t.channel, reply.thread_ts, kind)
            if not self.records.has_documents():
                raise EmptyIndex()
            decision = self._decide(client, ask)
            if decision.refusal:
                record.error = "not_shareable"
                with slack.posting():
                    record.message_ts = reply.finish(decision.refusal, [])
                return record
            history = self._history(client, ask, me)
            stream = self.docbot.answerer.ask(ask.question, history, scope=decision.scope)
            sources = stream.sources
            reply.citations = {n: hit.link for n, hit in enumerate(sources, start=1)}
            for piece in stream:
                with slack.posting(writing=True):
                    reply.write(piece)
            answer = stream.answer
            record.fill(answer)
            footer = ui.footer_blocks(
                mode=answer.mode,
                abstained=answer.abstained,
                cited=answer.cited_sources,
                answer_id=record.id,
            )
            with slack.posting():
                record.message_ts = reply.finish(answer.text, footer)
        except Exception as exc:  # every failure must end visibly
            record.outcome, record.error = "failed", error_kind(exc)
            if stream is not None:
                record.note_attempt(stream.partial)
            if record.error == "internal":
                log.exception("answering %r in %s failed", ask.question[:200], t.channel)
            else:
                log.warning("answering in %s failed: %s", t.channel, exc)
            closest = list(enumerate(sources[:3], start=1))
            footer = [b for b in [ui.sources_block(closest)] if b] if closest else []
            with slack.posting():
                reply.fail(ui.error_message(exc), footer)
            record.message_ts = reply.message_ts
        finally:
            record.latency_ms = round((time.perf_counter() - started) * 1000, 1)
            record.thread_ts = reply.thread_ts or t.thread_ts
            if "generate_ms" in record.timings:
                model_ms = record.timings["generate_ms"] - slack.writing_ms
                record.timings["generate_ms"] = max(model_ms, 0.0)
            record.timings["post_ms"] = slack.ms
            self.docbot.observer.finish_question(record)
        return record

    def _decide(self, client: WebClient, ask: Ask) -> Decision:
        """Which documents this answer may come from, given who will see it."""
        t = ask.target
        private = ask.surface in PRIVATE_SURFACES
        audience = Audience(
            ask.surface,
            t.channel,
            email=self.directory.email(client, t.user) if private else None,
            shared=self.directory.is_shared(client, t.channel, ask.shared),
        )
        return self.docbot.decide(audience)

    def _history(self, client: WebClient, ask: Ask, me: BotIdentity) -> list[Message]:
        """The thread so far, as chat turns (none outside a thread, or if Slack refuses)."""
        if not ask.history_thread:
            return []
        replies = ask.replies
        if replies is None:
            try:
                replies = fetch_replies(client, ask.target.channel, ask.history_thread)
            except SlackApiError as exc:
                log.warning("conversations.replies failed (%s); answering without history",
                            slack_error(exc))  # fmt: skip
                return []
        return history_from_replies(
            replies, me, before_ts=ask.event_ts, skip_texts=[ui.PLACEHOLDER]
        )
