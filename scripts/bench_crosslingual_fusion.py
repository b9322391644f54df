"""Fusion variants on the multilingual path, replayed over one store's real signals.

    python scripts/bench_crosslingual_fusion.py DATASET --store PATH

For every question the shipped ``Retriever`` sends down the multilingual path, the
signals it fuses are read once from the store with the shipped code's own pieces: the
multilingual model's cosine to every chunk, the English model's (for the share a
Latin-script question adds, ``Fusion.english_dense_weight``), and each question term's
BM25 list with its language weight (``language_term_weight``). Each variant then fuses
them in memory, so a dozen variants cost seconds, not a run each. The replay is checked
first: with the shipped settings it must give, question by question, the same first ten
pages as ``Retriever.search`` (the script stops otherwise). Questions that take the
English path keep the shipped retriever's pages in every row.

Rows: hit@5 / nDCG@10 on the even and odd halves (the parity of the number in the
question id, as in ``scripts/bench_languages.py``), all, and per language. Choose on
the even half, read the odd one. Results go in docs/BENCHMARKS.md by hand.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.eval import metrics_ir  # noqa: E402
from bot.eval.evaluate import load_dataset  # noqa: E402
from bot.fusion import fuse_zscore, spread  # noqa: E402
from bot.retrieve import (  # noqa: E402
    LEXICAL_POOL,
    Fusion,
    Retriever,
    cjk_query,
    cjk_terms,
    fts_query,
    fts_terms,
    fuse,
    language_term_weight,
    merge_lexical,
)
from ingest.embedding import LocalEmbedder, MultilingualEmbedder  # noqa: E402
from ingest.languages import detect_language, latin_share  # noqa: E402
from ingest.store import Store, coarse_pool  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_languages import EveryQuestionMultilingual, half, languages  # noqa: E402

Scored = list[tuple[int, float]]


@dataclass
class Signals:
    """One multilingual-path question's inputs to fusion."""

    latin: bool
    use: np.ndarray  # the multilingual model's cosine to every chunk (``Bench.ids`` order)
    mini: np.ndarray  # the English model's
    terms: list[tuple[str, float, Scored]]  # (term, language weight, its best BM25 matches)
    plain: Scored | None = None  # plain BM25, where every language weight is 1 (as shipped)


