"""Names the question asks about (issue 12): "Microsoft Teams", "the People Partner for
the Data & Analytics team", "the 2024 offsite", "FY25" are each one thing; a page with
their words apart ("Microsoft" here, "teams" there; the 2022 offsite) does not answer,
so the answer is the not-found message naming what was looked for."""

from __future__ import annotations

import pytest

from bot.answer import NOT_FOUND, Answerer
from bot.evidence import Name, names, unmet_names
from tests.page_helpers import answerer_over

FILLER = ["laptops", "hotels", "books", "training", "software", "phones", "internet", "taxis"]

PAGES = {
    **{
        f"team-{n}.md": f"# Team {n}\n\n## Working together\n\nTeams plan {topic} in the "
        f"weekly sync. Every team shares notes about {topic} with other teams.\n"
        for n, topic in enumerate(FILLER)
    },
    "calls.md": "# Customer calls\n\n## Joining\n\nJoin a customer call from the calendar "
    "invite on your work laptop. Teams mute when they are not speaking.\n",
    "laptops.md": "# Laptops\n\nYour laptop runs macOS; Microsoft Office is not installed.\n",
    "people.md": "# People team\n\n## Partners\n\nThe People Partner for the sales org is "
    "Alex Doe.\n",
    "data.md": "# Data & Analytics\n\nThe Data & Analytics team builds dashboards for every "
    "team; people and partners ask it for reports.\n",
    "offsite.md": "# Offsites\n\nFor the 2022 offsite we reimbursed driving at $0.58 per mile.\n",
    "budget.md": "# Travel budget\n\nThe FY24 team travel budget is $1,500 per person.\n",
    "payroll.md": "# Payroll\n\nPay stubs are emailed on the 15th; download them as PDF.\n",
}


@pytest.fixture(scope="module")
def answerer(tmp_path_factory: pytest.TempPathFactory) -> Answerer:
    return answerer_over(tmp_path_factory.mktemp("names"), PAGES)


@pytest.mark.parametrize(
    ("question", "found"),
    [
        ("how do I join a customer's Microsoft Teams call?", [Name("Microsoft Teams", "phrase")]),
        (
            "who is the People Partner for the Data & Analytics team?",
            [Name("People Partner", "phrase"), Name("Data & Analytics", "phrase")],
        ),
        ("what's Sourcegraph's DUNS number?", [Name("Sourcegraph", "word"), Name("DUNS", "word")]),
        ("what's the travel budget for FY25?", [Name("FY25", "code")]),
        ("what do we pay for the 2024 offsite?", [Name("2024", "year")]),
        ("I joined in 2020 and have ISOs, how long can I exercise?", [Name("ISOs", "word")]),
        ("Okta asks again. I've tried twice", []),  # opening a sentence; "I"
        ("how big is the payout, like 1x or 2x salary?", []),  # a number, not a code
    ],
)
def test_names_are_capitalised_runs_codes_and_years_before_a_noun(
    question: str, found: list[Name]
) -> None:
    assert names(question) == found


def test_a_name_whose_words_are_only_apart_in_the_passages_abstains(answerer: Answerer) -> None:
    answer = answerer.ask("How do I join a customer's Microsoft Teams call from my laptop?").answer
    assert answer.abstained
    assert answer.text.startswith(NOT_FOUND)
    assert "“Microsoft Teams”" in answer.text  # names what it looked for


def test_a_two_word_name_on_the_page_is_answered(answerer: Answerer) -> None:
    answer = answerer.ask("Who is the People Partner for the sales org?").answer
    assert not answer.abstained
    assert "Alex Doe" in answer.text


def test_a_page_about_the_subject_that_does_not_name_the_thing_abstains(
    answerer: Answerer,
) -> None:
    # The Data & Analytics page has "team", "partners" and "people", not a Team Partner.
    answer = answerer.ask("Who is the Team Partner for the Data & Analytics team?").answer
    assert answer.abstained
    assert "“Team Partner”" in answer.text


def test_a_year_before_a_noun_must_be_in_the_passages(answerer: Answerer) -> None:
    assert answerer.ask("What per-mile rate do we reimburse for the 2024 offsite?").answer.abstained
    answer = answerer.ask("What per-mile rate do we reimburse for the 2022 offsite?").answer
    assert not answer.abstained
    assert "$0.58" in answer.text


def test_a_code_must_be_in_the_passages(answerer: Answerer) -> None:
    assert answerer.ask("What's the team travel budget per person for FY25?").answer.abstained
    assert not answerer.ask("What's the team travel budget per person for FY24?").answer.abstained


def test_a_name_the_corpus_never_uses_abstains_even_when_other_words_are_rare(
    answerer: Answerer,
) -> None:
    # "stubs" is in one chunk only, so the rare-term gate alone answers (anchored).
    answer = answerer.ask("Where do I download my pay stubs from Gusto?").answer
    assert answer.abstained
    assert "“Gusto”" in answer.text
    without = Answerer(answerer.retriever, check_names=False)
    assert not without.ask("Where do I download my pay stubs from Gusto?").answer.abstained


def test_an_unknown_name_beside_a_name_the_passages_have_is_not_held_against_them(
    answerer: Answerer,
) -> None:
    store = answerer.retriever.store
    hits = answerer.retriever.search("Is Alex Doe the People Partner or Sam Roe?", k=5).hits
    # "Sam Roe" is a phrase with a word the corpus never uses: left to the rare-term gate.
    assert unmet_names(store, "Is Alex Doe the People Partner or Sam Roe?", hits) == []


@pytest.mark.parametrize(
    "question",
    ["How Do I Join A Customer Call From My Laptop?", "HOW DO I JOIN A CUSTOMER CALL?"],
)
def test_title_case_and_capitals_say_nothing_about_names(answerer: Answerer, question: str) -> None:
    assert names(question) == []
    assert names("WHAT IS THE TRAVEL BUDGET FOR FY25?") == [Name("FY25", "code")]
    assert not answerer.ask(question).answer.abstained
