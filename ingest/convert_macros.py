"""Markdown for Confluence macros (``ac:structured-macro`` and ADF panels).

Kept apart from ``convert.py`` so the rules for *what a macro means* are plain
functions of a small value (``Macro``) and can be read, and tested, without a
parser or markdownify in the way. ``convert.py`` builds the ``Macro`` from the
parsed element and the already-converted body, then calls ``render_macro``.

The guiding rule: a macro becomes text only when a reader of the page sees text
there. Navigation and embeds (toc, children, jira, attachments, diagrams stored
as attachments, ...) have nothing to retrieve or quote, so they vanish without a
trace instead of leaking parameter values into the index.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

# Macros that render navigation, embeds or widgets: their parameters are
# configuration (page ids, JQL, sizes), never prose.
NO_TEXT_MACROS = frozenset(
    {
        "anchor",
        "attachments",
        "children",
        "contentbylabel",
        "create-from-template",
        "excerpt-include",
        "gallery",
        "include",
        "jira",
        "jiraissues",
        "livesearch",
        "pagetree",
        "pagetreesearch",
        "profile",
        "recently-updated",
        "toc",
        "toc-zone-marker",
        "viewfile",
        "viewpdf",
        "widget",
    }
)

# Callout macros (and ADF panel types) and the label a reader sees on them.
ADMONITION_LABELS: Mapping[str, str] = {
    "info": "Info",
    "note": "Note",
    "tip": "Tip",
    "warning": "Warning",
    "error": "Error",
    "success": "Success",
    "panel": "Panel",
    "custom": "Panel",
}

# Confluence's "no highlighting" language; every other value is passed through
# as the fence's info string, which is what Markdown renderers expect.
_NO_LANGUAGE = frozenset({"", "none"})

# A first line that already starts a Markdown block cannot follow a label on the
# same line without changing its meaning.
_BLOCK_START = re.compile(r"^(?:#{1,6}\s|[-*+]\s|\d{1,9}[.)]\s|`{3,}|~{3,}|>|\|)")
_BOLD_TITLE = re.compile(r"\*\*([^*\n]+)\*\*(?:\n\n|\Z)")
_BACKTICK_RUN = re.compile(r"`+")
_LEADING_BLANK_LINES = re.compile(r"\A(?:[ \t]*\n)+")


@dataclass(frozen=True)
class Macro:
    """What a renderer needs from one macro element.

    ``body`` is the rich-text body already converted to Markdown (stripped);
    ``plain_body`` is the raw text of ``ac:plain-text-body`` (``None`` when the
    macro has none), untouched so code keeps its indentation and ``<``/``&``.
    ``inline`` is true when the macro sits inside running text, a heading or a
    table cell, where a block (blank lines, ``>`` quotes, fences) would break
    the surrounding Markdown.
    """

    name: str
    params: Mapping[str, str] = field(default_factory=dict)
    body: str = ""
    plain_body: str | None = None
    inline: bool = False


def render_macro(macro: Macro) -> str:
    """Markdown for one macro; ``""`` when the macro shows no text to a reader."""
    name = macro.name.lower()
    if name in NO_TEXT_MACROS:
        return ""
    renderer = _RENDERERS.get(name)
    if renderer is None and "math" in name:
        renderer = _render_math
    if renderer is None:
        renderer = _render_unknown
    return renderer(macro)


def admonition(label: str, body: str, *, title: str = "", inline: bool = False) -> str:
    """A labelled callout as a blockquote: ``> **Note:** text``.

    Used for info/note/tip/warning/panel macros and for ADF panels, so every
    callout looks the same to the chunker and the model, whatever produced it.
    """
    if not title:
        title, body = _split_bold_title(body)
    if label == "Panel" and title:
        label, title = title, ""  # a titled panel's title *is* its label
    if title.casefold() == label.casefold():
        title = ""
    head = f"**{label}: {title}**" if title else f"**{label}:**"
    if inline:
        return f"{head} {body}".strip()
    if not body:
        text = head
    elif title or _BLOCK_START.match(body):
        text = f"{head}\n\n{body}"
    else:
        text = f"{head} {body}"
    return "\n\n" + blockquote(text) + "\n\n"


def _split_bold_title(body: str) -> tuple[str, str]:
    """A callout whose first paragraph is only bold text uses it as a title
    (the usual way to title info/note panels, and what md2conf emits)."""
    match = _BOLD_TITLE.match(body)
    if match is None:
        return "", body
    return match.group(1).strip(), body[match.end() :]


def blockquote(text: str) -> str:
    """Prefix every line with ``>`` (empty lines get a bare ``>`` so the quote
    continues across paragraphs and code fences)."""
    return "\n".join(f"> {line}" if line else ">" for line in text.split("\n"))


def fenced_code(code: str, language: str = "", *, inline: bool = False) -> str:
    """A fenced block that cannot be closed early by backticks in the code.

    Leading blank lines and trailing whitespace are layout from the editor, not
    code; everything in between, indentation included, is kept verbatim.
    """
    code = _LEADING_BLANK_LINES.sub("", code).rstrip()
    if not code:
        return ""
    if inline:
        # A table cell or heading cannot hold a fence: one code span per line.
        return "\n".join(code_span(line) for line in code.split("\n") if line.strip())
    longest = max((len(run) for run in _BACKTICK_RUN.findall(code)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"\n\n{fence}{language}\n{code}\n{fence}\n\n"


def code_span(text: str) -> str:
    """Inline code whose delimiter is longer than any backtick run inside it."""
    longest = max((len(run) for run in _BACKTICK_RUN.findall(text)), default=0)
    tick = "`" * (longest + 1)
    pad = " " if longest else ""
    return f"{tick}{pad}{text}{pad}{tick}"


def _render_code(macro: Macro) -> str:
    language = macro.params.get("language", "").strip().lower()
    if language in _NO_LANGUAGE:
        language = ""
    block = fenced_code(macro.plain_body or "", language, inline=macro.inline)
    title = macro.params.get("title", "").strip()
    if not block or not title:
        return block
    if macro.inline:
        return f"**{title}** {block}"
    return f"\n\n**{title}**\n\n{block.lstrip()}"


def _render_noformat(macro: Macro) -> str:
    return fenced_code(macro.plain_body or "", inline=macro.inline)


def _render_admonition(macro: Macro) -> str:
    name = macro.name.lower()
    title = macro.params.get("title", "").strip()
    if not macro.body and not title:
        return ""
    return admonition(ADMONITION_LABELS[name], macro.body, title=title, inline=macro.inline)


def _render_expand(macro: Macro) -> str:
    title = macro.params.get("title", "").strip()
    if not title:
        return _render_unknown(macro)
    if macro.inline:
        return f"**{title}** {macro.body}".strip()
    return f"\n\n**{title}**\n\n{macro.body}\n\n"


def _render_status(macro: Macro) -> str:
    # Confluence draws lozenges in capitals; mirror what the reader sees.
    title = macro.params.get("title", "").strip()
    return f"[{title.upper()}]" if title else ""


def _render_math(macro: Macro) -> str:
    """LaTeX from math apps (``mathinline``, ``eazy-math-inline``, ...) as
    ``$...$`` / ``$$...$$``: the formula is the content, even though it is
    stored as a parameter (``body``) or a plain-text body."""
    formula = (macro.params.get("body") or macro.plain_body or "").strip()
    if not formula:
        return ""
    if macro.inline or "inline" in macro.name.lower():
        return f"${formula}$"
    return f"\n\n$$\n{formula}\n$$\n\n"


def _render_unknown(macro: Macro) -> str:
    """Keep what an unknown macro shows: its rich body, else its plain body.

    A third-party macro with a rich-text body (excerpt, section, details, ...)
    wraps the author's own text; one with only parameters is configuration.
    """
    if macro.body:
        return macro.body if macro.inline else f"\n\n{macro.body}\n\n"
    if macro.plain_body and macro.plain_body.strip():
        return fenced_code(macro.plain_body, inline=macro.inline)
    return ""


_RENDERERS: Mapping[str, Callable[[Macro], str]] = {
    "code": _render_code,
    "noformat": _render_noformat,
    "expand": _render_expand,
    "status": _render_status,
    **{name: _render_admonition for name in ("info", "note", "tip", "warning", "panel")},
}
