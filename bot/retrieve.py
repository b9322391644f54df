"""Hybrid retrieval: FTS5 BM25 and vector KNN, fused, one hit per document.

The two rankers fail differently: BM25 finds exact names, error codes and
commands the embedder blurs; the embedder finds paraphrases BM25 misses. Each
list's scores are normalised over its first ``Fusion.candidates`` and summed with
**equal weights**: by spread (``Fusion.method`` ``zscore``, ``bot/fusion.py``, the
default since branch ``spread-en``), each list shifted to its head's floor and divided
by its standard deviation, so a first that stands far out of its list (an identifier
one page holds) outweighs a middling one; a list of fewer than 10 entries is min-max
normalised as before (``fuse``, ``Fusion.method`` ``minmax``, the default until then).
By spread, rare-term nDCG@10 rose by 0.065 (MiniLM) and 0.160 (a sparse embedder) and
dbpedia, the handbook questions and the answer figures stayed within noise
(docs/BENCHMARKS.md, "Fusion by spread on the English path"). With 0.7 dense / 0.3 BM25 (the default
before issue 14), a chunk the vector side did not list scored 0 there, so even
BM25's clear first got 0.3 and lost to any middling vector match: a question
naming an error code or a config key lost its page. With equal weights, a chunk
first in either list and absent from the other ties with the other list's first,
and only chunks good on both sides outrank it. A hit the vector side did not list
then gets its real cosine from its stored vector, since the answer's relevance
gate reads it. Method and weights were chosen with ``docbot eval`` on dbpedia,
judged questions over a real company handbook and a rare-identifier set, with
the bundled model and a sparse, uncentred embedder (docs/BENCHMARKS.md, "Fusion
that keeps exact matches"): scoring the union of both lists on both signals, or
rank fusion (RRF), lost identifiers with one embedder or 0.03 nDCG on the
handbook.

Languages: the default embedder reads English only. With the multilingual vector set
(``ingest/multilingual.py``, on by default), a question not in English
(``ingest.languages.is_english``: py3langid, or mostly non-Latin letters) is searched
with the multilingual model's vectors of every chunk instead, so it finds pages in its
own language and in English; its BM25 counts each term's IDF among the chunks in the
question's language too (``language_term_weight``), so a minority language's function
words do not rank every page in it first; a Latin-script question's dense ranking adds
a share of the English model's cosine (``Fusion.english_dense_weight``); its two lists
are fused by spread (``bot/fusion.py``, ``Fusion.multilingual_method``), as English
questions' are, so a flat lexical list, every page matching a cognate or two alike, no
longer gives its first the same weight as the vector side's clear first, and each
page's best chunk is lifted by half its second-best's score (``lift_pages``; English
questions: ``Fusion.second_chunk``, off). Without that set (switched off, or
not filled yet), a question written mostly in a non-Latin script is ranked by BM25
alone (``Fusion.non_latin_dense_weight``). Chinese and Japanese text has no spaces
between words; a second FTS5 table indexes its character bigrams
(``ingest/languages.py``) and is searched when the question holds such characters.

User text never reaches FTS5 as syntax: :func:`fts_query` keeps only word
tokens and quotes each one, so ``"foo AND (``, ``NEAR/``, ``*`` or ``-`` cannot
raise a syntax error or change the query's meaning.
"""

from __future__ import annotations

import logging
import math
import re
import time
import unicodedata
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from bot.fusion import (
    FUSION_METHODS,
    MULTILINGUAL_METHODS,
    UNION_METHODS,
    Scored,
    fuse,
    fuse_union,
    fuse_zscore,
    lift_pages,
    merge_lexical,
)
from ingest.embedding import Embedder
from ingest.languages import cjk_bigrams, detect_language, is_english, latin_share
from ingest.models import Hit
from ingest.store import StoreContract, VectorCodes, coarse_pool
from ingest.store.contract import MultilingualVectors
from ingest.store.scope import Scope
from ingest.store.vector_plan import VectorPlan

log = logging.getLogger(__name__)

MAX_QUERY_TERMS = 32
LEXICAL_POOL = 200
"""BM25 matches fetched (a fixed number, so rankings do not depend on k) to give the
vector side's candidates their BM25 in union fusion. FTS5 scores every match to rank
them, so 200 costs little more than 50."""

STOPWORDS = frozenset(
    """a an and are as at be by can do does for from how i if in is it its me my of on or
    our should so that the their there this to was we what when where which who why will
    with you your s""".split()  # noqa: SIM905 - one readable block
)
"""English function words, and the "s" of possessives ("Dakota's"): near-zero IDF but
long posting lists. Other lone letters stay: initials ("B. F. Skinner") find names."""

