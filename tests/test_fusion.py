"""Fusion keeps exact matches (issue 14): a chunk that is BM25's best match for a rare
identifier is found even when the vector side does not list it at all. With equal
weights and min-max a chunk first in one list and absent from the other ties with the
other list's first; by spread (the default) its lead over its own list decides. The hit
then carries its real cosine, which the relevance gate reads."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from bot.fusion import FUSION_METHODS, fuse_union
from bot.retrieve import Fusion, Retriever, fts_query
from ingest.models import Document
from ingest.sources import Scan, Source
from ingest.store import Store
from ingest.sync import sync_source
from tests.fakes.embedders import HashEmbedder

COMMON = "what should i do when get error run stops worker cache start again clear".split()  # noqa: SIM905


class BlurringEmbedder(HashEmbedder):
    """Embeds only everyday words and drops everything else, as an embedder blurs an
    identifier it never saw in training: ``QZT-4471`` moves no vector."""

    def __init__(self) -> None:
        super().__init__(model_id="test:blurring")

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        kept = [
            " ".join(w for w in re.findall(r"\w+", t.lower()) if w in COMMON) or "nothing"
            for t in texts
        ]
        return super().embed_batch(kept)


class Pages(Source):
    name = "docs"

    def __init__(self, pages: dict[str, str]) -> None:
        self.pages = pages

    def scan(self, cursor: str | None = None, *, full: bool = False) -> Scan:
        docs = [
            Document(source="docs", doc_id=doc_id, title=doc_id, url=f"https://x/{doc_id}", body=b)
            for doc_id, b in self.pages.items()
        ]
        return Scan(documents=docs, total=len(docs))


QUESTION = "What should I do when I get error QZT-4471?"


@pytest.fixture
def rare_store(tmp_path: Path) -> tuple[Store, BlurringEmbedder, int]:
    """80 troubleshooting pages full of the question's everyday words, a decoy naming
    the near-twin code, and the one page that names QZT-4471 in different words."""
    rng = np.random.default_rng(14)
    pages = {
        f"trouble{n:02}": " ".join(rng.choice(COMMON, size=40)) + f" step {n}." for n in range(80)
    }
    pages["decoy"] = "Error QZT-4472 means the disk is full; free some space."
    pages["target"] = "QZT-4471 appears when the licence server is unreachable; call IT."
    store = Store(tmp_path / "kb.db")
    embedder = BlurringEmbedder()
    assert sync_source(store, Pages(pages), embedder).error is None
    (target,) = store.conn.execute(
        "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id "
        "WHERE d.doc_id = 'target'"
    ).fetchone()
    return store, embedder, target


def test_a_rare_identifier_only_bm25_finds_is_in_the_top_results(
    rare_store: tuple[Store, BlurringEmbedder, int],
) -> None:
    store, embedder, target = rare_store
    head = Fusion().candidates
    dense = store.vector_search(embedder.embed_query(QUESTION), head, exact=True)
    assert target not in {cid for cid, _ in dense}  # the vector side does not list it
    assert store.fts_search(fts_query(QUESTION), 1)[0][0] == target  # BM25's first

    result = Retriever(store, embedder).search(QUESTION, k=3)
    assert target in [h.chunk_id for h in result.hits]
    hit = next(h for h in result.hits if h.chunk_id == target)
    (vector,) = store.vectors([target])[1]
    # Scored on both signals: its real cosine, not 0 for being unlisted.
    assert hit.scores["dense"] == pytest.approx(float(vector @ embedder.embed_query(QUESTION)))
    assert hit.scores["bm25"] > 0

    # The weights before issue 14 lose it: 0 on the dense side caps it at 0.3.
    before = Retriever(store, embedder, Fusion(0.7, 0.3, method="minmax")).search(QUESTION, k=3)
    assert target not in [h.chunk_id for h in before.hits]


def test_rank_only_fusion_loses_it_where_many_chunks_are_middling_on_both_sides(
    rare_store: tuple[Store, BlurringEmbedder, int],
) -> None:
    """Why fusion adds normalised scores, not ranks: here 80 pages rank on both sides
    for the question's everyday words; RRF gives them two middling ranks, which
    outweigh BM25's clear first, while min-max keeps BM25's margin."""
    store, embedder, target = rare_store
    for method, kept in (
        ("zscore", True), ("minmax", True), ("minmax-union", True), ("rrf-union", False),
        ("rrf", False),
    ):  # fmt: skip
        fusion = Fusion(0.5, 0.5, method=method)
        hits = Retriever(store, embedder, fusion).search(QUESTION, k=5).hits
        assert (target in [h.chunk_id for h in hits]) is kept, method


def test_by_spread_the_exact_match_comes_first_where_min_max_only_ties_it(
    rare_store: tuple[Store, BlurringEmbedder, int],
) -> None:
    """The English default fuses by spread (``Fusion.method`` ``zscore``): BM25's first
    stands far out of a list of everyday-word matches, so it outweighs the vector side's
    first, which does not stand out of its own; min-max gives both firsts 0.5, a tie
    the chunk id breaks, here against the identifier's page."""
    store, embedder, target = rare_store
    assert Fusion().method == "zscore"
    spread = Retriever(store, embedder).search(QUESTION, k=5).hits
    assert spread[0].chunk_id == target
    assert spread[0].score > spread[1].score * 1.3
    minmax = Retriever(store, embedder, Fusion(method="minmax")).search(QUESTION, k=5).hits
    assert minmax[0].score == pytest.approx(minmax[1].score)  # the tie at 0.5
    assert minmax[1].chunk_id == target


