"""Extractive quotes that answer: the block a sentence ending in ":" introduces, whole
procedures, the heading that gives a list its meaning, and one sentence for a number."""

from __future__ import annotations

from bot.extractive import best_passage, question_kind

FILLER = " ".join(f"Background sentence {i} about the team and its history." for i in range(12))


def test_a_sentence_ending_in_a_colon_brings_its_code_block() -> None:
    text = (
        f"{FILLER}\n\nTo request a sandbox, post in #infra using the following template:\n\n"
        "```\nSandbox request\nOwner: <your name>\nExpiry: <date>\n```\n\n"
        f"{FILLER}"
    )
    passage = best_passage("What template do I use to request a sandbox?", text)
    assert "following template:" in passage
    assert "Owner: <your name>" in passage and "Expiry: <date>" in passage
    assert passage.count("```") == 2


def test_a_sentence_ending_in_a_colon_brings_its_table() -> None:
    text = (
        f"{FILLER}\n\nThe laptop refresh allowance depends on the role:\n\n"
        "| role | allowance |\n| --- | --- |\n| engineer | $3,000 |\n| sales | $2,000 |\n\n"
        f"{FILLER}"
    )
    passage = best_passage("What is the laptop refresh allowance per role?", text)
    assert "| engineer | $3,000 |" in passage and "| sales | $2,000 |" in passage


def test_how_do_i_gets_every_step() -> None:
    steps = "\n".join(
        f"{n}. {step}"
        for n, step in enumerate(
            [
                "Open the Deel app and choose PTO.",
                "Click Create OOO.",
                "Select your type of leave.",
                "Select the dates you will be out.",
                "Submit the request for your manager to approve.",
            ],
            start=1,
        )
    )
    text = f"{FILLER}\n\n## Logging time off\n\nTo log time off in Deel:\n\n{steps}\n\n{FILLER}"
    passage = best_passage("How do I log time off in Deel?", text)
    for n in range(1, 6):
        assert f"{n}. " in passage
    assert "Submit the request" in passage


def test_a_do_not_list_keeps_its_heading() -> None:
    text = (
        f"{FILLER}\n\nWhen choosing a password, do:\n\n- Use a password manager.\n"
        "- Use a long passphrase.\n\nDo not:\n\n- Write the password on a sticky note.\n"
        "- Use a password that is the same as on other websites.\n\n"
        f"{FILLER}"
    )
    passage = best_passage("can I use a password that is the same as on other websites?", text)
    assert "same as on other websites" in passage
    assert "Do not:" in passage
    assert passage.index("Do not:") < passage.index("same as on other websites")


def test_a_number_question_gets_one_sentence() -> None:
    text = (
        f"{FILLER} We encourage everyone to take time off. Teammates should take a minimum "
        "of 30 days of paid time off each calendar year. Time off is tracked in Deel and "
        "approved by your manager in advance. "
        f"{FILLER}"
    )
    passage = best_passage("how many days of paid time off should I take each year?", text)
    assert "30 days" in passage
    assert len(passage) <= 302


def test_question_kinds() -> None:
    assert question_kind("How do I set up the VPN?") == "procedure"
    assert question_kind("how many days off do we get?") == "number"
    assert question_kind("Who approves expenses?") == "other"


def test_room_left_by_filler_goes_to_the_sentences_after_the_match() -> None:
    # The earliest best window starts with sentences that match nothing; once they are
    # dropped, the sentence after the matching one (the answer) fits and is quoted.
    text = (
        "Company data is any confidential or sensitive information about clients. "
        "It includes contracts, audit logs and internal communications of every kind. "
        "We are improving our policy on device usage, such as mobile phones. "
        "Access is limited to Gmail, Calendar, Zoom and Slack on your device. "
        f"{FILLER}"
    )
    passage = best_passage("which apps am I allowed to use on my phone?", text, max_chars=300)
    assert "Access is limited to Gmail, Calendar, Zoom and Slack" in passage
    assert not passage.startswith("Company data")


def test_a_question_word_matches_its_plural_in_the_text() -> None:
    text = (
        f"{FILLER} Laptops are refreshed every three years. {FILLER} "
        "Phones are not provided; expense a plan up to $50 a month."
    )
    passage = best_passage("Does the company give me a phone?", text, max_chars=200)
    assert "Phones are not provided" in passage


def test_under_a_question_heading_the_first_sentence_is_the_answer() -> None:
    text = (
        "- They do not. However, we do have separate insurance when you travel for work. "
        "Please see the details below.\n"
        "  - **Traveling for work:** the corporate policy insures every teammate abroad.\n"
        "  - **Traveling on vacation:** buy travel insurance for the trip and expense it.\n"
    )
    question = "am I covered by our health insurance while on vacation abroad?"
    assert "They do not." in best_passage(question, text, max_chars=200, faq=True)
    assert "They do not." not in best_passage(question, text, max_chars=200)


def test_a_quote_ending_inside_a_list_runs_to_its_end() -> None:
    text = (
        f"{FILLER}\n\n- The corresponding zone percentages are listed in the sheet.\n"
        "  - Zone 1 entry point is the 75th percentile of market data.\n"
        "  - Zone 2 entry point is 80% of zone 1.\n"
        "  - Zone 3 entry point is 60% of zone 1.\n"
        "  - Zone 4 entry point is 40% of zone 1.\n\n"
        f"{FILLER}"
    )
    passage = best_passage("how are the pay zones set compared to zone 1?", text, max_chars=200)
    assert "Zone 1 entry point" in passage and "Zone 4 entry point is 40%" in passage


def test_what_do_i_actually_need_to_do_is_a_procedure() -> None:
    assert question_kind("I've decided to resign, what do I actually need to do?") == "procedure"
