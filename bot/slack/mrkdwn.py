"""Markdown → Slack mrkdwn, and splitting text at Slack's size limits.

The model and the extractive answer write Markdown; Slack's ``mrkdwn`` differs
(``*bold*``, ``<url|text>`` links, no headings or tables) and must escape ``&<>``.
Pure functions, so every rule is unit-tested without a server.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping, Sequence

from bot.slack.defuse import is_web_link

MAX_SECTION_CHARS = 3000
MAX_TEXT_CHARS = 40_000

# --- Markdown → mrkdwn ----------------------------------------------------------------

_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_RULE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_QUOTE = re.compile(r"^\s{0,3}>\s?")
_BULLET = re.compile(r"^(\s*)[-*+]\s+(?:\[( |x|X)\]\s+)?(.*)$")
_ORDERED = re.compile(r"^(\s*)(\d{1,9})[.)]\s+(.*)$")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_LINK = re.compile(r"!?\[([^\]\n]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
_CITATION = re.compile(r"\[(\d{1,3})\]")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ITALIC = re.compile(r"(?<![\*\w])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\*\w])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_TOKEN = "\x00{}\x00"
_TOKEN_RE = re.compile(r"\x00(\d+)\x00")


def escape(text: str) -> str:
    """Slack's three control characters; everything else is literal in mrkdwn."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    """``<url|label>``; characters that would end the link early are encoded.

    Only http(s) and mailto targets become links: ``[x](!channel)`` in a document or
    an answer would otherwise be ``<!channel|x>``, a live @channel. Anything else
    (``!…``, ``@…``, ``#…``, ``file:``, ``javascript:``) leaves the label as plain text.
    """
    if not is_web_link(url):
        return escape(label.replace("|", "¦")).strip() or escape(url)
    url = url.strip()
    safe = url.replace(" ", "%20").replace("|", "%7C").replace("<", "%3C").replace(">", "%3E")
    label = escape(label.replace("|", "¦")).strip() or escape(safe)
    return f"<{safe.replace('&', '&amp;')}|{label}>"


def _plain_label(label: str) -> str:
    return re.sub(r"(\*\*|__|`|~~)", "", label)


def inline(text: str, citations: Mapping[int, str] | None = None) -> str:
    """Convert one line's inline Markdown: code spans, links, emphasis, escapes."""
    tokens: list[str] = []

    def keep(value: str) -> str:
        tokens.append(value)
        return _TOKEN.format(len(tokens) - 1)

    text = _CODE_SPAN.sub(lambda m: keep(f"`{escape(m.group(2).strip() or m.group(2))}`"), text)
    text = _LINK.sub(lambda m: keep(link(m.group(2), _plain_label(m.group(1)))), text)
    text = _AUTOLINK.sub(lambda m: keep(link(m.group(1), m.group(1))), text)
    if citations:
        text = _CITATION.sub(
            lambda m: (
                keep(link(citations[int(m.group(1))], f"[{m.group(1)}]"))
                if int(m.group(1)) in citations
                else m.group(0)
            ),
            text,
        )
    text = escape(text)
    text = _ITALIC.sub(r"_\1_", text)
    text = _BOLD.sub(r"*\2*", text)
    text = _STRIKE.sub(r"~\1~", text)
    return _TOKEN_RE.sub(lambda m: tokens[int(m.group(1))], text)


def _cells(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)]


def _cell_text(cell: str) -> str:
    """A cell as plain text (links to their labels, emphasis marks dropped), unescaped:
    widths are measured as Slack shows the text, and each line is escaped when set."""
    cell = _LINK.sub(lambda m: _plain_label(m.group(1)), cell)
    return re.sub(r"(\*\*|__|`|~~)", "", cell)


def _wrap(text: str, width: int) -> list[str]:
    """A cell's text in lines of at most ``width`` characters, nothing cut off."""
    return textwrap.wrap(text, width, break_on_hyphens=False) or [""]


