"""Where BM25's time goes on a big store: each dbpedia question's FTS5 time against the
summed document frequency of its terms, and what dropping the most common terms would
save and change (docs/BENCHMARKS.md, "Where SQLite's time goes at 1M chunks").

    python scripts/probe_bm25.py /tmp/scale/scale-1000000.db [--cut 0.05]

Run on a store built by scripts/bench_scale.py. A probe, not a test: it reads the store
and prints figures; each query runs twice and the second run is timed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.retrieve import fts_query
from ingest.store import Store

QUERIES = Path(__file__).resolve().parents[2] / "shared/data/beir/dbpedia/queries.jsonl"


def _pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("db")
    parser.add_argument("--cut", type=float, default=0.05, help="drop terms in more of the chunks")
    args = parser.parse_args()
    store = Store(args.db)
    conn = store.conn  # a probe of the SQLite backend's FTS5 table itself
    total = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
    questions = [json.loads(line)["text"] for line in QUERIES.open() if line.strip()]
    df: dict[str, int] = {}
    full, pruned, postings, overlap = [], [], [], []
    for question in questions:
        match = fts_query(question)
        terms = match.split(" OR ") if match else []
        for term in terms:
            if term not in df:
                (df[term],) = conn.execute(
                    "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (term,)
                ).fetchone()
        keep = [t for t in terms if df[t] <= args.cut * total] or terms
        store.fts_search(match, 50)
        t0 = time.perf_counter()
        a = store.fts_search(match, 50)
        t1 = time.perf_counter()
        b = store.fts_search(" OR ".join(keep), 50)
        t2 = time.perf_counter()
        full.append(t1 - t0)
        pruned.append(t2 - t1)
        postings.append(sum(df[t] for t in terms))
        top_a, top_b = {i for i, _ in a[:10]}, {i for i, _ in b[:10]}
        overlap.append(len(top_a & top_b) / max(1, len(top_a)))
    corr = float(np.corrcoef(np.array(postings), np.array(full))[0, 1])
    print(f"chunks {total}, questions {len(questions)}")
    print(f"full query   p50 {_pct(full, 0.5):.1f} ms  p95 {_pct(full, 0.95):.1f} ms")
    print(f"cut {args.cut:.2f}    p50 {_pct(pruned, 0.5):.1f} ms  p95 {_pct(pruned, 0.95):.1f} ms")
    print(f"top-10 overlap with the full query {statistics.mean(overlap):.3f}")
    print(f"correlation of time with summed postings {corr:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
