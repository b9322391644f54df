"""Fusion by spread (``bot/fusion.py``), the default of both paths: a list's
first counts by how far it stands out of its list, not 1 however weak. A flat BM25
list (every chunk matching a word or two of a question in another language alike) no
longer ties with the vector side's clear first; a decisive keyword match, or a lone
one, still keeps its place."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bot.fusion import SHORT_LIST, fuse, fuse_zscore, lift_pages, spread
from bot.retrieve import Fusion, Retriever
from ingest.languages import detect_language
from ingest.models import Hit
from ingest.multilingual import fill_multilingual
from ingest.store import Store
from ingest.sync import sync_source
from tests.fakes.embedders import HashEmbedder
from tests.test_fusion import Pages


def falling(ids: range, top: float, bottom: float) -> list[tuple[int, float]]:
    """Scores evenly from ``top`` down to ``bottom``, best first."""
    values = np.linspace(top, bottom, len(ids))
    return [(cid, float(v)) for cid, v in zip(ids, values, strict=True)]


def test_a_flat_lexical_head_no_longer_ties_with_a_clear_vector_first() -> None:
    # Dense: chunk 1 stands far above 49 middling ones. BM25: chunk 100 first of a
    # flat list (50 chunks matching a common word or two alike); neither in the other.
    dense = [(1, 0.62), *falling(range(2, 51), 0.4, 0.3)]
    lexical = falling(range(100, 150), 5.0, 4.0)
    before = fuse(dense, lexical, 0.5, 0.5, 50)
    assert {cid for cid, _ in before[:2]} == {1, 100}
    assert before[0][1] == pytest.approx(before[1][1])  # the min-max tie at 0.5
    after = fuse_zscore(dense, lexical, 0.5, 0.5, 50)
    assert after[0][0] == 1
    assert after[0][1] > after[1][1] * 1.3


def test_a_decisive_keyword_match_the_vector_side_missed_comes_first() -> None:
    # BM25's first is far above the rest (a rare identifier); the vector side does not
    # list it and its own first does not stand out.
    dense = falling(range(1, 51), 0.45, 0.30)
    lexical = [(100, 21.0), *falling(range(101, 150), 4.0, 2.0)]
    fused = fuse_zscore(dense, lexical, 0.5, 0.5, 50)
    assert fused[0][0] == 100


def test_a_chunk_both_lists_rank_high_beats_either_lists_lone_first() -> None:
    dense = [(1, 0.5), (7, 0.49), *falling(range(10, 58), 0.4, 0.3)]
    lexical = [(2, 6.0), (7, 5.9), *falling(range(100, 148), 4.0, 3.0)]
    assert fuse_zscore(dense, lexical, 0.5, 0.5, 50)[0][0] == 7


def test_a_lone_keyword_match_ties_with_the_vector_sides_first() -> None:
    # One chunk holds the question's word: too few to show a spread, so min-max's
    # rule holds: it ties with the other list's first (in the order min-max gives).
    dense = [(5, 0.7), *falling(range(6, 55), 0.4, 0.3)]
    fused = fuse_zscore(dense, [(3, 2.0)], 0.5, 0.5, 50)
    assert {cid for cid, _ in fused[:2]} == {3, 5}
    assert fused[0][1] == pytest.approx(fused[1][1])
    assert fused[0][1] > fused[2][1]
    assert [c for c, _ in fused[:2]] == [c for c, _ in fuse(dense, [(3, 2.0)], 0.5, 0.5, 50)[:2]]


def test_short_lists_fuse_exactly_as_min_max() -> None:
    dense = falling(range(1, SHORT_LIST), 0.6, 0.2)
    lexical = [(4, 3.0), (20, 2.5), (1, 1.0)]
    assert spread(dense, 50) is None
    assert fuse_zscore(dense, lexical, 0.5, 0.5, 50) == fuse(dense, lexical, 0.5, 0.5, 50)


def test_an_equal_scored_list_counts_as_no_spread() -> None:
    assert spread([(i, 1.5) for i in range(20)], 50) is None


def test_the_head_decides_whatever_the_depth_fetched() -> None:
    rng = np.random.default_rng(14)
    dense = sorted(((i, float(s)) for i, s in enumerate(rng.random(300))), key=lambda x: -x[1])
    lexical = sorted(
        ((i, float(s)) for i, s in enumerate(rng.random(300) * 10, 150)), key=lambda x: -x[1]
    )
    shallow = fuse_zscore(dense[:50], lexical[:50], 0.5, 0.5, 50)
    deep = fuse_zscore(dense, lexical, 0.5, 0.5, 50)
    assert shallow[:40] == deep[:40]


def test_one_empty_list_leaves_the_other_in_its_order() -> None:
    lexical = falling(range(1, 30), 9.0, 1.0)
    assert [cid for cid, _ in fuse_zscore([], lexical, 0.5, 0.5, 50)] == list(range(1, 30))
    assert fuse_zscore([], [], 0.5, 0.5, 50) == []


# --- through the Retriever, on the multilingual path ---------------------------------

GLOSSARY = {
    "reisekosten": "travel expenses",
    "einreichen": "submit",
    "frist": "deadline",
    "tagen": "days",
}
"""What a multilingual model does, in a few words: a German word lands where its
English translation does."""


class TranslatingEmbedder(HashEmbedder):
    """A stand-in multilingual model: German words mapped to English through
    ``GLOSSARY``, the rest dropped, then hashed, so the English page on travel expenses
    is the German question's clear nearest and the German pages are not."""

    multilingual = True
    min_similarity = 0.0

    def __init__(self) -> None:
        super().__init__(model_id="test:translating")

    english = frozenset(" ".join(GLOSSARY.values()).split())

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        kept = []
        for text in texts:
            words = re.findall(r"\w+", text.lower())
            meaning = [GLOSSARY.get(w, w) for w in words if w in GLOSSARY or w in self.english]
            kept.append(" ".join(meaning) or "none")
        return super().embed_batch(kept)


