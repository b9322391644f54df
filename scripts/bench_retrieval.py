"""Retrieval experiments behind the defaults in ``bot/retrieve.py`` (docs/BENCHMARKS.md).

Indexes a BEIR dataset through the real sync pipeline (``bot.eval.evaluate.index_dataset``)
once per index variant, caching vectors on disk by text, then collects each query's
dense and BM25 candidate lists once and replays many fusion settings over them. Each
family with a free parameter is scored by k-fold cross-validation over queries: the
parameter is chosen on the training folds (standard nDCG@10) and scored on the held-out
fold, so the figure is not tuned to the queries it is reported on.

    python scripts/bench_retrieval.py ../shared/data/beir/dbpedia --model DIR [--json OUT]
    python scripts/bench_retrieval.py DATASET --ablations [--embedder sparse] [--keep DIR]

``--ablations`` runs the shipped ``Retriever`` with each fusion setting over one index;
``--keep DIR`` keeps that index (one per dataset and embedder) so a later run replays
the settings without indexing again. ``--embedder sparse`` is a deterministic stand-in
for an API embedder with sparse, uncentred vectors (``SparseHashEmbedder``).

A benchmark, not a test: minutes on 2 cores for the first run, seconds after.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.eval import metrics_ir
from bot.eval.evaluate import (
    Dataset,
    index_dataset,
    load_dataset,
    percentile,
    rank_queries,
    score_run,
)
from bot.retrieve import Fusion, Retriever, fts_query
from ingest import chunking
from ingest.embedding import Embedder, make_embedder
from ingest.models import Chunk, Document
from ingest.store import Store

DEPTH = 200
Scored = list[tuple[int, float]]


class CachingEmbedder(Embedder):
    """Wraps an embedder with an on-disk cache keyed by text, so index variants that
    embed the same texts cost nothing after the first."""

    def __init__(self, inner: Embedder, path: Path) -> None:
        self.inner, self.path = inner, path
        self.model_id = inner.model_id
        self.batch_size = 64
        self.cache: dict[str, np.ndarray] = {}
        if path.exists():
            data = np.load(path)
            self.cache = {k: data[k] for k in data.files}

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
        missing = [i for i, k in enumerate(keys) if k not in self.cache]
        if missing:
            vectors = self.inner.embed_batch([texts[i] for i in missing])
            for i, vector in zip(missing, vectors, strict=True):
                self.cache[keys[i]] = vector
        return np.stack([self.cache[k] for k in keys])

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)

    def save(self) -> None:
        np.savez(self.path, **self.cache)


def text_only(doc: Document) -> list[Chunk]:
    """Chunks whose embedded text is the passage alone (no title / heading path)."""
    return [
        Chunk(doc_id=c.doc_id, ordinal=c.ordinal, text=c.text, heading_path=(), anchor=c.anchor)
        for c in chunking.split_markdown(doc)
    ]


def title_unless_stated(doc: Document) -> list[Chunk]:
    """Chunks that embed the title only when the passage's opening does not already
    name it (dbpedia abstracts mostly start with their entity's name)."""
    out = []
    for c in chunking.split_markdown(doc):
        head = c.text[:200].casefold()
        path = tuple(p for p in c.heading_path if p.casefold() not in head)
        out.append(Chunk(doc_id=c.doc_id, ordinal=c.ordinal, text=c.text, heading_path=path))
    return out


VARIANTS = {"title": None, "text": text_only, "dedup": title_unless_stated}


def build(dataset: Dataset, embedder: CachingEmbedder, db: Path, chunker: object) -> Store:
    if db.exists():
        return Store(db)
    store = Store(db)
    seconds = index_dataset(dataset, store, embedder, chunker=chunker)  # type: ignore[arg-type]
    embedder.save()
    print(f"indexed {db.name} in {seconds:.0f} s", file=sys.stderr)
    return store


def add_fts_variant(store: Store, name: str, tokenize: str) -> None:
    """A second FTS5 table over the same chunks with another tokenizer."""
    conn = store.conn
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone():
        return
    conn.execute(
        f"CREATE VIRTUAL TABLE {name} USING fts5(title, heading, body, tokenize = '{tokenize}')"
    )
    conn.execute(
        f"INSERT INTO {name} (rowid, title, heading, body) SELECT rowid, title, heading, body "
        "FROM chunks_fts"
    )


def fts(store: Store, table: str, match: str, weights: tuple[float, float, float]) -> Scored:
    if not match:
        return []
    w = ", ".join(str(x) for x in weights)
    rows = store.conn.execute(
        f"SELECT rowid, bm25({table}, {w}) AS r FROM {table} WHERE {table} MATCH ? "
        "ORDER BY r LIMIT ?",
        (match, DEPTH),
    )
    return [(rowid, -r) for rowid, r in rows]


class SparseHashEmbedder(Embedder):
    """A deterministic stand-in for an OpenAI-compatible embedder whose vectors are
    sparse and uncentred (issue 14): a hashed bag of words with non-negative,
    sublinear term counts in 1,024 dimensions, no IDF. Every coordinate is >= 0, so all
    vectors lean the same way and a question's cosine is dominated by its common words;
    a rare identifier is one word among a chunk's hundred and barely moves it. It is
    not a good embedder, and it is not meant to be: it is the case fusion must survive."""

    model_id = "bench:sparse-hash-1024"
    batch_size = 64
    dim = 1024

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            counts: dict[int, int] = {}
            for word in re.findall(r"\w+", text.lower()) or [text]:
                digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
                column = int.from_bytes(digest, "little") % self.dim
                counts[column] = counts.get(column, 0) + 1
            for column, n in counts.items():
                out[row, column] = 1.0 + np.log(n)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def bench_embedder(name: str, model: str | None) -> Embedder:
    return SparseHashEmbedder() if name == "sparse" else make_embedder("local", model)


# --- fusion families ------------------------------------------------------------


def minmax(scored: Scored) -> dict[int, float]:
    if not scored:
        return {}
    lo, hi = min(s for _, s in scored), max(s for _, s in scored)
    return {i: (s - lo) / (hi - lo) if hi > lo else 1.0 for i, s in scored}


def zscore(scored: Scored) -> dict[int, float]:
    if len(scored) < 2:
        return {i: 0.0 for i, _ in scored}
    values = [s for _, s in scored]
    mu, sd = statistics.fmean(values), statistics.pstdev(values) or 1.0
    return {i: (s - mu) / sd for i, s in scored}


def combine(
    d: dict[int, float], lx: dict[int, float], w: float, floor: tuple[float, float] = (0, 0)
) -> Scored:
    ids = d.keys() | lx.keys()
    out = [(i, w * d.get(i, floor[0]) + (1 - w) * lx.get(i, floor[1])) for i in ids]
    return sorted(out, key=lambda x: (-x[1], x[0]))


def f_minmax(dense: Scored, lex: Scored, w: float, depth: int) -> Scored:
    return combine(minmax(dense[:depth]), minmax(lex[:depth]), w)


def f_tmm(dense: Scored, lex: Scored, w: float, depth: int) -> Scored:
    """Theoretical min-max: lower bound 0 for both (cosine of this model, BM25)."""
    dense, lex = dense[:depth], lex[:depth]
    dmax = max((s for _, s in dense), default=1.0) or 1.0
    lmax = max((s for _, s in lex), default=1.0) or 1.0
    return combine({i: max(s, 0) / dmax for i, s in dense}, {i: s / lmax for i, s in lex}, w)


def f_zscore(dense: Scored, lex: Scored, w: float, depth: int) -> Scored:
    d, lx = zscore(dense[:depth]), zscore(lex[:depth])
    floor = (min(d.values(), default=0.0), min(lx.values(), default=0.0))
    return combine(d, lx, w, floor)


def f_rrf(dense: Scored, lex: Scored, w: float, depth: int, k: int = 60) -> Scored:
    d = {i: 1 / (k + r) for r, (i, _) in enumerate(dense[:depth], 1)}
    lx = {i: 1 / (k + r) for r, (i, _) in enumerate(lex[:depth], 1)}
    return combine(d, lx, w)


def f_adaptive(dense: Scored, lex: Scored, w: float, depth: int) -> Scored:
    """Min-max, with the lexical weight scaled by how decisive BM25's top hit is
    (top-1 over the mean of the top 10: a clear name match vs a flat list)."""
    top = [s for _, s in lex[:10]]
    if len(top) >= 2:
        gap = (top[0] - statistics.fmean(top)) / (top[0] or 1.0)
        lw = min(1.0, (1 - w) * (0.5 + 2 * gap))
    else:
        lw = 1 - w
    return combine(
        minmax(dense[:depth]), {i: s * lw / (1 - w or 1) for i, s in minmax(lex[:depth]).items()}, w
    )


Fuser = Callable[[Scored, Scored, float, int], Scored]

# --- evaluation -----------------------------------------------------------------


def to_docs(fused: Scored, doc_of: dict[int, str], k: int = 10) -> list[str]:
    out: list[str] = []
    for chunk_id, _ in fused:
        doc = doc_of[chunk_id]
        if doc not in out:
            out.append(doc)
            if len(out) == k:
                break
    return out


def per_query(run: dict[str, list[str]], dataset: Dataset) -> dict[str, tuple[float, float]]:
    out = {}
    for qid in run:
        std = metrics_ir.ndcg_at_k(run[qid], dataset.qrels.get(qid, {}), 10)
        lb = metrics_ir.ndcg_leaderboard_at_k(run[qid], dataset.leaderboard_qrels.get(qid, {}), 10)
        out[qid] = (std, lb)
    return out


def summary(scores: dict[str, tuple[float, float]], dataset: Dataset) -> tuple[float, float]:
    std_q = [q for q in scores if dataset.qrels.get(q)]
    lb_q = [q for q in scores if dataset.leaderboard_qrels.get(q)]
    return (
        statistics.fmean(scores[q][0] for q in std_q),
        statistics.fmean(scores[q][1] for q in lb_q),
    )


def cross_validate(
    fuser: Fuser,
    grid: Sequence[float],
    cands: dict[str, tuple[Scored, Scored]],
    doc_of: dict[int, str],
    dataset: Dataset,
    depth: int,
    folds: int,
    seed: int = 13,
) -> tuple[float, float, list[float]]:
    """(held-out standard nDCG, held-out leaderboard nDCG, parameter picked per fold)."""
    table = {
        w: per_query(
            {q: to_docs(fuser(d, lx, w, depth), doc_of) for q, (d, lx) in cands.items()}, dataset
        )
        for w in grid
    }
    qids = sorted(cands)
    random.Random(seed).shuffle(qids)
    held: dict[str, tuple[float, float]] = {}
    picks = []
    for f in range(folds):
        test = set(qids[f::folds])
        train = [q for q in qids if q not in test]
        best = max(
            grid, key=lambda w: (statistics.fmean(table[w][q][0] for q in train), -abs(w - 0.7))
        )
        picks.append(best)
        held.update({q: table[best][q] for q in test})
    std, lb = summary(held, dataset)
    return std, lb, picks


ABLATIONS = {
    "minmax 0.7/0.3 (before issue 14)": Fusion(0.7, 0.3, method="minmax"),
    "minmax 0.5/0.5 (default)": Fusion(0.5, 0.5, method="minmax"),
    "minmax-union 0.7/0.3": Fusion(0.7, 0.3, method="minmax-union"),
    "minmax-union 0.6/0.4": Fusion(0.6, 0.4, method="minmax-union"),
    "minmax-union 0.5/0.5": Fusion(0.5, 0.5, method="minmax-union"),
    "zscore 0.5/0.5 (spread, bot/fusion.py)": Fusion(0.5, 0.5, method="zscore"),
    "zscore 0.5/0.5 + page lift 0.25": Fusion(0.5, 0.5, method="zscore", second_chunk=0.25),
    "zscore 0.5/0.5 + page lift 0.5": Fusion(0.5, 0.5, method="zscore", second_chunk=0.5),
    "minmax 0.5/0.5 + page lift 0.5": Fusion(0.5, 0.5, method="minmax", second_chunk=0.5),
    "rrf 0.5/0.5 (heads only)": Fusion(0.5, 0.5, method="rrf"),
    "rrf-union 0.7/0.3": Fusion(0.7, 0.3, method="rrf-union"),
    "rrf-union 0.6/0.4": Fusion(0.6, 0.4, method="rrf-union"),
    "rrf-union 0.5/0.5": Fusion(0.5, 0.5, method="rrf-union"),
    "dense only": Fusion(1.0, 0.0, method="minmax"),
    "bm25 only": Fusion(0.0, 1.0, method="minmax"),
}
"""Fusion settings ``--ablations`` compares (issue 14); the settings before it,
feedback included, are in docs/BENCHMARKS.md's earlier tables."""
DEFAULT_ROW = "minmax 0.5/0.5 (default)"
"""The row the ``default_diff`` figures are paired against."""


def ablations(
    dataset: Dataset, embedder: Embedder, keep: Path | None = None
) -> dict[str, dict[str, float]]:
    """The shipped pipeline (``bot.eval.evaluate``'s own index and query code), indexed once,
    queried with each fusion setting: differences are the setting's alone. With ``keep``
    the index stays there and is reused when complete (its ``.done`` file exists)."""
    import tempfile

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if keep is not None:
            folder = keep / f"{dataset.path.name}-{embedder.model_id.replace(':', '_')}"
            folder.mkdir(parents=True, exist_ok=True)
        done = folder / "eval.db.done"
        if not done.exists():
            (folder / "eval.db").unlink(missing_ok=True)
        store = Store(folder / "eval.db")
        if not done.exists():
            seconds = index_dataset(dataset, store, embedder)
            done.write_text(f"{seconds:.1f}\n")
            print(f"indexed in {seconds:.0f} s", file=sys.stderr)
        first: dict[str, float] | None = None
        default: dict[str, float] | None = None
        order = list(dataset.scored_queries())
        for name, fusion in ABLATIONS.items():
            run, latencies = rank_queries(
                Retriever(store, embedder, fusion), dataset.scored_queries(), 10
            )
            docs = {q: [d for d, _ in r] for q, r in run.items()}
            scores = score_run(docs, dataset, 10)
            scores["p50_ms"] = percentile(latencies, 50)
            # Paired difference in standard nDCG@10 to the first setting, and its
            # standard error over the judged queries: whether a difference is real.
            ndcg = {
                q: metrics_ir.ndcg_at_k(docs[q], dataset.qrels[q], 10)
                for q in docs
                if dataset.qrels.get(q)
            }
            if first is None:
                first = ndcg
            if name == DEFAULT_ROW:
                default = ndcg
            diffs = [ndcg[q] - first[q] for q in ndcg]
            scores["ndcg_diff"] = statistics.fmean(diffs)
            scores["ndcg_diff_se"] = statistics.stdev(diffs) / len(diffs) ** 0.5
            if default is not None:
                # The same paired figure against the shipped default (its row and after),
                # over all judged queries and over the even / odd positions of the
                # queries file (the halves a setting is chosen on and checked on).
                for key, part in (("", order), ("_even", order[::2]), ("_odd", order[1::2])):
                    diffs = [ndcg[q] - default[q] for q in part if q in ndcg]
                    scores[f"default_diff{key}"] = statistics.fmean(diffs)
                    scores[f"default_diff{key}_se"] = statistics.stdev(diffs) / len(diffs) ** 0.5
            out[name] = {k: round(v, 4) for k, v in scores.items()}
            print(f"{name:36s} {json.dumps(out[name])}", flush=True)
        store.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset")
    parser.add_argument("--model", help="local model folder (default: the packaged one)")
    parser.add_argument("--work", default="/tmp/docbot-bench", help="where indexes are kept")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--embedder", choices=["local", "sparse"], default="local")
    parser.add_argument("--keep", type=Path, help="--ablations: keep (and reuse) the index here")
    parser.add_argument("--variants", nargs="+", default=["title", "text"], choices=VARIANTS)
    parser.add_argument(
        "--ablations", action="store_true", help="only: the shipped pipeline, fusion settings"
    )
    args = parser.parse_args()
    if args.ablations:
        embedder = bench_embedder(args.embedder, args.model)
        figures = ablations(load_dataset(args.dataset), embedder, args.keep)
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=2))
        return 0

    dataset = load_dataset(args.dataset)
    inner = make_embedder("local", args.model)
    work = Path(args.work) / f"{dataset.path.name}-{inner.model_id.replace(':', '_')}"
    work.mkdir(parents=True, exist_ok=True)
    embedder = CachingEmbedder(inner, work / "vectors.npz")
    queries = dataset.scored_queries()
    qvec = {q: inner.embed_query(t) for q, t in queries.items()}
    results: dict[str, dict[str, object]] = {}

    def record(name: str, std: float, lb: float, **extra: object) -> None:
        results[name] = {"ndcg@10": round(std, 4), "ndcg@10_leaderboard": round(lb, 4), **extra}
        print(f"{name:58s} std {std:.4f}  leaderboard {lb:.4f}  {extra or ''}", flush=True)

    for variant in args.variants:
        chunker = VARIANTS[variant]
        store = build(dataset, embedder, work / f"{variant}.db", chunker)
        add_fts_variant(store, "fts_plain", "unicode61 remove_diacritics 2")
        doc_of = dict(
            store.conn.execute(
                "SELECT c.id, d.doc_id FROM chunks c JOIN documents d ON d.id = c.document_id"
            )
        )
        dense = {q: store.vector_search(qvec[q], DEPTH) for q in queries}
        started = time.perf_counter()
        lexicals = {
            "porter 3,2,1": {
                q: fts(store, "chunks_fts", fts_query(t), (3, 2, 1)) for q, t in queries.items()
            },
            "porter 1,1,1": {
                q: fts(store, "chunks_fts", fts_query(t), (1, 1, 1)) for q, t in queries.items()
            },
            "porter 5,2,1": {
                q: fts(store, "chunks_fts", fts_query(t), (5, 2, 1)) for q, t in queries.items()
            },
            "porter 10,2,1": {
                q: fts(store, "chunks_fts", fts_query(t), (10, 2, 1)) for q, t in queries.items()
            },
            "plain 3,2,1": {
                q: fts(store, "fts_plain", fts_query(t), (3, 2, 1)) for q, t in queries.items()
            },
        }
        print(f"[{variant}] bm25 lists in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        record(
            f"[{variant}] dense only",
            *summary(per_query({q: to_docs(dense[q], doc_of) for q in queries}, dataset), dataset),
        )
        for name, lex in lexicals.items():
            record(
                f"[{variant}] bm25 only, {name}",
                *summary(
                    per_query({q: to_docs(lex[q], doc_of) for q in queries}, dataset), dataset
                ),
            )
        grid = [round(0.5 + 0.05 * i, 2) for i in range(11)]
        families: dict[str, Fuser] = {
            "minmax": f_minmax,
            "tmm": f_tmm,
            "zscore": f_zscore,
            "rrf60": f_rrf,
            "adaptive": f_adaptive,
        }
        for lexname, lex in lexicals.items():
            cands = {q: (dense[q], lex[q]) for q in queries}
            for fam, fuser in families.items():
                for w in (0.7, 0.8):
                    record(
                        f"[{variant}] {fam} w={w} depth=50 ({lexname})",
                        *summary(
                            per_query(
                                {
                                    q: to_docs(fuser(d, lx, w, 50), doc_of)
                                    for q, (d, lx) in cands.items()
                                },
                                dataset,
                            ),
                            dataset,
                        ),
                    )
                std, lb, picks = cross_validate(fuser, grid, cands, doc_of, dataset, 50, args.folds)
                record(f"[{variant}] {fam} CV depth=50 ({lexname})", std, lb, picks=picks)
        cands = {q: (dense[q], lexicals["porter 3,2,1"][q]) for q in queries}
        for depth in (20, 100, 200):
            std, lb, picks = cross_validate(
                f_minmax, grid, cands, doc_of, dataset, depth, args.folds
            )
            record(f"[{variant}] minmax CV depth={depth} (porter 3,2,1)", std, lb, picks=picks)
        store.close()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
