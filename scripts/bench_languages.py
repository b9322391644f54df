"""Questions in other languages: the English-only pipeline against the one with the
multilingual vector set, on one store, in one run.

    python scripts/bench_languages.py DATASET [--store PATH] [-k 5] [--json]

DATASET is a BEIR-format folder (``docbot eval``'s format); a question's language is
its ``lang`` field (else ``metadata.lang``, else ``en``). The corpus is indexed into
``--store`` through the sync pipeline, as ``docbot eval`` does, but in two timed steps:
the English pass (exactly the pipeline before the multilingual set: MiniLM) and the
multilingual fill after it (``ingest/multilingual.py``). A store that already holds
the corpus is reused: only what changed is embedded, so a second dataset over the same
pages (the handbook questions, then the cross-lingual set) costs little.

Then every judged question is ranked by three retrievers over that store:

- ``english``: the pipeline before this change (MiniLM; non-Latin questions BM25 alone);
- ``multilingual``: the shipped one (questions not in English read by the multilingual
  model over every chunk's multilingual vector, plus BM25);
- ``multilingual, language IDF, multilingual model alone``: as ``multilingual`` but
  without the English model's share in the dense ranking of Latin-script questions
  (``Fusion.english_dense_weight`` 0);
- ``multilingual, store-wide IDF, multilingual model alone (before)``: that, and plain
  BM25 too (every term weighed by its IDF in the whole store): the pipeline before
  ``Fusion.language_idf`` and ``english_dense_weight``;
- ``multilingual, spread without the page lift``: as ``multilingual`` but without
  ``Fusion.multilingual_second_chunk`` (a page's best chunk lifted by its second's);
- ``multilingual, min-max fusion (before spread)``: that, and fused by min-max
  (``Fusion.multilingual_method`` ``minmax``): the path before ``bot/fusion.py``;
- ``multilingual, fusion D/L``: the same with other dense / BM25 weights (they
  change English questions too, so only their non-English rows are comparable);
- ``non-English chunks only``: as ``multilingual`` but as if only chunks not in English
  had been given a multilingual vector (the cheaper fill that was considered).

Per language: hit@5 (a judged-relevant document among the first 5), nDCG@10, and how
many questions took the multilingual path; and per half of the questions (``even`` /
``odd``: the parity of the number in the question id), so that a parameter chosen on
one half can be checked on the other. Results go in docs/BENCHMARKS.md by hand.

``--every-question-multilingual`` sends every question down the multilingual path,
English ones included, as in a store whose pages and questions are all in one language
other than English (where every question takes that path): English sets (dbpedia, the
handbook questions, the rare-term set) then show what the multilingual path's fusion
does to questions asked in the pages' own language. ``recall@10`` is reported beside
hit@k (the rare-term set's figure).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.eval import metrics_ir  # noqa: E402
from bot.eval.evaluate import CorpusSource, _read_jsonl, load_dataset  # noqa: E402
from bot.retrieve import Fusion, Retriever  # noqa: E402
from ingest.embedding import Embedder, LocalEmbedder, MultilingualEmbedder  # noqa: E402
from ingest.languages import detect_language  # noqa: E402
from ingest.multilingual import fill_multilingual  # noqa: E402
from ingest.store import Store  # noqa: E402
from ingest.sync import sync_source  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sync import machine  # noqa: E402


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def languages(dataset_dir: Path) -> dict[str, str]:
    out = {}
    for row in _read_jsonl(dataset_dir / "queries.jsonl"):
        meta = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
        out[str(row["_id"])] = str(row.get("lang") or meta.get("lang") or "en")
    return out


def half(qid: str) -> str:
    """``even`` or ``odd``: the parity of the digits in a question id (``xl-de-07``: odd;
    an id without digits: even)."""
    digits = "".join(c for c in qid if c.isdigit())
    return "odd" if int(digits or "0") % 2 else "even"


class EveryQuestionMultilingual(Retriever):
    """A retriever that reads every question with the multilingual model (when the
    store holds its vectors), as if no question were in English."""

    def multilingual_for(self, query: str) -> Embedder | None:
        ml, vectors = self.multilingual, self._ml_store
        if ml is None or vectors is None or vectors.multilingual_model != ml.model_id:
            return None
        return ml


def non_english_only(store: Store) -> Store:
    """The same store, its multilingual vectors limited to chunks not in English."""
    ids, matrix = store.multilingual_matrix()
    texts = dict(store.conn.execute("SELECT id, text FROM chunks").fetchall())
    keep = np.array([detect_language(texts[int(i)][:600])[0] != "en" for i in ids], dtype=bool)
    view = Store(store.path)
    filtered = (ids[keep], matrix[keep])
    view.multilingual_matrix = lambda other_than=None: filtered  # type: ignore[method-assign]
    return view


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--store", type=Path, default=Path("/tmp/bench-languages.db"))
    parser.add_argument("-k", type=int, default=5, help="hit@k (default 5)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--no-index",
        action="store_true",
        help="query the store as it is (e.g. the handbook questions over a store that "
        "also holds the cross-lingual set's pages)",
    )
    parser.add_argument(
        "--every-question-multilingual",
        action="store_true",
        help="the multilingual retrievers read every question with the multilingual "
        "model, English ones too (as in a store in one language other than English)",
    )
    args = parser.parse_args()
    ml_retriever = EveryQuestionMultilingual if args.every_question_multilingual else Retriever

    dataset = load_dataset(args.dataset)
    langs = languages(args.dataset)
    english, multilingual = LocalEmbedder(), MultilingualEmbedder()
    store = Store(args.store)

    c0, t0 = cpu_seconds(), time.perf_counter()
    report = sync_source(store, CorpusSource(dataset), english) if not args.no_index else None
    english_s, english_cpu = time.perf_counter() - t0, cpu_seconds() - c0
    if report is not None and report.error:
        sys.exit(f"indexing failed: {report.error}")
    c1, t1 = cpu_seconds(), time.perf_counter()
    filled = fill_multilingual(store, multilingual) if not args.no_index else 0
    fill_s, fill_cpu = time.perf_counter() - t1, cpu_seconds() - c1
    (chunks,) = store.conn.execute("SELECT count(*) FROM chunks").fetchone()
    embedded = report.chunks_embedded if report is not None else 0
    indexing = {
        "chunks": chunks,
        "chunks_embedded_english": embedded,
        "english_seconds": round(english_s, 1),
        "english_cpu_seconds": round(english_cpu, 1),
        "english_chunks_per_s": round(embedded / english_s, 1) if embedded else None,
        "multilingual_embedded": filled,
        "multilingual_seconds": round(fill_s, 1),
        "multilingual_cpu_seconds": round(fill_cpu, 1),
        "multilingual_chunks_per_s": round(filled / fill_s, 1) if fill_s > 0.5 else None,
        "both_chunks_per_s": round(embedded / (english_s + fill_s), 1) if embedded else None,
    }
    retrievers = {
        "english": Retriever(store, english),
        "multilingual": ml_retriever(store, english, multilingual=multilingual),
        "multilingual, spread without the page lift": ml_retriever(
            store, english, Fusion(multilingual_second_chunk=0.0), multilingual=multilingual
        ),
        "multilingual, min-max fusion (before spread)": ml_retriever(
            store,
            english,
            Fusion(multilingual_method="minmax", multilingual_second_chunk=0.0),
            multilingual=multilingual,
        ),
        "multilingual, language IDF, multilingual model alone": ml_retriever(
            store, english, Fusion(english_dense_weight=0.0), multilingual=multilingual
        ),
        "multilingual, store-wide IDF, multilingual model alone (before)": ml_retriever(
            store,
            english,
            Fusion(
                language_idf=False,
                english_dense_weight=0.0,
                multilingual_method="minmax",
                multilingual_second_chunk=0.0,
            ),
            multilingual=multilingual,
        ),
        "multilingual, fusion 0.5/0.5": ml_retriever(
            store, english, Fusion(dense_weight=0.5, lexical_weight=0.5), multilingual=multilingual
        ),
        "multilingual, fusion 0.9/0.1": ml_retriever(
            store, english, Fusion(dense_weight=0.9, lexical_weight=0.1), multilingual=multilingual
        ),
        "non-English chunks only": ml_retriever(
            non_english_only(store), english, multilingual=multilingual
        ),
    }
    queries = dataset.scored_queries()
    results: dict[str, Any] = {}
    for name, retriever in retrievers.items():
        retriever.search("warm up", k=args.k)
        per_lang: dict[str, list[tuple[float, float, bool, float]]] = defaultdict(list)
        per_half: dict[str, list[tuple[float, float, bool, float]]] = defaultdict(list)
        latencies = []
        for qid, text in queries.items():
            started = time.perf_counter()
            result = retriever.search(text, k=10, per_document=1)
            latencies.append((time.perf_counter() - started) * 1000)
            ranked = [h.doc_id for h in result.hits]
            judged = dataset.qrels.get(qid, {})
            hit = float(any(judged.get(d, 0) > 0 for d in ranked[: args.k]))
            ndcg = metrics_ir.ndcg_at_k(ranked, judged, 10)
            recall = metrics_ir.recall_at_k(ranked, judged, 10)
            entry = (hit, ndcg, result.language is not None, recall)
            per_lang[langs.get(qid, "en")].append(entry)
            per_half[half(qid)].append(entry)
        rows = {}
        for lang, values in sorted(per_lang.items()):
            rows[lang] = {
                "queries": len(values),
                f"hit@{args.k}": round(float(np.mean([v[0] for v in values])), 4),
                "ndcg@10": round(float(np.mean([v[1] for v in values])), 4),
                "recall@10": round(float(np.mean([v[3] for v in values])), 4),
                "multilingual_path": sum(v[2] for v in values),
            }
        for part, values in sorted(per_half.items()):
            rows[part] = {
                "queries": len(values),
                f"hit@{args.k}": round(float(np.mean([v[0] for v in values])), 4),
                "ndcg@10": round(float(np.mean([v[1] for v in values])), 4),
                "recall@10": round(float(np.mean([v[3] for v in values])), 4),
                "multilingual_path": sum(v[2] for v in values),
            }
        every = [v for values in per_lang.values() for v in values]
        rows["all"] = {
            "queries": len(every),
            f"hit@{args.k}": round(float(np.mean([v[0] for v in every])), 4),
            "ndcg@10": round(float(np.mean([v[1] for v in every])), 4),
            "recall@10": round(float(np.mean([v[3] for v in every])), 4),
            "multilingual_path": sum(v[2] for v in every),
            "latency_p50_ms": round(float(np.percentile(latencies, 50)), 1),
            "latency_p95_ms": round(float(np.percentile(latencies, 95)), 1),
        }
        results[name] = rows
    out = {"machine": machine(), "indexing": indexing, "results": results}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(json.dumps(indexing))
    for name, rows in results.items():
        print(f"\n{name}")
        for lang, row in rows.items():
            print(f"  {lang:4} {json.dumps(row)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
