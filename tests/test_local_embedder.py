"""The bundled local embedder's batching: token-length batches, parallel model runs.

These run the real int8 MiniLM shipped in ``ingest/weights`` (no fakes): what is
checked is that the faster path gives every text its own vector, in input order,
the same whatever the number of workers, and close to the text embedded alone.
Speed is measured by scripts/bench_embed.py, never asserted here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.retrieve import Retriever
from ingest.embedding import LocalEmbedder, token_batches
from ingest.sources.markdown import MarkdownSource
from ingest.store import Store
from ingest.sync import sync_source
from tests.fakes.embedders import HashEmbedder

TEXTS = [
    "How do I reset my VPN password?",
    "a",
    "",
    "Expense claims above 5,000 euros need the CFO's approval.",
    "Kubernetes pods restart when the liveness probe fails three times in a row. " * 4,
    "```python\nfor i in range(10):\n    print(i, i ** 2, {'k': [i]})\n```",
    "| key | value |\n|---|---|\n| DOCBOT_DB | path to the SQLite file |",
    "Onboarding > First week\n\nMeet your buddy, set up your laptop, read the handbook.",
    "The quarterly report is due on the first Monday of the month.",
    # Far past the model's limit: truncated, not an error.
    "Long page. " + "The incident commander writes the timeline as events happen. " * 80,
    *[
        f"Release {n}: the deploy pipeline ran {n} checks and {n % 7} of them failed."
        for n in range(30)
    ],
]


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    return LocalEmbedder(workers=2)


def test_token_batches_cover_every_text_once_within_the_budget() -> None:
    lengths = [5, 300, 12, 12, 256, 1, 40, 40, 40, 200, 7, 0]
    batches = token_batches(lengths, budget=512, max_texts=3)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths)  # shortest first
    for batch in batches:
        assert len(batch) <= 3
        widest = max(max(lengths[i] for i in batch), 1)
        # A text longer than the budget still gets a batch of its own.
        assert len(batch) * widest <= 512 or len(batch) == 1


def test_token_batches_fill_up_to_the_budget() -> None:
    batches = token_batches([10] * 100, budget=200, max_texts=64)
    assert [len(b) for b in batches] == [20] * 5


def test_embed_keeps_input_order_and_each_texts_own_vector(embedder: LocalEmbedder) -> None:
    vectors = embedder.embed(TEXTS)
    alone = np.stack([embedder.embed_batch([t])[0] for t in TEXTS])
    assert vectors.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosine = vectors @ alone.T
    # Each row is nearest to its own text embedded alone ...
    assert list(cosine.argmax(axis=1)) == list(range(len(TEXTS)))
    # ... and the same vector within int8 noise: batch-mates move the dynamic
    # quantization's activation scale (the old path had the same; the empty text,
    # two tokens, moves most).
    assert float(np.diag(cosine).min()) >= 0.95
    assert float(np.diag(cosine).mean()) >= 0.99


def test_workers_do_not_change_the_vectors(embedder: LocalEmbedder) -> None:
    serial = LocalEmbedder(workers=1)
    small = LocalEmbedder(workers=3)
    small.batch_tokens = 256  # many batches, so the workers really run side by side
    serial.batch_tokens = 256
    np.testing.assert_allclose(small.embed(TEXTS), serial.embed(TEXTS), atol=1e-6)


def test_a_batch_is_the_same_vectors_as_padding_it_with_the_tokenizer(
    embedder: LocalEmbedder,
) -> None:
    """The hand-made padding equals the tokenizer's own (what the old path used)."""
    from tokenizers import Tokenizer

    from ingest.embedding import DEFAULT_LOCAL_MODEL, MODELS_DIR

    tok = Tokenizer.from_file(str(MODELS_DIR / DEFAULT_LOCAL_MODEL / "tokenizer.json"))
    tok.enable_truncation(LocalEmbedder.max_tokens)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    encodings = tok.encode_batch(TEXTS[:12])
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
    (hidden,) = embedder._session.run(
        ["last_hidden_state"],
        {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
    )
    weights = mask[:, :, None].astype(np.float32)
    pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    expected = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
    np.testing.assert_allclose(embedder.embed_batch(TEXTS[:12]), expected, atol=1e-5)


def test_progress_counts_every_text_and_empty_input(embedder: LocalEmbedder) -> None:
    seen: list[int] = []
    embedder.embed(TEXTS, progress=seen.append)
    assert sum(seen) == len(TEXTS) and len(seen) >= 1
    assert embedder.embed([]).shape == (0, 0)


def test_long_text_is_truncated_at_the_models_limit(embedder: LocalEmbedder) -> None:
    long_text = TEXTS[9]
    assert len(embedder._token_ids([long_text])[0]) == LocalEmbedder.max_tokens
    # Words past the limit do not change the vector.
    longer = long_text + " Completely different closing words about tax forms." * 20
    a, b = embedder.embed([long_text, longer])
    assert float(a @ b) > 0.999


class Untruncated(LocalEmbedder):
    """The bundled model as it was before passages were cut at 128 tokens."""

    max_tokens = 256


def test_passages_are_cut_at_128_tokens_and_the_id_records_it(embedder: LocalEmbedder) -> None:
    assert LocalEmbedder.max_tokens == 128
    assert embedder.model_id == "local:minilm-l6-int8@128"
    assert Untruncated().model_id == "local:minilm-l6-int8"  # the id stores had before
    assert embedder.rebuilds == ("local:minilm-l6-int8",)
    text = "The on-call engineer pages the incident commander first. " * 20  # ~200 tokens
    assert len(embedder._token_ids([text])[0]) == 128
    assert len(Untruncated()._token_ids([text])[0]) > 128
    # Words between token 128 and 256 no longer move the vector.
    tail = text + " Payroll, tax forms and the holiday calendar are in the HR portal." * 3
    a, b = embedder.embed_batch([text, tail])
    assert float(a @ b) > 0.999
    c, d = Untruncated().embed_batch([text, tail])
    assert float(c @ d) < 0.999
    # A question is far shorter than either limit: the same vector as before.
    question = "Who does the on-call engineer page first?"
    np.testing.assert_allclose(
        embedder.embed_query_uncached(question), Untruncated().embed_query_uncached(question),
        atol=1e-6,
    )  # fmt: skip


def test_a_store_of_the_untruncated_model_is_rebuilt_by_the_next_sync(
    tmp_path: Path, embedder: LocalEmbedder
) -> None:
    """Upgrading rebuilds the index beside the live one instead of refusing the sync;
    the old vectors (the same model) keep serving questions until the switch."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "vpn.md").write_text("# VPN\n\nConnect with TunnelGate before you deploy.\n")
    (docs / "meals.md").write_text("# Meals\n\nThe meal allowance is 75 dollars a day.\n")
    store = Store(tmp_path / "kb.db")
    source = MarkdownSource("docs", docs)
    assert sync_source(store, source, Untruncated()).error is None
    assert store.embed_model == "local:minilm-l6-int8"

    before = Retriever(store, embedder).search("How do I connect to the VPN?", k=1)
    assert before.dense_model == embedder.model_id  # dense search, not BM25 alone
    assert before.hits[0].doc_id == "vpn.md"

    report = sync_source(store, source, embedder)
    assert (report.error, report.rebuild, report.chunks_embedded) == (None, True, 2)
    assert store.embed_model == embedder.model_id
    assert sync_source(store, source, embedder).rebuild is False  # once only
    after = Retriever(store, embedder).search("How do I connect to the VPN?", k=1)
    assert after.hits[0].doc_id == "vpn.md"


def test_a_store_of_another_model_is_still_refused(tmp_path: Path, embedder: LocalEmbedder) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "vpn.md").write_text("# VPN\n\nConnect with TunnelGate before you deploy.\n")
    store = Store(tmp_path / "kb.db")
    source = MarkdownSource("docs", docs)
    assert sync_source(store, source, HashEmbedder(model_id="test:other")).error is None
    report = sync_source(store, source, embedder)
    assert report.error is not None and "test:other" in report.error
    assert store.embed_model == "test:other"
