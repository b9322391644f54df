"""Restricted pages and channel scopes, end to end: Confluence restrictions read at
sync, then questions through the real Bolt app (fake Slack), the JSON API and the CLI
path. A page not everyone may read must never reach a place where someone who may not
read it could see it: not a channel answer, not a cached answer made for another
scope, not the closest-pages list, not the request bodies Slack received."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from bot.access import Audience
from bot.app import build
from bot.server.web import create_web_app
from bot.slack.app import create_app
from ingest.settings import load_settings
from tests.fakes import slack_payloads as P
from tests.fakes.confluence_server import FakeConfluence
from tests.fakes.embedders import HashEmbedder
from tests.fakes.slack_server import FakeSlack
from tests.slack_helpers import SECRET, Bot, InlineExecutor, all_text, write_docs

pytest_plugins = ["tests.slack_support", "tests.fakes.confluence_fixtures"]

ALICE, BOB = "U0ALICE", "U0BOB"
SALARY_Q = "What is the zebrafin salary band for senior engineers?"
SECRET_FACT = "zebrafin band tops out at 181,500"
LEAVE_Q = "How many weeks does our quokkaleave last for every parent?"
LEAVE_FACT = "quokkaleave lasts 19 weeks"
API_TOKEN = "api-token-for-tests"


def _profile(user: str, email: str) -> dict[str, Any]:
    return {"real_name": user, "display_name": user.lower(), "email": email, "team": P.TEAM_ID}


@pytest.fixture
def wiki(fake_confluence: FakeConfluence) -> FakeConfluence:
    """ENG (the sample wiki) plus HR pages: one restricted to Alice, one below a parent
    restricted to the hr-team group (Alice), one public."""
    wiki = fake_confluence
    wiki.add_user("557058:alice", "Alice Example", "alice", email="alice@example.com")
    wiki.add_user("557058:bob", "Bob Example", "bob", email="bob@example.com")
    wiki.add_group("hr-team", ["557058:alice"])
    wiki.add_page("HR", "2001", "Salary bands", f"<p>The {SECRET_FACT} for senior engineers.</p>")
    wiki.restrict_page("2001", users=["557058:alice"])
    wiki.add_page("HR", "2003", "HR private", "<p>Internal HR notes.</p>")
    wiki.restrict_page("2003", groups=["hr-team"])
    wiki.add_page(
        "HR", "2002", "Parental leave", f"<p>Our {LEAVE_FACT} for every parent.</p>",
        ancestors=["2003"],
    )  # fmt: skip
    wiki.add_page("HR", "2004", "Holidays", "<p>The office closes on public holidays.</p>")
    return wiki


def make(tmp: Path, slack: FakeSlack, wiki: FakeConfluence, toml: str = "", **env: str) -> Bot:
    docs = write_docs(tmp / "docs")
    config = tmp / "docbot.toml"
    config.write_text(
        f"""
[[sources]]
name = "handbook"
type = "markdown"
path = "{docs}"

