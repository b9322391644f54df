"""Slack data for tests: request payloads, signing, message limits, Web API response shapes.

Why this module exists: the core Slack tests must pass in a plain clone, which has no
``../shared/data``; so the shapes a handler sees (event envelopes, slash-command form
bodies, ``block_actions`` payloads, Socket Mode envelopes) are built here from a few
arguments, modelled field for field on the real captures in ``shared/data/slack``.
Tests that want the real captures use :class:`SlackFixtures` (via the ``slack_data``
fixture), which skips when the folder is missing.

It also holds what the fake server (slack_server.py) knows about Slack's data: the
message limits it enforces (usable alone: ``assert block_errors(blocks) == []`` in a
rendering test) and the shapes of ``auth.test``, a posted message, ``users.info`` and
``conversations.info``.

Everything here is pure: no sockets, no Slack SDK.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

# The identities the fake workspace uses everywhere, so a test can write
# ``f"<@{BOT_USER_ID}> question"`` and the fake's ``auth.test`` agrees.
TEAM_ID = "T0TEAM"
TEAM_DOMAIN = "docbot-test"
TEAM_NAME = "Docbot Test"
APP_ID = "A0APP"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
BOT_NAME = "docbot"
USER_ID = "U0USER"
CHANNEL_ID = "C0CHAN"
DM_CHANNEL_ID = "D0DM"
VERIFICATION_TOKEN = "verification-token"

# Where a payload's ``response_url`` points unless a test routes it to the fake
# (``FakeSlack.response_url()``): a closed local port, so a forgotten route fails at
# once instead of reaching for the real Slack.
UNROUTED_RESPONSE_URL = "http://127.0.0.1:9/hooks/unrouted"

_ts_lock = threading.Lock()
_last_ts_us = 0


def new_ts() -> str:
    """A fresh Slack-style ``"seconds.micro"`` timestamp, strictly increasing within this process.

    Slack ``ts`` values are message ids and sort in time order. Events built by a test
    and messages "posted" by the fake share this one clock, so a bot reply always sorts
    after the question that caused it, even within one microsecond.
    """
    global _last_ts_us
    with _ts_lock:
        _last_ts_us = max(time.time_ns() // 1000, _last_ts_us + 1)
        us = _last_ts_us
    return f"{us // 1_000_000}.{us % 1_000_000:06d}"


# -- request signing (HTTP mode) ---------------------------------------------------


def sign(signing_secret: str, body: bytes | str, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack sends with ``body``: request timestamp and ``v0=`` signature.

    The signature covers ``v0:<timestamp>:<raw body>`` exactly as sent, which is why
    this takes the raw bytes (a form-encoded body for slash commands and actions), not
    a dict. ``timestamp`` defaults to now, so Bolt's 5-minute replay window accepts it.
    """
    raw = body.encode("utf-8") if isinstance(body, str) else body
    ts = int(time.time()) if timestamp is None else timestamp
    basestring = b"v0:" + str(ts).encode("ascii") + b":" + raw
    digest = hmac.new(signing_secret.encode("utf-8"), basestring, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": f"v0={digest}"}


# -- Events API --------------------------------------------------------------------


def event_callback(
    event: dict[str, Any], *, team_id: str = TEAM_ID, event_id: str | None = None
) -> dict[str, Any]:
    """Wrap an inner ``event`` in the ``event_callback`` body Slack POSTs (or puts in an envelope).

    ``event_id`` is what apps dedupe retries on, so each call gets a new one unless given.
    """
    ts = str(event.get("event_ts") or event.get("ts") or new_ts())
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(float(ts)),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{event.get('type')}-{team_id}-{event.get('channel', CHANNEL_ID)}",
    }