QUESTION = "Bis wann muss ich meine Reisekosten einreichen, welche Frist gilt in Tagen?"

TOPICS = [
    "Urlaub",
    "Elternzeit",
    "Krankheit",
    "Dienstwagen",
    "Laptop",
    "Schulung",
    "Gehalt",
    "Umzug",
    "Büro",
    "Kantine",
    "Parkplatz",
    "Sicherheit",
    "Passwort",
    "Drucker",
    "Telefon",
    "Vertrag",
    "Kündigung",
    "Bewerbung",
    "Feier",
    "Geschenk",
    "Pause",
    "Rente",
    "Versicherung",
    "Zeugnis",
    "Bonus",
    "Homeoffice",
    "Schlüssel",
    "Post",
    "Archiv",
]


@pytest.fixture
def mixed_store(tmp_path: Path) -> tuple[Store, HashEmbedder, TranslatingEmbedder]:
    """29 German and 29 English pages on other subjects, the German ones each holding
    the question's common German words ("bis", "wann", "muss", "ich", "meine",
    "welche", "gilt", "in") and none of its subject's, and the one English page that
    answers it, in English words only."""
    pages = {
        f"de-{i:02d}.md": f"# {topic}\n\n"
        + (
            f"Bis wann muss ich meine Unterlagen zum Thema {topic} abgeben? Welche Regel "
            "gilt in diesem Fall? "
        )
        * (1 + i % 4)  # pages of four lengths: BM25 alike, not equal
        for i, topic in enumerate(TOPICS)
    }
    pages.update(
        (f"en-{topic.lower()}.md", f"# {topic}\n\nAsk the office team about {topic.lower()}.")
        for topic in TOPICS
    )  # English pages on other subjects: the German words are in under half the chunks
    pages["travel-expenses.md"] = (
        "# Travel expenses\n\nSubmit travel expenses within 30 days of the trip: the "
        "deadline is 30 days, counted from the last day of travel."
    )
    store = Store(tmp_path / "kb.db")
    english, multilingual = HashEmbedder(), TranslatingEmbedder()
    report = sync_source(store, Pages(pages), english)
    assert report.error is None
    fill_multilingual(store, multilingual)
    return store, english, multilingual


def test_a_german_question_is_answered_from_the_english_page_its_words_miss(
    mixed_store: tuple[Store, HashEmbedder, TranslatingEmbedder],
) -> None:
    store, english, multilingual = mixed_store
    assert detect_language(QUESTION)[0] == "de"
    # BM25 (store-wide IDF, to show the fusion alone): the German pages, all alike,
    # matched on the question's common words; the English page matches none of them.
    plain = Fusion(language_idf=False, english_dense_weight=0.0)
    spread_first = Retriever(store, english, plain, multilingual=multilingual).search(QUESTION)
    assert spread_first.language == "de"
    assert spread_first.hits[0].doc_id == "travel-expenses.md"
    before = Retriever(
        store,
        english,
        Fusion(language_idf=False, english_dense_weight=0.0, multilingual_method="minmax"),
        multilingual=multilingual,
    ).search(QUESTION, k=10)
    # Min-max: the German pages BM25 ranks first (the shortest, alike) tie with the
    # vector side's clear first at 0.5, and win the tie.
    target = next(h for h in before.hits if h.doc_id == "travel-expenses.md")
    assert before.hits[0].doc_id.startswith("de-")
    assert before.hits[0].score == pytest.approx(target.score) == pytest.approx(0.5)
    assert spread_first.hits[0].score > 2 * spread_first.hits[1].score


def test_english_questions_take_method_not_multilingual_method(
    mixed_store: tuple[Store, HashEmbedder, TranslatingEmbedder],
) -> None:
    store, english, multilingual = mixed_store
    question = "When is the deadline to submit travel expenses?"
    rankings = [
        [h.chunk_id for h in Retriever(store, english, f, multilingual=multilingual)
         .search(question, k=10).hits]
        for f in (Fusion(), Fusion(multilingual_method="minmax"))
    ]  # fmt: skip
    assert rankings[0] == rankings[1]


