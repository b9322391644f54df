"""What the rerank (``bot/rerank.py``) costs per question, measured where no real chat
model is reachable: against the fake OpenAI server of ``tests/fakes``, which answers at
once. So the figures are docbot's own cost of the step (deeper retrieval, building the
prompt, the real ``openai`` client's request over loopback, parsing the reply) and the
size of what a real model would be sent; never the model's own time, and never whether
its order is better (docs/BENCHMARKS.md, "Rerank").

    python scripts/bench_rerank.py ../shared/data/beir/dbpedia [--candidates 20] [--model DIR]

One index (the shipped pipeline: offline model, default chunking and fusion), then the
same queries, in one process:

- ``fused``: the shipped ranking, k=10 (what ``docbot eval`` reports);
- ``fused, depth N``: the same search asked for the N candidates the rerank needs;
- ``rerank, kept order``: the fake replies with the fused order ([1, 2, ... N]): the full
  path taken (the reply parsed and applied), quality unchanged by construction;
- ``rerank, reversed``: the fake replies with the reverse order: the eval sees it (the
  plumbing check: a worse order must score worse);
- ``rerank, not an array``: the fake replies in words: every query falls back;
- ``oracle, top N``: no model: the first N fused results put in the order of their
  judged grades (a perfect rerank of N candidates), for N = 10, 20, 30, 50: the most a
  rerank of N candidates could gain on this set, on all judged queries and on the even-
  and odd-numbered halves (in file order).

Tokens: the fake's own count (words and punctuation marks) and docbot's estimate
(``bot/prompts.py``: characters / 4), per query.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.eval import metrics_ir
from bot.eval.evaluate import (
    index_dataset,
    load_dataset,
    percentile,
    rank_queries,
    rerank_queries,
    score_run,
)
from bot.llm import OpenAIChat
from bot.prompts import estimate_tokens
from bot.rerank import RERANK_PROMPT, Reranker
from bot.retrieve import Retriever
from ingest.embedding import make_embedder
from ingest.store import Store
from tests.fakes.openai_server import FakeOpenAI

K = 10


def replying(order: Callable[[list[int]], str], sent: list[str]) -> Callable[[dict[str, Any]], str]:
    def reply(body: dict[str, Any]) -> str:
        user = body["messages"][1]["content"]
        assert body["messages"][0]["content"] == RERANK_PROMPT
        sent.append(user)
        return order([int(n) for n in re.findall(r'<passage n="(\d+)"', user)])

    return reply


REPLIES: dict[str, Callable[[list[int]], str]] = {
    "rerank, kept order": lambda numbers: json.dumps(numbers),
    "rerank, reversed": lambda numbers: json.dumps(numbers[::-1]),
    "rerank, not an array": lambda numbers: "The first passage answers it best.",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset")
    parser.add_argument("--candidates", type=int, default=20)
    parser.add_argument("--model", default=None, help="a local model folder (default: bundled)")
    args = parser.parse_args()
    dataset = load_dataset(args.dataset)
    queries = dataset.scored_queries()
    embedder = make_embedder("local", args.model)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-rerank-") as tmp, FakeOpenAI() as fake:
        store = Store(Path(tmp) / "eval.db")
        seconds = index_dataset(dataset, store, embedder)
        retriever = Retriever(store, embedder)
        print(f"indexed {store.chunk_count()} chunks in {seconds:.0f} s", file=sys.stderr)

        run, latencies = rank_queries(retriever, queries, K)
        rows.append(row("fused (shipped)", run, latencies, dataset))
        _, deep = rank_queries(retriever, queries, args.candidates)
        rows.append(row(f"fused, depth {args.candidates}", None, deep, dataset))

        _, _ = rank_queries(retriever, {}, 50)  # nothing: the warm-up only
        wide, _ = rank_queries(retriever, queries, 50)
        for depth in (10, 20, 30, 50):
            rows.append(oracle(f"oracle, top {depth}", wide, depth, dataset))

        llm = OpenAIChat(
            "fake", api_key="sk-bench", base_url=fake.base_url, timeout=5, max_retries=0,
            temperature=0.0, max_tokens=8 * args.candidates + 32,
        )  # fmt: skip
        reranker = Reranker(llm, candidates=args.candidates, timeout=5.0)
        for name, order in REPLIES.items():
            sent: list[str] = []
            fake.reply = replying(order, sent)
            started = time.perf_counter()
            run, latencies, rerank_ms, outcomes, (prompt, completion) = rerank_queries(
                retriever, reranker, queries, K
            )
            wall = time.perf_counter() - started
            system = estimate_tokens(RERANK_PROMPT)
            estimate = sum(estimate_tokens(u) + system for u in sent) / len(queries)
            chars = sum(len(u) + len(RERANK_PROMPT) for u in sent) / len(queries)
            extra = {
                "rerank_ms": f"{percentile(rerank_ms, 50):.1f} / {percentile(rerank_ms, 95):.1f}",
                "prompt_tokens_fake": round(prompt / len(queries)),
                "prompt_tokens_estimate": round(estimate),
                "prompt_chars": round(chars),
                "completion_tokens_fake": round(completion / len(queries), 1),
                "outcomes": dict(outcomes),
                "wall_s": round(wall, 1),
            }
            rows.append(row(name, run, latencies, dataset, extra))
        store.close()
    print(json.dumps(rows, indent=1))
    print_table(rows)


def row(
    name: str,
    run: dict[str, list[tuple[str, float]]] | None,
    latencies: list[float],
    dataset: Any,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    ranked = {q: [d for d, _ in r] for q, r in run.items()} if run else {}
    return {
        "run": name,
        **(figures(ranked, dataset) if run else {}),
        "latency_ms": f"{percentile(latencies, 50):.1f} / {percentile(latencies, 95):.1f}",
        **(extra or {}),
    }


def oracle(
    name: str, wide: dict[str, list[tuple[str, float]]], depth: int, dataset: Any
) -> dict[str, Any]:
    """The first ``depth`` of each fused ranking reordered by judged grade (ties keep
    their fused order): what a perfect rerank of ``depth`` candidates would score."""
    run: dict[str, list[str]] = {}
    for qid, ranking in wide.items():
        grades = dataset.qrels.get(qid, {})
        head = [d for d, _ in ranking[:depth]]
        run[qid] = sorted(head, key=lambda d: -grades.get(d, 0))[:K]
    return {"run": name, **figures(run, dataset)}


def figures(run: dict[str, list[str]], dataset: Any) -> dict[str, float]:
    """nDCG, recall and MRR at K over every judged query, and nDCG over the even- and
    odd-numbered ones (in file order)."""
    scores = score_run(run, dataset, K)
    out = {f"{m}@{K}": round(scores[m], 4) for m in ("ndcg", "recall", "mrr")}
    order = list(run)
    for half, parity in (("even", 0), ("odd", 1)):
        part = {q for i, q in enumerate(order) if i % 2 == parity}
        qrels = {q: j for q, j in dataset.qrels.items() if q in part}
        ndcg = metrics_ir.mean_over_queries(metrics_ir.ndcg_at_k, run, qrels, K)
        out[f"ndcg@{K} {half}"] = round(ndcg, 4)
    return out


def print_table(rows: list[dict[str, Any]]) -> None:
    columns = list(dict.fromkeys(key for r in rows for key in r))
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for r in rows:
        print("| " + " | ".join(str(r.get(c, "")) for c in columns) + " |")


if __name__ == "__main__":
    main()
