"""The delivery of one answer against the fake Slack's limits and faults: huge answers,
a placeholder deleted mid-answer, stream calls refused, status refused, rate limits."""

from __future__ import annotations

from slack_sdk import WebClient

from bot.ops.ratelimit import RateLimiter
from bot.slack import ui
from bot.slack.reply import Reply
from bot.slack.stream import StreamSupport, Target
from tests.fakes import slack_payloads as P
from tests.fakes.slack_server import FakeSlack

pytest_plugins = ["tests.fakes.slack_fixtures"]

FOOTER = [ui.feedback_block("answer-1")]
PARAGRAPHS = [f"Paragraph {i}: " + "lorem ipsum dolor sit amet " * 20 for i in range(300)]
LONG = "\n\n".join(PARAGRAPHS)  # ~170k characters: more than 50 sections of 3,000


def _reply(client: WebClient, root: str, *, streaming: bool = True, interval: float = 0.0) -> Reply:
    target = Target(P.CHANNEL_ID, root, P.USER_ID, P.TEAM_ID)
    return Reply(client, target, streams=StreamSupport(streaming), interval=interval)


def _joined(fake_slack: FakeSlack, root: str) -> str:
    return " ".join(
        b.get("text", {}).get("text", "") if isinstance(b.get("text"), dict) else ""
        for m in fake_slack.messages(P.CHANNEL_ID, root)
        for b in m.get("blocks") or []
    ) + " ".join(m.get("text", "") for m in fake_slack.messages(P.CHANNEL_ID, root))


def test_a_huge_answer_is_split_across_messages_without_slack_errors(
    fake_slack: FakeSlack, slack_client: WebClient
) -> None:
    root = fake_slack.seed_message(P.CHANNEL_ID, "question")["ts"]
    reply = _reply(slack_client, root, streaming=False, interval=0.5)
    reply.start()
    for paragraph in PARAGRAPHS:
        reply.write(paragraph + "\n\n")

    reply.finish(LONG, FOOTER)

    assert all(c.ok for c in fake_slack.calls()), [c.response for c in fake_slack.calls()]
    assert len(fake_slack.calls("chat.postMessage")) >= 2  # the overflow went into new posts
    assert "Paragraph 299" in _joined(fake_slack, root)
    assert ui.PLACEHOLDER not in [m["text"] for m in fake_slack.messages(P.CHANNEL_ID, root)]


def test_a_huge_streamed_answer_continues_in_a_second_message(
    fake_slack: FakeSlack, slack_client: WebClient
) -> None:
    root = fake_slack.seed_message(P.CHANNEL_ID, "question")["ts"]
    reply = _reply(slack_client, root)
    reply.start()
    for paragraph in PARAGRAPHS:
        reply.write(paragraph + "\n\n")

    reply.finish(LONG, FOOTER)

    assert all(c.ok for c in fake_slack.calls())
    last = fake_slack.last_message(P.CHANNEL_ID, root)
    assert any(b.get("block_id") == ui.FEEDBACK_BLOCK_ID for b in last["blocks"])
    assert "Paragraph 299" in _joined(fake_slack, root)


def test_a_placeholder_deleted_mid_answer_is_replaced_by_a_new_post(
    fake_slack: FakeSlack, slack_client: WebClient
) -> None:
    root = fake_slack.seed_message(P.CHANNEL_ID, "question")["ts"]
    reply = _reply(slack_client, root, streaming=False)
    reply.start()
    assert reply.placeholder_ts is not None
    slack_client.chat_delete(channel=P.CHANNEL_ID, ts=reply.placeholder_ts)

    ts = reply.finish("The answer.", FOOTER)

    assert ts is not None and ts != reply.placeholder_ts
    assert fake_slack.message(P.CHANNEL_ID, ts)["text"] == "The answer."  # type: ignore[index]


def test_a_failing_stop_stream_still_shows_the_footer(
    fake_slack: FakeSlack, slack_client: WebClient
) -> None:
    root = fake_slack.seed_message(P.CHANNEL_ID, "question")["ts"]
    fake_slack.fail("chat.stopStream", "internal_error")
    reply = _reply(slack_client, root)
    reply.start()
    reply.write("The answer.")

    reply.finish("The answer.", FOOTER)

    last = fake_slack.last_message(P.CHANNEL_ID, root)
    assert any(b.get("block_id") == ui.FEEDBACK_BLOCK_ID for b in last["blocks"])


def test_a_refused_status_falls_back_to_a_placeholder(
    fake_slack: FakeSlack, slack_client: WebClient
) -> None:
    root = fake_slack.seed_message(P.DM_CHANNEL_ID, "question")["ts"]
    fake_slack.fail("assistant.threads.setStatus", "not_allowed")
    reply = Reply(slack_client, Target(P.DM_CHANNEL_ID, root, P.USER_ID, assistant=True),
                  streams=StreamSupport(False))  # fmt: skip

    reply.start()
    reply.fail("It broke.")

    texts = [m["text"] for m in fake_slack.messages(P.DM_CHANNEL_ID, root)]
    assert texts == ["question", ":warning: It broke."]


def test_slack_rate_limits_are_waited_out(fake_slack: FakeSlack) -> None:
    from bot.slack.app import make_web_client
    from ingest.settings import load_settings

    settings = load_settings({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_API_URL": fake_slack.api_url})
    fake_slack.fail("chat.postMessage", "ratelimited", retry_after=0)

    make_web_client(settings).chat_postMessage(channel=P.CHANNEL_ID, text="hi")

    assert [c.status for c in fake_slack.calls("chat.postMessage")] == [429, 200]


def test_rate_limiter_counts_per_user_per_window() -> None:
    now = [0.0]
    limiter = RateLimiter(2, overall=3, clock=lambda: now[0])
    assert limiter.check("a") is None and limiter.check("a") is None
    assert "2 questions" in (limiter.check("a") or "")
    assert limiter.check("b") is None
    assert "a lot of questions" in (limiter.check("c") or "")
    now[0] = 61.0
    assert limiter.check("a") is None
