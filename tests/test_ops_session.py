"""A scripted session through the fake Slack and the fake OpenAI — a mention, a thread
follow-up, a DM, ``/ask``, a repeat served from the cache, an unanswerable question
and one model failure — after which ``/metrics``, the JSON request log lines and
``docbot status`` (``collect_status``) all tell the same story."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bot.server.web import create_web_app
from tests.fakes import slack_payloads as P
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_server import FakeSlack
from tests.ops_helpers import capture_logs, label_values, metric
from tests.slack_helpers import VPN_QUESTION, condensing_reply, make_bot

pytest_plugins = ["tests.slack_support"]


def test_metrics_logs_and_status_agree_after_a_session(
    tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply = condensing_reply("How do I connect to the VPN from my phone?")
    bot = make_bot(tmp_path, fake_slack, openai=fake_openai, inline=True)
    slack = bot.slack
    with capture_logs("json") as logs, TestClient(create_web_app(bot.docbot, bot.app)) as web:
        mention = P.app_mention(f"<@{P.BOT_USER_ID}> {VPN_QUESTION}")
        slack.seed_event(mention)
        bot.deliver(mention)
        follow_up = P.thread_message("And on my phone?", thread_ts=mention["event"]["ts"])
        slack.seed_event(follow_up)
        bot.deliver(follow_up)
        bot.deliver(P.im_message("What is the meal limit when travelling?"))
        bot.command(P.slash_command("How many PTO days do employees in the US get?"))
        bot.command(P.slash_command("how do I connect to the VPN"))  # served from the cache
        bot.deliver(P.im_message("Quantum chromodynamics lattice gauge?"))  # not in the docs
        fake_openai.fail_next(status=500)
        failing = P.app_mention(f"<@{P.BOT_USER_ID}> What is the meal limit?")
        slack.seed_event(failing)
        bot.deliver(failing)
        bot.wait_error()
        text = web.get("/metrics").text

    expected = {
        ("mention", "answered"): 1, ("thread", "answered"): 1, ("dm", "answered"): 1,
        ("slash", "answered"): 2, ("dm", "abstained"): 1, ("mention", "failed"): 1,
    }  # fmt: skip
    lines = logs.events("answer")
    assert Counter((x["surface"], x["outcome"]) for x in lines) == expected
    status = bot.docbot.status()
    from_status = {
        (surface, outcome): n
        for surface, counts in status["questions"]["by_surface"].items()
        for outcome, n in counts.items()
        if n
    }
    assert from_status == expected
    surfaces = label_values(text, "docbot_questions_total", "surface")
    from_metrics = {
        (s, o): int(metric(text, "docbot_questions_total", surface=s, outcome=o))
        for s in surfaces
        for o in ("answered", "abstained", "failed")
        if metric(text, "docbot_questions_total", surface=s, outcome=o)
    }
    assert from_metrics == expected
    q = status["questions"]
    assert (q["answered"], q["abstained"], q["failed"]) == (5, 1, 1)

    (failure,) = [x for x in lines if x["outcome"] == "failed"]
    assert failure["error"] == "llm_unavailable"
    assert metric(text, "docbot_question_errors_total", error="llm_unavailable") == 1

    hits = [x for x in lines if x["cache"] == "hit"]
    assert len(hits) == 1 and hits[0]["surface"] == "slash" and hits[0]["tokens_in"] == 0
    assert metric(text, "docbot_answer_cache_lookups_total", result="hit") == 1
    assert status["answer_cache"]["hits"] == 1
    lookups = sum(1 for x in lines if x["cache"] in ("hit", "miss", "stale"))
    assert metric(text, "docbot_answer_cache_lookups_total") == lookups
    assert status["answer_cache"]["lookups"] == lookups

    tokens_in = sum(x["tokens_in"] for x in lines)
    tokens_out = sum(x["tokens_out"] for x in lines)
    assert tokens_in > 0 and tokens_out > 0
    assert metric(text, "docbot_llm_tokens_total", kind="prompt") == tokens_in
    assert metric(text, "docbot_llm_tokens_total", kind="completion") == tokens_out
    cost = sum(x["cost_usd"] or 0 for x in lines)
    assert metric(text, "docbot_llm_cost_usd_total") == pytest.approx(cost)
    assert status["questions"]["cost_usd"] == pytest.approx(cost, abs=1e-6)
    # the model answered 4 questions (one follow-up also rewrote its question); the
    # cached and unanswerable ones never reached it, the failed one did and failed
    assert len(fake_openai.chat_requests()) == 6
    assert metric(text, "docbot_llm_response_duration_seconds_count") == 4
