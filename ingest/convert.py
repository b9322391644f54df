"""Confluence storage format (XHTML with ``ac:``/``ri:`` tags) to Markdown.

Every Confluence page enters the knowledge base through ``storage_to_markdown``,
so that the chunker, the embedder and the model see the same Markdown a
Markdown source would give them. The plain HTML parts are markdownify's job;
this module only teaches it the Confluence elements (macros, links to pages and
users, images, emoticons, task lists, layouts). Macro semantics live in
``convert_macros``.

Parsing uses the standard library's ``html.parser`` (no lxml needed): it keeps
``ac:structured-macro`` and friends as ordinary tags, and it understands HTML
entities such as ``&nbsp;`` that an XML parser would reject in these
undeclared-namespace fragments.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable

from bs4 import BeautifulSoup
from bs4.element import Comment, NavigableString, Tag
from markdownify import ATX, MarkdownConverter

from ingest.convert_macros import ADMONITION_LABELS, Macro, admonition, render_macro

PageUrl = Callable[[str | None, str], str | None]
"""``(space_key or None, page title) -> URL or None``: how to link another page."""

UserName = Callable[[str], str | None]
"""``(account id, user key or user name) -> display name or None``."""

_CDATA = re.compile(r"<!\[CDATA\[(.*?)\]\]>", re.DOTALL)
_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")
_CELL_BREAKS = re.compile(r"\s*\n\s*")
_FENCE = re.compile(r"^[ \t>]*(`{3,}|~{3,})")

# Parents inside which a macro or image is part of running text, not a block.
_INLINE_PARENTS = frozenset(
    [
        "a",
        "b",
        "code",
        "del",
        "em",
        "i",
        "p",
        "s",
        "span",
        "strong",
        "sub",
        "sup",
        "u",
        "ac:link-body",
        "ac:inline-comment-marker",
    ]
)
_CELLS = frozenset({"td", "th"})

# Confluence elements whose children are parts, never running text.
_STRUCTURAL = frozenset(
    [
        "ac:structured-macro",
        "ac:macro",
        "ac:link",
        "ac:image",
        "ac:task-list",
        "ac:task",
        "ac:layout",
        "ac:layout-section",
        "ac:layout-cell",
        "ac:adf-extension",
        "ac:adf-node",
    ]
)


def storage_to_markdown(
    xhtml: str,
    *,
    page_url: PageUrl | None = None,
    user_name: UserName | None = None,
) -> str:
    """Convert one page body in storage format to GitHub-flavoured Markdown.

    ``page_url`` turns links to other pages into Markdown links (otherwise the
    link text or page title is kept as plain text); ``user_name`` resolves
    mentions to ``@Display Name`` (otherwise ``@user``). Both are optional so
    the conversion itself never needs the network.
    """
    soup = BeautifulSoup(_decode_cdata(xhtml), "html.parser")
    _replace_nbsp(soup)
    _drop_structural_whitespace(soup)
    converter = StorageConverter(page_url=page_url, user_name=user_name)
    return tidy_markdown(converter.convert_soup(soup))


class StorageConverter(MarkdownConverter):
    """markdownify, taught Confluence's ``ac:``/``ri:`` elements.

    markdownify converts children first and hands each ``convert_<tag>`` the
    converted text, so elements that carry only configuration (parameters,
    task ids, captions) return ``""`` and their parents read what they need
    from the element's attributes instead.
    """

    def __init__(
        self, *, page_url: PageUrl | None = None, user_name: UserName | None = None
    ) -> None:
        # Backslash escapes of "*" and "_" would end up in snippets shown in
        # Slack and in the text that is embedded; GFM already leaves
        # intra-word underscores (snake_case) alone.
        super().__init__(
            heading_style=ATX,
            bullets="-",
            escape_asterisks=False,
            escape_underscores=False,
            table_infer_header=True,
        )
        self._page_url = page_url
        self._user_name = user_name

    # -- plain HTML that needs Confluence-aware handling ---------------------

    def convert_p(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        text = text.strip(" \t\r\n")
        if parent_tags & _CELLS:
            # Paragraph breaks inside a cell become <br> in convert_td.
            return f"\n{text}\n" if text else ""
        if "_inline" in parent_tags:
            return f" {text} "
        return f"\n\n{text}\n\n" if text else ""

    def convert_br(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        # A plain newline, not markdownify's two trailing spaces: trailing
        # spaces are stripped by tidy_markdown and are invisible in review.
        if "_inline" in parent_tags and not parent_tags & _CELLS:
            return " "
        return "\n"

    def convert_td(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        # A spanning cell is followed by empty cells so every row keeps the
        # header's column count.
        return f" {_cell_text(text)}" + " |" * _colspan(el)

    convert_th = convert_td

    def convert_colgroup(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return ""

    def convert_time(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        # Confluence stores dates as an empty <time datetime="2024-01-01"/>.
        return text.strip() or _attr(el, "datetime")

    # -- macros ---------------------------------------------------------------

    def convert_ac_structured_macro(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        params = {
            _attr(param, "ac:name"): param.get_text().strip()
            for param in _children(el, "ac:parameter", "ac:default-parameter")
        }
        plain = el.find("ac:plain-text-body", recursive=False)
        macro = Macro(
            name=_attr(el, "ac:name"),
            params=params,
            body=text.strip(),
            plain_body=plain.get_text() if plain is not None else None,
            inline=_is_inline(el, parent_tags),
        )
        return render_macro(macro)

    convert_ac_macro = convert_ac_structured_macro  # pre-5.0 storage format

    def convert_ac_parameter(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return ""

    convert_ac_default_parameter = convert_ac_parameter
    # Read raw by the macro itself, so code keeps its whitespace.
    convert_ac_plain_text_body = convert_ac_parameter
    # Editor hints in templates ("Type your summary here"), not content.
    convert_ac_placeholder = convert_ac_parameter

    # -- ADF extensions (Cloud panels and friends) ----------------------------

    def convert_ac_adf_node(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        body = text.strip()
        inline = _is_inline(el, parent_tags)
        if _attr(el, "type") == "panel":
            kind = _adf_attribute(el, "panel-type").lower() or "info"
            return admonition(ADMONITION_LABELS.get(kind, "Panel"), body, inline=inline)
        if not body or inline:
            return body
        return f"\n\n{body}\n\n"

    convert_ac_adf_attribute = convert_ac_parameter

    def convert_ac_adf_fallback(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        # The fallback re-renders the node for old clients; keeping both
        # would index the same text twice.
        parent = el.parent
        if parent is not None and parent.find("ac:adf-node", recursive=False) is not None:
            return ""
        return text

    # -- links, mentions, images, emoticons -----------------------------------

    def convert_ac_link(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        # The ri:* children convert to "", so ``text`` is the link body alone.
        prefix, label, suffix = _chomp(text)
        return prefix + self._link_markdown(el, label) + suffix

    def _link_markdown(self, el: Tag, label: str) -> str:
        user = el.find("ri:user", recursive=False)
        if user is not None:
            return self._mention(user, label)
        page = el.find(["ri:page", "ri:blog-post"], recursive=False)
        if page is not None:
            return self._page_link(page, label or _attr(el, "ac:anchor"))
        attachment = el.find("ri:attachment", recursive=False)
        if attachment is not None:
            filename = _attr(attachment, "ri:filename")
            if label and filename and label != filename:
                return f"{label} ({filename})"
            return label or filename
        url_ref = el.find("ri:url", recursive=False)
        if url_ref is not None and _attr(url_ref, "ri:value"):
            target = _attr(url_ref, "ri:value")
            return f"[{label or target}]({_destination(target)})"
        space = el.find("ri:space", recursive=False)
        return label or _attr(space or el, "ri:space-key") or _attr(el, "ac:anchor")

    def _page_link(self, page: Tag, label: str) -> str:
        """The link text (or page title); a Markdown link only when the
        ``page_url`` hook can say where the page lives."""
        title = _attr(page, "ri:content-title")
        label = label or title
        if self._page_url is None or not title or not label or page.name != "ri:page":
            return label
        url = self._page_url(_attr(page, "ri:space-key") or None, title)
        return f"[{label}]({_destination(url)})" if url else label

    def _mention(self, user: Tag, label: str) -> str:
        key = (
            _attr(user, "ri:account-id") or _attr(user, "ri:userkey") or _attr(user, "ri:username")
        )
        name = self._user_name(key) if self._user_name is not None and key else None
        # An old Server ``ri:username`` is already readable; ids are not.
        name = name or label or _attr(user, "ri:username") or "user"
        return "@" + name.lstrip("@")

    def convert_ac_image(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        caption = el.find("ac:caption", recursive=False)
        caption_text = caption.get_text(" ", strip=True) if caption is not None else ""
        attachment = el.find("ri:attachment", recursive=False)
        url_ref = el.find("ri:url", recursive=False)
        filename = _attr(attachment, "ri:filename") if attachment is not None else ""
        src = filename or (_attr(url_ref, "ri:value") if url_ref is not None else "")
        title = _attr(el, "ac:title")
        alt = _attr(el, "ac:alt") or caption_text or title or _file_name(src)
        if not src:
            return alt
        title_part = f' "{_escape_title(title)}"' if title and title != alt else ""
        image = f"![{_escape_label(alt)}]({_destination(src)}{title_part})"
        return image if _is_inline(el, parent_tags) else f"\n\n{image}\n\n"

    convert_ac_caption = convert_ac_parameter

    def convert_ac_emoticon(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        name = _attr(el, "ac:name")
        return (
            _attr(el, "ac:emoji-fallback")
            or _attr(el, "ac:emoji-shortname")
            or (f":{name}:" if name else "")
        )

    # -- task lists -------------------------------------------------------------

    def convert_ac_task_list(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        items = text.strip("\n")
        if not items:
            return ""
        if parent_tags & {"ac:task", "li"}:
            return "\n" + items
        return f"\n\n{items}\n\n"

    def convert_ac_task(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        status = el.find("ac:task-status", recursive=False)
        done = status is not None and status.get_text(strip=True).lower() == "complete"
        first, *rest = text.strip().split("\n")
        lines = [f"- [{'x' if done else ' '}] {first}".rstrip()]
        lines += [f"  {line}" if line.strip() else "" for line in rest]
        return "\n" + "\n".join(lines) + "\n"

    convert_ac_task_id = convert_ac_parameter
    convert_ac_task_uuid = convert_ac_parameter
    convert_ac_task_status = convert_ac_parameter

    # -- page layouts -----------------------------------------------------------

    def convert_ac_layout_cell(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        text = text.strip()
        return f"\n\n{text}\n\n" if text else ""

    convert_ac_layout_section = convert_ac_layout_cell
    convert_ac_layout = convert_ac_layout_cell


def tidy_markdown(markdown: str) -> str:
    """Strip trailing spaces and keep at most one blank line between blocks.

    Lines inside fenced code blocks are left exactly as they are: blank lines
    and trailing spaces can be part of the code.
    """
    out: list[str] = []
    fence = ""
    for raw in markdown.split("\n"):
        if fence:
            out.append(raw)
            body = raw.lstrip(" \t>").rstrip()
            if body.startswith(fence) and not body.strip(fence[0]):
                fence = ""
            continue
        line = raw.rstrip()
        opening = _FENCE.match(line)
        if opening:
            fence = opening.group(1)
        elif out and not line.strip(" >") and out[-1] == line:
            continue  # a second blank (or bare ">") line in a row
        out.append(line)
    return "\n".join(out).strip("\n")


def _decode_cdata(xhtml: str) -> str:
    """Turn ``<![CDATA[...]]>`` sections into escaped text before parsing.

    Code bodies live in CDATA. Newer CPython releases changed how
    ``html.parser`` treats CDATA outside SVG/MathML (as a bogus comment, which
    markdownify drops), so the sections are decoded here, independent of the
    Python version. Confluence splits a literal ``]]>`` across two sections;
    concatenating the decoded pieces restores it.
    """
    return _CDATA.sub(lambda m: html.escape(m.group(1), quote=False), xhtml)


def _replace_nbsp(soup: BeautifulSoup) -> None:
    """``&nbsp;`` is layout, not meaning: make it a plain space (outside code)
    so markdownify's whitespace rules see it."""
    for string in soup.find_all(string=lambda s: "\xa0" in s):
        if isinstance(string, Comment) or not isinstance(string, NavigableString):
            continue
        if string.find_parent("ac:plain-text-body") is None:
            string.replace_with(string.replace("\xa0", " "))


