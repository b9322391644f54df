"""Pure rendering and message rules: Markdown → mrkdwn, Slack's size limits, Block Kit
shapes, and which messages docbot answers (no server needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.slack import conversation as conv
from bot.slack import ui
from bot.slack.mrkdwn import split_text, to_mrkdwn
from ingest.errors import InputError, LLMRateLimited, LLMUnavailable
from ingest.models import Hit
from tests.fakes import slack_payloads as P

ME = conv.BotIdentity(user_id=P.BOT_USER_ID, bot_id=P.BOT_ID)
NOW = datetime(2025, 6, 1, tzinfo=UTC)


def hit(n: int = 1, **fields: object) -> Hit:
    base: dict[str, object] = dict(
        chunk_id=n, source="docs", doc_id=f"page{n}.md", title=f"Page {n}",
        url=f"https://docs.example/page{n}.md", text="text", heading_path=(f"Page {n}", "Setup"),
        anchor="setup", score=0.9, updated_at=NOW - timedelta(days=3),
    )  # fmt: skip
    return Hit(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("markdown", "mrkdwn"),
    [
        ("**bold** and *it* and ~~gone~~", "*bold* and _it_ and ~gone~"),
        ("[the guide](https://x.example/a?b=1&c=2)", "<https://x.example/a?b=1&amp;c=2|the guide>"),
        ("## Set up", "*Set up*"),
        ("- one\n  - two", "• one\n    • two"),
        ("- [x] done", "☑ done"),
        ("a < b & c > d", "a &lt; b &amp; c &gt; d"),
        ("`x **y** <z>`", "`x **y** &lt;z&gt;`"),
        ("> quoted **b**", "> quoted *b*"),
        ("```python\nif a < b:\n    **no**\n```", "```\nif a &lt; b:\n    **no**\n```"),
        ("```\nunterminated", "```\nunterminated\n```"),
        ("see <https://x.example>", "see <https://x.example|https://x.example>"),
    ],
)
def test_markdown_becomes_mrkdwn(markdown: str, mrkdwn: str) -> None:
    assert to_mrkdwn(markdown) == mrkdwn


def test_tables_become_aligned_code_blocks() -> None:
    out = to_mrkdwn("| Plan | Days |\n|---|---:|\n| US | 25 |\n| [EU](http://e) | 30 |")
    assert out.splitlines() == ["```", "Plan  Days", "----  ----", "US    25", "EU    30", "```"]


def test_citations_link_to_their_sources() -> None:
    assert to_mrkdwn("Use the VPN [1][2].", {1: "https://a#x"}) == (
        "Use the VPN <https://a#x|[1]>[2]."
    )


def test_long_text_splits_within_the_limit_keeping_code_blocks_whole() -> None:
    text = "Intro.\n\n```\n" + "\n".join(f"line {i}" for i in range(800)) + "\n```\n\nEnd " * 3
    pieces = split_text(text, 3000)
    assert len(pieces) > 2 and all(len(p) <= 3000 for p in pieces)
    assert all(p.count("```") % 2 == 0 for p in pieces)  # each piece renders on its own
    one_line = split_text("word " * 2000, 3000)
    assert all(len(p) <= 3000 for p in one_line) and "".join(one_line).count("word") == 2000


def test_huge_answers_never_exceed_slacks_block_limits() -> None:
    blocks = ui.text_blocks("A long paragraph with [a link](https://x.example). " * 4000)
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks)
    messages = ui.split_messages(blocks)
    assert all(P.block_errors(m) == [] for m in messages)
    assert sum(len(m) for m in messages) == len(blocks)


def test_sources_block_lists_numbered_section_links_with_age() -> None:
    block = ui.sources_block([(1, hit(1)), (2, hit(2, updated_at=None, heading_path=()))], NOW)
    assert block is not None
    text = block["text"]["text"]
    assert "*[1]* <https://docs.example/page1.md#setup|Page 1> · Page 1 &gt; Setup" in text
    assert "updated 3 days ago" in text
    assert "*[2]* <https://docs.example/page2.md#setup|Page 2>" in text
    assert P.block_errors([block]) == []


def test_footer_labels_extractive_answers_and_carries_feedback_buttons() -> None:
    blocks = ui.footer_blocks(mode="extractive", abstained=False, cited=[(1, hit())],
                              answer_id="abc", now=NOW)  # fmt: skip
    assert [b["type"] for b in blocks] == ["context", "section", "actions"]
    assert ui.EXTRACTIVE_NOTE in blocks[0]["elements"][0]["text"]
    assert {e["value"] for e in blocks[2]["elements"]} == {"abc"}
    abstained = ui.footer_blocks(mode="llm", abstained=True, cited=[(1, hit())], answer_id="x")
    assert [b["type"] for b in abstained] == ["actions"]


def test_updated_ago() -> None:
    assert ui.updated_ago(NOW, NOW) == "updated today"
    assert ui.updated_ago(NOW - timedelta(days=1), NOW) == "updated yesterday"
    assert ui.updated_ago(NOW - timedelta(days=400), NOW) == "updated 13 months ago"
    assert ui.updated_ago(None) == ""


def test_error_messages_say_what_happened() -> None:
    assert "rate-limiting" in ui.error_message(LLMRateLimited("x"))
    assert "can't reach" in ui.error_message(LLMUnavailable("x"))
    assert ui.error_message(InputError("too long")) == "I can't answer that: too long"
    assert ui.error_message(KeyError("secret detail")) == ui.INTERNAL_ERROR


def test_suggested_prompts_fit_slacks_limit() -> None:
    prompts = ui.suggested_prompts(["VPN", "Expenses", "PTO", "Travel", "Security"])
    assert len(prompts) == 4 and prompts[0]["title"] == "About VPN"


# --- conversation rules ----------------------------------------------------------------------


def test_clean_text_turns_slack_markup_into_the_question() -> None:
    text = (
        f"<@{P.BOT_USER_ID}> how do I reach <https://vpn.example|the VPN> from <#C123|eng>? "
        "cc <@U0ALICE> &amp; <!here>"
    )
    assert conv.clean_text(text, P.BOT_USER_ID) == (
        "how do I reach the VPN from #eng? cc @U0ALICE & @here"
    )


def test_ignore_reason() -> None:
    human = P.message("hi")["event"]
    assert conv.ignore_reason(human, ME) is None
    assert conv.ignore_reason({**human, "subtype": "thread_broadcast"}, ME) is None
    assert conv.ignore_reason(P.bot_message()["event"], ME) == "our own message"
    other = P.bot_message(bot_id="B0X", user="U0X", app_id="A0X")["event"]
    assert conv.ignore_reason(other, ME) == "a bot's message"
    assert conv.ignore_reason(P.message_changed("x", ts="1.1")["event"], ME) == (
        "subtype message_changed"
    )
    assert conv.ignore_reason({**human, "subtype": "bot_message"}, ME) == "subtype bot_message"


def test_history_from_replies_keeps_people_and_docbot_in_order() -> None:
    replies = [
        {"ts": "1.0", "user": "U1", "text": f"<@{P.BOT_USER_ID}> VPN?"},
        {"ts": "1.1", "user": P.BOT_USER_ID, "bot_id": P.BOT_ID, "text": ui.PLACEHOLDER},
        {"ts": "1.2", "user": P.BOT_USER_ID, "bot_id": P.BOT_ID, "text": "Use TunnelGate [1]."},
        {"ts": "1.3", "bot_id": "B0X", "text": "deploy done"},
        {"ts": "1.4", "user": "U1", "subtype": "channel_join", "text": "joined"},
        {"ts": "1.5", "user": "U2", "text": "on my phone?"},
        {"ts": "1.6", "user": "U1", "text": "later message"},
    ]
    history = conv.history_from_replies(replies, ME, before_ts="1.5", skip_texts=[ui.PLACEHOLDER])
    assert history == [
        {"role": "user", "content": "VPN?"},
        {"role": "assistant", "content": "Use TunnelGate [1]."},
    ]


def test_thread_rules() -> None:
    assert conv.reply_thread({"ts": "2.0"}) == "2.0"
    assert conv.reply_thread({"ts": "2.0", "thread_ts": "1.0"}) == "1.0"
    assert conv.is_thread_reply({"ts": "2.0", "thread_ts": "1.0"})
    assert not conv.is_thread_reply({"ts": "1.0", "thread_ts": "1.0"})
    assert conv.mentions_someone_else("<@U0ALICE> thoughts?", ME)
    assert not conv.mentions_someone_else(f"<@{P.BOT_USER_ID}> thoughts?", ME)
    assert conv.is_help("  ") and conv.is_help("Help") and not conv.is_help("VPN?")
