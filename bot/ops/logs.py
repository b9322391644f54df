"""Logging: JSON lines or text, and no secret ever written out.

``DOCBOT_LOG_FORMAT=json`` (the default under ``docbot serve``) writes one JSON object
per line: ``ts``, ``level``, ``logger``, ``message``, then whatever the call passed in
``extra`` (the request and sync fields of :mod:`bot.ops.observe`), then ``exc`` for a
traceback. ``text`` is the classic one-line format for people at a terminal.

Secrets are removed by one :class:`RedactingFilter` (``REDACTION``) put on *every*
handler, ours and third-party ones (slack_bolt, slack_sdk, httpx, openai,
apscheduler, uvicorn all log through the root logger's handlers or their own), and
the JSON formatter redacts its finished line once more, for secrets nested in
``extra``. It removes Slack tokens (``xox[abposr]-…``, ``xapp-…``), ``sk-…`` keys,
bearer tokens, ``Authorization`` headers, ``password=``/``token=``-style pairs,
passwords in URLs, and the literal values of the configured secrets (so a secret
that matches no pattern is still caught). A handler filter rather than a logger
filter because logger filters do not see records propagated from child loggers.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

from ingest.settings import Settings

REDACTED = "[REDACTED]"
MIN_SECRET_CHARS = 6  # shorter configured values are not replaced literally (too common)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_SECRET_KEYS = (
    r"password|passwd|pwd|secret|client_secret|signing_secret|api[_-]?key|apikey"
    r"|access[_-]?token|refresh[_-]?token|token"
)
PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Authorization: Bearer x / 'Authorization': 'Basic x' / authorization=x
    (
        re.compile(r"(?i)(\bauthorization['\"]?\s*[:=]\s*['\"]?)(?:[a-z]+\s+)?[^\s'\",;}]+"),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"), f"Bearer {REDACTED}"),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]+"), REDACTED),
    (re.compile(r"\bxapp-[A-Za-z0-9-]+"), REDACTED),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{3,}"), REDACTED),
    # scheme://user:password@host
    (re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@'\"]+:)[^@\s/'\"]+@"), rf"\1{REDACTED}@"),
    # password=..., "token": "...", api_key: ...
    (
        re.compile(rf"(?i)(\b(?:{_SECRET_KEYS})['\"]?\s*[:=]\s*['\"]?)[^\s'\",&;}}]+"),
        rf"\1{REDACTED}",
    ),
]

_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def record_extras(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a call passed in ``extra=``."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}


class RedactingFilter(logging.Filter):
    """Rewrites each record so that no secret survives into any handler's output."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._literals: set[str] = set()
        self._literal_re: re.Pattern[str] | None = None
        self._exc_formatter = logging.Formatter()

    def add_secrets(self, values: Iterable[str | None]) -> None:
        """Also replace these exact values wherever they appear."""
        with self._lock:
            self._literals |= {v for v in values if v and len(v) >= MIN_SECRET_CHARS}
            ordered = sorted(self._literals, key=len, reverse=True)
            self._literal_re = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def redact(self, text: str) -> str:
        literal_re = self._literal_re
        if literal_re is not None:
            text = literal_re.sub(REDACTED, text)
        for pattern, replacement in PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what there is, redacted
            message = f"{record.msg} {record.args}"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._exc_formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for key, value in record_extras(record).items():
            if isinstance(value, str):
                setattr(record, key, self.redact(value))
        return True


REDACTION = RedactingFilter()
"""The process's one redaction filter: secrets from every configured app add up."""


class JsonFormatter(logging.Formatter):
    """One JSON object per line (see the module docstring for the keys)."""

    def __init__(self, redaction: RedactingFilter = REDACTION) -> None:
        super().__init__()
        self.redaction = redaction

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record_extras(record).items():
            data.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            data["exc"] = record.exc_text
        if record.stack_info:
            data["stack"] = record.stack_info
        return self.redaction.redact(json.dumps(data, default=str, ensure_ascii=False))


def secret_values(settings: Settings) -> list[str]:
    """The configured secrets, and the Basic credentials built from them."""
    values = [
        settings.slack_bot_token, settings.slack_app_token, settings.slack_signing_secret,
        settings.openai_api_key, settings.confluence_api_token, settings.confluence_token,
        settings.api_token,
    ]  # fmt: skip
    if settings.confluence_email and settings.confluence_api_token:
        pair = f"{settings.confluence_email}:{settings.confluence_api_token}"
        values.append(base64.b64encode(pair.encode()).decode())
    return [v for v in values if v]


def make_handler(fmt: str = "text", stream: IO[str] | None = None) -> logging.Handler:
    """A stream handler (stderr by default) in ``fmt``, with redaction on."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(REDACTION)
    handler._docbot = True  # type: ignore[attr-defined]  # ours, replaced on reconfiguring
    return handler


def protect_handlers() -> int:
    """Put the redaction filter on every handler of every logger that exists now;
    returns how many handlers were newly covered. Safe to call again."""
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    added = 0
    for lg in loggers:
        for handler in lg.handlers:
            if REDACTION not in handler.filters:
                handler.addFilter(REDACTION)
                added += 1
    return added


def configure_logging(
    settings: Settings,
    *,
    default_format: str = "text",
    debug: bool = False,
    stream: IO[str] | None = None,
) -> logging.Handler | None:
    """Set up logging for a docbot process; returns the handler it installed.

    Like ``logging.basicConfig``, it installs a handler only when the root logger has
    none of someone else's (a test harness or a host application keeps its own), but
    the redaction filter goes on every handler either way.
    """
    REDACTION.add_secrets(secret_values(settings))
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_docbot", False)]:
        root.removeHandler(handler)
    installed = None
    if not root.handlers:
        installed = make_handler(settings.log_format or default_format, stream)
        root.addHandler(installed)
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    protect_handlers()
    return installed
