"""The PostgreSQL lexical search at scale: latency and recall@10 of the bounded ranking
(``DOCBOT_PG_LEXICAL_CANDIDATES``) against the unbounded one, on a built store.

Every question of ``--queries`` (BEIR ``queries.jsonl``; dbpedia's by default) goes
through ``fts_search`` as retrieval sends it (``fts_query``, the lexical pool of
``bot/retrieve.py``), once per candidate budget; budget 0 ranks every chunk holding any
word, and is the truth the others' top 10 are compared with. ``--before`` also times the
ranking as it was before the per-lexeme counts (each word's document frequency counted
through the GIN index up to 20,000, every matching chunk ranked), in the same run.
``--explain`` prints ``EXPLAIN (ANALYZE, BUFFERS)`` of both for the first question.

    python scripts/bench_pg_lexical.py --url postgresql://... [--budgets 0 2000 5000 10000]
        [--rankings bm25 ts_rank]

``--rankings`` times each lexical ranking (``bm25``, shipped; ``ts_rank``, the one before
it) at every budget, each against its own unbounded ranking.

The store is one ``scripts/bench_scale.py --backend postgres`` built (``scale_SIZE``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DATASET = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "beir" / "dbpedia"

BEFORE_SQL = """
WITH t AS MATERIALIZED (
    SELECT i, plainto_tsquery(%s::regconfig, w) AS q
    FROM unnest(%s::text[]) WITH ORDINALITY AS u(w, i)
), terms AS MATERIALIZED (
    SELECT i, q, (SELECT count(*) FROM (SELECT 1 FROM chunks x
                  WHERE x.tsv @@ t.q LIMIT 20000) s) AS df
    FROM t WHERE numnode(q) > 0
), n AS (
    SELECT greatest((SELECT CASE WHEN reltuples >= 20000 THEN reltuples::bigint
            ELSE (SELECT count(*) FROM chunks) END
     FROM pg_class WHERE oid = 'chunks'::regclass), 1) AS n
)
SELECT c.id, sum(ln(1 + (n.n - terms.df + 0.5) / (terms.df + 0.5))
                 * ts_rank(%s::float4[], c.tsv, terms.q, 1)) AS rank
FROM terms CROSS JOIN n JOIN chunks c ON c.tsv @@ terms.q
GROUP BY c.id ORDER BY rank DESC, c.id LIMIT %s
"""
"""The ranking before ``chunk_terms`` (main at ec3c857), for the same-run comparison."""


def _before(store: Any, match: str, limit: int) -> list[tuple[int, float]]:
    from ingest.store.postgres.lexical import terms
    from ingest.store.postgres.search import FTS_WEIGHTS, _ts_rank_weights, _weights

    words = terms(match)
    rows = store.db.rows(
        BEFORE_SQL, [store.text_config, words, _ts_rank_weights(_weights(FTS_WEIGHTS)), limit]
    )
    return [(int(i), float(r)) for i, r in rows]


def _explain(store: Any, sql: str, params: list[Any]) -> str:
    rows = store.db.rows("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
    return "\n".join(r[0] for r in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--queries", default=str(DATASET / "queries.jsonl"))
    parser.add_argument("--budgets", type=int, nargs="+", default=[0, 2000, 5000, 10000, 20000])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--before", action="store_true")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument(
        "--rankings", nargs="+", default=["bm25"], help="bm25 (shipped) and/or ts_rank"
    )
    args = parser.parse_args()

    from bot.retrieve import LEXICAL_POOL, fts_query
    from ingest.store.postgres.store import PostgresStore

    questions = [
        json.loads(line)["text"]
        for line in Path(args.queries).read_text().splitlines()
        if line.strip()
    ]
    matches = [fts_query(q) for q in questions]
    budgets = sorted(set(args.budgets), key=lambda b: (b != 0, b))  # the truth first
    if 0 not in budgets:
        budgets.insert(0, 0)
    results: dict[str, dict[str, float]] = {}
    truth: list[list[int]] = []
    truth_scores: list[list[float]] = []
    runs: list[tuple[str, Any, str]] = []
    if args.before:
        runs.append(("before", None, "ts_rank"))
    for ranking in args.rankings:
        prefix = "" if args.rankings == ["bm25"] else f"{ranking} "
        runs += [(f"{prefix}budget {b}", b, ranking) for b in budgets]
    for name, budget, ranking in runs:
        store = PostgresStore(args.url, lexical_candidates=budget or 0, lexical_ranking=ranking)
        search = (
            (lambda m, s=store: _before(s, m, LEXICAL_POOL))
            if budget is None
            else (lambda m, s=store: s.fts_search(m, LEXICAL_POOL))
        )
        search(matches[0])  # the connection and the plan cache warm
        latencies: list[float] = []
        tops: list[list[int]] = []
        scores: list[list[float]] = []
        for _ in range(args.rounds):
            tops, scores = [], []
            for match in matches:
                started = time.perf_counter()
                ranked = search(match)
                latencies.append((time.perf_counter() - started) * 1000)
                tops.append([c for c, _ in ranked[:10]])
                scores.append([r for _, r in ranked[:10]])
        if budget == 0:
            truth, truth_scores = tops, scores
        figures: dict[str, float] = {
            "p50_ms": float(np.percentile(latencies, 50)),
            "p95_ms": float(np.percentile(latencies, 95)),
            "max_ms": max(latencies),
        }
        if truth and budget is not None:
            figures["recall@10_vs_unbounded"] = statistics.fmean(  # over questions with hits
                len(set(t) & set(g)) / len(t) for t, g in zip(truth, tops, strict=True) if t
            )
            # Ties: a chunk scored as high as the unbounded 10th is as right as the one the
            # unbounded ranking kept by id (this corpus repeats each text 200 times).
            figures["recall@10_ties"] = statistics.fmean(
                sum(1 for r in got[: len(want)] if r >= want[-1] * (1 - 1e-6)) / len(want)
                for want, got in zip(truth_scores, scores, strict=True)
                if want
            )
        results[name] = figures
        print(name, json.dumps({k: round(v, 3) for k, v in figures.items()}), flush=True)
        if args.explain and budget is not None:
            from ingest.store.postgres.lexical import terms

            print(f"-- {name}: {questions[0]!r} ({terms(matches[0])})")
            _explain_bounded(store, matches[0])
        elif args.explain:
            from ingest.store.postgres.lexical import terms
            from ingest.store.postgres.search import FTS_WEIGHTS, _ts_rank_weights, _weights

            params = [
                store.text_config,
                terms(matches[0]),
                _ts_rank_weights(_weights(FTS_WEIGHTS)),
                LEXICAL_POOL,
            ]
            print(f"-- before: {questions[0]!r}\n" + _explain(store, BEFORE_SQL, params))
        store.close()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


def _explain_bounded(store: Any, match: str) -> None:
    """EXPLAIN the ranking query the store runs, by catching its SQL on the way out."""
    calls: list[tuple[str, Any]] = []
    rows = store.db.rows

    def spy(sql: str, params: Any = ()) -> Any:
        calls.append((sql, params))
        return rows(sql, params)

    store.db.rows = spy
    try:
        store.fts_search(match, 200)
    finally:
        store.db.rows = rows
    for sql, params in calls:
        if "cand AS" in sql:
            print(_explain(store, sql, list(params)))


if __name__ == "__main__":
    sys.exit(main())
