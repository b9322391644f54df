"""Answers people can trust (issue 12): abstention when the question's distinctive words
are not in the passages found, partial answers that name what is missing, and model
answers that cite nothing, or cite sources that were never given, shown as not found."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

import bot.extractive as extractive
from bot.answer import NOT_FOUND, Answerer, unsupported
from bot.evidence import content_terms, weigh
from bot.extractive import extractive_answer
from bot.llm import OpenAIChat
from bot.retrieve import Retriever
from ingest.models import Hit
from ingest.sources.markdown import MarkdownSource
from ingest.store import Store
from ingest.sync import sync_source
from tests.fakes import slack_payloads as P
from tests.fakes.embedders import HashEmbedder
from tests.fakes.openai_server import FakeOpenAI
from tests.page_helpers import answerer_over
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
    return answerer_over(tmp_path, PAGES)


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


def test_only_a_passage_close_by_meaning_anchors_a_partial_answer(answerer: Answerer) -> None:
    # "Airbase" anchors the Expensify question above: the card page is about it. The same
    # page found for the shared word alone (similarity below the embedder's floor, as
    # "F1 Student VISA" for a question about student loans) anchors nothing: not found.
    question = "Can I submit Airbase receipts from Expensify?"
    answerer.retriever.embedder.min_similarity = 0.2  # a floor, as real embedders have
    result = answerer.retriever.search(question, k=5, per_document=2)
    evidence = weigh(answerer.retriever.store, question, result.hits)
    card = next(h for h in result.hits if h.doc_id == "cards.md")
    assert evidence.anchored([card.chunk_id], answerer.anchor_share) == ["airbase"]
    floor = answerer.retriever.embedder.min_similarity
    assert result.similarity_floor == floor

    def with_card_at(similarity: float) -> list[Hit]:
        return [
            replace(h, scores={**h.scores, "dense": similarity}) if h is card else h
            for h in result.hits
        ]

    assert answerer._supported(evidence, with_card_at(floor), result)
    assert not answerer._supported(evidence, with_card_at(floor * 0.9), result)
    answerer.anchor_floor = 0.0  # off: any passage found may anchor, as before
    assert answerer._supported(evidence, with_card_at(floor * 0.9), result)


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


def test_the_model_is_told_which_words_no_source_contains(
    answerer: Answerer, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply = (
        "Submit Airbase receipts in Airbase [1]. The docs cover Airbase but not Expensify."
    )
    answer = (
        Answerer(answerer.retriever, chat(fake_openai))
        .ask("Can I submit Airbase receipts from Expensify?")
        .answer
    )
    assert not answer.abstained and answer.missing == ["expensify"]
    user = fake_openai.chat_requests()[0].json["messages"][-1]["content"]
    note = user[user.index("No source contains") : user.index("Question:")]
    assert "“expensify”" in note and "say plainly that the docs do not cover the rest" in note
    assert user.rstrip().endswith("Question: Can I submit Airbase receipts from Expensify?")
    assert "The docs cover Airbase but not Expensify." in answer.text
    fake_openai.clear()
    fake_openai.reply = "Open TunnelGate and connect to vpn.acme.example [1]."
    covered = Answerer(answerer.retriever, chat(fake_openai)).ask(VPN_QUESTION).answer
    assert covered.missing == [] and not covered.abstained
    assert (
        "No source contains" not in fake_openai.chat_requests()[0].json["messages"][-1]["content"]
    )


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


# --- several sections of one page ---------------------------------------------------------


def _long_page(tmp_path: Path) -> Answerer:
    root = tmp_path / "book"
    root.mkdir()
    filler = " ".join(f"Unrelated background sentence {i}." for i in range(40))
    (root / "handbook.md").write_text(
        "# Handbook\n\n## Laptop refresh\n\nEngineers get a laptop refresh every three years; "
        f"order it from the laptop portal.\n\n## History\n\n{filler}\n\n"
        "## Laptop repairs\n\nLaptop repairs are covered up to 500 dollars a year through the "
        "laptop portal.\n"
    )
    (root / "other.md").write_text("# Other\n\n## Kitchen\n\nClean the kitchen after lunch.\n")
    store = Store(tmp_path / "book.db")
    assert sync_source(store, MarkdownSource("docs", root), HashEmbedder()).error is None
    return Answerer(Retriever(store, HashEmbedder()), per_document=2)


def test_two_sections_of_one_page_are_cited_on_one_line(tmp_path: Path) -> None:
    answer = _long_page(tmp_path).ask("laptop refresh and laptop repairs portal").answer
    assert not answer.abstained
    same_page = [h for h in answer.sources if h.doc_id == "handbook.md"]
    assert {h.section for h in same_page} == {
        "Handbook > Laptop refresh",
        "Handbook > Laptop repairs",
    }
    (page,) = [s for s in answer.as_json()["sources"] if s["title"] == "Handbook"]
    assert len(page["numbers"]) == 2 and page["n"] == page["numbers"][0]
    assert {s["url"].rsplit("#", 1)[1] for s in page["sections"]} == {
        "laptop-refresh",
        "laptop-repairs",
    }
    assert "500 dollars" in answer.text and "every three years" in answer.text


def test_the_sources_block_names_the_sections_of_one_page() -> None:
    from bot.slack import ui
    from ingest.models import Hit

    def section(n: int, heading: str) -> Hit:
        return Hit(chunk_id=n, source="docs", doc_id="handbook.md", title="Handbook",
                   url="https://docs.example/handbook.md", text="t", score=1.0,
                   heading_path=("Handbook", heading), anchor=heading.lower())  # fmt: skip

    block = ui.sources_block([(1, section(1, "Refresh")), (3, section(3, "Repairs"))])
    assert block is not None
    text = block["text"]["text"]
    assert text.count("\n") == 1  # the title line and one line for the page
    assert "*[1]**[3]*" in text
    assert "<https://docs.example/handbook.md#refresh|Refresh>" in text
    assert "<https://docs.example/handbook.md#repairs|Repairs>" in text


def test_a_list_cut_from_its_heading_by_the_chunker_keeps_it(tmp_path: Path) -> None:
    """The chunker may put "**Do not:**" at the end of one chunk and its list at the start
    of the next; the quote brings the heading back, so the items do not read as advice."""
    root = tmp_path / "sec"
    root.mkdir()
    intro = " ".join(f"Passwords protect our systems, reason number {i}." for i in range(18))
    items = "\n".join(
        f"- {item}"
        for item in [
            "Use a password that is the same as on other websites",
            "Write the password on a sticky note next to your laptop screen",
            "Share the password with a teammate over chat or email",
            "Use your birthday, your pet's name or a favourite band as the password",
            "Reuse an old password when the system asks you for a new one",
            "Store the password in a plain text file on your desktop",
        ]
    )
    (root / "passwords.md").write_text(
        f"# Passwords\n\n## Rules\n\n{intro}\n\n**Do not:**\n\n{items}\n"
    )
    store = Store(tmp_path / "sec.db")
    assert sync_source(store, MarkdownSource("docs", root), HashEmbedder()).error is None
    texts = [r[0] for r in store.conn.execute("SELECT text FROM chunks ORDER BY ordinal")]
    assert len(texts) == 2 and texts[0].rstrip().endswith("**Do not:**")  # the cut
    assert texts[1].startswith("- Use a password")
    answer = (
        Answerer(Retriever(store, HashEmbedder()))
        .ask("can I use a password that is the same as on other websites or a sticky note?")
        .answer
    )
    assert not answer.abstained
    quote = answer.text[answer.text.index("> **Do not:**") :]
    assert "same as on other websites" in quote


def test_an_faq_answer_is_quoted_from_its_first_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The heading asks the question; the first sentence answers it without any of the
    # question's words, and the words it does share come at the end of the passage.
    # (The second quote at its own 600 characters: none of the first's room carried.)
    monkeypatch.setattr(extractive, "CARRY", 0)
    root = tmp_path / "docs"
    root.mkdir()
    filler = " ".join(f"Work travel detail {i} is in the travel policy." for i in range(14))
    (root / "benefits.md").write_text(
        "# Health benefits\n\n## FAQ\n\n### Q. Do our health benefits cover us abroad?\n\n"
        f"They do not. {filler} For a vacation abroad, buy travel insurance and expense it.\n"
    )
    store = Store(tmp_path / "kb.db")
    assert sync_source(store, MarkdownSource("docs", root), HashEmbedder()).error is None
    (hit,) = Retriever(store, HashEmbedder()).search("vacation abroad insurance", k=1).hits
    assert hit.section.endswith("?") and 600 < len(hit.text) <= 900
    question = "Am I covered by our health insurance on vacation abroad?"
    # Quoted second (600 characters): the window holding the question's words starts
    # late; under a question heading it starts at the direct answer.
    text = extractive_answer(question, [hit, hit])
    second = text.split("— [1]", 1)[1]
    assert "> They do not." in second
    assert "buy travel insurance and expense it" in second  # the window that matched
    plain = replace(hit, heading_path=(*hit.heading_path[:-1], "Travel insurance"))
    assert "They do not." not in extractive_answer(question, [plain, plain]).split("— [1]", 1)[1]