def _drop_structural_whitespace(soup: BeautifulSoup) -> None:
    """Remove the indentation between the parts of Confluence containers.

    markdownify only ignores whitespace around HTML block tags it knows; the
    newlines between ``ac:task`` items or around a link's ``ri:page`` would
    otherwise turn into blank lines inside lists and spaces inside link text.
    """
    for container in soup.find_all(list(_STRUCTURAL)):
        for child in list(container.children):
            if isinstance(child, NavigableString) and not child.strip():
                child.extract()


def _is_inline(el: Tag, parent_tags: set[str]) -> bool:
    """True inside a heading, a table cell or running text, where a Markdown
    block (blank lines, ``>`` quotes, fences) would break the line."""
    if "_inline" in parent_tags:
        return True
    parent = el.parent
    return parent is not None and parent.name in _INLINE_PARENTS


def _cell_text(text: str) -> str:
    """One table cell on one line: breaks become ``<br>`` (which GFM renders
    inside cells) and pipes are escaped so they do not split the cell."""
    text = _CELL_BREAKS.sub("<br>", text.strip())
    return _UNESCAPED_PIPE.sub(r"\\|", text)


def _colspan(cell: Tag) -> int:
    value = _attr(cell, "colspan")
    return max(1, min(1000, int(value))) if value.isdigit() else 1


