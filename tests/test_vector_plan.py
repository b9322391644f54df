"""The coarse vector pass is guarded: its recall is measured on the store's own vectors
after every sync that changed them, and exact search is used where the coarse pass is
poor or exact search is cheap; ``docbot status`` says which."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from bot.app import build
from bot.ops.status import render_status
from bot.retrieve import Retriever
from ingest.settings import Settings
from ingest.sources.markdown import MarkdownSource
from ingest.store import Store, VectorCodes, binary_code
from ingest.store.vector_plan import MIN_RECALL, VectorPlan, choose, measure
from ingest.sync import sync_source
from tests.fakes.embedders import HashEmbedder


class UncentredEmbedder(HashEmbedder):
    """Vectors whose every dimension is positive, like some API embedders': every 1-bit
    code is the same, so the coarse pass cannot tell chunks apart."""

    def __init__(self) -> None:
        super().__init__(model_id="test:uncentred")

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.abs(super().embed_batch(texts)) + 0.05
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def blocks_of(ids: np.ndarray, vectors: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for start in range(0, len(ids), 1000):
        yield ids[start : start + 1000], vectors[start : start + 1000]


def codes_for(vectors: np.ndarray) -> VectorCodes:
    return VectorCodes.build("1", [(i, binary_code(v)) for i, v in enumerate(vectors)])


def test_recall_is_high_for_centred_vectors_and_low_for_uncentred_ones() -> None:
    rng = np.random.default_rng(7)
    centred = rng.normal(size=(5000, 64)).astype(np.float32)
    centred /= np.linalg.norm(centred, axis=1, keepdims=True)
    uncentred = np.abs(centred) + 0.05
    uncentred /= np.linalg.norm(uncentred, axis=1, keepdims=True)
    ids = np.arange(5000)
    sample = ids[:32]
    good = measure(codes_for(centred), centred[sample], sample, lambda: blocks_of(ids, centred))
    bad = measure(codes_for(uncentred), uncentred[sample], sample,
                  lambda: blocks_of(ids, uncentred))  # fmt: skip
    assert max(good.values()) >= MIN_RECALL
    assert bad[1] < 0.2 and max(bad.values()) < MIN_RECALL
    assert len(bad) == 4  # every pool tried, none good enough


def test_the_plan_follows_the_measurement() -> None:
    assert choose(1000, {1: 0.2}, "1").mode == "exact"  # small: exact whatever the recall
    plan = choose(200_000, {1: 0.91, 2: 0.97}, "1")
    assert (plan.mode, plan.pool_factor, plan.healthy) == ("coarse", 2, True)
    poor = choose(200_000, {1: 0.1, 2: 0.2, 4: 0.3, 8: 0.4}, "1")
    assert (poor.pool_factor, poor.healthy) == (8, False)
    assert "below target" in poor.describe()
    assert VectorPlan.load(poor.dump()) == poor and VectorPlan.load("{bad") is None


def write(root: Path, count: int) -> Path:
    root.mkdir()
    for i in range(count):
        words = " ".join(f"w{i}x{j}" for j in range(8))
        (root / f"page{i:03}.md").write_text(f"# Page {i}\n\nTopic {words}.\n", "utf-8")
    return root


@pytest.mark.parametrize(
    "embedder", [HashEmbedder(), UncentredEmbedder()], ids=["hash", "uncentred"]
)
def test_a_sync_measures_the_store_and_retrieval_uses_the_plan(
    tmp_path: Path, embedder: HashEmbedder
) -> None:
    store = Store(tmp_path / "db.sqlite")
    assert (
        sync_source(store, MarkdownSource("docs", write(tmp_path / "d", 600)), embedder).error
        is None
    )
    plan = store.vector_plan()
    assert plan.mode == "exact" and plan.recall is not None  # 600 chunks: exact is cheap
    if isinstance(embedder, UncentredEmbedder):
        assert plan.recall < 0.9  # measured (no better than chance), so status can say so
    retriever = Retriever(store, embedder)
    retriever.fusion = type(retriever.fusion)(dense_weight=1.0, lexical_weight=0.0)
    for i in (3, 250, 599):
        words = " ".join(f"w{i}x{j}" for j in range(8))
        (top, *_) = retriever.search(f"Topic {words}", k=5).hits
        assert top.doc_id == f"page{i:03}.md"  # exact search finds it even for uncentred vectors
    app = build(Settings(db_path=store.path), embedder=embedder)
    assert app.status()["index"]["vector_search"]["mode"] == "exact"
    assert "vectors     exact (600 chunks)" in render_status(app.status())


def test_a_store_too_big_for_exact_search_with_a_poor_coarse_pass_widens_the_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ingest.store.vector_plan as vector_plan

    monkeypatch.setattr(vector_plan, "EXACT_MAX_CHUNKS", 100)  # as if the store were huge
    store = Store(tmp_path / "db.sqlite")
    sync_source(store, MarkdownSource("docs", write(tmp_path / "d", 1000)), UncentredEmbedder())
    plan = store.vector_plan()
    # x1 (401 of 1,000 candidates) and x2 find too little; only a pool covering
    # the whole store is good enough for these vectors
    assert plan.mode == "coarse" and plan.pool_factor == 4 and plan.recall == 1.0
