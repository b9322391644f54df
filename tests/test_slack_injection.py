"""Nothing a document or the model writes can mention, notify or mislead anyone.

End to end: a page full of ``<!channel>``, ``<!here>``, ``<@U…>``, ``[x](!channel)``
and a labelled link, answered by mention (chat.update mode and streaming mode), ``/ask``
(in a channel docbot is in, and through the response URL), DM, a model that writes
the same, and a model error that quotes it. The fake Slack records every request in
full; no string anywhere in any of them may hold a live mention or a link docbot did
not make itself. Then the rules one by one, and the streaming guard's promise that
however the text is cut into pieces, what Slack receives is the same.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.slack import ui
from bot.slack.defuse import ZWSP, MarkdownGuard, defuse_markdown, is_web_link
from bot.slack.mrkdwn import link, to_mrkdwn
from tests.fakes import slack_payloads as P
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_server import Call, FakeSlack
from tests.slack_helpers import Bot, all_text, make_bot

pytest_plugins = ["tests.slack_support"]

PAGE = """# Payroll

## When payroll runs <!here>

Payroll runs on the 25th of each month <!channel> <!here> <!everyone>.
Payroll questions go to <@U123> or <@W456> in <#C789|payroll> and <!subteam^S111|payroll-team>.
Payroll forms: [the payroll form](!channel), [the payroll owner](@U123), [the room](#C789).
Payroll portal: <https://evil.example/login|Payroll portal> and &lt;!channel&gt; too.
"""
QUESTION = "When does payroll run each month?"
MODEL_REPLY = (
    "Payroll runs on the 25th <!channel> <!here> <!everyone> [x](!channel) (ask "
    "[the owner](@U123) or <@U123> in <#C789>, or <!subteam^S111|team>) — see "
    "<https://evil.example/login|Payroll portal> [1]."
)
OURS = "https://docs.acme.example/"  # DOCS_URL: the citation links docbot makes itself

# a live mention or broadcast, or a labelled link: <!…>, <@…>, <#…>, <target|label>
_LIVE = re.compile(r"<([!@#][^>]*|[^<>\s|]+\|[^>]*)>")
_MD_TARGET = re.compile(r"\]\(\s*<?([^)\s>]*)")


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def live_mentions(calls: list[Call], asker: str | None = None) -> list[str]:
    """Every live mention or foreign link in any string of any recorded request
    (docbot's own citation links, and the asker named above an /ask answer, allowed)."""
    found = []
    for call in calls:
        for text in strings(call.decoded):
            if asker:
                text = text.replace(f"<@{asker}> asked", "")
            found += [
                f"{call.method}: {m.group(0)}"
                for m in _LIVE.finditer(text)
                if not m.group(1).startswith(OURS)
            ]
            found += [
                f"{call.method}: ]({m.group(1)}"
                for m in _MD_TARGET.finditer(text)
                if not is_web_link(m.group(1))
            ]
    return found


def _bot(tmp: Path, slack: FakeSlack, openai: FakeOpenAI | None, streaming: bool) -> Bot:
    bot = make_bot(tmp, slack, openai=openai, sync=False, inline=True, streaming=streaming)
    (tmp / "docs" / "payroll.md").write_text(PAGE, encoding="utf-8")
    assert all(r.error is None for r in bot.docbot.sync())
    if openai is not None:
        openai.reply = MODEL_REPLY
    return bot


SURFACES = [
    ("mention", "update", False),
    ("mention", "stream", False),
    ("mention", "update", True),
    ("mention", "stream", True),
    ("dm", "stream", False),
    ("dm", "stream", True),
    ("slash", "update", False),
    ("slash", "update", True),
    ("slash-not-a-member", "update", True),
]


@pytest.mark.parametrize(("surface", "mode", "llm"), SURFACES)
def test_a_page_full_of_mentions_never_reaches_slack_live(
    tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI,
    surface: str, mode: str, llm: bool,
) -> None:  # fmt: skip
    bot = _bot(tmp_path, fake_slack, fake_openai if llm else None, mode == "stream")
    if surface == "mention":
        event = P.app_mention(f"<@{P.BOT_USER_ID}> {QUESTION}")
        fake_slack.seed_event(event)
        bot.deliver(event)
    elif surface == "dm":
        event = P.im_message(QUESTION)
        fake_slack.seed_event(event)
        bot.deliver(event)
    else:
        if surface == "slash-not-a-member":
            fake_slack.fail("chat.postMessage", "not_in_channel")
        bot.command(P.slash_command(QUESTION, response_url=fake_slack.response_url()))

    posted = fake_slack.calls("response_url") or [fake_slack.wait_for(_final_answer)]
    text = all_text(posted[0].decoded)
    everything = json.dumps([c.decoded for c in fake_slack.calls()])
    assert "25th" in everything  # the dangerous text really was answered with
    if mode == "stream" and surface != "slash":
        assert fake_slack.calls("chat.startStream")
    assert live_mentions(fake_slack.calls(), asker=P.USER_ID) == []
    if not llm and mode == "update":
        assert f"<{OURS}payroll.md" in text  # docbot's own links still work


def _final_answer(call: Call) -> bool:
    blocks = call.decoded.get("blocks") or []
    return call.ok and any(b.get("block_id") == ui.FEEDBACK_BLOCK_ID for b in blocks)


@pytest.mark.parametrize("streaming", [False, True])
def test_a_model_error_that_quotes_mentions_is_shown_inert(
    tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI, streaming: bool
) -> None:
    bot = _bot(tmp_path, fake_slack, fake_openai, streaming)
    fake_openai.fail_next(status=400, message="Bad request <!channel> [x](!here) <@U123>")
    event = P.app_mention(f"<@{P.BOT_USER_ID}> {QUESTION}")
    fake_slack.seed_event(event)

    bot.deliver(event)

    error = bot.wait_error()
    assert "language model failed" in all_text(error)
    assert live_mentions(fake_slack.calls()) == []


# --- the rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "web"),
    [
        ("https://docs.acme.example/a", True),
        ("HTTP://x.example", True),
        ("mailto:hr@acme.example", True),
        ("!channel", False),
        ("@U123", False),
        ("#C789", False),
        ("file:///etc/passwd", False),
        ("javascript:alert(1)", False),
        ("https:///no-host", False),
        ("<!here>", False),
    ],
)
def test_only_web_and_mail_targets_are_links(url: str, web: bool) -> None:
    assert is_web_link(url) is web
    assert (link(url, "label").startswith("<")) is web


@pytest.mark.parametrize(
    ("markdown", "never"),
    [
        ("[x](!channel)", "<!channel"),
        ("[x](@U123)", "<@U123"),
        ("[x](#C789)", "<#C789"),
        ("![x](javascript:alert(1))", "javascript"),
        ("see <!here> and <@U1>", "<!here>"),
        ("<https://evil.example|Payroll>", "|Payroll>"),
    ],
)
def test_mrkdwn_never_carries_a_live_mention(markdown: str, never: str) -> None:
    assert never not in to_mrkdwn(markdown)


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("ping <!channel> now", f"ping <{ZWSP}!channel> now"),
        ("<@U123> and <@W456> in <#C789>", f"<{ZWSP}@U123> and <{ZWSP}@W456> in <{ZWSP}#C789>"),
        ("<!subteam^S1|payroll-team>", "payroll-team (!subteam^S1)"),
        ("<https://evil.example|Payroll portal>", "Payroll portal (https://evil.example)"),
        ("[the form](!channel) and [me](@U1 'title')", "the form and me"),
        ("![logo](javascript:alert(1))", "logo"),
        ("[a [b] c](!x)", "[a [b] c]"),
        ("[docs](https://docs.acme.example/a_(b))", "[docs](https://docs.acme.example/a_(b))"),
        (
            "&lt;!channel&gt; &#60;!here&#62; &#x3C;!everyone&gt;",
            f"&{ZWSP}lt;!channel&gt; &{ZWSP}#60;!here&#62; &{ZWSP}#x3C;!everyone&gt;",
        ),
        ("List<String> where a < b, **bold** [1]", "List<String> where a < b, **bold** [1]"),
    ],
)
def test_streamed_markdown_is_defused(markdown: str, expected: str) -> None:
    assert defuse_markdown(markdown) == expected


