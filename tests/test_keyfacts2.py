"""Key facts, third round (issue 12, branch keyfacts2): the best lexical match of a
question kept under the similarity floor, a number question that asks two things
quoted with room, and a short quote's unused length given to the next one."""

from __future__ import annotations

from pathlib import Path

import pytest

import bot.extractive as extractive
from bot.answer import Answerer
from bot.evidence import Evidence, weigh
from bot.extractive import asks, best_passage, extractive_answer
from bot.llm import OpenAIChat
from bot.rerank import Reranker
from ingest.models import Hit
from tests.fakes.openai_server import FakeOpenAI
from tests.page_helpers import answerer_over

# Retirement vocabulary on several pages; one FAQ answers the question in its words.
PAGES = {
    **{
        f"retirement-{n}.md": f"# Retirement {n}\n\n## Plan\n\nYour 401k plan with "
        f"{provider} is set up in your first month; the plan holds your savings.\n"
        for n, provider in enumerate(["Guideline", "Vanguard", "Fidelity", "Schwab"])
    },
    "benefits.md": "# Benefits\n\n## FAQ\n\nQ. Does the company match 401k "
    "contributions? Not at this time.\n",
}
QUESTION = "does the company match 401k contributions?"


@pytest.fixture
def answerer(tmp_path: Path) -> Answerer:
    return answerer_over(tmp_path, PAGES)


def test_the_best_lexical_match_is_used_under_the_similarity_floor(answerer: Answerer) -> None:
    # a26 and a114 on the handbook: the passage that states the question in its own
    # words ranks third, under the embedder's floor (cosine 0.22 and 0.16), and was
    # dropped; the passages quoted instead did not answer.
    answerer.retriever.embedder.min_similarity = 0.999  # every passage under the floor
    answer = answerer.ask(QUESTION).answer
    assert not answer.abstained
    assert "Not at this time" in answer.text
    assert answer.sources[0].doc_id == "benefits.md"
    answerer.lexical_cover = None  # off: the cosine floor alone, as before
    assert answerer.ask(QUESTION).answer.abstained


def _hit(chunk_id: int, text: str = "text") -> Hit:
    return Hit(
        chunk_id=chunk_id,
        source="docs",
        doc_id=f"page{chunk_id}.md",
        title="Page",
        url=f"https://docs.example/page{chunk_id}",
        text=text,
        heading_path=("Page", "Section"),
        anchor="",
        score=1.0,
        scores={"bm25": 5.0, "dense": 0.1},
    )


def _evidence(covered: dict[int, set[str]]) -> Evidence:
    counts = {"match": 40, "401k": 5, "contributions": 100}
    return Evidence(list(counts), counts, 10_000, covered)


def test_only_a_single_best_lexical_match_with_enough_of_the_question_counts(
    answerer: Answerer,
) -> None:
    hits = [_hit(1), _hit(2), _hit(3)]
    every = {"match", "401k", "contributions"}
    best = _evidence({1: {"contributions"}, 2: every, 3: {"401k"}})
    assert answerer._best_lexical(hits, best) == 2
    # Two passages holding as much say the words are the topic's, not one answer's.
    tie = _evidence({1: every, 2: every, 3: {"401k"}})
    assert answerer._best_lexical(hits, tie) is None
    # The best holding too little of the question's IDF mass is no match of it.
    little = _evidence({1: {"contributions"}, 2: {"match"}, 3: set()})
    assert little.coverage([2]) < answerer.lexical_cover  # type: ignore[operator]
    assert answerer._best_lexical(hits, little) is None
    assert answerer._best_lexical(hits, None) is None


def test_the_evidence_of_the_search_decides_the_best_lexical_match(answerer: Answerer) -> None:
    result = answerer.retriever.search(QUESTION, k=5, per_document=2)
    evidence = weigh(answerer.retriever.store, QUESTION, result.hits)
    best = answerer._best_lexical(result.hits, evidence)
    assert next(h for h in result.hits if h.chunk_id == best).doc_id == "benefits.md"


FILLER = " ".join(f"Background sentence {i} about the team and its history." for i in range(8))
STIPEND = (
    f"{FILLER} The mental health stipend is $250 a year. You claim it once with the form. "
    f"Claims need no paperwork at all. {FILLER}"
)


def test_a_second_ask_makes_a_number_question_quoted_with_room() -> None:
    # a31, a47, a93 on the handbook ask a number and a second thing ("... and do I have
    # to send receipts?"); one sentence cannot answer both, and the one answering the
    # second may not use its words ("no paperwork").
    two = "how much is the mental health stipend, and do I have to send receipts?"
    assert asks(two) == 2
    assert asks("I just started in the US, how long do I have to choose a plan?") == 1
    assert asks("when I'm on call, how quickly do I have to ack a page?") == 1
    assert asks("what's the budget? is it different for designers?") == 2
    one = "how much is the mental health stipend?"
    assert "no paperwork" not in best_passage(one, STIPEND, max_chars=160)
    quoted = best_passage(two, STIPEND, max_chars=160)
    assert "$250" in quoted and "no paperwork" in quoted


def test_without_the_rule_a_second_ask_gets_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extractive, "TWO_ASKS", False)
    two = "how much is the mental health stipend, and do I have to send receipts?"
    assert "no paperwork" not in best_passage(two, STIPEND, max_chars=160)


def test_a_short_quote_leaves_its_room_to_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    # a70 on the handbook: the first quote (a short section) used a third of its 900
    # characters; the second stopped one sentence before "an Apple store or a certified
    # Apple repair center" outside the US.
    short = _hit(1, "Laptop repairs: we cover up to $500 a year.")
    sentences = [f"Repairs step {i} of the laptop process is described here." for i in range(9)]
    long = _hit(2, " ".join([*sentences, "Outside the US, laptop repairs go to an Apple store."]))
    question = "where can I get my laptop repaired?"
    monkeypatch.setattr(extractive, "FIRST_CHARS", 200)
    monkeypatch.setattr(extractive, "OTHER_CHARS", 520)
    monkeypatch.setattr(extractive, "CARRY", 0)
    assert "Apple store" not in extractive_answer(question, [short, long])
    monkeypatch.setattr(extractive, "CARRY", 150)
    assert "Apple store" in extractive_answer(question, [short, long])


def test_the_rerank_is_asked_when_only_the_best_lexical_match_is_relevant(
    answerer: Answerer, fake_openai: FakeOpenAI
) -> None:
    """The rerank's skip test is the answer's relevance test: a question only the best
    lexical match supports is answered, so its candidates are reranked too."""
    answerer.retriever.embedder.min_similarity = 0.999  # every passage under the floor
    model = OpenAIChat("gpt-4o-mini", api_key="sk-test", base_url=fake_openai.base_url)
    answerer.llm = model
    answerer.reranker = Reranker(model, candidates=5, timeout=5.0)
    answer = answerer.ask(QUESTION).answer
    assert not answer.abstained and answer.rerank != "skipped"
    assert len(fake_openai.chat_requests()) == 2  # the rerank, then the answer