class Bench:
    def __init__(self, dataset_dir: Path, store_path: Path, every: bool = False) -> None:
        self.dataset = load_dataset(dataset_dir)
        self.langs = languages(dataset_dir)
        self.store = Store(store_path)
        self.english, self.multilingual = LocalEmbedder(), MultilingualEmbedder()
        kind = EveryQuestionMultilingual if every else Retriever
        self.shipped = kind(self.store, self.english, multilingual=self.multilingual)
        self.ids, self.use_matrix = self.store.multilingual_matrix()
        en_ids, self.en_matrix = self.store.vector_matrix()
        if not np.array_equal(en_ids, self.ids):
            sys.exit("every chunk needs both vectors (run scripts/bench_languages.py first)")
        rows = self.store.conn.execute(
            "SELECT c.id, d.doc_id FROM chunks c JOIN documents d ON d.id = c.document_id"
        ).fetchall()
        self.doc_of = {int(cid): str(doc) for cid, doc in rows}
        self.signals: dict[str, Signals] = {}
        self.english_pages: dict[str, list[str]] = {}
        self.shipped_pages: dict[str, list[str]] = {}
        for qid, text in self.dataset.scored_queries().items():
            pages = [h.doc_id for h in self.shipped.search(text, k=10, per_document=1).hits]
            if self.shipped.multilingual_for(text) is None:
                self.english_pages[qid] = pages
            else:
                self.signals[qid] = self.capture(text)
                self.shipped_pages[qid] = pages

    def capture(self, text: str) -> Signals:
        lang = detect_language(text)[0]
        use = self.use_matrix @ np.asarray(self.multilingual.embed_query(text), np.float32)
        vector = np.asarray(self.english.embed_query(text), np.float32)
        mini = self.en_matrix @ (vector / max(float(np.linalg.norm(vector)), 1e-12))
        terms: list[tuple[str, float, Scored]] = []
        searches = (
            ("chunks_fts", fts_terms(text), self.store.fts_search),
            ("chunks_cjk", cjk_terms(text), self.store.cjk_search),
        )
        for table, words, search in searches:
            if not words:
                continue
            chunks, in_lang, counts = self.store.term_counts_in_language(table, words, lang)
            for term in words:
                holding, holding_in = counts[term]
                if holding:
                    weight = language_term_weight(chunks, holding, in_lang, holding_in)
                    terms.append((term, weight, search(f'"{term}"', LEXICAL_POOL)))
        chunks, in_lang, _ = self.store.term_counts_in_language("chunks_fts", [], lang)
        plain = None
        if in_lang == 0 or in_lang >= chunks or all(w >= 1.0 - 1e-9 for _, w, _ in terms):
            plain = merge_lexical(
                self.store.fts_search(fts_query(text), 50),
                self.store.cjk_search(cjk_query(text), 50),
            )[:50]
        return Signals(latin_share(text) >= 0.5, use, mini, terms, plain)

    def dense(self, s: Signals, english_weight: float = 0.25, depth: int = 50) -> Scored:
        """The shipped dense ranking: the multilingual model's best ``coarse_pool``,
        ranked by its cosine plus ``english_weight`` x the English model's."""
        pool = coarse_pool(depth)
        top = np.argpartition(-s.use, pool)[:pool]
        scores = s.use[top] + (english_weight * s.mini[top] if s.latin else 0.0)
        order = np.argsort(-scores, kind="stable")[:depth]
        return [(int(self.ids[top[i]]), float(scores[i])) for i in order]

    def lexical(self, s: Signals, depth: int = 50, need_terms: int = 1) -> Scored:
        """The language-weighted BM25 (summed per term); with ``need_terms`` > 1 only
        chunks matching that many of the question's terms."""
        if s.plain is not None:
            return s.plain[:depth]
        total: dict[int, float] = defaultdict(float)
        matched: dict[int, int] = defaultdict(int)
        for _, weight, hits in s.terms:
            for cid, score in hits:
                total[cid] += weight * score
                matched[cid] += 1
        ranked = sorted(total.items(), key=lambda item: (-item[1], item[0]))
        kept = [(c, v) for c, v in ranked if matched[c] >= need_terms]
        return (kept or ranked)[:depth]

    def pages(
        self,
        fused: Scored,
        k: int = 10,
        depth: int = 50,
        lift: float = 0.0,
        lift_by: dict[int, float] | None = None,
    ) -> list[str]:
        """The first ``k`` distinct pages of the first ``depth`` fused chunks; with
        ``lift``, each page's best chunk first gets that share of its second-best
        chunk's score (``bot.retrieve.lift_pages``)."""
        head = fused[:depth]
        if lift > 0:
            best: dict[str, int] = {}
            second: dict[int, float] = {}
            for position, (cid, _) in enumerate(head):
                doc = self.doc_of[cid]
                if doc not in best:
                    best[doc] = position
                elif best[doc] not in second:
                    second[best[doc]] = (
                        head[position][1] if lift_by is None else lift_by.get(cid, 0.0)
                    )
            head = [(c, v + lift * second.get(p, 0.0)) for p, (c, v) in enumerate(head)]
            head = sorted(head, key=lambda item: -item[1])
        out: list[str] = []
        for cid, _ in head:
            doc = self.doc_of[cid]
            if doc not in out:
                out.append(doc)
                if len(out) == k:
                    break
        return out

    def score(
        self,
        variant: Callable[[Signals], Scored],
        lift: float,
        lift_by: Callable[[Signals], dict[int, float]] | None = None,
    ) -> dict[str, tuple[float, float]]:
        rows: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for qid in self.dataset.scored_queries():
            if qid in self.english_pages:
                ranked = self.english_pages[qid]
            else:
                s = self.signals[qid]
                by = lift_by(s) if lift_by is not None else None
                ranked = self.pages(variant(s), lift=lift, lift_by=by)
            judged = self.dataset.qrels.get(qid, {})
            hit = float(any(judged.get(d, 0) > 0 for d in ranked[:5]))
            ndcg = metrics_ir.ndcg_at_k(ranked, judged, 10)
            for key in ("all", half(qid), self.langs.get(qid, "en")):
                rows[key].append((hit, ndcg))
        return {
            key: (float(np.mean([h for h, _ in v])), float(np.mean([n for _, n in v])))
            for key, v in rows.items()
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--every-question-multilingual",
        action="store_true",
        help="every question down the multilingual path, as scripts/bench_languages.py's flag",
    )
    args = parser.parse_args()
    bench = Bench(args.dataset, args.store, args.every_question_multilingual)
    f = Fusion()
    dw, lw, head = f.dense_weight, f.lexical_weight, f.candidates

    def minmax_rule(s: Signals) -> Scored:
        return fuse(bench.dense(s), bench.lexical(s), dw, lw, head)

    def zscore_rule(s: Signals) -> Scored:
        return fuse_zscore(bench.dense(s), bench.lexical(s), dw, lw, head)

    shipped = zscore_rule if f.multilingual_method == "zscore" else minmax_rule
    lift = f.multilingual_second_chunk
    mismatched = [
        qid
        for qid, s in bench.signals.items()
        if bench.pages(shipped(s), lift=lift) != bench.shipped_pages[qid]
    ]
    if mismatched:
        sys.exit(f"the replay differs from Retriever.search for {mismatched}")

    def weights(d: float) -> Callable[[Signals], Scored]:
        return lambda s: fuse_zscore(bench.dense(s), bench.lexical(s), d, 1 - d, head)

    def english_share(w: float) -> Callable[[Signals], Scored]:
        return lambda s: fuse_zscore(bench.dense(s, w), bench.lexical(s), dw, lw, head)

    def rrf(s: Signals, k: int = 60) -> Scored:
        scores: dict[int, float] = defaultdict(float)
        for ranked in (bench.dense(s), bench.lexical(s)):
            for rank, (cid, _) in enumerate(ranked, 1):
                scores[cid] += 0.5 / (k + rank)
        return sorted(scores.items(), key=lambda item: (-item[1], item[0]))

    def dense_part(s: Signals) -> dict[int, float]:
        """Each chunk's share of its fused score from the vector side alone."""
        ranked = bench.dense(s)
        values = spread(ranked, head) or {}
        return {cid: dw * max(values.get(cid, 0.0), 0.0) for cid, _ in ranked[:head]}

    variants: dict[str, tuple[Callable[[Signals], Scored], float]] = {
        "min-max (before)": (minmax_rule, 0.0),
        "zscore": (zscore_rule, 0.0),
        "zscore + page lift 0.1": (zscore_rule, 0.1),
        "zscore + page lift 0.25": (zscore_rule, 0.25),
        "zscore + page lift 0.5 (shipped)": (zscore_rule, 0.5),
        "zscore + page lift 0.75": (zscore_rule, 0.75),
        "zscore + page lift 1": (zscore_rule, 1.0),
        "min-max + page lift 1": (minmax_rule, 1.0),
        "zscore + page lift 1 by the second's vector part": (zscore_rule, 1.0),
        "zscore + page lift 0.5 by the second's vector part": (zscore_rule, 0.5),
        "rrf k=60, heads": (rrf, 0.0),
        "zscore, dense / BM25 0.4 / 0.6": (weights(0.4), 0.0),
        "zscore, dense / BM25 0.6 / 0.4": (weights(0.6), 0.0),
        "zscore, dense / BM25 0.7 / 0.3": (weights(0.7), 0.0),
        "zscore, English share 0": (english_share(0.0), 0.0),
        "zscore, English share 0.5": (english_share(0.5), 0.0),
        "zscore, BM25 only chunks matching >= 2 terms": (
            lambda s: fuse_zscore(bench.dense(s), bench.lexical(s, need_terms=2), dw, lw, head),
            0.0,
        ),
        "min-max, BM25 only chunks matching >= 2 terms": (
            lambda s: fuse(bench.dense(s), bench.lexical(s, need_terms=2), dw, lw, head),
            0.0,
        ),
    }
    keys = ["even", "odd", "all", "de", "es", "ar", "zh", "en"]
    if args.every_question_multilingual:
        keys = ["even", "odd", "all"]
    results = {}
    for name, (variant, lift_share) in variants.items():
        by = dense_part if "vector part" in name else None
        rows = bench.score(variant, lift_share, by)
        results[name] = {k: [round(v, 4) for v in rows[k]] for k in keys if k in rows}
        if not args.json:
            line = "  ".join(f"{k} {rows[k][0]:.3f}/{rows[k][1]:.3f}" for k in keys if k in rows)
            print(f"{name:48s} {line}", flush=True)
    if args.json:
        print(json.dumps({"multilingual_questions": len(bench.signals), "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
