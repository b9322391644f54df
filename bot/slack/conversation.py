"""Slack-free decisions about messages: which to answer, what the question is, and
what the thread so far says.

Kept apart from the Bolt handlers so every rule (ignore bots and edits, follow-ups in
docbot's threads, history from ``conversations.replies``) is a plain function of the
event dict, tested without a server, and reused by every surface the same way.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.llm import Message

# Human-authored message subtypes that still carry a question: a thread reply also
# sent to the channel, and a message with a file attached. Every other subtype
# (edits, deletions, joins, bot_message, ...) is never answered.
HUMAN_SUBTYPES = frozenset({"thread_broadcast", "file_share"})
MAX_HISTORY_MESSAGES = 20
HELP_WORDS = frozenset({"help", "?", "/help", "usage"})

_USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_CHANNEL = re.compile(r"<#([CG][A-Z0-9]+)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>")
_SUBTEAM = re.compile(r"<!subteam\^[A-Z0-9]+(?:\|([^>]*))?>")
_DATE = re.compile(r"<!date\^[^|>]*\|([^>]*)>")
_LINK = re.compile(r"<((?:https?|mailto|tel):[^|>]+)(?:\|([^>]*))?>")


@dataclass(frozen=True)
class BotIdentity:
    """Who docbot is in this workspace (from ``auth.test``), to recognise its own posts."""

    user_id: str | None
    bot_id: str | None = None


def clean_text(text: str, bot_user_id: str | None = None) -> str:
    """Slack markup → the plain question: our mention removed, other mentions kept as
    ``@user``, ``<url|text>`` → text, ``<#C…|name>`` → #name, entities unescaped."""
    text = text or ""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>\s*,?:?", " ", text)
    text = _USER_MENTION.sub(lambda m: f"@{m.group(1)}", text)
    text = _CHANNEL.sub(lambda m: f"#{m.group(2) or m.group(1)}", text)
    text = _SPECIAL.sub(lambda m: f"@{m.group(1)}", text)
    text = _SUBTEAM.sub(lambda m: m.group(1) or "@group", text)
    text = _DATE.sub(lambda m: m.group(1), text)
    text = _LINK.sub(lambda m: m.group(2) or m.group(1).removeprefix("mailto:"), text)
    text = html.unescape(text)
    return " ".join(text.split())


def is_from_bot(message: Mapping[str, Any]) -> bool:
    """Any bot or app (including docbot): modern bot posts carry ``bot_id``/``bot_profile``
    and no subtype; classic ones have ``subtype: bot_message``."""
    subtype = message.get("subtype")
    return bool(message.get("bot_id") or message.get("bot_profile") or subtype == "bot_message")


def is_ours(message: Mapping[str, Any], me: BotIdentity) -> bool:
    return bool(
        (me.user_id and message.get("user") == me.user_id)
        or (me.bot_id and message.get("bot_id") == me.bot_id)
    )


def ignore_reason(event: Mapping[str, Any], me: BotIdentity) -> str | None:
    """Why a message or mention must not be answered, or None when it may be."""
    subtype = event.get("subtype")
    if subtype and subtype not in HUMAN_SUBTYPES:
        return f"subtype {subtype}"
    if is_ours(event, me):
        return "our own message"
    if is_from_bot(event):
        return "a bot's message"
    if not event.get("user"):
        return "no user"
    if event.get("hidden"):
        return "hidden message"
    return None


def mentions(text: str, user_id: str | None) -> bool:
    return bool(user_id) and f"<@{user_id}" in (text or "")


def mentions_someone_else(text: str, me: BotIdentity) -> bool:
    """A reply in docbot's thread addressed to a colleague is not a question for docbot."""
    return any(m != me.user_id for m in _USER_MENTION.findall(text or ""))


def is_dm(event: Mapping[str, Any]) -> bool:
    return event.get("channel_type") == "im" or str(event.get("channel", "")).startswith("D")


def is_thread_reply(event: Mapping[str, Any]) -> bool:
    thread_ts = event.get("thread_ts")
    return bool(thread_ts) and thread_ts != event.get("ts")


def reply_thread(event: Mapping[str, Any]) -> str:
    """Where docbot answers: the event's thread, or a new thread under the message."""
    return str(event.get("thread_ts") or event["ts"])


def is_help(question: str) -> bool:
    return question.strip().lower() in HELP_WORDS or not question.strip()


def _ts_key(ts: Any) -> tuple[int, int]:
    whole, _, frac = str(ts or "0").partition(".")
    return int(whole or 0), int((frac or "0").ljust(6, "0")[:6])


def thread_has_bot(messages: Iterable[Mapping[str, Any]], me: BotIdentity) -> bool:
    """Has docbot posted in this thread? (the fallback when the store does not know)."""
    return any(is_ours(m, me) for m in messages)


def history_from_replies(
    messages: Iterable[Mapping[str, Any]],
    me: BotIdentity,
    *,
    before_ts: str | None,
    skip_texts: Iterable[str] = (),
) -> list[Message]:
    """The thread before ``before_ts`` as chat history: docbot's posts are the
    assistant's turns, people's messages the user's; other bots, edits-in-progress
    and progress placeholders are left out."""
    skipped = {s.strip() for s in skip_texts}
    history: list[Message] = []
    for m in messages:
        if before_ts is not None and _ts_key(m.get("ts")) >= _ts_key(before_ts):
            continue
        text = str(m.get("text") or "")
        if is_ours(m, me):
            content = text.strip()
            if not content or content in skipped or content.startswith(":warning:"):
                continue
            history.append({"role": "assistant", "content": content})
        elif not is_from_bot(m) and (not m.get("subtype") or m["subtype"] in HUMAN_SUBTYPES):
            content = clean_text(text, me.user_id)
            if content:
                history.append({"role": "user", "content": content})
    return history[-MAX_HISTORY_MESSAGES:]