[[sources]]
name = "wiki"
type = "confluence"
url = "{wiki.base_url}"
spaces = ["ENG", "HR"]
{toml}
""",
        encoding="utf-8",
    )
    settings = load_settings(
        {
            "DOCBOT_DB": str(tmp / "docbot.db"),
            "CONFLUENCE_EMAIL": wiki.email,
            "CONFLUENCE_API_TOKEN": wiki.api_token,
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack.api_url,
            "DOCBOT_API_TOKEN": API_TOKEN,
            **env,
        },
        config,
    )
    embedder = HashEmbedder()
    embedder.min_similarity = 0.3
    docbot = build(settings, embedder=embedder)
    assert all(r.error is None for r in docbot.sync())
    app = create_app(docbot, settings, update_interval=0.05, executor=InlineExecutor())
    slack.add_user(ALICE, profile=_profile(ALICE, "Alice@Example.com"))
    slack.add_user(BOB, profile=_profile(BOB, "bob@example.com"))
    return Bot(settings, docbot, app, slack, tmp)


@pytest.fixture
def bot(tmp_path: Path, fake_slack: FakeSlack, wiki: FakeConfluence) -> Iterator[Bot]:
    b = make(tmp_path, fake_slack, wiki)
    yield b
    b.docbot.store.close()


def everything_slack_saw(slack: FakeSlack) -> str:
    return "\n".join(json.dumps(c.params, ensure_ascii=False) for c in slack.calls())


def mention(bot: Bot, text: str, *, user: str = BOB, channel: str = P.CHANNEL_ID) -> dict[str, Any]:
    count = len([c for c in bot.slack.calls() if c.method.startswith("chat.")])
    bot.deliver(P.app_mention(f"<@{P.BOT_USER_ID}> {text}", user=user, channel=channel))
    assert len([c for c in bot.slack.calls() if c.method.startswith("chat.")]) > count
    return bot.wait_answer(count=_answers(bot))


def dm(bot: Bot, text: str, *, user: str) -> dict[str, Any]:
    bot.deliver(P.im_message(text, user=user))
    return bot.wait_answer(count=_answers(bot))


def _answers(bot: Bot) -> int:
    from tests.slack_helpers import is_final_answer

    return len([c for c in bot.slack.calls() if is_final_answer(c)])


def test_a_restricted_page_never_answers_in_a_channel(bot: Bot) -> None:
    answer = mention(bot, SALARY_Q, user=ALICE)  # even its reader: others see the channel
    assert "181,500" not in all_text(answer)
    assert "Salary bands" not in all_text(answer)  # not even among the closest pages
    answer = mention(bot, LEAVE_Q, user=ALICE)  # inherited from the restricted parent
    assert "19 weeks" not in all_text(answer) and "Parental leave" not in all_text(answer)
    assert "181,500" not in everything_slack_saw(bot.slack)
    assert "19 weeks" not in everything_slack_saw(bot.slack)
    rows = bot.rows("SELECT sources FROM answers WHERE surface = 'mention'")
    assert rows and all("2001" not in r[0] and "2002" not in r[0] for r in rows)


def test_a_reader_gets_it_privately_and_nobody_else(bot: Bot) -> None:
    answer = dm(bot, SALARY_Q, user=ALICE)
    text = all_text(answer)
    assert "181,500" in text and "restricted" in text and "shown only to you" in text
    assert dm(bot, LEAVE_Q, user=ALICE) and "19 weeks" in all_text(bot.wait_answer(count=2))

    bob = dm(bot, SALARY_Q, user=BOB)
    assert "181,500" not in all_text(bob) and "Salary bands" not in all_text(bob)
    emails = [c.params.get("user") for c in bot.slack.calls() if c.method == "users.info"]
    assert ALICE in emails and BOB in emails


def test_a_cached_answer_never_crosses_scopes(bot: Bot) -> None:
    assert "181,500" in all_text(dm(bot, SALARY_Q, user=ALICE))
    assert bot.rows("SELECT count(*) FROM answer_cache")[0][0] == 1

    channel = mention(bot, SALARY_Q, user=ALICE)
    bob = dm(bot, SALARY_Q, user=BOB)

    assert "181,500" not in all_text(channel) + all_text(bob)
    caches = [r[0] for r in bot.rows("SELECT cache FROM answers ORDER BY created_at")]
    assert caches[1:] == ["miss", "miss"]
    again = dm(bot, SALARY_Q, user=ALICE)
    assert "181,500" in all_text(again)
    assert bot.rows("SELECT cache FROM answers ORDER BY created_at DESC LIMIT 1") == [("hit",)]


def test_a_restriction_added_after_caching_stops_the_cached_answer(
    bot: Bot, wiki: FakeConfluence
) -> None:
    wiki.add_page("HR", "2005", "Bonus plan", "<p>The gnuplan bonus pays 7 percent.</p>")
    bot.docbot.sync()
    question = "What does the gnuplan bonus pay?"
    assert "7 percent" in all_text(mention(bot, question))
    wiki.restrict_page("2005", users=["557058:alice"])  # no new version

    (report, *_) = [r for r in bot.docbot.sync() if r.source == "wiki"]

    assert report.access_changed == 1
    answer = mention(bot, question)
    assert "7 percent" not in all_text(answer)
    assert bot.rows("SELECT cache FROM answers ORDER BY created_at DESC LIMIT 1") == [("stale",)]


def test_slash_command_and_api_and_cli_see_public_pages_only(bot: Bot) -> None:
    bot.command(P.slash_command(SALARY_Q, user=ALICE, response_url=bot.slack.response_url()))
    bot.wait_answer()
    assert "181,500" not in everything_slack_saw(bot.slack)

    with TestClient(create_web_app(bot.docbot, bot.app)) as client:
        response = client.post(
            "/api/ask", json={"question": SALARY_Q},
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        )  # fmt: skip
    assert response.status_code == 200 and "181,500" not in response.text

    scope = bot.docbot.decide(Audience("cli")).scope
    answer = bot.docbot.answerer.ask(SALARY_Q, scope=scope).answer
    assert "181,500" not in answer.text and all(not h.restricted for h in answer.sources)


def test_assistant_prompts_never_name_a_restricted_page(bot: Bot) -> None:
    titles = bot.docbot.records.document_titles(limit=50)
    assert "Salary bands" not in titles and "Holidays" in titles


def test_channel_scopes_choose_sources_spaces_and_labels(
    tmp_path: Path, fake_slack: FakeSlack, wiki: FakeConfluence
) -> None:
    toml = """