def _user_message(
    event_type: str,
    text: str,
    *,
    user: str,
    channel: str,
    channel_type: str | None,
    ts: str | None,
    thread_ts: str | None,
    parent_user_id: str | None,
) -> dict[str, Any]:
    """The inner event of a human's message, shared by ``app_mention`` and ``message``."""
    ts = ts or new_ts()
    event: dict[str, Any] = {
        "client_msg_id": str(uuid.uuid4()),
        "type": event_type,
        "text": text,
        "user": user,
        "ts": ts,
        "team": TEAM_ID,
        "channel": channel,
        "event_ts": ts,
    }
    if channel_type is not None:
        event["channel_type"] = channel_type
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
        if thread_ts != ts:
            event["parent_user_id"] = parent_user_id or user
    return event


def app_mention(
    text: str = f"<@{BOT_USER_ID}> How do I deploy?",
    *,
    user: str = USER_ID,
    channel: str = CHANNEL_ID,
    ts: str | None = None,
    thread_ts: str | None = None,
    parent_user_id: str | None = None,
) -> dict[str, Any]:
    """An ``app_mention`` event body; pass ``thread_ts`` for a mention inside a thread.

    Slack sends no ``channel_type`` on app_mention and never sends one for a DM.
    """
    event = _user_message(
        "app_mention",
        text,
        user=user,
        channel=channel,
        channel_type=None,
        ts=ts,
        thread_ts=thread_ts,
        parent_user_id=parent_user_id,
    )
    return event_callback(event)


def message(
    text: str = "How do I deploy?",
    *,
    user: str = USER_ID,
    channel: str = CHANNEL_ID,
    channel_type: str = "channel",
    ts: str | None = None,
    thread_ts: str | None = None,
    parent_user_id: str | None = None,
) -> dict[str, Any]:
    """A plain user ``message`` event body (``message.channels`` by default)."""
    event = _user_message(
        "message",
        text,
        user=user,
        channel=channel,
        channel_type=channel_type,
        ts=ts,
        thread_ts=thread_ts,
        parent_user_id=parent_user_id,
    )
    return event_callback(event)


def thread_message(
    text: str, *, thread_ts: str, channel: str = CHANNEL_ID, **kwargs: Any
) -> dict[str, Any]:
    """A user's reply inside a channel thread (carries ``thread_ts`` and ``parent_user_id``)."""
    return message(text, channel=channel, thread_ts=thread_ts, **kwargs)


def im_message(
    text: str = "How do I deploy?", *, channel: str = DM_CHANNEL_ID, **kwargs: Any
) -> dict[str, Any]:
    """A ``message.im`` event body: a DM to the bot (``channel_type: im``, ``D…`` channel)."""
    return message(text, channel=channel, channel_type="im", **kwargs)


def bot_message(
    text: str = "Here is the answer.",
    *,
    bot_id: str = BOT_ID,
    user: str = BOT_USER_ID,
    app_id: str = APP_ID,
    channel: str = CHANNEL_ID,
    ts: str | None = None,
    thread_ts: str | None = None,
) -> dict[str, Any]:
    """A modern bot's message event (``bot_id``, ``bot_profile``, no subtype); ours by default.

    The case a Q&A bot must ignore, or it answers itself forever.
    """
    ts = ts or new_ts()
    event: dict[str, Any] = {
        "bot_id": bot_id,
        "type": "message",
        "text": text,
        "user": user,
        "ts": ts,
        "team": TEAM_ID,
        "bot_profile": {
            "id": bot_id,
            "deleted": False,
            "name": BOT_NAME,
            "updated": 1700000000,
            "app_id": app_id,
            "icons": {},
            "team_id": TEAM_ID,
        },
        "channel": channel,
        "event_ts": ts,
        "channel_type": "im" if channel.startswith("D") else "channel",
    }
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
        event["parent_user_id"] = USER_ID
    return event_callback(event)


