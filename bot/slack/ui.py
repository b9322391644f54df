"""Everything docbot shows in Slack, as pure functions: Markdown → mrkdwn, splitting
at Slack's limits, and the Block Kit of answers, sources, feedback and errors.

Pure (no Slack I/O, no clock unless passed) so every shape is unit-tested without a
server, and so the handlers in ``slack_app`` stay thin. The Markdown conversion
itself is in ``slack_mrkdwn``. The limits are Slack's own:
a section's text is at most 3,000 characters, a message at most 50 blocks and its
``text`` at most 40,000 characters; a renderer that exceeds them fails at post time
with ``msg_too_long`` / ``invalid_blocks``, which would leave a user with nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.slack.defuse import defuse_markdown
from bot.slack.mrkdwn import (
    MAX_SECTION_CHARS,
    escape,
    link,
    split_text,
    to_mrkdwn,
    truncate,
)
from ingest.errors import (
    DocbotError,
    InputError,
    LLMError,
    LLMRateLimited,
    LLMTimeout,
    LLMUnavailable,
)
from ingest.models import Hit

Block = dict[str, Any]

MAX_BLOCKS = 50
MAX_STREAM_CHARS = 11_000  # chat.*Stream markdown_text is capped at 12,000 per message part

FEEDBACK_UP = "docbot_feedback_up"
FEEDBACK_DOWN = "docbot_feedback_down"
FEEDBACK_BLOCK_ID = "docbot_feedback"
PLACEHOLDER = "Searching the docs…"
STATUS = "is searching the docs…"
LOADING_MESSAGES = ["Searching the docs…", "Reading the most relevant pages…", "Writing an answer…"]
EXTRACTIVE_NOTE = "Quoted passages (no language model configured)"
RESTRICTED_NOTE = (
    "This answer uses pages not everyone can read; it is shown only to you. "
    "Think twice before sharing it."
)
INTERNAL_ERROR = "Something went wrong on my side, sorry. The error is logged; please try again."
BUSY = (
    "I'm busy answering other questions right now, so I couldn't take yours. "
    "Please try again shortly."
)


def split_messages(blocks: Sequence[Block], limit: int = MAX_BLOCKS) -> list[list[Block]]:
    """Blocks grouped into messages of at most ``limit`` blocks each."""
    return [list(blocks[i : i + limit]) for i in range(0, len(blocks), limit)] or [[]]


# --- blocks ----------------------------------------------------------------------------------


def section(mrkdwn: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn or " "}}


def context(*mrkdwn: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": t} for t in mrkdwn[:10]]}


def text_blocks(markdown: str, citations: Mapping[int, str] | None = None) -> list[Block]:
    """An answer's Markdown as mrkdwn sections within the 3,000-character limit."""
    return [section(piece) for piece in split_text(to_mrkdwn(markdown, citations))]


def updated_ago(when: datetime | None, now: datetime | None = None) -> str:
    """'updated 3 days ago': how fresh a cited page is, so readers can judge it."""
    if when is None:
        return ""
    now = now or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    days = (now - when).days
    if days <= 0:
        return "updated today"
    if days == 1:
        return "updated yesterday"
    if days < 60:
        return f"updated {days} days ago"
    if days < 730:
        return f"updated {days // 30} months ago"
    return f"updated {days // 365} years ago"


def sources_block(cited: Sequence[tuple[int, Hit]], now: datetime | None = None) -> Block | None:
    """Numbered links to the exact sections used, with their path and age: one line
    per page, its sections named (and linked) when several of them were used."""
    if not cited:
        return None
    pages: dict[tuple[str, str], list[tuple[int, Hit]]] = {}
    for n, hit in cited:
        pages.setdefault((hit.source, hit.doc_id), []).append((n, hit))
    lines = ["*Sources*"]
    for group in pages.values():
        n, hit = group[0]
        numbers = "".join(f"*[{m}]*" for m, _ in group)
        if len(group) == 1:
            details = [escape(hit.section)] if hit.section and hit.section != hit.title else []
            line = f"{numbers} {link(hit.link, hit.title or hit.link)}"
        else:
            details = [
                link(h.link, h.heading_path[-1] if h.heading_path else h.title) for _, h in group
            ]
            line = f"{numbers} {link(hit.url, hit.title or hit.url)}"
        age = updated_ago(hit.updated_at, now)
        if age:
            details.append(age)
        if hit.restricted:
            details.insert(0, "🔒 restricted")
        if details:
            line += " · " + " · ".join(details)
        lines.append(truncate(line, 600))
    return section(truncate("\n".join(lines), MAX_SECTION_CHARS))


