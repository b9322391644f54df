"""Untrusted text made inert for Slack: nothing a document or the model writes may
mention, notify or mislead anyone.

Slack turns ``<!channel>``, ``<!here>``, ``<!everyone>``, ``<!subteam^S…>``,
``<@U…>``, ``<@W…>``, ``<#C…>`` into live mentions and ``<url|label>`` into a link
whose label hides its target. Two kinds of text reach Slack:

- **mrkdwn** (blocks, fallback ``text``, ``chat.update``, ``respond()``, ephemeral):
  :func:`bot.slack.mrkdwn.escape` turns ``&``, ``<``, ``>`` into entities, so every
  ``<`` a document wrote is shown, never parsed; links docbot builds itself go through
  :func:`bot.slack.mrkdwn.link`, which accepts only :func:`is_web_link` targets.
- **Markdown** that Slack renders itself (``markdown_text`` of the streaming API):
  entities cannot be relied on there, so :func:`defuse_markdown` breaks each mention
  with a zero-width space (``<!channel>`` becomes ``<\\u200b!channel>``, which looks the
  same and is plain text), spells a labelled link out (``<url|label>`` becomes
  ``label (url)``), breaks entities that would decode to ``<``, and drops the target of
  any Markdown link that is not http(s) or mailto (``[x](!channel)`` becomes ``x``).
  Streamed text arrives in arbitrary pieces, so :class:`MarkdownGuard` holds back a
  tail that could still complete such a sequence (a trailing ``<…``, ``&…``, ``[…``,
  ``]`` or ``](…``) until the next piece decides it.

Not covered: reference-style link definitions (``[x]: target``), which Slack's
Markdown does not document; bare words such as ``@here`` are not mentions unless a
message is posted with ``link_names``, which docbot never sets.
"""

from __future__ import annotations

import re

ZWSP = "\u200b"
HOLD_CHARS = 300  # the longest tail held back while streaming (one link target, say)

_WEB_LINK = re.compile(r"(?i)^(?:https?://[^\s/?#]|mailto:[^\s])")
# `<` that starts a mention or broadcast (a sigil: !, @, #), or what is left of a link
_CONTROL = re.compile(r"<(?=[!@#]|[^<>\s|]*\|)")
# a labelled link `<target|label>`, whose label would hide where it goes
_LABELLED = re.compile(r"<([^<>|\n]*)\|([^>\n]*)>")
# entities that decode to `<` (`&lt;`, `&#60;`, `&#x3c;`, with or without leading zeros)
_LT_ENTITY = re.compile(r"(?i)&(?=(?:lt|#0*60|#x0*3c);)")
# a link target: <...>, or a destination with at most one level of balanced parentheses
_DEST = r"(<[^<>\n]*>|(?:[^()\s]|\([^()\s]*\))*)(?:\s+[^)\n]*)?\)"
# a Markdown link or image whose label holds no brackets: `[label](target "title")`
_SIMPLE_LINK = re.compile(r"!?\[([^\[\]\n]*)\]\(\s*" + _DEST)
# the target part of any other link, e.g. after a label with nested brackets
_LINK_TARGET = re.compile(r"\]\(\s*" + _DEST)
# an unfinished `(target`: balanced inner parentheses, maybe one still open
_OPEN_DEST = r"(?:\((?:[^()\n]|\([^()\n]*\))*(?:\([^()\n]*)?)?"
# tails that the next piece of a stream could still turn into something live
_OPEN_TAILS = (
    re.compile(r"<[^>\n]*\Z"),
    re.compile(r"&[#\w]{0,7}\Z"),
    re.compile(r"(?:!|!?\[[^\[\]\n]*(?:\]" + _OPEN_DEST + r")?)\Z"),
    re.compile(r"\]" + _OPEN_DEST + r"\Z"),
)

_INERT = {"<": "<" + ZWSP, "&": "&" + ZWSP, "]": "\\]", "[": "\\[", "!": "!"}


def is_web_link(url: str) -> bool:
    """http(s) with a host, or mailto: the only targets a link may have."""
    return bool(_WEB_LINK.match(url.strip()))


def _target(raw: str) -> str:
    return raw[1:-1] if raw.startswith("<") and raw.endswith(">") else raw


def _simple_link(match: re.Match[str]) -> str:
    if is_web_link(_target(match.group(2))):
        return match.group(0)
    return match.group(1)  # the label alone; an image's alt text


def _other_link(match: re.Match[str]) -> str:
    return match.group(0) if is_web_link(_target(match.group(1))) else "]"


def defuse_markdown(text: str) -> str:
    """Markdown with every mention, labelled link and non-web link target made inert;
    everything else (emphasis, code, web links) is left as written."""
    text = _SIMPLE_LINK.sub(_simple_link, text)
    text = _LINK_TARGET.sub(_other_link, text)
    text = _LABELLED.sub(lambda m: f"{m.group(2)} ({m.group(1)})", text)
    text = _LT_ENTITY.sub("&" + ZWSP, text)
    return _CONTROL.sub("<" + ZWSP, text)


class MarkdownGuard:
    """:func:`defuse_markdown` for text that arrives in pieces (one per stream).

    :meth:`feed` returns what may be sent now; a tail that the next piece could still
    complete into a mention or link is kept (at most :data:`HOLD_CHARS`, and never past
    a line end) and comes out with a later piece or :meth:`flush`. A tail too long to
    hold is sent with its opening character escaped, so nothing that follows can
    complete it.
    """

    def __init__(self) -> None:
        self._pending = ""

    @property
    def pending(self) -> str:
        return self._pending

    def feed(self, text: str) -> str:
        out: list[str] = []
        buffer = self._pending + text
        while True:
            cut = min((m.start() for t in _OPEN_TAILS if (m := t.search(buffer))), default=None)
            if cut is None or len(buffer) - cut <= HOLD_CHARS:
                end = len(buffer) if cut is None else cut
                self._pending = buffer[end:]
                out.append(defuse_markdown(buffer[:end]))
                return "".join(out)
            # too long to hold: make its opening character inert, then look again after it
            out.append(defuse_markdown(buffer[:cut]) + _INERT[buffer[cut]])
            buffer = buffer[cut + 1 :]

    def flush(self) -> str:
        """Everything held back, made inert as final text."""
        held, self._pending = self._pending, ""
        return defuse_markdown(held)

    def take(self) -> str:
        """The raw text held back, for the caller to show another way."""
        held, self._pending = self._pending, ""
        return held
