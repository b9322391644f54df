"""Retrieval internals: fusion arithmetic, query sanitising, and the coarse
(1-bit codes) + exact re-ranking KNN path used on large stores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.fusion import fuse, merge_lexical, minmax
from bot.retrieve import fts_query
from ingest.models import Chunk, Document
from ingest.store import Store, binary_code

DIM = 384


def test_minmax_and_weighted_fusion() -> None:
    assert minmax([(1, 2.0), (2, 4.0), (3, 3.0)]) == {1: 0.0, 2: 1.0, 3: 0.5}
    assert minmax([(1, 5.0), (2, 5.0)]) == {1: 1.0, 2: 1.0}
    dense = [(1, 0.9), (2, 0.5), (3, 0.1)]  # normalised: 1, 0.5, 0
    lexical = [(3, 12.0), (4, 2.0)]  # normalised: 1, 0
    fused = dict(fuse(dense, lexical, 0.7, 0.3))
    assert fused == pytest.approx({1: 0.7, 2: 0.35, 3: 0.3, 4: 0.0})
    # One side empty: the other decides alone.
    assert [c for c, _ in fuse([], lexical, 0.7, 0.3)] == [3, 4]
    assert [c for c, _ in fuse(dense, [], 0.7, 0.3)] == [1, 2, 3]


def test_bm25_lists_over_disjoint_terms_add_up() -> None:
    assert merge_lexical([(1, 2.0), (2, 1.0)], [(2, 3.0), (3, 0.5)]) == [
        (2, 4.0),
        (1, 2.0),
        (3, 0.5),
    ]


def test_fts_query_quotes_words_and_drops_syntax() -> None:
    assert fts_query('deploy AND (prod OR "x" NEAR/3 *') == (
        '"deploy" OR "prod" OR "x" OR "near" OR "3"'  # "and", "or": stopwords
    )
    assert fts_query("What is the VPN?") == '"vpn"'
    assert fts_query("North Dakota's rivers") == '"north" OR "dakota" OR "rivers"'
    assert fts_query("B. F. Skinner") == '"b" OR "f" OR "skinner"'  # initials are kept
    assert fts_query("?!") == ""


def _clustered(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, DIM))
    vectors = centres[rng.integers(0, 40, n)] + rng.normal(scale=0.8, size=(n, DIM)) + 0.05
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def _fill(store: Store, vectors: np.ndarray, doc_id: str = "bulk") -> None:
    store.bind_embedder("test:synthetic", DIM)
    doc = Document(source="s", doc_id=doc_id, title=doc_id, url="u", body="")
    chunks = [Chunk(doc_id=doc_id, ordinal=i, text=f"{doc_id} {i}") for i in range(len(vectors))]
    store.replace_document(doc, chunks, [v.tobytes() for v in vectors])


def test_coarse_search_finds_what_exact_search_finds(tmp_path: Path) -> None:
    """Mechanics, on synthetic vectors (recall on real ones: docs/BENCHMARKS.md)."""
    store = Store(tmp_path / "kb.db")
    vectors = _clustered(3000, seed=1)
    _fill(store, vectors)
    rng = np.random.default_rng(2)
    queries = vectors[rng.integers(0, len(vectors), 20)] + rng.normal(scale=0.02, size=(20, DIM))
    found = 0
    for query in queries.astype(np.float32):
        exact = store.vector_search(query, 10, exact=True)
        coarse = store.vector_search(query, 10, exact=False)
        assert coarse[0][0] == exact[0][0]
        found += len({c for c, _ in exact} & {c for c, _ in coarse})
        # Re-ranked with the stored float vectors: scores are exact cosines, in order.
        exact_scores = dict(exact)
        for chunk_id, score in coarse:
            if chunk_id in exact_scores:
                assert score == pytest.approx(exact_scores[chunk_id], abs=1e-5)
        assert [s for _, s in coarse] == sorted((s for _, s in coarse), reverse=True)
    assert found / (10 * len(queries)) >= 0.8


def test_coarse_index_follows_new_and_deleted_vectors(tmp_path: Path) -> None:
    store = Store(tmp_path / "kb.db")
    _fill(store, _clustered(500, seed=3))
    query = _clustered(1, seed=4)[0]
    before = store.vector_search(query, 1, exact=False)
    _fill(store, query[None, :], doc_id="new")  # a chunk identical to the query
    (new_id,) = store.conn.execute(
        "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id WHERE d.doc_id = 'new'"
    ).fetchone()
    assert store.vector_search(query, 1, exact=False) == [(new_id, pytest.approx(1.0))]
    store.delete_documents("s", ["new"])
    assert store.vector_search(query, 1, exact=False) == before


def test_codes_match_sqlite_vec_quantisation(tmp_path: Path) -> None:
    store = Store(tmp_path / "kb.db")
    vector = _clustered(1, seed=5)[0]
    (sql_code,) = store.conn.execute(
        "SELECT vec_quantize_binary(?)", (vector.tobytes(),)
    ).fetchone()
    assert binary_code(vector) == sql_code == binary_code(vector.tobytes())


def test_dense_scores_are_similarities_to_the_question_itself(tmp_path: Path) -> None:
    """Feedback re-ranks, but the relevance gate reads cosine(question, chunk)."""
    from bot.retrieve import Retriever
    from ingest.sources import Scan, Source
    from ingest.sync import sync_source
    from tests.fakes.embedders import HashEmbedder

    class Docs(Source):
        name = "docs"

        def scan(self, cursor: str | None = None, *, full: bool = False) -> Scan:
            texts = ["vpn tunnel gate", "vpn setup laptop", "meal allowance", "laptop refresh"]
            return Scan(
                documents=[
                    Document(source="docs", doc_id=f"d{i}", title="", url="u", body=t)
                    for i, t in enumerate(texts)
                ]
            )

    store = Store(tmp_path / "kb.db")
    embedder = HashEmbedder()
    sync_source(store, Docs(), embedder)
    result = Retriever(store, embedder).search("vpn laptop", k=4)
    question = embedder.embed_query("vpn laptop")
    for hit in result.hits:
        (vector,) = store.vectors([hit.chunk_id])[1]
        assert hit.scores["dense"] == pytest.approx(float(vector @ question), abs=1e-6)
    assert result.best_similarity == pytest.approx(max(h.scores["dense"] for h in result.hits))


def _many_documents(tmp_path: Path) -> Store:
    """A store of 400 small pages sharing a 60-word vocabulary, so both rankers return
    far more than 50 candidates for a question and fusion's pool depth matters."""
    from ingest.sources.markdown import MarkdownSource
    from ingest.sync import sync_source
    from tests.fakes.embedders import HashEmbedder

    rng = np.random.default_rng(7)
    vocabulary = [f"term{i}" for i in range(60)]
    folder = tmp_path / "docs"
    folder.mkdir()
    for n in range(400):
        words = rng.choice(vocabulary, size=12)
        (folder / f"page{n}.md").write_text(f"# Page {n}\n\n{' '.join(words)}.\n")
    store = Store(tmp_path / "kb.db")
    report = sync_source(store, MarkdownSource("docs", folder), HashEmbedder())
    assert report.error is None
    return store