def test_the_relevance_gate_keeps_the_exact_match(
    rare_store: tuple[Store, BlurringEmbedder, int],
) -> None:
    """The answer step's gate reads the hit's cosine; the BM25-only hit now carries
    its real one (here above the floor), so the gate does not drop it as it would a 0."""
    from bot.answer import Answerer

    store, embedder, target = rare_store
    embedder.min_similarity = 0.0001
    retriever = Retriever(store, embedder)
    result = retriever.search(QUESTION, k=5)
    relevant = Answerer(retriever)._relevant(result)
    assert target in [h.chunk_id for h in relevant]


def test_rrf_union_on_a_small_example() -> None:
    # Cosines of every candidate; BM25 of those matching a word (3 matches none).
    dense = {1: 0.9, 2: 0.6, 3: 0.5, 4: 0.1}  # dense ranks 1, 2, 3, 4
    lexical = {4: 12.0, 2: 3.0, 1: 1.0}  # BM25 ranks: 4 first, 2, 1; 3 unranked
    fused = fuse_union(dense, lexical, 0.5, 0.5, method="rrf-union", rrf_k=60)
    scale = 61 / 1.0
    expected = {
        1: scale * (0.5 / 61 + 0.5 / 63),
        2: scale * (0.5 / 62 + 0.5 / 62),
        3: scale * (0.5 / 63),
        4: scale * (0.5 / 64 + 0.5 / 61),
    }
    assert dict(fused) == pytest.approx(expected)
    assert [cid for cid, _ in fused] == [1, 2, 4, 3]  # 4 first in BM25 only
    # First on both signals scores exactly 1.
    assert fuse_union({7: 0.8}, {7: 2.0}, 0.7, 0.3, method="rrf-union")[0][1] == pytest.approx(1.0)


def test_minmax_union_on_a_small_example() -> None:
    dense = {1: 0.9, 2: 0.5, 3: 0.1}  # normalised 1, 0.5, 0
    lexical = {3: 8.0, 2: 4.0}  # with 1's real 0: normalised 0, 0.5, 1
    fused = dict(fuse_union(dense, lexical, 0.7, 0.3, method="minmax-union"))
    assert fused == pytest.approx({1: 0.7, 2: 0.5, 3: 0.3})


def test_an_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fusion method"):
        fuse_union({1: 1.0}, {}, 0.5, 0.5, method="nope")


def test_every_method_is_listed() -> None:
    assert Fusion().method in FUSION_METHODS
    assert (Fusion().dense_weight, Fusion().lexical_weight) == (0.5, 0.5)