def message_changed(
    new_text: str,
    *,
    ts: str,
    old_text: str = "",
    user: str = USER_ID,
    channel: str = CHANNEL_ID,
    thread_ts: str | None = None,
) -> dict[str, Any]:
    """A ``message_changed`` event body: an edit of message ``ts`` (the event has its own ts)."""
    inner: dict[str, Any] = {
        "type": "message",
        "user": user,
        "text": new_text,
        "ts": ts,
        "edited": {"user": user},
    }
    previous: dict[str, Any] = {"type": "message", "user": user, "text": old_text, "ts": ts}
    if thread_ts is not None:
        inner["thread_ts"] = previous["thread_ts"] = thread_ts
    event_ts = new_ts()
    event = {
        "type": "message",
        "subtype": "message_changed",
        "message": inner,
        "previous_message": previous,
        "channel": channel,
        "hidden": True,
        "ts": event_ts,
        "event_ts": event_ts,
        "channel_type": "im" if channel.startswith("D") else "channel",
    }
    return event_callback(event)


# -- slash commands and interactivity (form-encoded over HTTP) ----------------------


def slash_command(
    text: str = "How do I deploy?",
    *,
    command: str = "/ask",
    user: str = USER_ID,
    channel: str = CHANNEL_ID,
    response_url: str = UNROUTED_RESPONSE_URL,
) -> dict[str, str]:
    """The fields of a slash-command request, as Slack sends them (all strings).

    Over HTTP they are form-encoded (:func:`form_body`); in Socket Mode they are the
    envelope ``payload`` as-is. Point ``response_url`` at ``FakeSlack.response_url()``
    so ``respond()`` lands in the fake.
    """
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": TEAM_ID,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel,
        "channel_name": "general",
        "user_id": user,
        "user_name": "tester",
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": f"{int(time.time())}.1.{uuid.uuid4().hex[:12]}",
    }


def form_body(fields: dict[str, str]) -> str:
    """Form-encode a slash command the way Slack does (``/`` in ``command`` becomes ``%2F``)."""
    return urlencode(fields)


def block_actions(
    action_id: str,
    value: str = "",
    *,
    block_id: str = "b",
    user: str = USER_ID,
    channel: str = CHANNEL_ID,
    message_ts: str | None = None,
    thread_ts: str | None = None,
    response_url: str = UNROUTED_RESPONSE_URL,
) -> dict[str, Any]:
    """A ``block_actions`` payload for a button click on a (bot) message in ``channel``."""
    message_ts = message_ts or new_ts()
    container: dict[str, Any] = {
        "type": "message",
        "message_ts": message_ts,
        "channel_id": channel,
        "is_ephemeral": False,
    }
    if thread_ts is not None:
        container["thread_ts"] = thread_ts
    msg: dict[str, Any] = {
        "type": "message",
        "user": BOT_USER_ID,
        "bot_id": BOT_ID,
        "ts": message_ts,
        "text": "",
    }
    if thread_ts is not None:
        msg["thread_ts"] = thread_ts
    return {
        "type": "block_actions",
        "user": {"id": user, "username": "tester", "name": "tester", "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": container,
        "trigger_id": f"{int(time.time())}.1.{uuid.uuid4().hex[:12]}",
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "channel": {"id": channel, "name": "general"},
        "message": msg,
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": "Button", "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": new_ts(),
            }
        ],
    }


def interactive_body(payload: dict[str, Any]) -> str:
    """Form-encode an interactivity payload: one ``payload`` field holding JSON, as Slack does."""
    return urlencode({"payload": json.dumps(payload)})


# -- Socket Mode ---------------------------------------------------------------------


def socket_envelope(
    payload: dict[str, Any],
    envelope_type: str = "events_api",
    *,
    envelope_id: str | None = None,
    retry_attempt: int = 0,
    retry_reason: str = "",
) -> dict[str, Any]:
    """Wrap an HTTP-mode body in a Socket Mode envelope of ``envelope_type``.

    Slash commands and interactive payloads accept a response payload in the ack; the
    Events API does not, and only it carries ``retry_attempt``/``retry_reason``.
    """
    envelope: dict[str, Any] = {
        "envelope_id": envelope_id or str(uuid.uuid4()),
        "payload": payload,
        "type": envelope_type,
        "accepts_response_payload": envelope_type != "events_api",
    }
    if envelope_type == "events_api":
        envelope["retry_attempt"] = retry_attempt
        envelope["retry_reason"] = retry_reason
    return envelope