_WORD = re.compile(r"\w+", re.UNICODE)

_EMBEDDING = ThreadPoolExecutor(max_workers=2, thread_name_prefix="docbot-embed-query")
"""The question is embedded, and the coarse vector pass run, here while the calling
thread runs the BM25 search: onnxruntime, numpy and SQLite release the GIL, so they
overlap. No SQLite connection lives in these threads; a store with its own vector
index (PostgreSQL) is asked from here through its connection pool."""

Shortlist = tuple[np.ndarray, list[tuple[list[int], np.ndarray | None]], float, float]
"""(question vector, candidate lists (ids, their vectors when already at hand), embed ms,
knn ms)."""


def fts_terms(text: str) -> list[str]:
    """The word tokens of ``text`` a keyword search uses: lower-cased, no English
    stopwords, each once, at most ``MAX_QUERY_TERMS``."""
    text = unicodedata.normalize("NFKC", text)
    terms: list[str] = []
    for token in _WORD.findall(text.lower()):
        token = token.strip("_")
        if not token or token in STOPWORDS or token in terms:
            continue
        terms.append(token)
        if len(terms) == MAX_QUERY_TERMS:
            break
    return terms


def fts_query(text: str) -> str:
    """An FTS5 MATCH expression that ORs the quoted word tokens of ``text``."""
    return " OR ".join(f'"{t}"' for t in fts_terms(text))


def cjk_terms(text: str) -> list[str]:
    """The CJK bigrams of ``text`` a keyword search uses, each once."""
    return list(dict.fromkeys(cjk_bigrams(text)))[:MAX_QUERY_TERMS]


def cjk_query(text: str) -> str:
    """An FTS5 MATCH expression over the CJK bigrams of ``text`` ('' when none)."""
    return " OR ".join(f'"{g}"' for g in cjk_terms(text))


def bm25_idf(chunks: int, holding: int) -> float:
    """FTS5's BM25 IDF: log((N - n + 0.5) / (n + 0.5)), at least 1e-6 (FTS5 clamps a
    term in half the chunks or more to that)."""
    value = math.log((chunks - holding + 0.5) / (holding + 0.5)) if chunks > 0 else 0.0
    return value if value > 0 else 1e-6


def language_term_weight(chunks: int, holding: int, in_language: int, holding_in: int) -> float:
    """How much of its BM25 a question's term keeps when the question is not in
    English: the term's IDF among the chunks in the question's language over its IDF
    in the whole store, at most 1 (``Fusion.language_idf``).

    BM25's IDF is counted over the whole store. In a store that is mostly English, the
    function words of another language ("de", "que", "und", "في") are rare, so they
    weigh like names, and every page in that language matches them: on the
    cross-lingual set, all five of BM25's first pages for a Spanish question about an
    English page were Spanish pages (docs/BENCHMARKS.md). Counted among the chunks in
    the question's language, such a word is common and weighs little, as it would in a
    store of that language alone. A term the other chunks of that language hardly
    hold (a name, an identifier, a word of the question's subject) keeps its IDF
    relative to the others. Where the store holds no chunk in that language there is
    nothing to count: weight 1. In a store all in one language the two IDFs are equal:
    weight 1, plain BM25."""
    if in_language <= 0 or holding <= 0:
        return 1.0
    return min(1.0, bm25_idf(in_language, holding_in) / bm25_idf(chunks, holding))