def _attr(el: Tag, name: str) -> str:
    """An attribute as a string (bs4 returns lists for multi-valued ones)."""
    value = el.get(name)
    if value is None:
        return ""
    return value if isinstance(value, str) else " ".join(value)


def _adf_attribute(node: Tag, key: str) -> str:
    for attribute in _children(node, "ac:adf-attribute"):
        if _attr(attribute, "key") == key:
            return attribute.get_text(strip=True)
    return ""


def _children(el: Tag, *names: str) -> Iterable[Tag]:
    return (child for child in el.find_all(list(names), recursive=False) if isinstance(child, Tag))


def _chomp(text: str) -> tuple[str, str, str]:
    """Move a link body's outer spaces outside the link, as markdownify does
    for its own inline elements (``[ foo ]`` would render oddly)."""
    prefix = " " if text[:1].isspace() else ""
    suffix = " " if text[-1:].isspace() else ""
    return prefix, text.strip(), suffix


def _file_name(src: str) -> str:
    """The last path segment of an attachment name or image URL."""
    return src.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def _destination(url: str) -> str:
    """A link destination; ``<...>`` when spaces or parentheses would end it."""
    return f"<{url}>" if re.search(r"[\s()<>]", url) else url


def _escape_label(text: str) -> str:
    return text.replace("[", r"\[").replace("]", r"\]")


def _escape_title(text: str) -> str:
    return text.replace('"', r"\"")