[scopes.default]
sources = ["handbook"]

[scopes.hr-team]
channels = ["C0HRTEAM"]
sources = ["wiki"]
spaces = ["HR"]
include_restricted = true
"""
    bot = make(tmp_path, fake_slack, wiki, toml)
    general = mention(bot, "When does the office close for holidays?")
    assert "public holidays" not in all_text(general)  # the wiki is not for this channel
    assert "TunnelGate" in all_text(mention(bot, "How do I connect to the VPN?"))

    hr = mention(bot, SALARY_Q, channel="C0HRTEAM")
    assert "181,500" in all_text(hr)  # its admin vouched for everyone in it
    eng = mention(bot, "How do I install WireGuard?", channel="C0HRTEAM")
    assert "WireGuard" not in all_text(eng).split("Sources")[-1]  # ENG is outside its spaces
    bot.docbot.store.close()


def test_labels_scope(tmp_path: Path, fake_slack: FakeSlack, wiki: FakeConfluence) -> None:
    toml = """
[scopes.it]
channels = ["C0ITDESK"]
labels = ["it"]
"""
    bot = make(tmp_path, fake_slack, wiki, toml)
    scope = bot.docbot.decide(Audience("mention", "C0ITDESK")).scope
    hits = bot.docbot.retriever.search("deploy checklist wireguard", k=10, scope=scope).hits
    assert hits and {h.doc_id for h in hits} == {"1002"}  # the one page labelled "it"
    bot.docbot.store.close()


def test_slack_connect_channels_get_shareable_sources_or_a_polite_refusal(
    tmp_path: Path, fake_slack: FakeSlack, wiki: FakeConfluence
) -> None:
    bot = make(tmp_path, fake_slack, wiki)
    payload = P.app_mention(f"<@{P.BOT_USER_ID}> How do I connect to the VPN?")
    payload["is_ext_shared_channel"] = True
    bot.deliver(payload)
    refusal = fake_slack.wait_for(
        lambda c: c.ok and "shared with another organisation" in json.dumps(c.params)
    )
    assert "TunnelGate" not in json.dumps(refusal.params)
    assert bot.rows("SELECT outcome, error FROM answers") == [("failed", "not_shareable")]

    fake_slack.add_channel("C0EXTERN", is_ext_shared=True)  # /ask: Slack is asked
    bot.command(P.slash_command("How do I connect to the VPN?", channel="C0EXTERN",
                                response_url=fake_slack.response_url("C0EXTERN")))  # fmt: skip
    bot.wait_rows("SELECT 1 FROM answers WHERE surface = 'slash'")
    assert [c.params["channel"] for c in fake_slack.calls() if c.method == "conversations.info"]
    assert "TunnelGate" not in everything_slack_saw(fake_slack)
    assert bot.rows("SELECT error FROM answers WHERE surface = 'slash'") == [("not_shareable",)]
    bot.docbot.store.close()


def test_shareable_sources_answer_in_a_shared_channel(
    tmp_path: Path, fake_slack: FakeSlack, wiki: FakeConfluence
) -> None:
    docs = write_docs(tmp_path / "docs")
    config = tmp_path / "docbot.toml"
    config.write_text(
        f'[[sources]]\nname = "handbook"\ntype = "markdown"\npath = "{docs}"\nshareable = true\n'
        f'[[sources]]\nname = "wiki"\ntype = "confluence"\nurl = "{wiki.base_url}"\n'
        'spaces = ["ENG", "HR"]\n',
        encoding="utf-8",
    )
    env = {"DOCBOT_DB": str(tmp_path / "db.sqlite"), "CONFLUENCE_EMAIL": wiki.email,
           "CONFLUENCE_API_TOKEN": wiki.api_token}  # fmt: skip
    docbot = build(load_settings(env, config), embedder=HashEmbedder())
    docbot.sync()
    scope = docbot.decide(Audience("mention", "C0X", shared=True)).scope
    assert scope.sources == frozenset({"handbook"}) and not scope.all_restricted
    docbot.store.close()