@pytest.mark.parametrize("method", ["zscore", "minmax", "minmax-union", "rrf-union", "rrf"])
def test_the_first_results_do_not_depend_on_k(tmp_path: Path, method: str) -> None:
    """`search -k 5` and the first five of `search -k 50` are the same ranking: fusion
    normalises each list over a fixed head, not over a pool that grows with k (the
    default, and the variants the benchmark compares)."""
    from bot.retrieve import Fusion, Retriever
    from tests.fakes.embedders import HashEmbedder

    retriever = Retriever(_many_documents(tmp_path), HashEmbedder(), Fusion(method=method))
    for query in ("term1 term2 term3", "term10 term44", "term5 term6 term7 term8", "term59"):
        deep = retriever.search(query, k=60).hits
        assert len(deep) == 60
        for k in (1, 3, 5, 10, 12, 20, 40):
            shallow = retriever.search(query, k=k).hits
            assert [h.chunk_id for h in shallow] == [h.chunk_id for h in deep[:k]], (query, k)
            assert [h.score for h in shallow] == [h.score for h in deep[:k]]
        several = retriever.search(query, k=30, per_document=3).hits
        assert [h.chunk_id for h in retriever.search(query, k=5, per_document=3).hits] == [
            h.chunk_id for h in several[:5]
        ]


def test_fusion_over_a_fixed_head_ignores_what_lies_below_it() -> None:
    dense = [(1, 0.9), (2, 0.5), (3, 0.4), (4, 0.3)]
    lexical = [(3, 10.0), (2, 5.0), (4, 4.0)]
    short = fuse(dense[:2], lexical[:2], 0.7, 0.3, head=2)
    long = fuse(dense, lexical, 0.7, 0.3, head=2)
    assert long[: len(short)] == short
    assert dict(long)[4] == 0.0  # below both heads: placed after, scored 0
