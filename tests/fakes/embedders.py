"""A cheap, deterministic embedder for tests that need real vectors but not a real model.

``HashEmbedder`` is a genuine subclass of the ``Embedder`` seam (not a mock): sync,
the store and retrieval run their real code paths over its vectors. Words are hashed
into 64 buckets (a signed bag of words), so texts that share words point alike and a
keyword query finds its passage, while a whole test suite embeds in milliseconds and
needs no model files.

It counts what it embedded (``calls``, ``texts``) so a test can assert that an
unchanged document was not embedded again.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from ingest.embedding import Embedder

_WORD = re.compile(r"\w+")


class HashEmbedder(Embedder):
    """Hashed bag-of-words vectors, unit length, ``dim`` wide (64 by default)."""

    batch_size = 64

    def __init__(self, dim: int = 64, model_id: str = "test:hash64") -> None:
        self.dim = dim
        self.model_id = model_id
        self.calls = 0
        self.texts: list[str] = []

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.texts.extend(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()) or [text]:
                # blake2b, not hash(): identical vectors in every process and run.
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                column = int.from_bytes(digest[:4], "little") % self.dim
                out[row, column] += 1.0 if digest[4] & 1 else -1.0
            if not out[row].any():  # empty text, or words cancelling out
                out[row, 0] = 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.maximum(norms, 1e-12)).astype(np.float32)
