"""The coarse vector pass: every chunk's 1-bit code, searched by Hamming distance.

Backend-neutral (numpy only): the SQLite store keeps the codes in a table and this
array in memory; any other store can feed the same codes to the same search.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

COARSE_FACTOR = 10
COARSE_MIN = 400
"""KNN is two passes: the 1-bit codes of every chunk (in memory) pick
``max(COARSE_FACTOR * k, COARSE_MIN)`` candidates by Hamming distance, whose float32
vectors are then ranked by exact cosine. A store smaller than that pool is searched
exactly. sqlite-vec's exact float KNN (``exact=True``) costs ~10x more at 100k chunks;
docs/BENCHMARKS.md has the recall and latency at 10k-1M chunks."""


def coarse_pool(limit: int) -> int:
    """How many candidates the coarse pass keeps for ``limit`` final results."""
    return max(limit * COARSE_FACTOR, COARSE_MIN)


def binary_code(vector: bytes | np.ndarray) -> bytes:
    """A vector's 1-bit code: the sign of each dimension, packed (48 bytes for 384-d);
    the same bytes as sqlite-vec's ``vec_quantize_binary``."""
    array = np.frombuffer(vector, dtype=np.float32) if isinstance(vector, bytes) else vector
    return np.packbits(np.asarray(array) > 0, bitorder="little").tobytes()


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


@dataclass(frozen=True)
class VectorCodes:
    """Every chunk's 1-bit code in one array, for a fast Hamming-distance pass.
    Read-only once built, so any thread may search it."""

    version: str
    ids: np.ndarray  # int64, (n,)
    words: np.ndarray  # uint8, (n, bytes per code)

    @classmethod
    def build(cls, version: str, rows: Sequence[tuple[int, bytes]]) -> VectorCodes:
        if not rows:
            return cls(version, np.zeros(0, dtype=np.int64), np.zeros((0, 1), dtype=np.uint8))
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        words = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.uint8).reshape(len(rows), -1)
        if words.shape[1] % 8 == 0:  # compare 64 bits at a time when the width allows
            words = words.view(np.uint64)
        return cls(version, ids, words)

    def nearest(self, query: np.ndarray, count: int, mask: np.ndarray | None = None) -> list[int]:
        """Chunk ids of the ``count`` codes nearest to ``query``'s (Hamming); with
        ``mask`` (one bool per code), only among the codes it keeps."""
        if len(self.ids) == 0:
            return []
        if mask is not None:
            kept = np.flatnonzero(mask)
            if len(kept) == 0:
                return []
            subset = VectorCodes(self.version, self.ids[kept], self.words[kept])
            return subset.nearest(query, count)
        code = np.frombuffer(binary_code(query), dtype=np.uint8)
        if self.words.dtype == np.uint64:
            code = code.view(np.uint64)
        if hasattr(np, "bitwise_count"):  # numpy >= 2.0
            counts = np.bitwise_count(self.words ^ code)
            distances = counts[:, 0].astype(np.int32)
            for column in range(1, counts.shape[1]):  # ~2x faster than .sum(axis=1)
                distances += counts[:, column]
        else:
            xor = (self.words ^ code).view(np.uint8)
            distances = _POPCOUNT[xor].sum(axis=1, dtype=np.int32)
        if count < len(distances):
            top = np.argpartition(distances, count)[:count]
        else:
            top = np.arange(len(distances))
        return [int(i) for i in self.ids[top]]
