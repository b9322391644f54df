"""Expected answer type (issue 12): a question whose wording asks for an amount, a date
or an identifier is answered only when the passages quoted hold text of that kind next
to what the question is about; otherwise the docs do not cover it, even though every
word of the question is on the page ("How much does COBRA cost?" on a page that names
COBRA and gives no amount)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.answer import NOT_FOUND, Answerer
from bot.evidence import holds_type, units, wanted_types
from bot.llm import OpenAIChat
from bot.retrieve import Retriever
from tests.fakes.embedders import HashEmbedder
from tests.fakes.openai_server import FakeOpenAI
from tests.page_helpers import answerer_over, index_pages

FILLER = [
    "laptops",
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

PAGES = {
    # Many pages about other things, so that the subject words below are rare.
    **{
        f"policy-{n}.md": f"# Policy {n}\n\n## Rules\n\nAsk your manager about {topic} "
        f"before you buy. The People team answers questions about {topic} in Slack.\n"
        for n, topic in enumerate(FILLER)
    },
    "cobra.md": "# COBRA\n\nWhen you leave the company you can keep your health insurance "
    "through COBRA. The People team sends the COBRA paperwork to your personal email.\n",
    "wellness.md": "# Wellness stipend\n\nThe wellness stipend is $100 per month. "
    "It needs no receipts.\n",
    "offsite.md": "# Offsite\n\nThe offsite is planned by the People team; the venue "
    "and the agenda are shared in Slack.\n",
    "hackathon.md": "# Hackathon\n\nThe hackathon is held every March, in the week after "
    "the planning cycle.\n",
    "allhands.md": "# All-hands\n\nJoin the all-hands on "
    "[Zoom](https://acme.zoom.us/j/123456789) and bring questions.\n",
    "company.md": "# Company facts\n\nOur DUNS number is 117775232. Vendors ask for it on "
    "supplier forms.\n",
    "bands.md": "# Salary bands\n\nThe senior salary band tops out at 181,500.\n",
    "resigning.md": "# Resigning\n\nWe cannot require any minimum notice before resigning. "
    "However, we encourage two weeks for a smooth handover.\n",
}


@pytest.fixture(scope="module")
def answerer(tmp_path_factory: pytest.TempPathFactory) -> Answerer:
    return answerer_over(tmp_path_factory.mktemp("types"), PAGES)


@pytest.mark.parametrize(
    ("question", "wanted"),
    [
        ("How much will COBRA cost me a month?", ["amount"]),
        ("what's the yearly limit on the dependent care FSA?", ["amount"]),
        ("at what amount do I need an itemized receipt?", ["amount"]),
        ("how much notice do I have to give?", ["time"]),  # not money: a number
        ("how long is the Okta activation email good for?", ["time"]),
        ("when is this year's holiday party?", ["time"]),
        ("I'm a new hire, by when do I need my I-9 done?", ["time"]),
        ("what's the Zoom meeting ID for the all-hands?", ["identifier"]),
        ("what's our DUNS number?", ["identifier"]),
        ("what fee do we pay agencies, and who signs off?", ["amount", "person"]),
        # No type: yes/no questions, procedures, definitions, conditions.
        ("is there budget for dinner with teammates who live nearby?", []),
        ("I forgot my Okta password, how do I reset it?", []),
        ("what's the smallest number of seats on an order form?", []),
        ("when should I not bother writing an RFC?", []),
        ("does Sourcegraph match 401k contributions?", []),
        ("what's an EAP?", []),
    ],
)
def test_the_wording_says_what_kind_of_answer_is_wanted(question: str, wanted: list[str]) -> None:
    assert wanted_types(question) == wanted


def test_units_are_sentences_list_items_and_rows() -> None:
    text = "First sentence. Second one.\n- an item\n| a | b |"
    assert units(text) == ["First sentence.", "Second one.", "- an item", "| a | b |"]


def test_an_amount_question_on_a_page_without_an_amount_abstains(answerer: Answerer) -> None:
    answer = answerer.ask("How much does COBRA cost per month?").answer
    assert answer.abstained
    assert answer.text.startswith(NOT_FOUND)
    assert "I looked for an amount about" in answer.text  # names the kind it lacked
    assert "[COBRA]" in answer.text  # the closest page is still listed


def test_a_question_with_no_wanted_type_on_the_same_page_is_answered(answerer: Answerer) -> None:
    answer = answerer.ask("Who sends the COBRA paperwork?").answer
    assert not answer.abstained
    assert "COBRA paperwork" in answer.text


def test_an_amount_next_to_the_subject_is_answered(answerer: Answerer) -> None:
    answer = answerer.ask("How much is the wellness stipend?").answer
    assert not answer.abstained
    assert "$100 per month" in answer.text


def test_a_date_question_needs_a_date(answerer: Answerer) -> None:
    missing = answerer.ask("When is the offsite?").answer
    assert missing.abstained
    assert "a date, time or number" in missing.text
    found = answerer.ask("When is the hackathon?").answer
    assert not found.abstained
    assert "every March" in found.text


def test_digits_in_a_link_are_not_an_identifier(answerer: Answerer) -> None:
    answer = answerer.ask("What's the Zoom meeting ID for the all-hands?").answer
    assert answer.abstained
    assert "an identifier" in answer.text


def test_an_identifier_in_the_text_is_answered(answerer: Answerer) -> None:
    answer = answerer.ask("What's our DUNS number?").answer
    assert not answer.abstained
    assert "117775232" in answer.text


def test_the_answer_may_sit_one_sentence_after_its_subject(answerer: Answerer) -> None:
    answer = answerer.ask("How much notice do I have to give before resigning?").answer
    assert not answer.abstained
    assert "two weeks" in answer.text


def test_a_number_with_thousands_separators_is_an_amount(answerer: Answerer) -> None:
    answer = answerer.ask("What is the senior salary band?").answer
    assert not answer.abstained
    assert "181,500" in answer.text


def test_the_type_check_can_be_turned_off(answerer: Answerer) -> None:
    loose = Answerer(answerer.retriever, type_share=None)
    assert not loose.ask("How much does COBRA cost per month?").answer.abstained


def test_with_a_model_the_uncovered_question_is_not_sent_to_it(
    answerer: Answerer, fake_openai: FakeOpenAI
) -> None:
    chat = OpenAIChat("gpt-4o-mini", api_key="sk-test", base_url=fake_openai.base_url)
    model = Answerer(answerer.retriever, chat)
    fake_openai.reply = "COBRA costs $700 a month [1]."  # what a model might invent
    answer = model.ask("How much does COBRA cost per month?").answer
    assert answer.abstained and "$700" not in answer.text
    assert fake_openai.chat_requests() == []
    fake_openai.reply = "The wellness stipend is $100 per month [1]."
    covered = model.ask("How much is the wellness stipend?").answer
    assert not covered.abstained and covered.cited == [1]
    assert len(fake_openai.chat_requests()) == 1


def test_an_amount_must_sit_beside_the_rare_name_asked_about(tmp_path: Path) -> None:
    # COBRA is named on one page; an amount next to "leave" and "month" on another page
    # is a commission example, not COBRA's cost.
    pages = {
        **{name: text for name, text in PAGES.items() if name != "wellness.md"},
        "commission.md": "# Commission while on leave\n\nIf you leave for a month, your "
        "quota drops by $10,000 for that month.\n",
    }
    store = index_pages(tmp_path, pages)
    answerer = Answerer(Retriever(store, HashEmbedder()), per_document=1)
    question = "How much will COBRA cost me a month after I leave?"
    answer = answerer.ask(question).answer
    assert answer.abstained
    assert "an amount about" in answer.text
    loose = Answerer(Retriever(store, HashEmbedder()), per_document=1, typed_names=False)
    assert not loose.ask(question).answer.abstained  # the amount beside "leave" passes


CONTACTS = {
    **PAGES,
    "advocates.md": "# Benefits advocates\n\nReach the benefits advocates at "
    "help@advocates.example.com or 1-844-555-0134 with any claim.\n",
    "helpdesk.md": "# Help desk\n\nThe help desk is open 9am to 5pm on weekdays.\n",
    "retirement.md": "# Retirement plan\n\nThe 401k plan is run by Guideline; enrol "
    "through the Guideline app.\n",
    "office.md": "# Home office\n\nThe home office budget is $5k when you join.\n",
}


@pytest.fixture(scope="module")
def contacts(tmp_path_factory: pytest.TempPathFactory) -> Answerer:
    return answerer_over(tmp_path_factory.mktemp("contacts"), CONTACTS, per_document=1)


def test_a_phone_number_is_no_time(contacts: Answerer) -> None:
    # "what hours" wants a time; the advocates' page has only their phone's digits.
    answer = contacts.ask("What hours are the benefits advocates open?").answer
    assert answer.abstained
    assert "a date, time or number" in answer.text
    found = contacts.ask("What hours is the help desk open?").answer
    assert not found.abstained
    assert "9am to 5pm" in found.text


def test_a_phone_number_is_still_an_identifier(contacts: Answerer) -> None:
    answer = contacts.ask("What's the phone number of the benefits advocates?").answer
    assert not answer.abstained
    assert "1-844-555-0134" in answer.text


def test_a_bare_k_is_no_amount_a_k_with_a_currency_is(contacts: Answerer) -> None:
    # "401k" is a plan's name, not 401 thousand; "$5k" is money by its sign.
    answer = contacts.ask("What's the yearly limit on the 401k retirement plan?").answer
    assert answer.abstained
    assert "an amount" in answer.text
    found = contacts.ask("What's the home office budget?").answer
    assert not found.abstained
    assert "$5k" in found.text


def test_a_contact_is_no_time_but_reaches_a_person() -> None:
    line = "Reach them at help@acme.example.com or 1-844-555-0134."
    assert not holds_type(line, ["time"]) and not holds_type(line, ["amount"])
    assert holds_type(line, ["identifier"]) and holds_type(line, ["person"])
    assert holds_type("The form is due on 2024-01-15.", ["time"])  # a date is no phone
    assert holds_type("Office hours: 9am to 5pm, call +44 20 7946 0958.", ["time"])
