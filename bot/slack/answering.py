"""Answering one Slack question, whatever the surface: progress, history, the answer
streamed into the thread, sources and feedback buttons, a record of what happened.

The listeners only parse events into an :class:`Ask`; everything a mention, ``/ask``,
a DM, an assistant thread and a follow-up have in common lives here, so they behave
the same — including how each failure (or refusal) is shown and recorded, and which
pool each step runs on (see :class:`SlackAnswerer`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.access import PRIVATE_SURFACES, Audience, Decision
from bot.answer import EmptyIndex
from bot.app import Docbot
from bot.llm import Message
from bot.ops.admission import BoundedPool, Slot, stored_question
from bot.ops.ratelimit import RateLimiter
from bot.records import AnswerRecord, Records, error_kind, new_answer_id
from bot.slack import mrkdwn as md
from bot.slack import ui
from bot.slack.conversation import BotIdentity, history_from_replies
from bot.slack.directory import SlackDirectory
from bot.slack.reply import Reply
from bot.slack.stream import StreamSupport, Target, slack_error
from ingest.errors import LLMError
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


@dataclass(frozen=True)
class Refusal:
    """Why a question was not taken: over a rate limit, or every place is taken."""

    message: str  # polite, for the asker
    error: str  # the answers.error label: user_limit | global_limit | busy


@dataclass
class Job:
    """One question on its way, from the ack to the answer: what was asked and where,
    the record being filled, and its place among the answer workers."""

    client: WebClient
    ask: Ask
    me: BotIdentity
    record: AnswerRecord
    started: float
    respond: Any = None
    slot: Slot | None = None
    slack: SlackTime = field(default_factory=SlackTime)
    reply: Reply | None = None
    sources: list[Hit] = field(default_factory=list)


class SlackAnswerer:
    """Runs questions from Slack through docbot's one answer path, in three steps so
    that nothing slow happens where Slack waits for its ack:

    1. :meth:`admit`, in the ack path: a place among the answer workers
       (``DOCBOT_ANSWER_WORKERS`` + ``DOCBOT_ANSWER_QUEUE``) and the rate limits, both
       decided at once; a refusal is shown by :meth:`refuse` on the reply pool.
    2. the first visible reaction (placeholder or assistant status), on the reply pool
       (``DOCBOT_SLACK_REPLY_THREADS``: only short Slack calls run there), so it comes
       at once even when every answer worker is busy;
    3. the answer itself, on the answer workers, in the place reserved in step 1.
    """

    def __init__(
        self,
        docbot: Docbot,
        records: Records,
        *,
        limiter: RateLimiter,
        streams: StreamSupport,
        interval: float = 1.0,
        workers: BoundedPool,
        replies: BoundedPool,
    ) -> None:
        self.docbot = docbot
        self.records = records
        self.limiter = limiter
        self.streams = streams
        self.interval = interval
        self.workers = workers
        self.replies = replies
        self.directory = SlackDirectory()

    # --- 1. in the ack path -----------------------------------------------------------

    def admit(self, ask: Ask) -> Slot | Refusal:
        """A place for the question, or why not. Never blocks and never calls Slack.
        A busy refusal does not count against the asker's rate limit."""
        slot = self.workers.reserve()
        if slot is None:
            return Refusal(ui.BUSY, "busy")
        limited = self.limiter.limit(ask.target.user)
        if limited:
            slot.release()
            self.docbot.metrics.observe_rate_limited(ask.surface, limited.scope)
            return Refusal(limited.message, f"{limited.scope}_limit")
        return slot

    def take(self, client: WebClient, ask: Ask, me: BotIdentity, *, respond: Any = None) -> None:
        """Admit the question and send it on its way, or refuse it visibly."""
        admission = self.admit(ask)
        if isinstance(admission, Refusal):
            self.refuse(client, ask, admission)
        else:
            self.start(client, ask, me, admission, respond=respond)

    def start(
        self, client: WebClient, ask: Ask, me: BotIdentity, slot: Slot, *, respond: Any = None
    ) -> None:
        """Queue the first reaction (then the answer) for an admitted question."""
        job = Job(client, ask, me, self._record(ask), time.perf_counter(), respond, slot)
        if self.replies.submit(self._react, job) is None:
            slot.release()
            job.record.error = "busy"
            self._finish(job)

    def refuse(self, client: WebClient, ask: Ask, refusal: Refusal, *, show: bool = True) -> None:
        """Say why in the thread (unless the ack already did) and record it."""
        job = Job(client, ask, BotIdentity(None, None), self._record(ask), time.perf_counter())
        job.record.error = refusal.error
        if self.replies.submit(self._show_refusal, job, refusal.message, show) is None:
            self._finish(job)

    def _record(self, ask: Ask) -> AnswerRecord:
        t = ask.target
        return AnswerRecord(
            id=new_answer_id(), surface=ask.surface, question=stored_question(ask.question),
            user_id=t.user, channel=t.channel, thread_ts=t.thread_ts,
        )  # fmt: skip

    def _reply(self, job: Job) -> Reply:
        ask, t = job.ask, job.ask.target
        header = [ui.question_block(ask.question, t.user)] if ask.show_question else []
        who = f"<@{t.user}> asked" if t.user else "Question"
        job.reply = Reply(
            job.client, t, streams=self.streams, header=header, interval=self.interval,
            header_text=f"{who}: {md.escape(ask.question)}" if ask.show_question else "",
            respond=job.respond,
        )  # fmt: skip
        return job.reply

    def _show_refusal(self, job: Job, message: str, show: bool) -> None:
        try:
            if show:
                with job.slack.posting():
                    self._reply(job).fail(message)
        finally:
            self._finish(job)

    # --- 2. on the reply pool: the first visible reaction ------------------------------

    def _react(self, job: Job) -> None:
        assert job.slot is not None
        reply = self._reply(job)
        t = job.ask.target
        try:
            with job.slack.posting():
                reply.start()
            if reply.thread_ts:
                kind = "assistant" if t.assistant else "answer"
                self.records.remember_thread(t.channel, reply.thread_ts, kind)
        except Exception as exc:
            job.slot.release()
            self._failed(job, exc)
            self._finish(job)
            return
        try:
            self.workers.run(job.slot, self._answer, job)
        except RuntimeError as exc:  # the pool is shutting down
            self._failed(job, exc)
            self._finish(job)

    # --- 3. on the answer workers -------------------------------------------------------

    def _answer(self, job: Job) -> None:
        """Answer in Slack and record the outcome. Never raises: failures are shown."""
        reply, record, slack = job.reply, job.record, job.slack
        assert reply is not None
        stream = None
        try:
            if not self.records.has_documents():
                raise EmptyIndex()
            decision = self._decide(job.client, job.ask)
            if decision.refusal:
                record.error = "not_shareable"
                with slack.posting():
                    record.message_ts = reply.finish(decision.refusal, [])
                return
            history = self._history(job.client, job.ask, job.me)
            stream = self.docbot.answerer.ask(job.ask.question, history, scope=decision.scope)
            job.sources = stream.sources
            reply.citations = {n: hit.link for n, hit in enumerate(job.sources, start=1)}
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
            if stream is not None:
                record.note_attempt(stream.partial)
            self._failed(job, exc)
        finally:
            self._finish(job)

    def _failed(self, job: Job, exc: BaseException) -> None:
        """Show and note a failure. Logs ids only: the question is in the store."""
        record, t = job.record, job.ask.target
        record.outcome, record.error = "failed", error_kind(exc)
        if record.error == "internal":
            log.exception("answering %s question %s in %s failed", job.ask.surface, record.id,
                          t.channel)  # fmt: skip
        else:  # the provider's words help; other messages might quote the question
            detail = str(exc) if isinstance(exc, LLMError) else type(exc).__name__
            log.warning("answering question %s in %s failed (%s): %s", record.id, t.channel,
                        record.error, detail)  # fmt: skip
        reply = job.reply or self._reply(job)
        closest = list(enumerate(job.sources[:3], start=1))
        footer = [b for b in [ui.sources_block(closest)] if b] if closest else []
        with job.slack.posting():
            reply.fail(ui.error_message(exc), footer)
        record.message_ts = reply.message_ts

    def _finish(self, job: Job) -> None:
        record, slack = job.record, job.slack
        record.latency_ms = round((time.perf_counter() - job.started) * 1000, 1)
        if job.reply is not None:
            record.thread_ts = job.reply.thread_ts or job.ask.target.thread_ts
        if "generate_ms" in record.timings:
            model_ms = record.timings["generate_ms"] - slack.writing_ms
            record.timings["generate_ms"] = max(model_ms, 0.0)
        record.timings["post_ms"] = slack.ms
        self.docbot.observer.finish_question(record)

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
