"""The second vector set: every chunk embedded by the multilingual model too.

The bundled English model (MiniLM) cannot read other languages: a German question
found the right English passage 1 time in 8. The multilingual model
(``MultilingualEmbedder``) maps 16 languages into one space, so a question in any of
them finds pages in any of them, but it ranks English worse (dbpedia -0.116 nDCG@10).
So docbot keeps both: English questions are searched with MiniLM's vectors exactly as
before, other questions with the multilingual ones (``bot/retrieve.py``).

Why every chunk and not only the non-English ones: a German question about an English
page needs that page in the multilingual space. Why after the English pass: the
English index, which is what most questions use, goes live as fast as before; the
multilingual vectors are filled right after, in the same sync, by content hash (text
already embedded is never embedded again, also across rebuilds), one transaction per
batch, so a killed fill resumes where it stopped. Until they are there, a question in
another language is ranked by BM25 (and whatever multilingual vectors exist).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ingest.embedding import Embedder
from ingest.errors import DocbotError
from ingest.languages import chunk_language
from ingest.store import StoreContract
from ingest.store.contract import MultilingualVectors

log = logging.getLogger(__name__)

FILL_BATCH = 128
"""Chunk texts embedded and committed together (as ``EMBED_BATCH_CHUNKS`` in sync)."""


def fill_multilingual(
    store: MultilingualVectors,
    embedder: Embedder,
    *,
    batch: int = FILL_BATCH,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Embed every live chunk text that has no multilingual vector yet; return how
    many were embedded. Vectors of another multilingual model are dropped first (two
    models' vectors never mix); vectors of texts no chunk holds any more are pruned."""
    if store.multilingual_model not in (None, embedder.model_id):
        log.info(
            "multilingual model changed from %s to %s: re-embedding",
            store.multilingual_model, embedder.model_id,
        )  # fmt: skip
        store.reset_multilingual()
    store.prune_multilingual()
    embedded = 0
    while True:
        missing = store.chunks_missing_multilingual(batch)
        if not missing:
            if embedded:
                store.release_log_space()
            return embedded
        shas = list(missing)
        vectors = embedder.embed([missing[s] for s in shas])
        store.bind_multilingual(embedder.model_id, int(vectors.shape[1]))
        store.add_multilingual_vectors(
            embedder.model_id,
            {
                sha: (vectors[i].tobytes(), chunk_language(missing[sha]))
                for i, sha in enumerate(shas)
            },
        )
        embedded += len(shas)
        if progress:
            progress(len(shas))


def fill_after_sync(store: StoreContract, embedder: Embedder | None) -> float | None:
    """The fill as a sync's last step: seconds it took, or None when it is off or
    failed (logged: the English index is complete either way, and the next sync
    resumes the fill). A store without a multilingual vector set has nothing to fill."""
    if embedder is None or not isinstance(store, MultilingualVectors):
        return None
    started = time.perf_counter()
    try:
        embedded = fill_multilingual(store, embedder)
    except Exception as exc:  # a secondary index never fails the sync
        detail = str(exc) if isinstance(exc, DocbotError) else f"{type(exc).__name__}: {exc}"
        log.warning("could not fill the multilingual vectors (the next sync retries): %s", detail)
        log.debug("multilingual fill failed", exc_info=True)
        return None
    seconds = time.perf_counter() - started
    if embedded:
        log.info("multilingual vectors: %d chunk texts embedded in %.1f s", embedded, seconds)
    return seconds