def table(rows: Sequence[str], max_width: int = 40) -> list[str]:
    """A Markdown table as an aligned code block: Slack has no table syntax in mrkdwn.

    A column is at most ``max_width`` characters wide; a longer cell wraps onto more
    lines within its column (rows are then set apart by a blank line), so no text is
    lost from a table, however wide."""
    grid = [[_cell_text(c) for c in _cells(r)] for r in rows if not _TABLE_SEP.match(r)]
    columns = max(len(r) for r in grid)
    grid = [r + [""] * (columns - len(r)) for r in grid]
    widths = [max(1, min(max_width, max(len(r[i]) for r in grid))) for i in range(columns)]

    def fmt(row: list[str]) -> list[str]:
        cells = [_wrap(c, w) for c, w in zip(row, widths, strict=True)]
        height = max(len(c) for c in cells)
        return [
            "  ".join(
                escape(c[k]).ljust(w + len(escape(c[k])) - len(c[k])) if k < len(c) else " " * w
                for c, w in zip(cells, widths, strict=True)
            ).rstrip()
            for k in range(height)
        ]

    formatted = [fmt(r) for r in grid]
    spaced = any(len(lines) > 1 for lines in formatted)
    out = ["```", *formatted[0]]
    if len(grid) > 1:
        out.append("  ".join("-" * w for w in widths))
        for i, lines in enumerate(formatted[1:]):
            if spaced and i:
                out.append("")
            out.extend(lines)
    return [*out, "```"]


def _is_table_start(lines: Sequence[str], i: int) -> bool:
    return (
        "|" in lines[i]
        and i + 1 < len(lines)
        and "|" in lines[i + 1] + lines[i]
        and bool(_TABLE_SEP.match(lines[i + 1]))
        and "-" in lines[i + 1]
    )


def to_mrkdwn(markdown: str, citations: Mapping[int, str] | None = None) -> str:
    """Markdown (what the model and the extractive answer write) → Slack mrkdwn.

    ``citations`` maps [n] to a URL so a citation becomes a link to its page.
    """
    lines = markdown.replace("\r\n", "\n").split("\n")
    out: list[str] = []
    in_code = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if _FENCE.match(line):
            out.append("```")
            in_code = not in_code
        elif in_code:
            out.append(escape(line))
        elif _is_table_start(lines, i):
            rows = [line]
            while i + 1 < len(lines) and "|" in lines[i + 1] and lines[i + 1].strip():
                i += 1
                rows.append(lines[i])
            out.extend(table(rows))
        else:
            out.append(_block_line(line, citations))
        i += 1
    if in_code:
        out.append("```")  # an unterminated fence would swallow the rest of the message
    return "\n".join(out).strip("\n")


def _block_line(line: str, citations: Mapping[int, str] | None) -> str:
    if match := _HEADING.match(line):
        return f"*{inline(_plain_label(match.group(2)), citations)}*"
    if _RULE.match(line):
        return "──────────"
    if match := _QUOTE.match(line):
        return "> " + _block_line(line[match.end() :], citations)
    if match := _BULLET.match(line):
        indent, box, rest = match.groups()
        mark = {None: "•", " ": "☐", "x": "☑", "X": "☑"}[box]
        return f"{'    ' * (len(indent) // 2)}{mark} {inline(rest, citations)}"
    if match := _ORDERED.match(line):
        indent, number, rest = match.groups()
        return f"{'    ' * (len(indent) // 2)}{number}. {inline(rest, citations)}"
    return inline(line, citations)


# --- splitting at Slack's limits --------------------------------------------------------


def _hard_split(line: str, limit: int) -> list[str]:
    """Split one over-long line at spaces, never inside a ``<url|label>`` link."""
    parts: list[str] = []
    while len(line) > limit:
        cut = -1
        depth_open = line.rfind("<", 0, limit)
        if depth_open > line.rfind(">", 0, limit):  # the limit falls inside a link
            cut = depth_open if depth_open > 0 else -1
        if cut <= 0:
            cut = line.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        parts.append(line[:cut])
        line = line[cut:].lstrip(" ")
    parts.append(line)
    return parts


def split_text(text: str, limit: int = MAX_SECTION_CHARS) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at paragraph or line ends when
    possible; a code block cut in two is closed and reopened so both halves render."""
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    in_code = False
    reserve = 4  # room for a closing "\n```"

    def flush() -> None:
        nonlocal current, size
        if current and "".join(current).strip():
            body = "\n".join(current)
            pieces.append(body + ("\n```" if in_code else ""))
        current = ["```"] if in_code else []
        size = 3 if in_code else 0

    for raw in text.split("\n"):
        for line in _hard_split(raw, limit - reserve - 4):
            if size + len(line) + 1 > limit - reserve:
                flush()
            elif not line.strip() and not in_code and size > limit * 0.8:
                flush()
                continue
            current.append(line)
            size += len(line) + 1
            if line.strip().startswith("```"):
                in_code = not in_code
    if current and "".join(current).strip():
        pieces.append("\n".join(current) + ("\n```" if in_code else ""))
    return pieces or [""]


def truncate(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