@dataclass(frozen=True)
class Fusion:
    """How the two ranked lists are combined."""

    dense_weight: float = 0.5
    lexical_weight: float = 0.5
    candidates: int = 50
    """How many chunks each ranker contributes before fusion."""
    method: str = "zscore"
    """``zscore`` (default): each list shifted to its head's floor and divided by its
    head's standard deviation (``bot.fusion.fuse_zscore``, as the multilingual path's
    ``multilingual_method``), a chunk missing from a list scored 0 there; ``minmax``
    (the default before): each list min-max normalised over its own head (``fuse``).
    Spread won rare-term nDCG@10 by 0.065 / 0.160 (MiniLM / sparse embedder) and
    stayed within noise on dbpedia, the handbook questions and the answer set
    (docs/BENCHMARKS.md, "Fusion by spread on the English path"). The others were measured against
    it and not adopted (docs/BENCHMARKS.md); ``scripts/bench_retrieval.py`` compares
    them: ``minmax-union``: both heads united, every member scored on both signals
    (the real cosine of a chunk only BM25 listed, the BM25 of one only the vector
    side listed), each min-max normalised over the union; ``rrf-union``: the same
    union, reciprocal ranks within it added; ``rrf``: plain reciprocal-rank fusion
    of the two heads."""
    rrf_k: int = 60
    """The reciprocal-rank constant: 1 / (rrf_k + rank); 60 is the usual choice."""
    feedback_chunks: int = 0
    """Pseudo-relevance feedback (Rocchio): the question's vector is moved towards the
    mean of its top dense hits before the final dense search; 0 (the default) turns it
    off. It gained 0.005 nDCG on dbpedia and lost 0.026 on the handbook questions
    (docs/BENCHMARKS.md), so it is off; it stays available for other corpora."""
    feedback_weight: float = 0.5
    foreign_pages: int = 2
    """An English question also looks at the pages not in English (in a store that
    has any), through the multilingual vectors: up to this many of them, close enough
    to the question (``Embedder.min_similarity``), are placed before the first English
    result the multilingual model finds less close (0: off). In a store of English
    pages nothing changes."""
    foreign_keep_top: int = 1
    """English results a page not in English is never placed above."""
    non_latin_dense_weight: float = 0.0
    """Dense weight for a question mostly in a non-Latin script, when the embedder
    is English-only (``Embedder.multilingual`` false): its vectors carry no meaning."""
    english_dense_weight: float = 0.25
    """A question in another language written in Latin script (German, Spanish, ...)
    on the multilingual path: its dense ranking scores each of the multilingual
    model's candidates by that model's cosine plus this times the English model's
    cosine (0: the multilingual model alone). MiniLM reads the names, loanwords and
    cognates such a question shares with English pages; it cannot read other scripts,
    so a question mostly in one never uses it. 0.25 was chosen among 0 / 0.25 / 0.5 / 1
    on the even-numbered half of the cross-lingual set and checked on the odd half
    (docs/BENCHMARKS.md)."""
    multilingual_method: str = "zscore"
    """How a question on the multilingual path (not English) fuses its two lists:
    ``zscore`` (default): each list shifted to its head's floor and divided by its
    standard deviation (``bot.fusion.fuse_zscore``), so a list whose first stands out
    weighs more than a flat one, instead of min-max's first-is-1 whatever its score;
    or ``minmax`` (as before). English questions take ``method`` (the same
    ``zscore`` by default). Chosen on the even half of the cross-lingual set, checked
    on the odd half (docs/BENCHMARKS.md, "Fusion by spread on the multilingual path")."""
    multilingual_second_chunk: float = 0.5
    """A question on the multilingual path: each page's best chunk among the fused
    results is scored with this share of the page's second-best chunk's fused score
    added (``lift_pages``; 0: off, as before). A page two of whose passages the
    question finds is more likely the one it asks about than a page with one passage
    as close, which is often a hub page or a shared word. It also lifts such pages
    over a page that holds a question's identifier in one passage, so the share was
    chosen, among 0.1 / 0.25 / 0.5 / 0.75 / 1, as the best on the even half of the
    cross-lingual set of those that keep the rare-term set, asked through this path,
    at least as good on hit@5 and nDCG@10 as before this round (1, the even half's
    best, does not); checked on the odd half (docs/BENCHMARKS.md). English questions
    never use it."""
    second_chunk: float = 0.0
    """An English question: the page lift of ``multilingual_second_chunk`` on the English
    path (``lift_pages``; 0, the default: off). Measured with ``method`` ``zscore`` and
    ``minmax`` on dbpedia, the handbook questions and the rare-term set
    (docs/BENCHMARKS.md, "Fusion by spread on the English path"): it lifted the
    handbook questions' nDCG@10 but cost the rare-term set and answered 2-3 more of
    the 45 unanswerable handbook questions, so it stays off."""
    language_idf: bool = True
    """A question the multilingual model reads (not English) weighs each of its terms
    by its IDF among the chunks in the question's language when that is lower than
    its IDF in the whole store (``language_term_weight``): the function words of a
    language the store holds little of no longer rank every page in that language
    first. False: plain BM25 (as before). English questions are never affected."""


@dataclass
class SearchResult:
    hits: list[Hit]
    best_similarity: float
    """Highest cosine similarity among dense candidates (for the relevance gate)."""
    lexical_matches: int
    timings_ms: dict[str, float] = field(default_factory=dict)
    dense_trusted: bool = True
    """False when the embedder cannot read the question's script: dense scores are
    then noise and only BM25 says whether a passage is relevant."""
    dense_model: str | None = None
    """The model whose vectors ranked the dense side (None: BM25 alone)."""
    similarity_floor: float | None = None
    """That model's ``min_similarity`` (its cosines have their own scale)."""
    language: str | None = None
    """The question's language when the multilingual model took part: it read the
    question, or placed pages not in English among an English question's results."""
    multilingual_floor: float | None = None
    """The multilingual model's ``min_similarity``, for hits it placed (their
    ``scores["multilingual"]``)."""


