"""pgvector's HNSW at scale: ``ef_search`` against recall@10 and latency, per index, on a
built store (``scripts/bench_scale.py --backend postgres``'s ``scale_SIZE``).

The questions are dbpedia's, embedded by the local model; the truth is exact cosine
search over every stored vector (``vector_search(exact=True)``, cached in ``--work``).
Each ``--ef`` is timed as the store queries: ``index_search`` (the settings and the query
pipelined in one round trip, 50 candidates as retrieval asks, re-ranked exactly), and
recall@10 is that re-ranked top 10 against the exact one. ``--halfvec`` times the
half-precision index instead (``CREATE INDEX ... ((embedding::halfvec(DIM)))``; the store
queries it when it exists). ``--scoped`` adds a reader scope (every document passes it),
to see what the documents join and ``hnsw.iterative_scan`` cost. ``--explain`` prints
``EXPLAIN (ANALYZE, BUFFERS)`` of the first question at each ``ef_search``.

    python scripts/bench_pg_vectors.py --url postgresql://.../scale_1000000 --ef 40 100 200 400
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DATASET = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "beir" / "dbpedia"
CANDIDATES = 50


def _truth(store: Any, vectors: np.ndarray, cache: Path) -> list[list[int]]:
    if cache.exists():
        return [list(map(int, row)) for row in json.loads(cache.read_text())]
    truth = [[c for c, _ in store.vector_search(v, 10, exact=True)] for v in vectors]
    cache.write_text(json.dumps(truth))
    return truth


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--ef", type=int, nargs="+", default=[40, 100, 200, 400])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--model", help="local model folder (default: the packaged one)")
    parser.add_argument("--work", default="/tmp/docbot-scale")
    parser.add_argument("--scoped", action="store_true")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()

    from ingest.embedding import make_embedder
    from ingest.store.postgres.store import PostgresStore
    from ingest.store.scope import Scope

    embedder = make_embedder("local", args.model)
    questions = [json.loads(line)["text"] for line in (DATASET / "queries.jsonl").open()]
    vectors = np.stack([embedder.embed_query(q) for q in questions]).astype(np.float32)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha1(args.url.encode()).hexdigest()[:10]
    store = PostgresStore(args.url)
    started = time.perf_counter()
    truth = _truth(store, vectors, work / f"truth-{key}.json")
    print(f"truth: {len(truth)} questions ({time.perf_counter() - started:.1f} s)", flush=True)
    print("index:", store._vector_index_kind(), flush=True)
    scope = Scope(reader="nobody@example.com", all_restricted=False) if args.scoped else None
    results: dict[int, dict[str, float]] = {}
    for ef in args.ef:
        store.ef_search = ef
        latencies: list[float] = []
        recall: list[float] = []
        for _ in range(args.rounds):
            recall = []
            for vector, best in zip(vectors, truth, strict=True):
                t0 = time.perf_counter()
                ids, matrix = store.index_search(vector, CANDIDATES, scope=scope)
                latencies.append((time.perf_counter() - t0) * 1000)
                order = np.argsort(-(matrix @ vector), kind="stable")[:10]
                recall.append(len(set(best) & {ids[i] for i in order}) / max(len(best), 1))
        results[ef] = {
            "recall@10": statistics.fmean(recall),
            "p50_ms": float(np.percentile(latencies, 50)),
            "p95_ms": float(np.percentile(latencies, 95)),
        }
        print(ef, json.dumps({k: round(v, 3) for k, v in results[ef].items()}), flush=True)
        if args.explain:
            sql, params = store._index_query(vectors[0], CANDIDATES, scope)
            with store.db.connection() as conn, conn.transaction():
                conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(ef),))
                if scope is not None:
                    conn.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)")
                plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params).fetchall()
            print("\n".join(r[0] for r in plan))
    store.close()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
