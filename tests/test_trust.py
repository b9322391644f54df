"""Answers people can trust (issue 12): abstention when the question's distinctive words
are not in the passages found, partial answers that name what is missing, and model
answers that cite nothing, or cite sources that were never given, shown as not found."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.answer import NOT_FOUND, Answerer, unsupported
from bot.evidence import content_terms, weigh
from bot.llm import OpenAIChat
from bot.retrieve import Retriever
from ingest.sources.markdown import MarkdownSource
from ingest.store import Store
from ingest.sync import sync_source
from tests.fakes import slack_payloads as P
from tests.fakes.embedders import HashEmbedder
from tests.fakes.openai_server import FakeOpenAI
from tests.slack_helpers import VPN_QUESTION, Bot, all_text

pytest_plugins = ["tests.slack_support"]

# Expenses vocabulary on many pages (so "receipts" or "submit" are common words here),
# one page naming the card tool, one the VPN client.
PAGES = {
    **{
        f"expenses-{n}.md": f"# Expenses {n}\n\n## Receipts\n\nSubmit receipts for "
        f"{topic} within 30 days. Managers approve expenses and receipts weekly.\n"
        for n, topic in enumerate(
            [
                "meals",
                "travel",
                "hotels",
                "books",
                "training",
                "software",
                "phones",
                "internet",
                "coworking",
                "taxis",
                "parking",
                "conferences",
            ]
        )
    },
    "cards.md": "# Cards\n\n## Airbase\n\nEvery manager gets an Airbase card; submit "
    "receipts for card purchases in Airbase within 30 days.\n",
    "vpn.md": "# VPN\n\n## Connecting\n\nOpen TunnelGate and connect to vpn.acme.example.\n",
}


@pytest.fixture
def answerer(tmp_path: Path) -> Answerer:
    root = tmp_path / "docs"
    root.mkdir()
    for name, text in PAGES.items():
        (root / name).write_text(text)
    store = Store(tmp_path / "kb.db")
    assert sync_source(store, MarkdownSource("docs", root), HashEmbedder()).error is None
    return Answerer(Retriever(store, HashEmbedder()))


def test_a_question_about_a_tool_the_docs_never_mention_abstains(answerer: Answerer) -> None:
    answer = answerer.ask("How do I submit my receipts through Expensify?").answer
    assert answer.abstained
    assert answer.text.startswith(NOT_FOUND)
    assert "do not seem to cover" in answer.text
    assert "“expensify”" in answer.text  # names what it looked for
    assert "The closest pages I have are:" in answer.text and "• [" in answer.text
    assert answer.as_json()["abstained"] is True


def test_the_same_question_about_a_tool_they_do_mention_is_answered(answerer: Answerer) -> None:
    answer = answerer.ask("How do I submit my receipts through Airbase?").answer
    assert not answer.abstained
    assert answer.sources[0].doc_id == "cards.md"
    assert "Airbase card" in answer.text


def test_a_partial_answer_names_what_the_passages_do_not_cover(answerer: Answerer) -> None:
    answer = answerer.ask("Can I submit Airbase receipts from Expensify?").answer
    assert not answer.abstained  # the card tool is there: answer that part
    assert answer.missing == ["expensify"]
    assert "do not mention “expensify”" in answer.text


def test_evidence_counts_chunks_with_the_search_stemming(answerer: Answerer) -> None:
    store = answerer.retriever.store
    evidence = weigh(store, "submitting receipt Expensify", [])
    assert evidence.chunk_counts["expensify"] == 0
    assert evidence.chunk_counts["receipt"] >= 12  # porter: receipt ~ receipts
    assert evidence.idf("expensify") > evidence.idf("receipt")
    assert content_terms("how many days off do we actually get in 2024?") == ["days", "2024"]


def chat(server: FakeOpenAI) -> OpenAIChat:
    return OpenAIChat("gpt-4o-mini", api_key="sk-test", base_url=server.base_url, max_retries=0)


@pytest.mark.parametrize(
    "reply",
    [
        "Open TunnelGate and connect.",  # no citation at all
        "Open TunnelGate and connect [7].",  # a source that was never given
        "Open TunnelGate [1] and approve the push [7].",  # one real, one invented
        "I couldn't find this in the docs.",
    ],
)
def test_model_answers_without_real_citations_are_not_found(
    answerer: Answerer, fake_openai: FakeOpenAI, reply: str
) -> None:
    fake_openai.reply = reply
    llm = Answerer(answerer.retriever, chat(fake_openai))
    answer = llm.ask(VPN_QUESTION).answer
    assert answer.abstained and answer.cited == []
    assert answer.text.startswith(NOT_FOUND) and "TunnelGate and connect" not in answer.text
    assert "The closest pages I have are:" in answer.text and "vpn.md" in answer.text


def test_a_cited_model_answer_is_shown(answerer: Answerer, fake_openai: FakeOpenAI) -> None:
    fake_openai.reply = "Open TunnelGate and connect to vpn.acme.example [1]."
    answer = Answerer(answerer.retriever, chat(fake_openai)).ask(VPN_QUESTION).answer
    assert not answer.abstained and answer.cited == [1]
    system = fake_openai.chat_requests()[0].json["messages"][0]["content"]
    assert "ONLY the numbered sources" in system and "The docs cover X but not Y" in system


def test_unsupported_reads_citations_strictly() -> None:
    assert unsupported("", 3) and unsupported("No sources here.", 3)
    assert unsupported("See [4].", 3) and unsupported("See [0].", 3)
    assert unsupported("See [1-4].", 3)  # a range running past the sources
    assert not unsupported("See [1][3] and [2, 3].", 3)


def test_slack_shows_the_not_found_message_for_an_uncited_answer(
    llm_bot: Bot, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply = "Just restart your laptop, that always works."
    mention = P.app_mention(f"<@{P.BOT_USER_ID}> {VPN_QUESTION}")
    llm_bot.slack.seed_event(mention)
    llm_bot.deliver(mention)
    message = llm_bot.wait_answer()
    text = all_text(message)
    assert "couldn't find this in the docs" in text
    assert "restart your laptop" not in str(message.get("text", ""))
    assert "vpn.md" in text  # the closest pages, still useful


def test_slack_shows_the_not_found_message_for_an_invented_citation(
    llm_bot: Bot, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply = "Connect with TunnelGate [1] and call the helpdesk on 555-0100 [7]."
    mention = P.app_mention(f"<@{P.BOT_USER_ID}> {VPN_QUESTION}")
    llm_bot.slack.seed_event(mention)
    llm_bot.deliver(mention)
    message = llm_bot.wait_answer()
    assert "couldn't find this in the docs" in all_text(message)
    assert "555-0100" not in all_text(message)