class Retriever:
    """Finds the passages that answer a question."""

    def __init__(
        self,
        store: StoreContract,
        embedder: Embedder,
        fusion: Fusion | None = None,
        *,
        multilingual: Embedder | None = None,
    ) -> None:
        """``multilingual``: the second embedder, for questions not in English
        (None: every question goes to ``embedder``)."""
        self.store = store
        self.embedder = embedder
        self.fusion = fusion or Fusion()
        self._ml_store = store if isinstance(store, MultilingualVectors) else None
        """The store's multilingual vector set (None: this backend keeps none)."""
        self.multilingual = multilingual if self._ml_store is not None else None
        self._warned_mismatch = False

    def multilingual_for(self, query: str) -> Embedder | None:
        """The multilingual embedder when it should read this question: one is
        configured, the store holds its vectors, and the question is not English."""
        ml, vectors = self.multilingual, self._ml_store
        if ml is None or vectors is None or vectors.multilingual_model != ml.model_id:
            return None
        return None if is_english(query) else ml

    def weights(self, query: str) -> tuple[float, float]:
        """(dense, lexical) weights for this question."""
        f = self.fusion
        multilingual = getattr(self.embedder, "multilingual", True)
        if not multilingual and latin_share(query) < 0.5:
            return f.non_latin_dense_weight, f.lexical_weight
        return f.dense_weight, f.lexical_weight

    def search(
        self, query: str, k: int = 5, *, per_document: int = 1, scope: Scope | None = None
    ) -> SearchResult:
        """Top ``k`` chunks for ``query``, at most ``per_document`` from each document,
        only from documents ``scope`` allows (None: every document)."""
        timings: dict[str, float] = {}
        head = self.fusion.candidates
        depth = max(head, k * 4)
        t0 = time.perf_counter()
        dense_weight, lexical_weight = self.weights(query)
        embedding: Future[Shortlist] | None = None
        ranker = self.embedder
        multilingual = self.multilingual_for(query)
        if multilingual is not None:
            ranker = multilingual
            dense_weight, lexical_weight = self.fusion.dense_weight, self.fusion.lexical_weight
            assert self._ml_store is not None  # multilingual_for checked it
            all_ids, vectors = self._ml_store.multilingual_matrix()
            codes = self.store.vector_codes()
            mask = self.store.scope_mask(codes, scope)
            if mask is not None:
                keep = np.isin(all_ids, codes.ids[mask])
                all_ids, vectors = all_ids[keep], vectors[keep]
            embedding = _EMBEDDING.submit(
                self._exact, query, all_ids, vectors, coarse_pool(depth), multilingual
            )
        elif not self._vectors_match():
            dense_weight = 0.0  # BM25 alone, rather than no answer, until a rebuild ends
        elif self.store.embed_model is not None:
            plan = self.store.vector_plan()
            if plan.indexed:  # the store's own index (pgvector HNSW) is the vector pass
                embedding = _EMBEDDING.submit(self._indexed, query, depth, scope)
            else:
                embedding = self._in_memory(query, plan, head, depth, scope)
        method = self.fusion.multilingual_method if multilingual is not None else self.fusion.method
        allowed = FUSION_METHODS if multilingual is None else MULTILINGUAL_METHODS
        if method not in allowed:
            known = ", ".join(allowed)
            raise ValueError(f"unknown fusion method {method!r}; one of {known}")
        union = method in UNION_METHODS
        pool = max(depth, LEXICAL_POOL) if union else depth
        language = detect_language(query)[0] if multilingual is not None else None
        weighted = (
            self._language_weighted_bm25(query, language, pool, scope)
            if language is not None and self.fusion.language_idf
            else None
        )
        if weighted is not None:
            lexical = weighted
        else:
            lexical = self.store.fts_search(fts_query(query), pool, scope=scope)
            cjk = cjk_query(query)
            if cjk:
                cjk_hits = self.store.cjk_search(cjk, pool, scope=scope)
                lexical = merge_lexical(lexical, cjk_hits)[:pool]
        lexical_pool = dict(lexical[:LEXICAL_POOL])  # the same for every k
        lexical = lexical[:depth]
        timings["fts_ms"] = (time.perf_counter() - t0) * 1000
        dense: list[tuple[int, float]] = []
        similarity: dict[int, float] = {}
        if embedding is not None:
            vector, shortlists, timings["embed_ms"], coarse_ms = embedding.result()
            t2 = time.perf_counter()
            english = self._english_share(query) if multilingual is not None else None
            for candidates, rows in shortlists:
                # The head's ranking comes from the head's own coarse pool, so a deeper
                # search (a larger k) only appends below it. Exact search ranks every
                # vector the same way whatever k is, so it needs one list.
                ids, matrix = (
                    (candidates, rows) if rows is not None else self.store.vectors(candidates)
                )
                bonus = self._english_bonus(english, ids) if english is not None else None
                ranked, sims = self._dense(
                    vector, ids, matrix, depth, dense_weight > 0, bonus=bonus
                )
                seen = {cid for cid, _ in dense}
                dense.extend(
                    item for item in ranked[: head if not dense else depth] if item[0] not in seen
                )
                similarity.update(sims)
            timings["knn_ms"] = coarse_ms + (time.perf_counter() - t2) * 1000
        if dense_weight > 0 and union and embedding is not None and multilingual is None:
            t3 = time.perf_counter()
            fused = self._fuse_union(
                dense, lexical, lexical_pool, similarity, vector, dense_weight, lexical_weight
            )
            timings["fuse_ms"] = (time.perf_counter() - t3) * 1000
        elif method == "zscore" and (dense_weight > 0 or not lexical):
            fused = fuse_zscore(dense, lexical, dense_weight, lexical_weight, head)
        elif dense_weight > 0 or not lexical:
            fused = fuse(dense, lexical, dense_weight, lexical_weight, head)
        else:
            fused = fuse([], lexical, 0.0, 1.0, head)
        foreign: dict[int, float] = {}
        if multilingual is None and self.fusion.foreign_pages > 0:
            fused, foreign = self._with_foreign_pages(query, fused, scope, timings)
        hits = self.store.load_hits(fused[:depth])
        share = (
            self.fusion.multilingual_second_chunk
            if multilingual is not None
            else self.fusion.second_chunk
        )
        if share > 0:
            hits = lift_pages(hits, share)
        lexical_by_id = dict(lexical)
        kept: list[Hit] = []
        per_doc: dict[tuple[str, str], int] = {}
        for hit in hits:
            key = (hit.source, hit.doc_id)
            if per_doc.get(key, 0) >= per_document:
                continue
            per_doc[key] = per_doc.get(key, 0) + 1
            hit.scores["bm25"] = lexical_by_id.get(hit.chunk_id, 0.0)
            if hit.chunk_id in foreign:
                hit.scores["multilingual"] = foreign[hit.chunk_id]
            kept.append(hit)
            if len(kept) == k:
                break
        if embedding is not None and multilingual is None:
            # The stored vectors are the English model's: a multilingual question's
            # vector is in another space (and of another size).
            self._fill_similarity(kept, similarity, vector)
        for hit in kept:
            hit.scores["dense"] = similarity.get(hit.chunk_id, 0.0)
        timings["retrieve_ms"] = (time.perf_counter() - t0) * 1000
        return SearchResult(
            hits=kept,
            best_similarity=max(similarity.values(), default=0.0),
            lexical_matches=len(lexical),
            timings_ms=timings,
            dense_trusted=dense_weight > 0,
            dense_model=ranker.model_id if embedding is not None and dense_weight > 0 else None,
            similarity_floor=ranker.min_similarity,
            language=language if language is not None else "en" if foreign else None,
            multilingual_floor=self.multilingual.min_similarity if self.multilingual else None,
        )

    def _language_weighted_bm25(
        self, query: str, language: str, pool: int, scope: Scope | None
    ) -> list[tuple[int, float]] | None:
        """BM25 of a question not in English, each term weighted by
        ``language_term_weight`` (None: every weight is 1, so plain BM25 ranks it).

        BM25 is a sum over the query's terms, so each term is searched alone (its own
        best ``LEXICAL_POOL`` matches, or ``pool`` when larger) and its scores are added
        up with its weight; a chunk below a term's own list misses that term's (small,
        as the term is then common) share. The words and the CJK bigrams are weighed
        each in their own index."""
        store = self._ml_store
        if store is None:
            return None
        chunks, in_language, _ = store.term_counts_in_language("chunks_fts", [], language)
        if in_language == 0 or in_language >= chunks:
            return None  # none in that language, or all of them: every weight is 1
        searches = (
            ("chunks_fts", fts_terms(query), self.store.fts_search),
            ("chunks_cjk", cjk_terms(query), self.store.cjk_search),
        )
        weights: list[tuple[str, float, Callable[..., list[tuple[int, float]]]]] = []
        for table, terms, search in searches:
            if not terms:
                continue
            chunks, in_language, counts = store.term_counts_in_language(table, terms, language)
            for term in terms:
                holding, holding_in = counts[term]
                if holding:
                    weight = language_term_weight(chunks, holding, in_language, holding_in)
                    weights.append((term, weight, search))
        if all(weight >= 1.0 - 1e-9 for _, weight, _ in weights):
            return None
        per_term = max(pool, LEXICAL_POOL)
        total: dict[int, float] = {}
        for term, weight, search in weights:
            for cid, score in search(f'"{term}"', per_term, scope=scope):
                total[cid] = total.get(cid, 0.0) + weight * score
        return sorted(total.items(), key=lambda item: (-item[1], item[0]))[:pool]

    def _english_share(self, query: str) -> np.ndarray | None:
        """The English model's (unit) vector of a Latin-script question on the
        multilingual path, when ``Fusion.english_dense_weight`` adds it to the dense
        ranking (None: it does not: weight 0, another script, or no English vectors
        of the configured model)."""
        if self.fusion.english_dense_weight <= 0 or latin_share(query) < 0.5:
            return None
        if self.store.embed_model is None or not self._vectors_match():
            return None
        vector = np.asarray(self.embedder.embed_query(query), dtype=np.float32)
        return vector / max(float(np.linalg.norm(vector)), 1e-12)

    def _english_bonus(self, vector: np.ndarray, ids: Sequence[int]) -> np.ndarray:
        """``english_dense_weight`` times each candidate's English-model cosine to the
        question (0 for a chunk without an English vector), in the order of ``ids``."""
        found, matrix = self.store.vectors(list(ids))
        cosines = (
            dict(zip(found, (float(x) for x in matrix @ vector), strict=True)) if found else {}
        )
        weight = self.fusion.english_dense_weight
        return np.array([weight * cosines.get(int(c), 0.0) for c in ids], dtype=np.float32)

    def _fill_similarity(
        self, hits: Sequence[Hit], similarity: dict[int, float], vector: np.ndarray
    ) -> None:
        """Give a hit the vector side did not list its real cosine, from its stored
        vector: the relevance gate (``Answerer._relevant``) reads it, and a 0 there
        would drop the exact keyword match fusion has just kept."""
        missing = [h.chunk_id for h in hits if h.chunk_id not in similarity]
        if not missing:
            return
        ids, matrix = self.store.vectors(missing)
        if ids:
            unit = vector / max(float(np.linalg.norm(vector)), 1e-12)
            similarity.update(zip(ids, (float(x) for x in matrix @ unit), strict=True))

    def _fuse_union(
        self,
        dense: Scored,
        lexical: Scored,
        lexical_pool: dict[int, float],
        similarity: dict[int, float],
        vector: np.ndarray,
        dense_weight: float,
        lexical_weight: float,
    ) -> list[tuple[int, float]]:
        """Both heads united and scored on both signals (``fuse_union``), then the
        chunks below both heads, after them (score 0) in the order of their summed
        reciprocal ranks in the full lists.

        A chunk only BM25 listed gets its real cosine from its stored vector (and joins
        ``similarity``, so the relevance gate sees it); one only the vector side listed
        gets its BM25 from the first ``LEXICAL_POOL`` BM25 matches, or none (as a chunk
        matching no word) when it is not among them: its real score is then below
        the pool's last, and looking it up (FTS5 MATCH with ``rowid IN``) costs about
        three BM25 searches (docs/BENCHMARKS.md). With feedback on, the dense rank of
        a chunk only BM25 listed comes from its cosine to the question itself. Only
        the heads take part, so a chunk's score does not depend on how deep the lists
        were fetched: the first results are the same whatever ``k`` is asked."""
        f = self.fusion
        head = f.candidates
        dense_head = dict(dense[:head])
        lexical_head = dict(lexical[:head])
        fill = f.method != "rrf"
        to_embed = [cid for cid in lexical_head if cid not in dense_head] if fill else []
        if to_embed:
            ids, matrix = self.store.vectors(to_embed)
            if ids:
                unit = vector / max(float(np.linalg.norm(vector)), 1e-12)
                for cid, sim in zip(ids, (matrix @ unit).tolist(), strict=True):
                    similarity.setdefault(cid, float(sim))
                    dense_head[cid] = float(sim)
        to_match = [cid for cid in dense_head if cid not in lexical_head]
        if fill:
            lexical_head.update({c: lexical_pool[c] for c in to_match if c in lexical_pool})
        fused = fuse_union(
            dense_head, lexical_head, dense_weight, lexical_weight,
            method=f.method, rrf_k=f.rrf_k,
        )  # fmt: skip
        members = {cid for cid, _ in fused}
        tail: dict[int, float] = {}
        for scored in (dense, lexical):
            for rank, (cid, _) in enumerate(scored, 1):
                if cid not in members:
                    tail[cid] = tail.get(cid, 0.0) + 1 / (f.rrf_k + rank)
        below = sorted(tail.items(), key=lambda item: (-item[1], item[0]))
        return fused + [(cid, 0.0) for cid, _ in below]

    def _in_memory(
        self, query: str, plan: VectorPlan, head: int, depth: int, scope: Scope | None
    ) -> Future[Shortlist]:
        """The vector pass over the vectors (or their 1-bit codes) held in memory."""
        codes = self.store.vector_codes()
        mask = self.store.scope_mask(codes, scope)
        if plan.mode == "exact":
            all_ids, vectors = self.store.vector_matrix()
            if mask is not None:
                keep = np.isin(all_ids, codes.ids[mask])
                all_ids, vectors = all_ids[keep], vectors[keep]
            pool = coarse_pool(depth)
            return _EMBEDDING.submit(self._exact, query, all_ids, vectors, pool)
        return _EMBEDDING.submit(
            self._shortlist, query, codes, plan.pool(head), plan.pool(depth), mask
        )

    def _with_foreign_pages(
        self,
        query: str,
        fused: list[tuple[int, float]],
        scope: Scope | None,
        timings: dict[str, float],
    ) -> tuple[list[tuple[int, float]], dict[int, float]]:
        """An English question's ranking with the closest chunks not in English placed
        in it (``Fusion.foreign_pages``). The two models' scores are never compared:
        where a foreign chunk goes is decided in the multilingual model's space alone,
        by its cosine against the multilingual cosines of the English results. Also
        returns the placed chunks' multilingual cosines."""
        ml, store = self.multilingual, self._ml_store
        if ml is None or store is None or store.multilingual_model != ml.model_id or not fused:
            return fused, {}
        started = time.perf_counter()
        ids, matrix = store.multilingual_matrix(other_than="en")
        if not len(ids):
            return fused, {}
        codes = self.store.vector_codes()
        mask = self.store.scope_mask(codes, scope)
        if mask is not None:
            keep = np.isin(ids, codes.ids[mask])
            ids, matrix = ids[keep], matrix[keep]
        vector = np.asarray(ml.embed_query(query), dtype=np.float32)
        sims = matrix @ vector
        order = np.argsort(-sims, kind="stable")[: self.fusion.foreign_pages]
        foreign = [(int(ids[i]), float(sims[i])) for i in order if sims[i] >= ml.min_similarity]
        if foreign:
            fused = self._place(fused, foreign, vector)
        timings["foreign_ms"] = (time.perf_counter() - started) * 1000
        return fused, dict(foreign)

    def _place(
        self, fused: list[tuple[int, float]], foreign: list[tuple[int, float]], vector: np.ndarray
    ) -> list[tuple[int, float]]:
        """``fused`` with each foreign (chunk id, multilingual cosine) moved up to just
        before the first result, after the first ``foreign_keep_top``, that is less close
        to the question in the multilingual space; one already ranked higher stays."""
        head = self.fusion.candidates
        assert self._ml_store is not None  # _with_foreign_pages checked it
        all_ids, all_vectors = self._ml_store.multilingual_matrix()
        window = np.array([cid for cid, _ in fused[:head]], dtype=np.int64)
        close: dict[int, float] = {}
        if len(all_ids):
            rows = np.minimum(np.searchsorted(all_ids, window), len(all_ids) - 1)
            sims = all_vectors[rows] @ vector
            close = {
                int(cid): float(sim)
                for cid, row, sim in zip(window, rows, sims, strict=True)
                if all_ids[row] == cid
            }
        ranked = list(fused)
        for cid, sim in sorted(foreign, key=lambda item: -item[1]):
            current = next((p for p, item in enumerate(ranked) if item[0] == cid), None)
            limit = min(len(ranked), head)
            position = next(
                (
                    p
                    for p in range(self.fusion.foreign_keep_top, limit)
                    if ranked[p][0] != cid and close.get(ranked[p][0], 1.0) < sim
                ),
                None,
            )
            if position is None or (current is not None and current <= position):
                continue
            score = ranked[position][1]
            if current is not None:
                del ranked[current]
            ranked.insert(position, (cid, score))
            close[cid] = sim
        return ranked

    def _vectors_match(self) -> bool:
        """Whether the live vectors come from the configured embedder (or an earlier
        version of it, ``Embedder.rebuilds``: the same model, rebuilt by the next sync).
        They do not while a rebuild for a new model runs beside them (or before it is
        started): the question is then ranked by BM25 alone over the complete old index."""
        stored = self.store.embed_model
        if stored is None or stored == self.embedder.model_id:
            return True
        if stored in self.embedder.rebuilds:  # the same model: its rebuild is under way
            return True
        if not self._warned_mismatch:
            self._warned_mismatch = True
            log.warning(
                "the index was built with the embedding model %s but %s is configured: "
                "ranking by BM25 alone until `docbot sync --rebuild` has rebuilt it",
                stored, self.embedder.model_id,
            )  # fmt: skip
        return False

    def _shortlist(
        self,
        query: str,
        codes: VectorCodes,
        pool: int,
        wide_pool: int,
        mask: np.ndarray | None = None,
    ) -> Shortlist:
        """Worker thread: embed the question and run the coarse vector pass (no store
        connection needed): the head's pool, then a wider one when a deep search needs
        more; the candidates' vectors are then read from the store."""
        started = time.perf_counter()
        vector = np.asarray(self.embedder.embed_query(query), dtype=np.float32)
        embedded = time.perf_counter()
        shortlists = [codes.nearest(vector, pool, mask)]
        if wide_pool > pool:
            shortlists.append(codes.nearest(vector, wide_pool, mask))
        done = time.perf_counter()
        lists: list[tuple[list[int], np.ndarray | None]] = [(c, None) for c in shortlists]
        return vector, lists, (embedded - started) * 1000, (done - embedded) * 1000

    def _indexed(self, query: str, depth: int, scope: Scope | None) -> Shortlist:
        """Worker thread, a store with a vector index of its own: embed the question and
        ask the index for the ``depth`` nearest in scope, with their vectors (the store's
        pool gives this thread a connection of its own)."""
        started = time.perf_counter()
        vector = np.asarray(self.embedder.embed_query(query), dtype=np.float32)
        embedded = time.perf_counter()
        ids, matrix = self.store.index_search(vector, depth, scope=scope)
        done = time.perf_counter()
        lists: list[tuple[list[int], np.ndarray | None]] = [(ids, matrix)]
        return vector, lists, (embedded - started) * 1000, (done - embedded) * 1000

    def _exact(
        self,
        query: str,
        ids: np.ndarray,
        matrix: np.ndarray,
        pool: int,
        embedder: Embedder | None = None,
    ) -> Shortlist:
        """Worker thread, small stores (``ingest/store/vector_plan.py``) and the
        multilingual vectors: exact cosine over every vector in scope; the best
        ``pool`` with their vectors. ``embedder`` reads the question (default: the
        English one)."""
        started = time.perf_counter()
        reader = embedder or self.embedder
        vector = np.asarray(reader.embed_query(query), dtype=np.float32)
        embedded = time.perf_counter()
        if len(ids) > pool:
            top = np.argpartition(-(matrix @ vector), pool)[:pool]
            ids, matrix = ids[top], matrix[top]
        done = time.perf_counter()
        lists: list[tuple[list[int], np.ndarray | None]] = [([int(i) for i in ids], matrix)]
        return vector, lists, (embedded - started) * 1000, (done - embedded) * 1000

    def _dense(
        self,
        vector: np.ndarray,
        ids: list[int],
        matrix: np.ndarray,
        depth: int,
        feedback: bool,
        *,
        bonus: np.ndarray | None = None,
    ) -> tuple[list[tuple[int, float]], dict[int, float]]:
        """The dense ranking, and each candidate's cosine similarity to the question.

        ``ids``/``matrix`` are the coarse pass's candidates and their vectors. With
        pseudo-relevance feedback (Rocchio), the ranking is by similarity to the
        question moved towards the mean of its top hits; the candidates are the same
        coarse pool (the moved vector stays close), so this costs no second search.
        Relevance thresholds keep using the similarity to the question itself.
        ``bonus`` (one value per candidate) is added to the ranking score only
        (``Fusion.english_dense_weight``)."""
        if not ids:
            return [], {}
        query = np.asarray(vector, dtype=np.float32)
        sims = matrix @ (query / max(float(np.linalg.norm(query)), 1e-12))
        scores = sims
        top_n = self.fusion.feedback_chunks
        if feedback and top_n > 0:
            top = np.argsort(-sims, kind="stable")[:top_n]
            moved = query + self.fusion.feedback_weight * matrix[top].mean(axis=0)
            scores = matrix @ (moved / max(float(np.linalg.norm(moved)), 1e-12))
        if bonus is not None:
            scores = scores + bonus
        order = np.argsort(-scores, kind="stable")[:depth]
        ranking = [(ids[i], float(scores[i])) for i in order]
        return ranking, dict(zip(ids, (float(s) for s in sims), strict=True))