def feedback_block(answer_id: str) -> Block:
    """👍/👎 buttons; the value is the answer id the click is recorded against."""
    return {
        "type": "actions",
        "block_id": FEEDBACK_BLOCK_ID,
        "elements": [
            {
                "type": "button",
                "action_id": FEEDBACK_UP,
                "text": {"type": "plain_text", "text": "👍 Helpful", "emoji": True},
                "value": answer_id,
            },
            {
                "type": "button",
                "action_id": FEEDBACK_DOWN,
                "text": {"type": "plain_text", "text": "👎 Not helpful", "emoji": True},
                "value": answer_id,
            },
        ],
    }


def footer_blocks(
    *,
    mode: str,
    abstained: bool,
    cited: Sequence[tuple[int, Hit]],
    answer_id: str | None,
    now: datetime | None = None,
) -> list[Block]:
    """What follows an answer's text: the extractive note, sources, feedback buttons."""
    blocks: list[Block] = []
    if mode == "extractive" and not abstained:
        blocks.append(context(f"_{EXTRACTIVE_NOTE}_"))
    if not abstained and (sources := sources_block(cited, now)) is not None:
        blocks.append(sources)
        if any(hit.restricted for _, hit in cited):
            blocks.append(context(f"🔒 {RESTRICTED_NOTE}"))
    if answer_id:
        blocks.append(feedback_block(answer_id))
    return blocks


def citation_links(cited: Sequence[tuple[int, Hit]]) -> dict[int, str]:
    return {n: hit.link for n, hit in cited}


def question_block(question: str, user: str | None) -> Block:
    """The asker's question, shown above a ``/ask`` answer posted in the channel."""
    who = f"<@{user}> asked" if user else "Question"
    return section(truncate(f"*{who}:* {escape(question)}", MAX_SECTION_CHARS))


def placeholder_blocks(header: Sequence[Block] = ()) -> list[Block]:
    return [*header, context(f":mag: {PLACEHOLDER}")]


def error_blocks(message: str, header: Sequence[Block] = ()) -> list[Block]:
    return [*header, section(f":warning: {escape(message)}")]


def usage_text(command: str = "/ask") -> str:
    """Help for ``/ask`` (ephemeral) and for an empty mention or DM."""
    return (
        f"*Ask the docs:* `{command} How do I connect to the VPN?`\n"
        "• I search the company docs and answer with links to the exact pages I used.\n"
        "• Mention me in a channel, DM me, or keep asking in my thread — "
        "no new mention needed.\n"
        "• 👍 / 👎 under an answer tells the doc owners what is missing."
    )


def suggested_prompts(titles: Sequence[str]) -> list[dict[str, str]]:
    """Prompts for a new assistant thread, from page titles (at most 4, Slack's limit).
    A title is a document's text, and a prompt is posted as the user's message: defused."""
    safe = [defuse_markdown(t) for t in titles[:3] if t]
    prompts = [
        {"title": truncate(f"About {t}", 75), "message": f"What do the docs say about {t}?"}
        for t in safe
    ]
    prompts.append({"title": "What can you do?", "message": "help"})
    return prompts[:4]


def error_message(exc: BaseException) -> str:
    """One short sentence saying what went wrong and what to do, for any failure."""
    if isinstance(exc, LLMRateLimited):
        return (
            "The language model is rate-limiting me right now, so I couldn't write an answer. "
            "Please try again in a minute."
        )
    if isinstance(exc, LLMTimeout):
        return (
            f"The language model did not answer within {exc.seconds:g} seconds, so I stopped "
            "waiting. Please try again in a few minutes."
        )
    if isinstance(exc, LLMUnavailable):
        return (
            "I can't reach the language model right now, so I couldn't write an answer. "
            "Please try again in a few minutes."
        )
    if isinstance(exc, LLMError):
        return f"The language model failed: {exc}"
    if isinstance(exc, InputError):
        return f"I can't answer that: {exc}"
    if isinstance(exc, DocbotError):
        return str(exc)
    return INTERNAL_ERROR


def feedback_thanks(vote: str) -> str:
    if vote == "up":
        return "Thanks — glad it helped. Your 👍 is recorded."
    return "Thanks — your 👎 is recorded, so the doc owners can see what is missing."