def test_the_multilingual_path_refuses_a_method_it_does_not_have(
    mixed_store: tuple[Store, HashEmbedder, TranslatingEmbedder],
) -> None:
    store, english, multilingual = mixed_store
    retriever = Retriever(
        store, english, Fusion(multilingual_method="rrf-union"), multilingual=multilingual
    )
    with pytest.raises(ValueError, match="zscore"):
        retriever.search(QUESTION)


# --- a page two of whose passages the question finds (``lift_pages``) ------------------


def hit(chunk_id: int, doc_id: str, score: float) -> Hit:
    return Hit(chunk_id, "docs", doc_id, doc_id, f"https://x/{doc_id}", "", (), "", score)


def test_a_pages_best_chunk_is_lifted_by_its_second() -> None:
    hits = [hit(1, "hub.md", 3.0), hit(2, "a.md", 2.5), hit(3, "a.md", 2.0), hit(4, "b.md", 1.0)]
    lifted = lift_pages(hits, 1.0)
    assert [(h.chunk_id, h.score) for h in lifted] == [(2, 4.5), (1, 3.0), (3, 2.0), (4, 1.0)]
    assert [h.chunk_id for h in lift_pages(hits, 0.25)] == [1, 2, 3, 4]  # 3.0 > 2.5 + 0.5


def test_only_the_second_chunk_counts_and_the_others_keep_their_place() -> None:
    hits = [hit(1, "a.md", 2.0), hit(2, "b.md", 1.9), hit(3, "a.md", 1.0), hit(4, "a.md", 0.9)]
    lifted = lift_pages(hits, 0.5)
    assert [(h.chunk_id, h.score) for h in lifted] == [(1, 2.5), (2, 1.9), (3, 1.0), (4, 0.9)]
    assert hits[0].score == 2.0  # the input hits are not changed


FILLER = (
    " Keep the receipts and the booking confirmation, name the project you worked on, "
    "and ask the office team when anything about the trip or the claim is unclear."
) * 4
SECTIONS = {
    "hub.md": "# Hub\n\nTravel expenses: submit before the deadline." + FILLER,
    "claims.md": (
        f"# Claims\n\n## Part one\n\nTravel expenses have a deadline.{FILLER}\n\n"
        f"## Part two\n\nSubmit them within days of the deadline.{FILLER}"
    ),
}
"""Sections of about 700 characters, so each is a chunk of its own."""


@pytest.fixture
def paged_store(tmp_path: Path) -> tuple[Store, HashEmbedder, TranslatingEmbedder]:
    """One page whose single passage is the question's nearest, one whose two passages
    are each a little less near, and 20 English pages on other subjects."""
    pages = dict(SECTIONS)
    pages.update(
        (f"en-{topic.lower()}.md", f"# {topic}\n\nAsk the office team about {topic.lower()}.")
        for topic in TOPICS[:20]
    )
    store = Store(tmp_path / "kb.db")
    english, multilingual = HashEmbedder(), TranslatingEmbedder()
    assert sync_source(store, Pages(pages), english).error is None
    fill_multilingual(store, multilingual)
    return store, english, multilingual


def test_a_page_two_of_whose_passages_answer_comes_before_a_one_passage_page(
    paged_store: tuple[Store, HashEmbedder, TranslatingEmbedder],
) -> None:
    store, english, multilingual = paged_store
    no_share = Fusion(english_dense_weight=0.0)
    pages = [
        [h.doc_id for h in Retriever(store, english, f, multilingual=multilingual)
         .search(QUESTION, k=3).hits]
        for f in (replace(no_share, multilingual_second_chunk=0.0), no_share)
    ]  # fmt: skip
    assert pages[0][:2] == ["hub.md", "claims.md"]
    assert pages[1][:2] == ["claims.md", "hub.md"]


def test_english_questions_lift_pages_only_when_asked(
    paged_store: tuple[Store, HashEmbedder, TranslatingEmbedder],
) -> None:
    """``Fusion.second_chunk`` is the page lift on the English path: off by default (it
    answered more unanswerable handbook questions, docs/BENCHMARKS.md), and when set, the
    same rule the multilingual path uses."""
    store, english, _ = paged_store
    question = "When is the deadline to submit travel expenses?"
    assert Fusion().second_chunk == 0.0
    plain = Retriever(store, english).search(question, k=10, per_document=2).hits
    lifted = Retriever(store, english, Fusion(second_chunk=0.5)).search(
        question, k=10, per_document=2
    )
    expected = lift_pages(plain, 0.5)
    assert [(h.chunk_id, h.score) for h in lifted.hits] == [
        (h.chunk_id, pytest.approx(h.score)) for h in expected
    ]
    assert [(h.chunk_id, h.score) for h in lifted.hits] != [(h.chunk_id, h.score) for h in plain]
