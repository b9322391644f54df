"""The question's words together (issue 12): "do engineers get extra pay for being on
call?" has every word in the passages found (an on-call rotation page, a payroll form
with "the cost of extra hours"), but no passage says anything about them together, so
the docs do not answer it. The same words in one sentence do, and a question's
subordinate clause ("once I've fixed it") need not be restated by the page."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.answer import NOT_FOUND, Answerer
from bot.evidence import clauses, together, weigh
from bot.llm import OpenAIChat
from tests.fakes.openai_server import FakeOpenAI
from tests.page_helpers import answerer_over

FILLER = ["laptops", "travel", "hotels", "books", "training", "software", "phones", "taxis"]

PAGES = {
    # Many pages about other things, so that the question's words are rare.
    **{
        f"policy-{n}.md": f"# Policy {n}\n\n## Rules\n\nAsk your manager about {topic} "
        f"before you buy. The People team answers questions about {topic} in Slack.\n"
        for n, topic in enumerate(FILLER)
    },
    # Each word of the question on some page, never two of them in one place.
    "rotation.md": "# Rotation\n\n## Shifts\n\nWhoever is on call posts hand-off notes "
    "at the end of a shift. Shifts start on Monday. Notes go in the team channel. "
    "Engineers new to the team shadow a shift first.\n",
    "payroll.md": "# Payroll form\n\n## Compensation\n\nPick the pay schedule first. "
    "Then add a comment. Then confirm the level. For contractors, add the cost of extra "
    "hours.\n",
    "alerts.md": "# Alerts\n\n## Pages\n\nDon't mark pages as resolved. Wait for the "
    "underlying alert to auto resolve.\n",
}

STIPEND = {
    **PAGES,
    "stipend.md": "# On-call stipend\n\n## Pay\n\nEngineers get extra pay for every week "
    "they are on call: a flat stipend per shift.\n",
}


@pytest.fixture(scope="module")
def answerer(tmp_path_factory: pytest.TempPathFactory) -> Answerer:
    return answerer_over(tmp_path_factory.mktemp("together"), PAGES)


QUESTION = "do engineers get extra pay for being on call?"


def test_clauses_split_at_punctuation_and_subordinating_words() -> None:
    assert clauses("should I mark the page resolved once I've fixed the problem?") == [
        ["mark", "page", "resolved"],
        ["fixed", "problem"],
    ]
    assert clauses(QUESTION) == [["engineers", "extra", "pay", "call"]]
    assert clauses("on call for sourcegraph.com, how quickly do I ack a page?") == [
        ["call", "sourcegraph", "com"],
        ["quickly", "ack", "page"],
    ]
    assert clauses("how much for internet, phone and wellness?") == [
        ["internet"],
        ["phone", "wellness"],
    ]


def test_the_noun_a_question_word_asks_for_is_no_term() -> None:
    # "cut" names the kind of answer ("10%"), which the page need not word so.
    assert clauses("what cut does a partner get for referring a customer?") == [
        ["partner", "referring", "customer"]
    ]
    assert clauses("which kind of laptop do engineers order?") == [["engineers", "order"]]
    # Not a question word opening a clause: "websites" is part of what is asked.
    assert clauses("can my manager see what websites I visit?") == [
        ["manager", "websites", "visit"]
    ]


def test_words_only_apart_in_the_passages_abstain(answerer: Answerer) -> None:
    answer = answerer.ask(QUESTION).answer
    assert answer.abstained
    assert answer.text.startswith(NOT_FOUND)
    assert "only apart" in answer.text  # says why
    assert "“extra”" in answer.text  # and names what it looked for
    assert "[On-call rotation]" in answer.text or "[Payroll form]" in answer.text


def test_the_same_words_in_one_sentence_answer(tmp_path: Path) -> None:
    answerer = answerer_over(tmp_path, STIPEND)
    answer = answerer.ask(QUESTION).answer
    assert not answer.abstained
    assert "extra pay for every week" in answer.text


def test_a_condition_in_the_question_need_not_be_on_the_page(answerer: Answerer) -> None:
    # "once I've fixed the problem" is nowhere near "mark pages as resolved": the main
    # clause is what the page answers.
    answer = answerer.ask("should I mark a page resolved once I've fixed the problem?").answer
    assert not answer.abstained
    assert "Don't mark pages as resolved" in answer.text


def test_the_share_is_read_per_clause_over_what_the_passages_hold(answerer: Answerer) -> None:
    store = answerer.retriever.store
    evidence = weigh(store, QUESTION, [])
    apart = together(
        store,
        QUESTION,
        evidence,
        [
            ("Shifts", "Whoever is on call posts notes."),
            ("Onboarding", "Engineers shadow a shift."),
            ("Compensation", "Pick the pay schedule."),
            ("Contractors", "Add the cost of extra hours."),
        ],
    )
    assert apart.share < 0.5
    assert set(apart.held) == {"engineers", "extra", "pay", "call"}
    assert len(apart.window) == 1
    near = together(store, QUESTION, evidence, [("Pay", "Engineers on call get extra pay.")])
    assert near.share == 1.0 and set(near.window) == set(near.held)
    assert together(store, QUESTION, evidence, []).share == 1.0  # nothing held: no evidence


def test_the_check_can_be_turned_off(tmp_path: Path) -> None:
    loose = answerer_over(tmp_path, PAGES, together_share=0.0)
    assert not loose.ask(QUESTION).answer.abstained


def test_with_a_model_words_only_apart_are_not_sent_to_it(
    answerer: Answerer, fake_openai: FakeOpenAI
) -> None:
    # A model reads the chunks themselves, so they are what is weighed.
    chat = OpenAIChat("gpt-4o-mini", api_key="sk-test", base_url=fake_openai.base_url)
    model = Answerer(answerer.retriever, chat)
    fake_openai.reply = "Yes, engineers get extra pay for being on call [1]."
    answer = model.ask(QUESTION).answer
    assert answer.abstained and "only apart" in answer.text
    assert fake_openai.chat_requests() == []
    fake_openai.reply = "No: wait for the alert to auto resolve [1]."
    covered = model.ask("should I mark a page resolved once I've fixed the problem?").answer
    assert not covered.abstained and covered.cited == [1]
    assert len(fake_openai.chat_requests()) == 1