# -- shared fixture files ---------------------------------------------------------------


class SlackFixtures:
    """Reads the real captures under ``shared/data/slack`` (see its SOURCES.md for provenance).

    Kept separate from the builders above because these files are not in a clone; the
    ``slack_data`` pytest fixture hands out an instance or skips.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, relative: str) -> Path:
        """The file's path; a missing file is a test bug, so it raises rather than skips."""
        path = self.root / relative
        if not path.is_file():
            raise FileNotFoundError(f"no Slack fixture {relative!r} under {self.root}")
        return path

    def json(self, relative: str) -> Any:
        """A JSON fixture, e.g. ``"events_api/app_mention__no_thread__bolt.json"``."""
        return json.loads(self.path(relative).read_text(encoding="utf-8"))

    def text(self, relative: str) -> str:
        """A raw text fixture, e.g. a form-encoded slash-command body, byte for byte."""
        return self.path(relative).read_text(encoding="utf-8").rstrip("\n")

    def names(self, folder: str) -> list[str]:
        """Fixture paths in ``folder`` (``events_api``, ``socket_mode``, ``web_api``, …), sorted."""
        return sorted(f"{folder}/{p.name}" for p in (self.root / folder).iterdir() if p.is_file())


# -- Slack's message limits --------------------------------------------------------------
#
# The fake Web API enforces these so a renderer that builds an oversized message fails in
# tests the way it would fail in Slack. They are plain functions so a rendering unit test
# can check a message without a server: ``assert block_errors(blocks) == []``.

MAX_TEXT_CHARS = 40_000  # chat.postMessage/chat.update `text` -> msg_too_long
MAX_MESSAGE_BLOCKS = 50  # per message; views (home, modal) allow 100
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3_000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2_000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_BLOCK_ID = 255
MAX_MARKDOWN_BLOCK_TEXT = 12_000  # the `markdown` block; also each streamed markdown_text
MAX_ATTACHMENTS = 100

BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "context_actions",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
        "call",
        "plan",
        "task_card",
    }
)


def _too_long(limit: int, pointer: str) -> str:
    return f"[ERROR] must be less than {limit + 1} characters [json-pointer:{pointer}]"


def _too_many(limit: int, pointer: str) -> str:
    return f"[ERROR] no more than {limit} items allowed [json-pointer:{pointer}]"


def _text_of(obj: Any) -> str:
    return str(obj.get("text", "")) if isinstance(obj, dict) else ""


