"""Quotes are chosen from a passage's section, not from its chunk alone (issue 12): the
chunker cuts a section at a size, so a procedure's last steps, the rest of a list, or
the sub-section that answers may be in the next chunk of a page already cited."""

from __future__ import annotations

import pytest

from bot.answer import Answerer
from bot.extractive import extractive_answer
from bot.retrieve import Retriever
from bot.sections import section_of
from ingest.models import Hit
from ingest.sources.markdown import MarkdownSource
from ingest.store import Store
from tests.fakes.embedders import HashEmbedder

STEP = (
    "tell your manager and the People team about it, in writing, before you go on to the "
    "next step, and keep a copy of what you sent in your own notes"
)
STEPS = "\n".join(
    f"{i}. Step {i}: {STEP}." + (" Return your laptop to Tech Ops." if i == 11 else "")
    for i in range(1, 12)
)
LEAVING = (
    "# Leaving\n\n## Voluntary resignation process\n\n"
    f"When you decide to resign, follow these steps:\n\n{STEPS}\n\n"
    "### After your last day\n\nYour final paycheck arrives on the next regular payday.\n\n"
    "## Benefits after leaving\n\nCOBRA paperwork arrives by email.\n"
)
INTRO = " ".join(f"One-on-ones keep us in touch as a remote team, reason {i}." for i in range(20))
ONE_ON_ONES = (
    f"# 1-1 meetings\n\n{INTRO}\n\n## How we do 1-1s\n\n"
    "1-1s are weekly recurring 25-minute meetings with your manager. The teammate sets up "
    "the calendar event and keeps a running agenda document that both of you can edit, "
    "so that topics can be added during the week as they come up.\n"
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    tmp = tmp_path_factory.mktemp("sections")
    root = tmp / "docs"
    root.mkdir()
    (root / "leaving.md").write_text(LEAVING)
    (root / "one-on-ones.md").write_text(ONE_ON_ONES)
    store = Store(tmp / "kb.db")
    from ingest.sync import sync_source

    assert sync_source(store, MarkdownSource("docs", root), HashEmbedder()).error is None
    return store


def chunks(store: Store, doc: str) -> list[Hit]:
    rows = store.conn.execute(
        "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id "
        "WHERE d.doc_id = ? ORDER BY c.ordinal",
        (doc,),
    ).fetchall()
    return store.load_hits([(int(r[0]), 1.0) for r in rows])


def leaving(store: Store) -> dict[str, Hit]:
    """The leaving page's chunks by what they hold."""
    names = ("intro", "steps", "rest", "sub", "other")
    return dict(zip(names, chunks(store, "leaving.md"), strict=True))


def test_the_fixture_procedure_is_cut_by_the_chunker(store: Store) -> None:
    intro, steps, rest, sub, other = chunks(store, "leaving.md")
    assert intro.text.endswith("follow these steps:")
    assert steps.text.startswith("1. Step 1") and "Return your laptop" not in steps.text
    assert rest.text.startswith("11. Step 11") and "Return your laptop" in rest.text
    assert sub.heading_path[-1] == "After your last day"
    assert other.heading_path[-1] == "Benefits after leaving"


def test_a_section_runs_to_its_sub_sections_and_starts_where_its_list_does(store: Store) -> None:
    c = leaving(store)
    section = section_of(store, c["steps"])
    # The chunk starts inside a list: the chunk that opens it comes first.
    assert section.first_chunk_id == c["intro"].chunk_id
    assert section.text.startswith("When you decide to resign, follow these steps:")
    assert "Return your laptop" in section.text  # the list's end, in the next chunk
    assert "final paycheck" in section.text  # a sub-section of the same section
    assert "COBRA" not in section.text  # the next section is another subject


def test_a_chunk_that_starts_a_sentence_takes_nothing_from_before(store: Store) -> None:
    c = leaving(store)
    section = section_of(store, c["sub"])
    assert section.text == c["sub"].text and section.first_chunk_id == c["sub"].chunk_id
    first = section_of(store, c["intro"])
    assert first.text.startswith(c["intro"].text) and "Return your laptop" in first.text


def test_a_chunk_another_passage_shows_is_not_quoted_twice(store: Store) -> None:
    c = leaving(store)
    section = section_of(store, c["steps"], {c["rest"].chunk_id, c["intro"].chunk_id})
    assert section.text == c["steps"].text


def test_how_far_a_section_reaches_is_bounded(store: Store) -> None:
    c = leaving(store)
    section = section_of(store, c["steps"], after=1, before=0)
    assert section.text == c["steps"].text + "\n\n" + c["rest"].text


def test_the_last_step_cut_into_the_next_chunk_is_quoted(store: Store) -> None:
    c = leaving(store)
    question = "I've decided to resign, how do I resign, step by step?"
    alone = extractive_answer(question, [c["steps"]])
    assert "Return your laptop" not in alone
    section = section_of(store, c["steps"])
    whole = extractive_answer(question, [c["steps"]], texts={c["steps"].chunk_id: section.text})
    assert "> 1. Step 1" in whole and "Return your laptop to Tech Ops." in whole
    assert "— [1] [Leaving > Voluntary resignation process]" in whole


def test_the_sub_section_under_an_introduction_answers(store: Store) -> None:
    intro, sub = chunks(store, "one-on-ones.md")
    assert sub.heading_path[-1] == "How we do 1-1s"  # the chunker made it a chunk of its own
    question = "how long should a weekly 1-1 with my manager be?"
    assert "25-minute" not in extractive_answer(question, [intro])
    section = section_of(store, intro)
    answer = extractive_answer(question, [intro], texts={intro.chunk_id: section.text})
    assert "25-minute meetings" in answer


def test_the_answerer_quotes_the_steps_after_the_chunk_it_found(store: Store) -> None:
    question = "I decide to resign: when you decide to resign, what do I follow?"
    for sections in (True, False):
        answerer = Answerer(Retriever(store, HashEmbedder()), per_document=1, sections=sections)
        answer = answerer.ask(question).answer
        assert not answer.abstained
        assert answer.sources[0].text == "When you decide to resign, follow these steps:"
        assert ("Return your laptop to Tech Ops." in answer.text) is sections
        assert answer.text.count("When you decide to resign") == 1
