"""``docbot eval``: retrieval quality on a BEIR-format dataset.

The corpus is indexed into a temporary store through the code the bot itself
uses (``sync_source`` -> chunking -> embedding -> store), then every query goes
through ``Retriever.search`` with one hit per document, so a document longer
than a chunk is ranked by its best chunk. What is measured is what a user gets.

A dataset folder holds ``corpus.jsonl`` (``_id``, ``title``, ``text``),
``queries.jsonl`` (``_id``, ``text``) and ``qrels/test.tsv`` (``query-id
corpus-id score``, graded, 0 = judged not relevant, with or without a header
row; a 4-column TREC qrels file works too).

With ``--rerank``, the same queries are ranked a second time in the same store with the
chat model reordering the fused candidates (``bot/rerank.py``), and both runs are
reported side by side: quality, latency, the rerank's own time, tokens per question and
how often it fell back to the fused order.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from bot.eval import metrics_ir
from bot.rerank import Reranker
from bot.retrieve import Fusion, Retriever
from ingest import chunking
from ingest.embedding import Embedder
from ingest.errors import InputError
from ingest.models import Chunk, Document
from ingest.settings import Settings
from ingest.sources import Scan, Source
from ingest.store import StoreContract, scratch_store
from ingest.sync import Progress, sync_source

RUN_TAG = "docbot"
SOURCE_NAME = "eval"

Qrels = dict[str, dict[str, int]]
Ranking = list[tuple[str, float]]


# --- the dataset ---------------------------------------------------------------


def _read_qrels(path: Path, *, always_skip_first: bool) -> Qrels:
    """Graded judgments. A first line whose grade is not an integer is a header;
    ``always_skip_first`` drops the first line regardless (the leaderboard's way)."""
    qrels: Qrels = {}
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            parts = line.split()
            if not parts or (number == 1 and always_skip_first):
                continue
            if len(parts) == 4:  # TREC: qid iteration docid grade
                parts = [parts[0], parts[2], parts[3]]
            if len(parts) != 3:
                raise InputError(f"{path}:{number}: expected 'query-id corpus-id score'")
            qid, doc_id, grade = parts
            try:
                value = int(grade)
            except ValueError:
                if number == 1:
                    continue  # header row
                raise InputError(f"{path}:{number}: score {grade!r} is not an integer") from None
            qrels.setdefault(qid, {})[doc_id] = value
    return qrels


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{number}: not a JSON line ({exc.msg})") from None
            if not isinstance(row, dict) or "_id" not in row:
                raise InputError(f"{path}:{number}: a JSON object with an '_id' is expected")
            yield row


@dataclass
class Dataset:
    """A BEIR-format dataset on disk (the corpus is streamed, not held)."""

    path: Path
    queries: dict[str, str]
    qrels: Qrels
    """Standard judgments (header row detected)."""
    leaderboard_qrels: Qrels
    """The leaderboard's reading: the first line always skipped."""
    size: int

    @property
    def corpus_path(self) -> Path:
        return self.path / "corpus.jsonl"

    def documents(self) -> Iterator[Document]:
        for row in _read_jsonl(self.corpus_path):
            doc_id = str(row["_id"])
            yield Document(
                source=SOURCE_NAME,
                doc_id=doc_id,
                title=str(row.get("title") or ""),
                url=f"beir:{doc_id}",
                body=str(row.get("text") or ""),
            )

    def scored_queries(self) -> dict[str, str]:
        """Queries with judgments under either reading, in file order."""
        return {
            qid: text
            for qid, text in self.queries.items()
            if self.qrels.get(qid) or self.leaderboard_qrels.get(qid)
        }


def load_dataset(path: str | Path) -> Dataset:
    """Read a BEIR dataset folder; :class:`InputError` says what is missing."""
    root = Path(path)
    if not root.is_dir():
        raise InputError(f"{root} is not a folder; give a BEIR dataset folder (corpus.jsonl, ...)")
    qrels_path = root / "qrels" / "test.tsv"
    for needed in (root / "corpus.jsonl", root / "queries.jsonl", qrels_path):
        if not needed.is_file():
            raise InputError(
                f"{needed} is missing; a BEIR dataset has corpus.jsonl, queries.jsonl "
                "and qrels/test.tsv"
            )
    queries = {str(r["_id"]): str(r.get("text") or "") for r in _read_jsonl(root / "queries.jsonl")}
    with (root / "corpus.jsonl").open(encoding="utf-8") as lines:
        size = sum(1 for line in lines if line.strip())
    dataset = Dataset(
        path=root,
        queries=queries,
        qrels=_read_qrels(qrels_path, always_skip_first=False),
        leaderboard_qrels=_read_qrels(qrels_path, always_skip_first=True),
        size=size,
    )
    if not dataset.scored_queries():
        raise InputError(f"{qrels_path}: no judged query appears in queries.jsonl")
    return dataset


class CorpusSource(Source):
    """The corpus as a docbot source, so it is indexed exactly as a sync would."""

    def __init__(self, dataset: Dataset) -> None:
        self.name = SOURCE_NAME
        self.dataset = dataset

    def scan(self, cursor: str | None = None, *, full: bool = False) -> Scan:
        return Scan(documents=self.dataset.documents(), total=self.dataset.size)


# --- running it ----------------------------------------------------------------


@dataclass
class EvalReport:
    """What ``docbot eval`` reports; :meth:`as_json` is the ``--json`` contract."""

    k: int
    ndcg: float
    ndcg_leaderboard: float
    recall: float
    mrr: float
    queries: int
    documents: int
    chunks: int
    index_seconds: float
    latency_p50_ms: float
    latency_p95_ms: float
    config: dict[str, Any] = field(default_factory=dict)
    rerank: RerankReport | None = None
    """The same queries with the rerank (``--rerank``), else None."""

    @property
    def chunks_per_second(self) -> float:
        return self.chunks / self.index_seconds if self.index_seconds > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        k = self.k
        return {
            f"ndcg@{k}": round(self.ndcg, 4),
            f"ndcg@{k}_leaderboard": round(self.ndcg_leaderboard, 4),
            f"recall@{k}": round(self.recall, 4),
            f"mrr@{k}": round(self.mrr, 4),
            "queries": self.queries,
            "documents": self.documents,
            "chunks": self.chunks,
            "index_seconds": round(self.index_seconds, 2),
            "chunks_per_second": round(self.chunks_per_second, 1),
            "latency_ms": {
                "p50": round(self.latency_p50_ms, 2),
                "p95": round(self.latency_p95_ms, 2),
            },
            "config": self.config,
            **({"rerank": self.rerank.as_json(self)} if self.rerank is not None else {}),
        }


@dataclass
class RerankReport:
    """The run with the rerank, to read beside the fused run of the same report."""

    model: str
    candidates: int
    ndcg: float
    ndcg_leaderboard: float
    recall: float
    mrr: float
    latency_p50_ms: float
    latency_p95_ms: float
    """Retrieval (``candidates`` deep) plus the rerank, per query."""
    rerank_p50_ms: float
    rerank_p95_ms: float
    """The rerank step alone (the model call), per query."""
    prompt_tokens: float
    completion_tokens: float
    """Per query, as the server reported them."""
    outcomes: dict[str, int] = field(default_factory=dict)

    def as_json(self, fused: EvalReport) -> dict[str, Any]:
        k = fused.k
        queries = sum(self.outcomes.values())
        fell_back = sum(n for o, n in self.outcomes.items() if o not in ("ok", "skipped"))
        return {
            "model": self.model,
            "candidates": self.candidates,
            f"ndcg@{k}": round(self.ndcg, 4),
            f"ndcg@{k}_leaderboard": round(self.ndcg_leaderboard, 4),
            f"recall@{k}": round(self.recall, 4),
            f"mrr@{k}": round(self.mrr, 4),
            "change": {
                f"ndcg@{k}": round(self.ndcg - fused.ndcg, 4),
                f"recall@{k}": round(self.recall - fused.recall, 4),
                f"mrr@{k}": round(self.mrr - fused.mrr, 4),
            },
            "latency_ms": {
                "p50": round(self.latency_p50_ms, 2),
                "p95": round(self.latency_p95_ms, 2),
            },
            "added_latency_ms": {
                "p50": round(self.latency_p50_ms - fused.latency_p50_ms, 2),
                "p95": round(self.latency_p95_ms - fused.latency_p95_ms, 2),
            },
            "rerank_ms": {"p50": round(self.rerank_p50_ms, 2), "p95": round(self.rerank_p95_ms, 2)},
            "tokens_per_query": {
                "prompt": round(self.prompt_tokens, 1),
                "completion": round(self.completion_tokens, 1),
            },
            "outcomes": dict(sorted(self.outcomes.items())),
            "fallback_rate": round(fell_back / queries, 4) if queries else 0.0,
        }


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile (numpy's default method)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * pct / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def score_run(run: Mapping[str, Sequence[str]], dataset: Dataset, k: int) -> dict[str, float]:
    """Every metric for ranked doc ids per query, each over its own query set:
    standard metrics over judged queries, the leaderboard's over its reading."""
    queries = dataset.queries
    qrels = {q: j for q, j in dataset.qrels.items() if q in queries}
    board = {q: j for q, j in dataset.leaderboard_qrels.items() if q in queries and j}
    return {
        "ndcg": metrics_ir.mean_over_queries(metrics_ir.ndcg_at_k, run, qrels, k),
        "ndcg_leaderboard": metrics_ir.mean_over_queries(
            metrics_ir.ndcg_leaderboard_at_k, run, board, k
        ),
        "recall": metrics_ir.mean_over_queries(metrics_ir.recall_at_k, run, qrels, k),
        "mrr": metrics_ir.mean_over_queries(metrics_ir.mrr_at_k, run, qrels, k),
    }


def index_dataset(
    dataset: Dataset,
    store: StoreContract,
    embedder: Embedder,
    *,
    chunk_chars: int = chunking.DEFAULT_CHUNK_CHARS,
    overlap_chars: int = chunking.DEFAULT_OVERLAP_CHARS,
    progress: Progress | None = None,
    chunker: Callable[[Document], list[Chunk]] | None = None,
    multilingual: Embedder | None = None,
) -> float:
    """Index the corpus with the sync pipeline (the multilingual fill included); return
    the seconds it took."""
    chunker = chunker or partial(
        chunking.split_markdown, chunk_chars=chunk_chars, overlap_chars=overlap_chars
    )
    started = time.perf_counter()
    report = sync_source(
        store, CorpusSource(dataset), embedder, progress=progress, chunker=chunker,
        multilingual=multilingual,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if report.error:
        raise InputError(f"indexing {dataset.corpus_path} failed: {report.error}")
    return seconds


def rank_queries(
    retriever: Retriever, queries: Mapping[str, str], k: int
) -> tuple[dict[str, Ranking], list[float]]:
    """(ranked (doc id, score) per query, per-query latency in ms)."""
    retriever.search("warm up the model and the caches", k=k)
    run: dict[str, Ranking] = {}
    latencies: list[float] = []
    for qid, text in queries.items():
        started = time.perf_counter()
        result = retriever.search(text, k=k, per_document=1)
        latencies.append((time.perf_counter() - started) * 1000)
        run[qid] = [(hit.doc_id, hit.score) for hit in result.hits]
    return run, latencies


def rerank_queries(
    retriever: Retriever, reranker: Reranker, queries: Mapping[str, str], k: int
) -> tuple[dict[str, Ranking], list[float], list[float], Counter[str], tuple[int, int]]:
    """The queries ranked as :func:`rank_queries` does, then reordered by ``reranker``
    (its ``candidates`` first, the fused rest after them), cut to ``k``: (ranked (doc
    id, score) per query, per-query latency of both steps in ms, per-query rerank ms,
    outcomes, (prompt, completion) tokens in all)."""
    depth = max(k, reranker.candidates)
    retriever.search("warm up the model and the caches", k=depth)
    run: dict[str, Ranking] = {}
    latencies: list[float] = []
    rerank_ms: list[float] = []
    outcomes: Counter[str] = Counter()
    prompt = completion = 0
    for qid, text in queries.items():
        started = time.perf_counter()
        result = retriever.search(text, k=depth, per_document=1)
        reranked = reranker.rerank(text, result.hits)
        latencies.append((time.perf_counter() - started) * 1000)
        rerank_ms.append(reranked.ms)
        outcomes[reranked.outcome] += 1
        prompt += reranked.usage.prompt_tokens
        completion += reranked.usage.completion_tokens
        run[qid] = [(hit.doc_id, hit.score) for hit in reranked.hits[:k]]
    return run, latencies, rerank_ms, outcomes, (prompt, completion)


def _rerank_report(
    retriever: Retriever, reranker: Reranker, dataset: Dataset, k: int
) -> tuple[RerankReport, dict[str, Ranking]]:
    run, latencies, rerank_ms, outcomes, (prompt, completion) = rerank_queries(
        retriever, reranker, dataset.scored_queries(), k
    )
    scores = score_run({q: [d for d, _ in r] for q, r in run.items()}, dataset, k)
    queries = max(len(run), 1)
    report = RerankReport(
        model=reranker.llm.model,
        candidates=reranker.candidates,
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
        rerank_p50_ms=percentile(rerank_ms, 50),
        rerank_p95_ms=percentile(rerank_ms, 95),
        prompt_tokens=prompt / queries,
        completion_tokens=completion / queries,
        outcomes=dict(outcomes),
        **scores,
    )
    return report, run


def evaluate(
    dataset: Dataset,
    embedder: Embedder,
    *,
    k: int = 10,
    fusion: Fusion | None = None,
    chunk_chars: int = chunking.DEFAULT_CHUNK_CHARS,
    overlap_chars: int = chunking.DEFAULT_OVERLAP_CHARS,
    progress: Progress | None = None,
    multilingual: Embedder | None = None,
    reranker: Reranker | None = None,
    settings: Settings | None = None,
) -> tuple[EvalReport, dict[str, Ranking]]:
    """Index ``dataset`` into a temporary store, run its queries, score them (questions
    not in English through ``multilingual`` when given, as the bot does); with
    ``reranker``, run them again reranked in the same store (``EvalReport.rerank``).
    The run returned is the fused one. The store is of the backend ``settings`` name
    (``DOCBOT_DATABASE_URL``: a schema of its own in that PostgreSQL database, dropped
    afterwards), else a SQLite file, so the same eval measures either backend."""
    with (
        tempfile.TemporaryDirectory(prefix="docbot-eval-") as tmp,
        scratch_store(settings or Settings(), Path(tmp)) as store,
    ):
        seconds = index_dataset(
            dataset,
            store,
            embedder,
            chunk_chars=chunk_chars,
            overlap_chars=overlap_chars,
            progress=progress,
            multilingual=multilingual,
        )
        documents, chunks = store.document_count(), store.chunk_count()
        backend = store.backend
        retriever = Retriever(store, embedder, fusion, multilingual=multilingual)
        run, latencies = rank_queries(retriever, dataset.scored_queries(), k)
        reranked = _rerank_report(retriever, reranker, dataset, k) if reranker else None
    scores = score_run({q: [d for d, _ in r] for q, r in run.items()}, dataset, k)
    report = EvalReport(
        k=k,
        queries=len(run),
        documents=int(documents),
        chunks=int(chunks),
        index_seconds=seconds,
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
        config={
            "embedder": embedder.model_id,
            "multilingual": multilingual.model_id if multilingual else None,
            "backend": backend,
            "fusion": asdict(retriever.fusion),
            "chunking": {
                "chunk_chars": chunk_chars,
                "overlap_chars": overlap_chars,
                "max_chars": chunking.DEFAULT_MAX_CHARS,
                "min_chars": chunking.DEFAULT_MIN_CHARS,
            },
        },
        rerank=reranked[0] if reranked else None,
        **scores,
    )
    return report, run


# --- TREC run files -------------------------------------------------------------


def write_run(path: str | Path, run: Mapping[str, Ranking], tag: str = RUN_TAG) -> None:
    """Write ``qid Q0 docid rank score tag`` lines. Scores are made strictly
    decreasing within a query (ties nudged by 1e-6), because trec_eval re-sorts by
    score and would otherwise reorder tied documents."""
    with Path(path).open("w", encoding="utf-8") as out:
        for qid, ranking in run.items():
            previous: float | None = None
            for rank, (doc_id, score) in enumerate(ranking, start=1):
                value = round(score, 6)
                if previous is not None and value >= previous:
                    value = round(previous - 1e-6, 6)
                previous = value
                out.write(f"{qid} Q0 {doc_id} {rank} {value:.6f} {tag}\n")


def read_run(path: str | Path) -> dict[str, Ranking]:
    """Read a TREC run file, each query's documents ordered by score (descending)."""
    run: dict[str, Ranking] = {}
    with Path(path).open(encoding="utf-8") as lines:
        for line in lines:
            parts = line.split()
            if len(parts) >= 5:
                run.setdefault(parts[0], []).append((parts[2], float(parts[4])))
    for ranking in run.values():
        ranking.sort(key=lambda item: -item[1])
    return run


# --- the command ----------------------------------------------------------------


def render(report: EvalReport, dataset: Dataset, run_path: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    data = report.as_json()
    k = report.k
    table = Table(title=f"docbot eval {dataset.path}", show_header=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        (f"nDCG@{k} (standard)", f"{report.ndcg:.4f}"),
        (f"nDCG@{k} (leaderboard)", f"{report.ndcg_leaderboard:.4f}"),
        (f"recall@{k}", f"{report.recall:.4f}"),
        (f"MRR@{k}", f"{report.mrr:.4f}"),
        ("queries", str(report.queries)),
        ("documents / chunks", f"{report.documents} / {report.chunks}"),
        ("index time", f"{report.index_seconds:.1f} s ({data['chunks_per_second']} chunks/s)"),
        (
            "query latency p50 / p95",
            f"{report.latency_p50_ms:.1f} / {report.latency_p95_ms:.1f} ms",
        ),
        ("embedder", report.config["embedder"]),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console = Console()
    console.print(table)
    if report.rerank is not None:
        console.print(render_rerank(report, report.rerank))
    if run_path:
        console.print(f"run file: {run_path}", markup=False, highlight=False)


def render_rerank(report: EvalReport, rerank: RerankReport) -> Any:
    """The fused and the reranked run side by side (a rich table)."""
    from rich.table import Table

    k = report.k
    data = rerank.as_json(report)
    table = Table(title=f"with the rerank ({rerank.model}, {rerank.candidates} candidates)")
    for column in ("metric", "fused", "reranked", "change"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for label, fused, reranked in (
        (f"nDCG@{k}", report.ndcg, rerank.ndcg),
        (f"recall@{k}", report.recall, rerank.recall),
        (f"MRR@{k}", report.mrr, rerank.mrr),
    ):
        table.add_row(label, f"{fused:.4f}", f"{reranked:.4f}", f"{reranked - fused:+.4f}")
    for label, fused, reranked in (
        ("latency p50 ms", report.latency_p50_ms, rerank.latency_p50_ms),
        ("latency p95 ms", report.latency_p95_ms, rerank.latency_p95_ms),
    ):
        table.add_row(label, f"{fused:.1f}", f"{reranked:.1f}", f"{reranked - fused:+.1f}")
    table.add_row(
        "rerank p50 / p95 ms", "", f"{rerank.rerank_p50_ms:.1f} / {rerank.rerank_p95_ms:.1f}", ""
    )
    table.add_row(
        "tokens per query (prompt / completion)",
        "",
        f"{rerank.prompt_tokens:.0f} / {rerank.completion_tokens:.0f}",
        "",
    )
    outcomes = ", ".join(f"{o} {n}" for o, n in data["outcomes"].items())
    table.add_row("rerank outcomes", "", outcomes, f"fell back {data['fallback_rate']:.0%}")
    return table