def block_errors(blocks: Any, *, max_blocks: int = MAX_MESSAGE_BLOCKS) -> list[str]:
    """Slack's ``invalid_blocks`` messages for ``blocks`` (empty when Slack would accept them).

    Messages mimic Slack's ``response_metadata.messages`` (``[ERROR] … [json-pointer:…]``)
    so a failing test points at the offending block.
    """
    if not isinstance(blocks, list):
        return ["[ERROR] must provide an array [json-pointer:/blocks]"]
    errors: list[str] = []
    if len(blocks) > max_blocks:
        errors.append(_too_many(max_blocks, "/blocks"))
    seen_ids: set[str] = set()
    for i, block in enumerate(blocks):
        at = f"/blocks/{i}"
        if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
            kind = block.get("type") if isinstance(block, dict) else type(block).__name__
            errors.append(f"[ERROR] unsupported type: {kind} [json-pointer:{at}/type]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if len(str(block_id)) > MAX_BLOCK_ID:
                errors.append(_too_long(MAX_BLOCK_ID, f"{at}/block_id"))
            if block_id in seen_ids:
                errors.append(
                    f"[ERROR] duplicate block_id: {block_id} [json-pointer:{at}/block_id]"
                )
            seen_ids.add(str(block_id))
        errors.extend(_one_block_errors(block, at))
    return errors


def _one_block_errors(block: dict[str, Any], at: str) -> list[str]:
    """The per-type limits a docs bot can plausibly hit."""
    kind = block["type"]
    errors: list[str] = []
    if kind == "section":
        fields = block.get("fields") or []
        if "text" not in block and not fields:
            errors.append(f"[ERROR] must provide text or fields [json-pointer:{at}]")
        if len(_text_of(block.get("text"))) > MAX_SECTION_TEXT:
            errors.append(_too_long(MAX_SECTION_TEXT, f"{at}/text/text"))
        if len(fields) > MAX_SECTION_FIELDS:
            errors.append(_too_many(MAX_SECTION_FIELDS, f"{at}/fields"))
        for j, field in enumerate(fields):
            if len(_text_of(field)) > MAX_FIELD_TEXT:
                errors.append(_too_long(MAX_FIELD_TEXT, f"{at}/fields/{j}/text"))
    elif kind == "header" and len(_text_of(block.get("text"))) > MAX_HEADER_TEXT:
        errors.append(_too_long(MAX_HEADER_TEXT, f"{at}/text/text"))
    elif kind == "context" and len(block.get("elements") or []) > MAX_CONTEXT_ELEMENTS:
        errors.append(_too_many(MAX_CONTEXT_ELEMENTS, f"{at}/elements"))
    elif kind == "actions" and len(block.get("elements") or []) > MAX_ACTIONS_ELEMENTS:
        errors.append(_too_many(MAX_ACTIONS_ELEMENTS, f"{at}/elements"))
    elif kind == "markdown" and len(str(block.get("text", ""))) > MAX_MARKDOWN_BLOCK_TEXT:
        errors.append(_too_long(MAX_MARKDOWN_BLOCK_TEXT, f"{at}/text"))
    return errors


def message_error(params: dict[str, Any], *, require_text: bool = True) -> dict[str, Any] | None:
    """The ``ok: false`` body Slack returns for this message's content, or None when it is fine.

    ``params`` are a chat.postMessage/chat.update/chat.postEphemeral call's arguments,
    with ``blocks``/``attachments`` already JSON-decoded.
    """
    text = params.get("text")
    blocks = params.get("blocks")
    attachments = params.get("attachments")
    markdown_text = params.get("markdown_text")
    if require_text and not (text or blocks or attachments or markdown_text):
        return {"ok": False, "error": "no_text"}
    if text is not None and len(str(text)) > MAX_TEXT_CHARS:
        return {"ok": False, "error": "msg_too_long"}
    if markdown_text is not None and len(str(markdown_text)) > MAX_MARKDOWN_BLOCK_TEXT:
        return {"ok": False, "error": "msg_too_long"}
    if isinstance(attachments, list) and len(attachments) > MAX_ATTACHMENTS:
        return {"ok": False, "error": "too_many_attachments"}
    if blocks is not None:
        errors = block_errors(blocks)
        if errors:
            return {
                "ok": False,
                "error": "invalid_blocks",
                "errors": errors,
                "response_metadata": {"messages": errors},
            }
    return None


# -- Web API response shapes (modelled on shared/data/slack/web_api) ------------------------


def auth_test_response() -> dict[str, Any]:
    """``auth.test`` for our bot token (same fields as ``auth.test__success_with_bot_token``)."""
    return {
        "ok": True,
        "url": f"https://{TEAM_DOMAIN}.slack.com/",
        "team": TEAM_NAME,
        "user": BOT_NAME,
        "team_id": TEAM_ID,
        "user_id": BOT_USER_ID,
        "bot_id": BOT_ID,
        "is_enterprise_install": False,
    }


def posted_message(ts: str, params: dict[str, Any]) -> dict[str, Any]:
    """A message as Slack stores and returns one posted with our bot token.

    Modern bot posts carry ``user`` (the bot user), ``bot_id``, ``app_id`` and
    ``bot_profile`` and no ``bot_message`` subtype, which is what ignore-self logic sees.
    """
    msg: dict[str, Any] = {
        "type": "message",
        "user": BOT_USER_ID,
        "bot_id": BOT_ID,
        "app_id": APP_ID,
        "text": str(params.get("text") or params.get("markdown_text") or ""),
        "ts": ts,
        "team": TEAM_ID,
        "bot_profile": {
            "id": BOT_ID,
            "app_id": APP_ID,
            "name": BOT_NAME,
            "deleted": False,
            "updated": 1700000000,
            "team_id": TEAM_ID,
            "icons": {},
        },
    }
    for key in ("blocks", "attachments", "metadata"):
        if params.get(key) is not None:
            msg[key] = params[key]
    return msg


def dm_channel_for(channel: str) -> str:
    """Posting to a user id posts into the app's DM with them: a ``D…`` channel."""
    if channel[:1] in ("U", "W"):
        return "D" + channel[1:]
    return channel


def channel_info(channel_id: str) -> dict[str, Any]:
    """conversations.info for an unconfigured channel: public ``C…``, private ``G…``, DM ``D…``."""
    if channel_id[:1] not in ("C", "G", "D") or not channel_id[1:].isalnum():
        return {}
    base: dict[str, Any] = {
        "id": channel_id,
        "created": 1700000000,
        "is_org_shared": False,
        "context_team_id": TEAM_ID,
    }
    if channel_id.startswith("D"):
        return {**base, "is_im": True, "user": USER_ID, "is_open": True, "is_user_deleted": False}
    name = f"channel-{channel_id.lower()}"
    return {
        **base,
        "name": name,
        "name_normalized": name,
        "is_channel": channel_id.startswith("C"),
        "is_group": False,
        "is_im": False,
        "is_mpim": False,
        "is_private": channel_id.startswith("G"),
        "is_archived": False,
        "is_general": False,
        "is_shared": False,
        "is_ext_shared": False,
        "is_member": True,
        "creator": USER_ID,
        "topic": {"value": "", "creator": "", "last_set": 0},
        "purpose": {"value": "", "creator": "", "last_set": 0},
    }


def user_info(user_id: str) -> dict[str, Any]:
    """users.info for a user nobody configured; our bot user is a bot."""
    if user_id[:1] not in ("U", "W") or not user_id[1:].isalnum():
        return {}
    is_bot = user_id == BOT_USER_ID
    name = BOT_NAME if is_bot else user_id.lower()
    real_name = "Docbot" if is_bot else f"Test User {user_id}"
    profile: dict[str, Any] = {
        "real_name": real_name,
        "display_name": name,
        "real_name_normalized": real_name,
        "display_name_normalized": name,
        "team": TEAM_ID,
    }
    if is_bot:
        profile["bot_id"] = BOT_ID
    else:
        profile["email"] = f"{name}@example.com"
    return {
        "id": user_id,
        "team_id": TEAM_ID,
        "name": name,
        "deleted": False,
        "real_name": real_name,
        "tz": "Europe/London",
        "tz_label": "Greenwich Mean Time",
        "tz_offset": 0,
        "profile": profile,
        "is_admin": False,
        "is_owner": False,
        "is_bot": is_bot,
        "is_app_user": False,
        "updated": 1700000000,
    }


def envelope_type_for(payload: dict[str, Any]) -> str:
    """Socket Mode envelope type for a bare payload, from the payload's own shape."""
    if payload.get("type") in ("event_callback", "url_verification"):
        return "events_api"
    if "command" in payload:
        return "slash_commands"
    return "interactive"
