"""The ask path: LLM answers with numbered sources (real openai client against a
local fake server), extractive answers, abstention, bad input and LLM faults."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.answer import MAX_QUESTION_CHARS, NOT_FOUND, Answerer
from bot.extractive import best_passage
from bot.llm import OpenAIChat
from bot.retrieve import Retriever
from ingest.errors import InputError, LLMRateLimited, LLMUnavailable
from ingest.sources.markdown import MarkdownSource
from ingest.store import Store
from ingest.sync import sync_source
from tests.fakes.embedders import HashEmbedder
from tests.fakes.openai_server import FakeOpenAI
from tests.slack_helpers import DOCS


@pytest.fixture
def retriever(tmp_path: Path) -> Retriever:
    root = tmp_path / "docs"
    root.mkdir()
    for name, text in DOCS.items():
        (root / name).write_text(text)
    store = Store(tmp_path / "docbot.db")
    embedder = HashEmbedder()
    embedder.min_similarity = 0.3  # unrelated words hash to cosines well below this
    assert sync_source(store, MarkdownSource("docs", root), embedder).error is None
    return Retriever(store, embedder)


def chat(server: FakeOpenAI, retries: int = 0) -> OpenAIChat:
    return OpenAIChat(
        "gpt-4o-mini", api_key="sk-test", base_url=server.base_url, max_retries=retries
    )


def test_llm_answer_streams_with_numbered_sources(
    retriever: Retriever, fake_openai: FakeOpenAI
) -> None:
    reply = "Use TunnelGate [1]: connect to vpn.acme.example and approve the push in time."
    fake_openai.reply = reply
    stream = Answerer(retriever, chat(fake_openai)).ask("How do I connect to the VPN?")
    assert stream.sources[0].doc_id == "vpn.md"  # known before any text
    pieces = list(stream)
    assert len(pieces) > 1  # streamed once it cites a source, not one blob
    assert pieces[0].endswith("[1]") or "[1]" in pieces[0]  # held until the first citation
    answer = stream.answer
    assert answer.mode == "llm" and answer.text == reply
    assert answer.cited == [1] and answer.cited_sources[0][1].doc_id == "vpn.md"
    (request,) = fake_openai.chat_requests()
    body = request.json
    assert body["stream"] is True and body["model"] == "gpt-4o-mini"
    system, user = body["messages"][0]["content"], body["messages"][-1]["content"]
    assert "cite" in system.lower() and NOT_FOUND in system
    assert "[1] VPN > Connecting" in user and "vpn.acme.example" in user
    assert user.rstrip().endswith("Question: How do I connect to the VPN?")
    data = answer.as_json()
    assert set(data) >= {"answer", "mode", "sources", "timings_ms"}
    assert data["sources"][0]["url"].endswith("vpn.md#connecting")
    assert {"title", "url", "source", "score"} <= set(data["sources"][0])
    assert "retrieve_ms" in data["timings_ms"] and "total_ms" in data["timings_ms"]


def test_model_saying_not_found_is_an_abstention(
    retriever: Retriever, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply = NOT_FOUND
    answer = Answerer(retriever, chat(fake_openai)).ask("What is the VPN meal policy?").answer
    assert answer.abstained


def test_context_respects_the_token_budget(retriever: Retriever, fake_openai: FakeOpenAI) -> None:
    answer = Answerer(retriever, chat(fake_openai), context_tokens=200).ask("VPN meal PTO").answer
    assert len(answer.sources) == 1


def test_followup_uses_thread_history(retriever: Retriever, fake_openai: FakeOpenAI) -> None:
    fake_openai.reply = lambda body: (
        "What is the meal limit when travelling?"
        if "standalone" in body["messages"][0]["content"]
        else "75 dollars [1]."
    )
    history = [
        {"role": "user", "content": "What is the expense policy?"},
        {"role": "assistant", "content": "Keep receipts [1]."},
    ]
    answer = Answerer(retriever, chat(fake_openai)).ask("and for meals?", history).answer
    assert answer.search_query == "What is the meal limit when travelling?"
    assert answer.sources[0].doc_id == "expenses.md"
    _condense, final = fake_openai.chat_requests()
    roles = [m["role"] for m in final.json["messages"]]
    assert roles == ["system", "user", "assistant", "user"]


def test_rate_limited_model_raises_a_clear_error(
    retriever: Retriever, fake_openai: FakeOpenAI
) -> None:
    fake_openai.fail_next(429, retry_after=0, times=5)
    stream = Answerer(retriever, chat(fake_openai, retries=1)).ask("How do I connect to the VPN?")
    with pytest.raises(LLMRateLimited, match="rate limit"):
        list(stream)
    assert len(fake_openai.chat_requests()) == 2  # one retry, then a clear error


def test_server_error_and_dropped_stream(retriever: Retriever, fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next(500)
    with pytest.raises(LLMUnavailable):
        list(Answerer(retriever, chat(fake_openai)).ask("VPN?"))
    fake_openai.fail_next(drop_stream_after=2)
    with pytest.raises(LLMUnavailable):
        list(Answerer(retriever, chat(fake_openai)).ask("VPN?"))


def test_extractive_answer_without_a_model(retriever: Retriever) -> None:
    answer = Answerer(retriever).ask("How many PTO days do US employees get?").answer
    assert answer.mode == "extractive" and not answer.abstained
    assert "no language model is configured" in answer.text
    assert "25 PTO days" in answer.text and "pto.md#pto" in answer.text
    assert answer.sources[0].doc_id == "pto.md"


def test_nothing_relevant_says_so_and_lists_closest_pages(retriever: Retriever) -> None:
    answer = Answerer(retriever).ask("zebra quantum lasagne?").answer
    assert answer.abstained and answer.text.startswith(NOT_FOUND)


def test_empty_store_says_sync_first(tmp_path: Path) -> None:
    answer = Answerer(Retriever(Store(tmp_path / "e.db"), HashEmbedder())).ask("VPN?").answer
    assert answer.abstained and "docbot sync" in answer.text


@pytest.mark.parametrize("question", ["", "   \n\t "])
def test_empty_question(retriever: Retriever, question: str) -> None:
    with pytest.raises(InputError, match="empty"):
        Answerer(retriever).ask(question)


def test_enormous_question(retriever: Retriever) -> None:
    with pytest.raises(InputError, match="20,000 characters"):
        Answerer(retriever).ask("x" * 20_000)
    assert MAX_QUESTION_CHARS < 20_000


@pytest.mark.parametrize(
    "question", ['"foo AND (', "NEAR/ vpn", "*", "vpn*", "-vpn", "col:vpn", "^vpn", "a OR", "'\"'"]
)
def test_fts5_syntax_in_questions_is_harmless(retriever: Retriever, question: str) -> None:
    result = retriever.search(question)
    assert isinstance(result.hits, list)
    Answerer(retriever).ask(question).answer  # noqa: B018 - must not raise


def test_best_passage_picks_the_matching_sentences() -> None:
    text = " ".join(f"Filler sentence number {i}." for i in range(40)) + (
        " The meal limit is 75 dollars per day. " + " ".join(f"More filler {i}." for i in range(40))
    )
    passage = best_passage("What is the meal limit?", text, max_chars=200)
    assert "meal limit is 75 dollars" in passage and len(passage) <= 202