def test_the_stream_guard_gives_the_same_text_however_the_stream_is_cut() -> None:
    text = PAGE + "\n" + MODEL_REPLY + " [a](<!here>) ![i](javascript:x(1)) <a|<!here>> end"
    whole = defuse_markdown(text)
    for seed in range(300):
        rng = random.Random(seed)
        guard, out, i = MarkdownGuard(), [], 0
        while i < len(text):
            n = rng.randint(1, 12)
            out.append(guard.feed(text[i : i + n]))
            i += n
        out.append(guard.flush())
        assert "".join(out) == whole, f"cut with seed {seed}"
    assert live_mentions([_as_call(whole)]) == []


def test_the_stream_guard_lets_go_of_a_long_tail_with_its_opener_made_inert() -> None:
    guard = MarkdownGuard()
    first = guard.feed("see [the form" + "m" * 400)
    second = guard.feed("](!channel) now")

    assert first.startswith("see \\[the form") and guard.pending == ""
    assert second == "] now"  # the target is dropped: no link can form any more


def _as_call(text: str) -> Call:
    body = json.dumps({"markdown_text": text}).encode()
    return Call("chat.appendStream", "POST", "/api/chat.appendStream", {}, {},
                {"markdown_text": text}, body, None, 200, {"ok": True}, 0.0)  # fmt: skip
