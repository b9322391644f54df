"""Confluence storage format -> Markdown (``ingest.convert``).

The first half feeds small hand-written XHTML snippets, one rule at a time. The
second half converts whole pages and checks properties that must hold for any page
(no ``ac:``/``ri:`` leftovers, code intact with its language, every heading, table
row and callout accounted for), in two layers: the project's own pages in
``tests/fixtures/storage_format`` (written for docbot; a clone always has them), and
the larger third-party captures in ``shared/data`` when present, whose md2conf
fixtures are also compared with the Markdown they were generated from.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from ingest.convert import storage_to_markdown, tidy_markdown
from ingest.convert_macros import NO_TEXT_MACROS, Macro, render_macro
from tests.conftest import SHARED_DATA, shared_path

# -- helpers --------------------------------------------------------------------

_FENCE_LINE = re.compile(r"^(?P<prefix>[ \t]*(?:> ?)*)(?P<fence>`{3,}|~{3,})(?P<info>[^`\s]*)\s*$")


def fenced_blocks(markdown: str) -> list[tuple[str, str]]:
    """``(info string, code)`` for every fenced block, with the indentation or
    ``>`` prefix of its fence removed from the code lines."""
    blocks: list[tuple[str, str]] = []
    lines = markdown.split("\n")
    i = 0
    while i < len(lines):
        opening = _FENCE_LINE.match(lines[i])
        i += 1
        if opening is None:
            continue
        prefix, fence = opening["prefix"], opening["fence"]
        code: list[str] = []
        while i < len(lines):
            line = lines[i]
            i += 1
            inner = line[len(prefix) :] if line.startswith(prefix) else line.lstrip(" \t>")
            if inner.rstrip() and not inner.rstrip().strip(fence[0]) and inner.startswith(fence):
                break
            code.append(inner)
        blocks.append((opening["info"], "\n".join(code)))
    return blocks


def plain(text: str) -> str:
    """Text without emphasis/code markers, whitespace collapsed."""
    return " ".join(re.sub(r"[*`]", "", text).split())


def table_rows(markdown: str) -> list[str]:
    """Pipe-table rows, separator lines excluded."""
    return [
        line
        for line in markdown.split("\n")
        if line.lstrip().startswith("|") and not re.fullmatch(r"\s*\|(\s*:?-{3,}:?\s*\|)+", line)
    ]


# -- headings, inline formatting, lists, links ---------------------------------


def test_headings_become_atx() -> None:
    out = storage_to_markdown("<h1>Title</h1><p>x</p><h2>Section</h2><h3>Sub <em>part</em></h3>")
    assert out.split("\n\n") == ["# Title", "x", "## Section", "### Sub *part*"]


def test_inline_formatting_and_links() -> None:
    out = storage_to_markdown(
        "<p><strong>bold</strong>, <em>italic</em>, <code>a_b*c</code> and "
        '<a href="https://example.com/docs">the docs</a>; snake_case stays as is.</p>'
    )
    assert out == (
        "**bold**, *italic*, `a_b*c` and [the docs](https://example.com/docs); "
        "snake_case stays as is."
    )


def test_nested_lists_keep_their_structure() -> None:
    out = storage_to_markdown(
        "<ul><li>one<ul><li>one.a</li><li>one.b<ol><li>deep</li></ol></li></ul></li>"
        "<li>two</li></ul>"
    )
    assert out.split("\n") == ["- one", "  - one.a", "  - one.b", "    1. deep", "- two"]


# -- tables ---------------------------------------------------------------------


def test_table_with_header_row_becomes_gfm() -> None:
    out = storage_to_markdown(
        "<table><colgroup><col/><col/></colgroup><tbody>"
        "<tr><th><p><strong>Name</strong></p></th><th><p>Port</p></th></tr>"
        "<tr><td><p>api</p></td><td><p>8080</p></td></tr>"
        "<tr><td><p>db</p></td><td><p>5432</p></td></tr></tbody></table>"
    )
    assert out.split("\n") == [
        "| **Name** | Port |",
        "| --- | --- |",
        "| api | 8080 |",
        "| db | 5432 |",
    ]


def test_table_without_header_uses_first_row_as_header() -> None:
    out = storage_to_markdown("<table><tbody><tr><td>Key</td><td>Value</td></tr></tbody></table>")
    assert out.split("\n") == ["| Key | Value |", "| --- | --- |"]


def test_table_cells_with_pipes_breaks_and_paragraphs_stay_on_one_line() -> None:
    out = storage_to_markdown(
        "<table><tbody><tr><th>A</th><th>B</th></tr>"
        "<tr><td><p>x | y</p><p>second</p></td><td>line1<br/>line2</td></tr></tbody></table>"
    )
    rows = table_rows(out)
    assert rows[1] == r"| x \| y<br>second | line1<br>line2 |"
    assert len(rows) == 2


def test_colspan_keeps_the_column_count() -> None:
    out = storage_to_markdown(
        "<table><tbody><tr><th>a</th><th>b</th></tr>"
        '<tr><td colspan="2">wide</td></tr></tbody></table>'
    )
    assert table_rows(out)[1] == "| wide | |"


# -- code -------------------------------------------------------------------------

CODE_MACRO = (
    '<ac:structured-macro ac:name="code" ac:schema-version="1">'
    '<ac:parameter ac:name="language">{language}</ac:parameter>'
    "<ac:plain-text-body><![CDATA[{body}]]></ac:plain-text-body>"
    "</ac:structured-macro>"
)


def test_code_macro_keeps_language_and_exact_body() -> None:
    body = 'if a < b && c > 0:\n    print("<tag> &amp; more")\n\n\n\n        return'
    out = storage_to_markdown(CODE_MACRO.format(language="python", body=body))
    assert fenced_blocks(out) == [("python", body)]


def test_code_macro_with_none_language_has_bare_fence() -> None:
    out = storage_to_markdown(CODE_MACRO.format(language="none", body="plain text"))
    assert out == "```\nplain text\n```"


def test_code_containing_cdata_terminator_is_rejoined() -> None:
    # Confluence stores a literal "]]>" as "]]]]><![CDATA[>".
    out = storage_to_markdown(
        '<ac:structured-macro ac:name="code"><ac:plain-text-body>'
        "<![CDATA[x = a[b[0]]]]><![CDATA[> 1]]></ac:plain-text-body></ac:structured-macro>"
    )
    assert fenced_blocks(out) == [("", "x = a[b[0]]> 1")]


def test_code_containing_backticks_gets_a_longer_fence() -> None:
    body = "```\nnested fence\n```"
    out = storage_to_markdown(CODE_MACRO.format(language="markdown", body=body))
    assert out.startswith("````markdown\n")
    assert fenced_blocks(out) == [("markdown", body)]


def test_code_title_is_kept_above_the_block() -> None:
    out = storage_to_markdown(
        '<ac:structured-macro ac:name="code"><ac:parameter ac:name="title">setup.sh</ac:parameter>'
        "<ac:plain-text-body><![CDATA[make install]]></ac:plain-text-body></ac:structured-macro>"
    )
    assert out == "**setup.sh**\n\n```\nmake install\n```"


def test_noformat_keeps_indentation_but_not_surrounding_blank_lines() -> None:
    out = storage_to_markdown(
        '<ac:structured-macro ac:name="noformat"><ac:plain-text-body><![CDATA[\n'
        "  indented\nflush\n  ]]></ac:plain-text-body></ac:structured-macro>"
    )
    assert out == "```\n  indented\nflush\n```"


def test_code_inside_a_list_item_is_indented_under_it() -> None:
    out = storage_to_markdown(
        "<ol><li><p>Run:</p>" + CODE_MACRO.format(language="bash", body="make") + "</li></ol>"
    )
    assert out == "1. Run:\n\n   ```bash\n   make\n   ```"


def test_code_in_a_table_cell_becomes_code_spans() -> None:
    out = storage_to_markdown(
        "<table><tbody><tr><th>Command</th></tr><tr><td>"
        + CODE_MACRO.format(language="bash", body="cd app\nmake")
        + "</td></tr></tbody></table>"
    )
    assert table_rows(out)[1] == "| `cd app`<br>`make` |"


# -- callouts (info / note / warning / tip / panel) ------------------------------


@pytest.mark.parametrize(
    ("macro", "label"),
    [("info", "Info"), ("note", "Note"), ("warning", "Warning"), ("tip", "Tip")],
)
def test_callout_macros_become_labelled_blockquotes(macro: str, label: str) -> None:
    out = storage_to_markdown(
        f'<ac:structured-macro ac:name="{macro}"><ac:rich-text-body>'
        '<p>Read <a href="https://x.test/">this</a> <strong>first</strong>.</p>'
        "<p>Then that.</p></ac:rich-text-body></ac:structured-macro>"
    )
    assert out == f"> **{label}:** Read [this](https://x.test/) **first**.\n>\n> Then that."


def test_callout_title_parameter_heads_the_quote() -> None:
    out = storage_to_markdown(
        '<ac:structured-macro ac:name="warning">'
        '<ac:parameter ac:name="title">Data loss</ac:parameter>'
        "<ac:rich-text-body><p>Back up first.</p><ul><li>db</li><li>files</li></ul>"
        "</ac:rich-text-body></ac:structured-macro>"
    )
    assert out == "> **Warning: Data loss**\n>\n> Back up first.\n>\n> - db\n> - files"


def test_callout_keeps_code_inside_the_quote() -> None:
    out = storage_to_markdown(
        '<ac:structured-macro ac:name="tip"><ac:rich-text-body>'
        + CODE_MACRO.format(language="sql", body="SELECT 1;\n\n\nSELECT 2;")
        + "</ac:rich-text-body></ac:structured-macro>"
    )
    assert out.startswith("> **Tip:**\n>\n> ```sql\n")
    assert fenced_blocks(out) == [("sql", "SELECT 1;\n\n\nSELECT 2;")]


def test_panel_title_is_its_label() -> None:
    out = storage_to_markdown(
        '<ac:structured-macro ac:name="panel"><ac:parameter ac:name="title">Contacts</ac:parameter>'
        '<ac:parameter ac:name="bgColor">#FFF0B3</ac:parameter>'
        "<ac:rich-text-body><p>Ask Ops.</p></ac:rich-text-body></ac:structured-macro>"
    )
    assert out == "> **Contacts:** Ask Ops."
    assert "FFF0B3" not in out


def test_adf_panel_is_labelled_and_not_duplicated_by_its_fallback() -> None:
    out = storage_to_markdown(
        '<ac:adf-extension><ac:adf-node type="panel">'
        '<ac:adf-attribute key="panel-type">note</ac:adf-attribute>'
        "<ac:adf-content><p>Deploys freeze on Friday.</p></ac:adf-content></ac:adf-node>"
        '<ac:adf-fallback><div class="panel"><div class="panelContent">'
        "<p>Deploys freeze on Friday.</p></div></div></ac:adf-fallback></ac:adf-extension>"
    )
    assert out == "> **Note:** Deploys freeze on Friday."


def test_adf_fallback_is_used_when_there_is_no_node() -> None:
    out = storage_to_markdown(
        "<ac:adf-extension><ac:adf-fallback><p>Only here.</p></ac:adf-fallback></ac:adf-extension>"
    )
    assert out == "Only here."


# -- expand, status, tasks --------------------------------------------------------


def test_expand_title_becomes_a_bold_line_above_its_content() -> None:
    out = storage_to_markdown(
        '<ac:structured-macro ac:name="expand"><ac:parameter ac:name="title">Details</ac:parameter>'
        "<ac:rich-text-body><p>Hidden <em>text</em>.</p></ac:rich-text-body></ac:structured-macro>"
    )
    assert out == "**Details**\n\nHidden *text*."


def test_status_lozenge_becomes_bracketed_title() -> None:
    out = storage_to_markdown(
        '<p>State: <ac:structured-macro ac:name="status">'
        '<ac:parameter ac:name="colour">Green</ac:parameter>'
        '<ac:parameter ac:name="title">Done</ac:parameter></ac:structured-macro> now</p>'
    )
    assert out == "State: [DONE] now"


def test_task_list_becomes_checkboxes_including_nested_tasks() -> None:
    out = storage_to_markdown(
        "<ac:task-list>\n<ac:task>\n<ac:task-id>1</ac:task-id>"
        "<ac:task-status>complete</ac:task-status>"
        "<ac:task-body><strong>Ship</strong> it</ac:task-body>\n</ac:task>\n"
        "<ac:task><ac:task-id>2</ac:task-id><ac:task-status>incomplete</ac:task-status>"
        "<ac:task-body>Announce<ac:task-list><ac:task><ac:task-id>3</ac:task-id>"
        "<ac:task-status>complete</ac:task-status><ac:task-body>Draft</ac:task-body>"
        "</ac:task></ac:task-list></ac:task-body></ac:task>\n</ac:task-list>"
    )
    assert out.split("\n") == ["- [x] **Ship** it", "- [ ] Announce", "  - [x] Draft"]


# -- links to pages, attachments, users ---------------------------------------------

PAGE_LINK = (
    '<p>See <ac:link><ri:page ri:space-key="OPS" ri:content-title="Deploy &amp; Rollback"/>'
    "{body}</ac:link>.</p>"
)


def test_page_link_without_hook_keeps_the_page_title() -> None:
    assert storage_to_markdown(PAGE_LINK.format(body="")) == "See Deploy & Rollback."


def test_page_link_keeps_its_link_body() -> None:
    rich = PAGE_LINK.format(body="<ac:link-body>the <em>runbook</em></ac:link-body>")
    plain_body = PAGE_LINK.format(
        body="<ac:plain-text-link-body><![CDATA[the runbook]]></ac:plain-text-link-body>"
    )
    assert storage_to_markdown(rich) == "See the *runbook*."
    assert storage_to_markdown(plain_body) == "See the runbook."


def test_page_link_becomes_markdown_link_when_the_hook_builds_a_url() -> None:
    calls: list[tuple[str | None, str]] = []

    def page_url(space: str | None, title: str) -> str | None:
        calls.append((space, title))
        return "https://wiki.test/OPS/deploy"

    out = storage_to_markdown(PAGE_LINK.format(body=""), page_url=page_url)
    assert out == "See [Deploy & Rollback](https://wiki.test/OPS/deploy)."
    assert calls == [("OPS", "Deploy & Rollback")]


def test_page_link_stays_text_when_the_hook_has_no_url() -> None:
    def no_url(space: str | None, title: str) -> str | None:
        return None

    out = storage_to_markdown(
        '<p><ac:link><ri:page ri:content-title="Home"/></ac:link></p>', page_url=no_url
    )
    assert out == "Home"


def test_link_to_same_space_page_passes_no_space_key() -> None:
    seen: list[str | None] = []

    def page_url(space: str | None, title: str) -> str | None:
        seen.append(space)
        return f"https://wiki.test/{title}"

    out = storage_to_markdown(
        '<p><ac:link><ri:page ri:content-title="FAQ"/></ac:link></p>', page_url=page_url
    )
    assert (out, seen) == ("[FAQ](https://wiki.test/FAQ)", [None])


def test_attachment_link_names_the_file() -> None:
    out = storage_to_markdown(
        '<p><ac:link><ri:attachment ri:filename="spec.pdf"/></ac:link> and '
        '<ac:link><ri:attachment ri:filename="q3.xlsx"/>'
        "<ac:plain-text-link-body><![CDATA[the numbers]]></ac:plain-text-link-body></ac:link></p>"
    )
    assert out == "spec.pdf and the numbers (q3.xlsx)"


def test_anchor_link_keeps_its_text() -> None:
    out = storage_to_markdown(
        '<p><ac:link ac:anchor="install"><ac:link-body>Install</ac:link-body></ac:link></p>'
    )
    assert out == "Install"


@pytest.mark.parametrize(
    ("attribute", "key"),
    [("ri:account-id", "557058:aa-bb"), ("ri:userkey", "8a7f80"), ("ri:username", "jdoe")],
)
def test_user_mention_uses_the_name_hook(attribute: str, key: str) -> None:
    names = {"557058:aa-bb": "Ada Lovelace", "8a7f80": "Grace Hopper", "jdoe": "Jane Doe"}
    out = storage_to_markdown(
        f'<p>Ask <ac:link><ri:user {attribute}="{key}"/></ac:link>.</p>', user_name=names.get
    )
    assert out == f"Ask @{names[key]}."


def test_unknown_user_becomes_at_user() -> None:
    out = storage_to_markdown(
        '<p>cc <ac:link><ri:user ri:account-id="557058:zz"/></ac:link></p>',
        user_name=lambda key: None,
    )
    assert out == "cc @user"
    assert "557058" not in storage_to_markdown(
        '<p><ac:link><ri:user ri:account-id="557058:zz"/></ac:link></p>'
    )


# -- emoticons, images --------------------------------------------------------------


def test_emoticon_uses_fallback_emoji_else_its_name() -> None:
    out = storage_to_markdown(
        '<p>Great <ac:emoticon ac:name="smile" ac:emoji-shortname=":slight_smile:" '
        'ac:emoji-fallback="🙂"/> job <ac:emoticon ac:name="tick"/></p>'
    )
    assert out == "Great 🙂 job :tick:"


def test_attachment_image_uses_alt_and_title() -> None:
    out = storage_to_markdown(
        '<ac:image ac:alt="Architecture" ac:title="Overview">'
        '<ri:attachment ri:filename="arch.png"/>'
        "<ac:caption>Big picture</ac:caption></ac:image>"
    )
    assert out == '![Architecture](arch.png "Overview")'


def test_image_without_alt_falls_back_to_caption_then_file_name() -> None:
    captioned = storage_to_markdown(
        '<ac:image><ri:attachment ri:filename="a.png"/><ac:caption>The flow</ac:caption></ac:image>'
    )
    bare = storage_to_markdown(
        '<p>Logo: <ac:image><ri:url ri:value="https://cdn.test/img/logo.svg"/></ac:image></p>'
    )
    assert captioned == "![The flow](a.png)"
    assert bare == "Logo: ![logo.svg](https://cdn.test/img/logo.svg)"


def test_image_file_name_with_spaces_is_a_valid_destination() -> None:
    out = storage_to_markdown(
        '<ac:image><ri:attachment ri:filename="my diagram (v2).png"/></ac:image>'
    )
    assert out == "![my diagram (v2).png](<my diagram (v2).png>)"


# -- macros that show no text, unknown macros ---------------------------------------


@pytest.mark.parametrize(
    "macro",
    [
        '<ac:structured-macro ac:name="toc"><ac:parameter ac:name="maxLevel">3</ac:parameter>'
        "</ac:structured-macro>",
        '<ac:structured-macro ac:name="children"><ac:parameter ac:name="all">true</ac:parameter>'
        "</ac:structured-macro>",
        '<ac:structured-macro ac:name="anchor"><ac:parameter ac:name="">top-anchor</ac:parameter>'
        "</ac:structured-macro>",
        '<ac:structured-macro ac:name="jira"><ac:parameter ac:name="key">OPS-42</ac:parameter>'
        '<ac:parameter ac:name="serverId">1a2b-3c4d</ac:parameter></ac:structured-macro>',
        '<ac:structured-macro ac:name="attachments"><ac:parameter ac:name="upload">false'
        "</ac:parameter></ac:structured-macro>",
        '<ac:structured-macro ac:name="recently-updated"><ac:parameter ac:name="spaces">OPS'
        "</ac:parameter></ac:structured-macro>",
        '<ac:structured-macro ac:name="gliffy-diagram"><ac:parameter ac:name="name">arch-v3'
        "</ac:parameter></ac:structured-macro>",
        '<p><ac:structured-macro ac:name="toc"/></p>',
    ],
)
def test_macros_without_text_leave_no_trace(macro: str) -> None:
    out = storage_to_markdown(f"<p>Before</p>{macro}<p>After</p>")
    assert out == "Before\n\nAfter"


def test_unknown_macro_keeps_its_rich_text_body() -> None:
    out = storage_to_markdown(
        '<ac:structured-macro ac:name="details"><ac:parameter ac:name="id">meta</ac:parameter>'
        "<ac:rich-text-body><p>Owner: <strong>Ops</strong></p></ac:rich-text-body>"
        "</ac:structured-macro>"
    )
    assert out == "Owner: **Ops**"


def test_unknown_macro_with_plain_text_body_keeps_it_as_code() -> None:
    out = storage_to_markdown(
        '<ac:structured-macro ac:name="html"><ac:plain-text-body><![CDATA[<b>hi</b>]]>'
        "</ac:plain-text-body></ac:structured-macro>"
    )
    assert fenced_blocks(out) == [("", "<b>hi</b>")]


def test_math_macros_keep_the_formula() -> None:
    out = storage_to_markdown(
        '<p>Area: <ac:structured-macro ac:name="eazy-math-inline">'
        '<ac:parameter ac:name="body">\\pi r^2</ac:parameter></ac:structured-macro></p>'
        '<ac:structured-macro ac:name="mathblock"><ac:plain-text-body><![CDATA[E = mc^2]]>'
        "</ac:plain-text-body></ac:structured-macro>"
    )
    assert out == "Area: $\\pi r^2$\n\n$$\nE = mc^2\n$$"


def test_layouts_and_placeholders() -> None:
    out = storage_to_markdown(
        "<ac:layout><ac:layout-section ac:type='two_equal'>"
        "<ac:layout-cell><p>Left</p></ac:layout-cell>"
        "<ac:layout-cell><p><ac:placeholder>Type here</ac:placeholder></p><p>Right</p>"
        "</ac:layout-cell></ac:layout-section></ac:layout>"
    )
    assert out == "Left\n\nRight"


# -- whitespace: br, hr, nbsp, time, blank lines -------------------------------------


def test_br_hr_nbsp_and_time() -> None:
    out = storage_to_markdown(
        '<p>one<br/>two</p><hr/><p>due&nbsp;on <time datetime="2024-06-01"/></p>'
    )
    assert out == "one\ntwo\n\n---\n\ndue on 2024-06-01"


def test_blank_runs_collapse_and_trailing_spaces_go() -> None:
    out = storage_to_markdown("<p>a   </p><p></p><p>&nbsp;</p><div><p></p></div><p>b</p>")
    assert out == "a\n\nb"


def test_tidy_leaves_code_blocks_alone() -> None:
    text = "a  \n\n\n\n```\nx  \n\n\n\ny\n```\n\n\n> q\n>\n>\n> r"
    assert tidy_markdown(text) == "a\n\n```\nx  \n\n\n\ny\n```\n\n> q\n>\n> r"


def test_output_never_contains_storage_markup() -> None:
    out = storage_to_markdown(
        '<ac:structured-macro ac:name="info"><ac:rich-text-body><p>'
        '<ac:inline-comment-marker ac:ref="c1">commented</ac:inline-comment-marker> text'
        "</p></ac:rich-text-body></ac:structured-macro>"
    )
    assert out == "> **Info:** commented text"


# -- macro rendering as a pure function ---------------------------------------------


def test_render_macro_is_usable_without_a_parser() -> None:
    assert render_macro(Macro("status", {"title": "in review"})) == "[IN REVIEW]"
    assert render_macro(Macro("toc", {"maxLevel": "2"})) == ""
    assert render_macro(Macro("note", body="Inline", inline=True)) == "**Note:** Inline"
    # Navigation macros stay silent even if a body shows up in them.
    assert render_macro(Macro("jira", {"key": "OPS-1"}, body="OPS-1")) == ""


# == whole pages: the project's own, then the shared captures ===========================

OWN = Path(__file__).resolve().parent / "fixtures" / "storage_format"
OWN_FIXTURES = sorted(p.name for p in OWN.glob("*.xhtml"))
STORAGE = Path("confluence/storage_format")
SHARED_ROOT = SHARED_DATA / STORAGE
SHARED_MISSING = (
    f"the shared storage-format captures (the second layer of these tests) need "
    f"{SHARED_ROOT}, which is not part of a clone"
)
MCP_FIXTURES = [
    "mcp_atlassian/meeting_notes_page.storage.xhtml",
    "mcp_atlassian/pages_from_space_0.storage.xhtml",
    "mcp_atlassian/pages_from_space_1.storage.xhtml",
]
MD2CONF_FIXTURES = [
    "md2conf/admonition.xml",
    "md2conf/alert.xml",
    "md2conf/alignment.xml",
    "md2conf/anchors.xml",
    "md2conf/basic.xml",
    "md2conf/code.xml",
    "md2conf/collapsed.xml",
    "md2conf/extension.xml",
    "md2conf/fenced.xml",
    "md2conf/footnote.xml",
    "md2conf/images.xml",
    "md2conf/images/images.xml",
    "md2conf/macro.xml",
    "md2conf/math.xml",
    "md2conf/mermaid.xml",
    "md2conf/missing.xml",
    "md2conf/panel.xml",
    "md2conf/plantuml.xml",
    "md2conf/sections.xml",
    "md2conf/skip_nodes.xml",
    "md2conf/skip_title_heading.xml",
    "md2conf/skip_title_heading_abstract.xml",
    "md2conf/skip_title_heading_abstract_removed.xml",
    "md2conf/skip_title_heading_frontmatter.xml",
    "md2conf/skip_title_heading_multiple.xml",
    "md2conf/skip_title_heading_preserved.xml",
    "md2conf/skip_title_heading_removed.xml",
    "md2conf/status.xml",
    "md2conf/table.xml",
    "md2conf/tags.xml",
    "md2conf/tasklist.xml",
    "md2conf/toc.xml",
    "md2conf/unknown_code_language.xml",
]
ALL_FIXTURES = MCP_FIXTURES + MD2CONF_FIXTURES
CALLOUTS = ("info", "note", "tip", "warning", "panel")

# Innermost macros only: the body may not contain another macro.
_MACRO = re.compile(
    r'<ac:structured-macro ac:name="(?P<name>[^"]+)"[^>]*>'
    r"(?P<inner>(?:(?!<ac:structured-macro).)*?)</ac:structured-macro>",
    re.DOTALL,
)
_PARAM = re.compile(r'<ac:parameter ac:name="(?P<name>[^"]*)">(?P<value>[^<]*)</ac:parameter>')
_CDATA = re.compile(r"<!\[CDATA\[(.*?)\]\]>", re.DOTALL)


def load(shared_data: Path, name: str) -> tuple[str, str]:
    xhtml = shared_path(str(STORAGE / name)).read_text(encoding="utf-8")
    return xhtml, storage_to_markdown(xhtml)


def own(name: str) -> tuple[str, str]:
    xhtml = (OWN / name).read_text(encoding="utf-8")
    return xhtml, storage_to_markdown(xhtml)


def pages(shared: list[str]) -> list[object]:
    """Own pages always; the shared ones when present, else one skipped stand-in
    that says what is missing (not one skip per absent file)."""
    params: list[object] = [pytest.param(OWN / n, id=f"own/{n}") for n in OWN_FIXTURES]
    if SHARED_ROOT.is_dir():
        params += [pytest.param(SHARED_ROOT / n, id=f"shared/{n}") for n in shared]
    else:
        params.append(pytest.param(None, id="shared", marks=pytest.mark.skip(SHARED_MISSING)))
    return params


def convert(page: Path) -> tuple[str, str]:
    xhtml = page.read_text(encoding="utf-8")
    return xhtml, storage_to_markdown(xhtml)


def macros(xhtml: str) -> list[tuple[str, dict[str, str], str]]:
    """``(name, parameters, inner xhtml)`` of every macro without nested macros
    (code, status and the text-less macros never nest)."""
    found = []
    for match in _MACRO.finditer(xhtml):
        params = {m["name"]: m["value"].strip() for m in _PARAM.finditer(match["inner"])}
        found.append((match["name"], params, match["inner"]))
    return found


def test_fixture_list_covers_the_shared_folder(shared_data: Path) -> None:
    root = shared_path(str(STORAGE))
    on_disk = sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.suffix in {".xml", ".xhtml"} and "source_md" not in path.parts
    )
    assert on_disk == sorted(ALL_FIXTURES)


@pytest.mark.parametrize("page", pages(ALL_FIXTURES))
def test_fixture_leaves_no_storage_markup(page: Path) -> None:
    _, out = convert(page)
    assert out.strip()
    assert not re.search(r"</?(ac|ri):", out)
    assert not re.search(r"\b(ac|ri):[a-z-]+=", out)
    assert "CDATA" not in out and "]]>" not in out
    assert "\n\n\n" not in out
    assert all(line == line.rstrip() for line in out.split("\n"))


@pytest.mark.parametrize("page", pages(ALL_FIXTURES))
def test_fixture_keeps_every_heading(page: Path) -> None:
    xhtml, out = convert(page)
    headings = re.findall(r"<h([1-6])>(.*?)</h\1>", xhtml, re.DOTALL)
    assert headings
    lines = out.split("\n")
    for level, inner in headings:
        text = " ".join(re.sub(r"<ac:parameter[^>]*>.*?</ac:parameter>|<[^>]+>", "", inner).split())
        text = text.replace("&nbsp;", " ").strip()
        prefix = "#" * int(level) + " "
        assert any(line.startswith(prefix) and plain(line).endswith(text) for line in lines), (
            f"heading {prefix}{text!r} missing"
        )


@pytest.mark.parametrize("page", pages(ALL_FIXTURES))
def test_fixture_keeps_code_with_its_language(page: Path) -> None:
    xhtml, out = convert(page)
    blocks = fenced_blocks(out)
    expected = []
    for macro, params, inner in macros(xhtml):
        if macro in {"code", "noformat"}:
            body = "".join(_CDATA.findall(inner))
            body = re.sub(r"\A(?:[ \t]*\n)+", "", body).rstrip()
            language = params.get("language", "")
            expected.append(("" if language == "none" else language, body))
    assert blocks == expected


@pytest.mark.parametrize("page", pages(ALL_FIXTURES))
def test_fixture_keeps_every_table_row(page: Path) -> None:
    xhtml, out = convert(page)
    assert len(table_rows(out)) == xhtml.count("<tr>")
    for cell in re.findall(r"<t[dh][^>]*>\s*<p>([^<]+)</p>", xhtml):
        assert any(f" {cell} " in row for row in table_rows(out)), cell


@pytest.mark.parametrize("page", pages(ALL_FIXTURES))
def test_fixture_labels_every_callout(page: Path) -> None:
    xhtml, out = convert(page)
    callouts = re.findall(rf'<ac:structured-macro ac:name="({"|".join(CALLOUTS)})"', xhtml)
    quoted = re.findall(r"^> \*\*[^*\n]+\*\*", out, re.MULTILINE)
    assert len(quoted) == len(callouts)


@pytest.mark.parametrize("page", pages(ALL_FIXTURES))
def test_fixture_images_and_statuses_survive(page: Path) -> None:
    xhtml, out = convert(page)
    assert out.count("![") == xhtml.count("<ac:image")
    for filename in re.findall(r'<ri:attachment ri:filename="([^"]+)"', xhtml):
        assert filename in out
    for macro, params, _ in macros(xhtml):
        if macro == "status":
            assert f"[{params['title'].upper()}]" in out


@pytest.mark.parametrize("page", pages(ALL_FIXTURES))
def test_fixture_drops_configuration_of_textless_macros(page: Path) -> None:
    xhtml, out = convert(page)
    silent = NO_TEXT_MACROS | {"mermaid-cloud", "plantumlcloud"}
    for macro, params, _ in macros(xhtml):
        if macro in silent:
            for value in params.values():
                assert len(value) < 4 or value not in out, (macro, value)
    for leak in ("EMBED(", "DATA(", "WIDTH(", "panelIcon", "bgColor", "schema-version"):
        assert leak not in out


# -- the project's own pages, one behaviour each ---------------------------------------


def test_own_fixtures_cover_every_kind_of_element() -> None:
    """The own layer keeps exercising what the shared captures do."""
    text = "".join((OWN / n).read_text(encoding="utf-8") for n in OWN_FIXTURES)
    for needle in (
        "<h1>",
        "<h3>",
        "<table>",
        "colspan",
        "ac:task-list",
        "ri:user",
        "ri:page",
        "ri:attachment",
        "ri:url",
        "<time",
        "ac:emoticon",
        "ac:layout",
        "CDATA",
    ):
        assert needle in text, needle
    for macro in ("code", "noformat", "info", "note", "tip", "warning", "panel", "expand",
                  "status", "toc", "anchor", "children", "jira"):  # fmt: skip
        assert f'ac:name="{macro}"' in text, macro


def test_own_meeting_notes_mentions_emoticons_and_dates() -> None:
    xhtml, out = own("incident_review.xhtml")
    assert out.split("\n\n")[:4] == [
        "## 📅 Date",
        "2025-02-03",
        "## Participants",
        "- @user\n- @user",
    ]
    names = {"712020:aa11bb22": "Grace Hopper", "712020:cc33dd44": "Alan Turing"}.get
    named = storage_to_markdown(xhtml, user_name=names)
    assert "- @Grace Hopper\n- @Alan Turing" in named and "712020" not in named
    assert "1. Validate config changes in staging\n   - add a schema check" in out


def test_own_code_keeps_indentation_languages_and_titles() -> None:
    _, out = own("deploy_runbook.xhtml")
    assert '        raise SystemExit("nothing to roll back to")' in out.split("\n")
    assert [info for info, _ in fenced_blocks(out)] == ["bash", "python", "", ""]
    assert "**Tag a release**\n\n```bash\ngit tag -a v2.14.0" in out
    assert "ROLLBACK_TOKEN=<ask the on-call lead> & keep it secret" in out


def test_own_callouts_carry_their_titles() -> None:
    assert (
        "> **Info: Before you start**\n>\n> Ask IT for a laptop" in own("onboarding_guide.xhtml")[1]
    )
    assert (
        "> **Warning: Freeze window**\n>\n> No deploys on Fridays" in own("deploy_runbook.xhtml")[1]
    )
    architecture = own("architecture_overview.xhtml")[1]
    assert "> **Why queues:** Orders are written to a queue first" in architecture
    assert "> **Tip:** The full design record is attached" in architecture
    assert "> **Note:** Pages go to the primary first" in own("oncall_rota.xhtml")[1]


def test_own_expand_sections_keep_their_title_and_content() -> None:
    rota = own("oncall_rota.xhtml")[1]
    assert "**Who to call when both are unreachable**\n\nCall the engineering manager" in rota
    api = own("api_reference.xhtml")[1]
    assert ("json", '{\n  "sku": "ACME-42",\n  "quantity": 2\n}') in fenced_blocks(api)


def test_own_task_list_tables_and_links() -> None:
    guide = own("onboarding_guide.xhtml")[1]
    assert "- [x] **Set up** single sign-on\n- [ ] Clone the `acme/platform` repository" in guide
    assert "walk you through the deploy runbook." in guide
    assert "- Ask in [#eng-help](https://acme.example/slack/eng-help)." in guide
    rota = own("oncall_rota.xhtml")[1]
    assert "| 12 | Identity<br>(handover on Tuesday) | Payments |" in rota
    assert "| Holidays swap by agreement with the rota owner. | | |" in rota
    assert "| GET | `/orders/{id}` | One order |" in own("api_reference.xhtml")[1]


def test_own_images_attachments_and_silent_macros() -> None:
    _, out = own("architecture_overview.xhtml")
    lines = out.split("\n")
    assert "![Service diagram](services-2025.png)" in lines
    assert "Vendor logo: ![gateway-logo.svg](https://cdn.acme.example/gateway-logo.svg)" in lines
    assert "design record 7 (design-record-7.pdf)" in out
    assert out.endswith("### Child pages\n\nOpen work:")  # children and jira leave nothing
    assert "PLAT" not in out and "creation" not in out
    runbook = own("deploy_runbook.xhtml")[1]
    assert runbook.startswith("# Deploy runbook")  # the toc macro leaves nothing
    assert "## Before you deploy" in runbook and "before-you-deploy" not in runbook


def test_own_unknown_macro_keeps_its_body() -> None:
    assert "100 requests per minute per key" in own("api_reference.xhtml")[1]


# -- specific shared fixtures -----------------------------------------------------------


def test_meeting_notes_mentions_emoticons_and_dates(shared_data: Path) -> None:
    xhtml, out = load(shared_data, "mcp_atlassian/meeting_notes_page.storage.xhtml")
    assert out.split("\n\n") == [
        "## :blue-star: Date",
        "2024-01-01",
        "## :blue-star: Participants",
        "- @user",
        "## :blue-star: Goals",
        "- Example goal",
    ]
    named = storage_to_markdown(xhtml, user_name={"user123": "Ada Lovelace"}.get)
    assert "- @Ada Lovelace" in named.split("\n")
    assert "user123" not in named


def test_pages_from_space_keep_emphasis_and_brackets(shared_data: Path) -> None:
    _, first = load(shared_data, "mcp_atlassian/pages_from_space_0.storage.xhtml")
    _, second = load(shared_data, "mcp_atlassian/pages_from_space_1.storage.xhtml")
    assert first.split("\n\n") == [
        "### [Date]",
        "*Result*: Sample Result",
        "*Reviews*:",
        "Sample content with various formatting",
    ]
    assert second == "## Meeting Agenda\n\nExample content"


def test_md2conf_code_keeps_indentation(shared_data: Path) -> None:
    _, out = load(shared_data, "md2conf/code.xml")
    assert '        System.out.println("Hello Java!");' in out.split("\n")
    assert [info for info, _ in fenced_blocks(out)] == ["", "py", "java", "js", "json"]


def test_md2conf_skip_nodes_code_keeps_html_comment(shared_data: Path) -> None:
    _, out = load(shared_data, "md2conf/skip_nodes.xml")
    assert "    # <!-- confluence-skip-start -->" in out.split("\n")


def test_md2conf_admonitions_use_the_bold_first_line_as_title(shared_data: Path) -> None:
    _, out = load(shared_data, "md2conf/admonition.xml")
    assert "> **Info:** This is an information panel." in out
    assert "> **Warning: Bug**\n>\n> This is an admonition type used in Material for MkDocs." in out
    assert "> **Tip: Tip of the day**" in out


def test_md2conf_panels(shared_data: Path) -> None:
    _, panels = load(shared_data, "md2conf/panel.xml")
    _, macro = load(shared_data, "md2conf/macro.xml")
    assert "> **Tip of the day:** This is a structured macro panel showing a tip." in panels
    assert "> **Panel:** A *custom colored panel* with a 🙂 emoji" in macro
    assert fenced_blocks(macro) == [
        ("", "This is preformatted text.\n  Indentation and\nline breaks are preserved.")
    ]


def test_md2conf_expand_sections(shared_data: Path) -> None:
    _, out = load(shared_data, "md2conf/collapsed.xml")
    assert "**Tips for collapsed sections**\n\nYou can add text within a collapsed section." in out
    assert ("ruby", 'puts "Hello World"') in fenced_blocks(out)


def test_md2conf_tasklist(shared_data: Path) -> None:
    _, out = load(shared_data, "md2conf/tasklist.xml")
    assert "### Examples\n\n- [x] **Finished** action\n- [ ] **Unfinished** action\n" in out


def test_md2conf_tables(shared_data: Path) -> None:
    _, out = load(shared_data, "md2conf/table.xml")
    assert "| Arabic | Roman |\n| --- | --- |\n| 1 | I |" in out
    assert "| Data | A multi-line<br>paragraph. |" in out
    assert "| Number | English | Hungarian |\n| --- | --- | --- |\n| 1 | one | egy |" in out


def test_md2conf_images(shared_data: Path) -> None:
    _, out = load(shared_data, "md2conf/images.xml")
    lines = out.split("\n")
    assert '![SVG image with caption](figure_vector.svg "A vector image")' in lines
    assert "![figure_raster.png](figure_raster.png)" in lines
    assert (
        "This is an ![inline image](http://confluence.atlassian.com/images/logo/"
        "confluence_48_trans.png) at an external location." in lines
    )


def test_md2conf_links_to_attachments_and_anchors(shared_data: Path) -> None:
    _, out = load(shared_data, "md2conf/anchors.xml")
    assert "PDF document (docs_sample.pdf)" in out.split("\n")
    assert "Link to Subsection 1 | Link to Subsection 2" in out
    assert "subsection-1" not in out


def test_md2conf_toc_and_children_vanish(shared_data: Path) -> None:
    _, out = load(shared_data, "md2conf/toc.xml")
    assert out.endswith("## Table of contents\n\nTable of contents macro:\n\nChild pages macro:")


def test_md2conf_missing_warning_keeps_its_title(shared_data: Path) -> None:
    _, out = load(shared_data, "md2conf/missing.xml")
    assert "> **Warning: Missing block-level image**\n>\n> ❌ Missing image: `missing.png`" in out


def test_md2conf_math(shared_data: Path) -> None:
    _, out = load(shared_data, "md2conf/math.xml")
    assert r"$\sum_{i=1}^{n} i = \frac{n(n+1)}{2}$" in out
    assert "$$\n\\int _{a}^{b}f(x)dx=F(b)-F(a)\n$$" in out


# -- md2conf: compare with the Markdown each fixture was generated from ---------------

# Fixtures whose storage differs from their source on purpose: md2conf drops text
# between "confluence-skip" markers.
_PROSE_SKIPPED = {"skip_nodes"}
# md2conf turns these fenced blocks into diagram macros or raw storage.
_NOT_CODE_IN_STORAGE = {"mermaid", "plantuml", "math", "csf"}


def source_parts(md: str) -> tuple[list[tuple[int, str]], list[tuple[str, str]], list[str]]:
    """Headings, fenced code blocks and plain-prose paragraphs of a Markdown source."""
    md = re.sub(r"\A---\n.*?\n---\n", "", md, flags=re.DOTALL)
    headings: list[tuple[int, str]] = []
    code: list[tuple[str, str]] = []
    paragraphs: list[str] = []
    buffer: list[str] = []
    paragraph: list[str] = []
    fence, language, in_div = "", "", False
    for line in md.split("\n"):
        if fence:
            if line.strip() == fence:
                code.append((language, textwrap.dedent("\n".join(buffer))))
                fence, buffer = "", []
            else:
                buffer.append(line)
            continue
        opening = re.match(r"\s*(`{3,})(\S*)", line)
        if opening:
            fence, language = opening.group(1), opening.group(2)
            continue
        line = re.sub(r"<!--.*?-->", "", line).strip()
        in_div = (in_div or line.startswith("<div")) and not line.startswith("</div")
        heading = re.match(r"(#{1,6}) (.*?)(?:\s*\{#[^}]*\})?$", line)
        underline = re.fullmatch(r"(=+|-{3,})", line)
        if heading and not in_div:
            headings.append((len(heading.group(1)), plain(heading.group(2))))
        elif underline and paragraph:
            headings.append((1 if line[0] == "=" else 2, plain(" ".join(paragraph))))
            paragraph = []
        elif line:
            paragraph.append(line)
            continue
        if paragraph:
            paragraphs.append(" ".join(paragraph))
            paragraph = []
    if paragraph:
        paragraphs.append(" ".join(paragraph))
    prose = [p for p in paragraphs if re.match(r"[A-Za-z]", p) and not re.search(r"[<>&\[\]$^]", p)]
    return headings, code, prose


MD2CONF_WITH_SOURCE = [
    name
    for name in MD2CONF_FIXTURES
    if name.removeprefix("md2conf/").removesuffix(".xml")
    not in {
        "panel",
        "skip_title_heading_abstract_removed",
        "skip_title_heading_preserved",
        "skip_title_heading_removed",
    }
]


def md2conf_with_source() -> list[object]:
    if SHARED_ROOT.is_dir():
        return [pytest.param(n, id=n) for n in MD2CONF_WITH_SOURCE]
    return [pytest.param(None, id="shared", marks=pytest.mark.skip(SHARED_MISSING))]


@pytest.mark.parametrize("name", md2conf_with_source())
def test_md2conf_source_content_survives(shared_data: Path, name: str) -> None:
    stem = name.removeprefix("md2conf/").removesuffix(".xml")
    source = shared_path(str(STORAGE / "md2conf/source_md" / f"{stem}.md")).read_text("utf-8")
    _, out = load(shared_data, name)
    headings, code, prose = source_parts(source)
    assert headings or code or prose, "nothing to compare"

    out_headings = [
        (len(m.group(1)), plain(m.group(2)))
        for m in re.finditer(r"^(#{1,6}) (.*)$", out, re.MULTILINE)
    ]
    for heading in headings:
        assert heading in out_headings, heading

    out_code = [body for _, body in fenced_blocks(out)]
    for language, body in code:
        if language not in _NOT_CODE_IN_STORAGE:
            assert body.strip("\n") in out_code, body

    if stem not in _PROSE_SKIPPED:
        flat = plain(out)
        for paragraph in prose:
            # ``_emphasis_`` in the source is ``*emphasis*`` in the output.
            assert plain(re.sub(r"(?<!\w)_|_(?!\w)", "", paragraph)) in flat, paragraph
