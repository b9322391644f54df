"""The read side of the PostgreSQL store: full-text search over the weighted
``tsvector``, pgvector's HNSW index, and turning chunk ids back into citable hits
(``bot/retrieve.py`` fuses them).

Lexical ranking is Okapi BM25 as FTS5's ``bm25()`` computes it (:meth:`Search._bm25`):
each query word's IDF from its document frequency, kept per lexeme by the write side
(``migrations.m003_chunk_terms``), its term frequency the sum of the column weights of
its positions in the chunk's ``tsvector`` (``FTS_WEIGHTS``: title, heading, body as A, B,
C), and length normalisation by the chunk's indexed tokens against the collection's
average (``migrations.m004_chunk_tokens``). Only a bounded candidate set is ranked
(:func:`candidate_words`, ``DOCBOT_PG_LEXICAL_CANDIDATES``): ranking every chunk that
holds any of a question's common words read ~40,000 rows per question at 1M chunks and
cost a second or more (docs/BENCHMARKS.md, "PostgreSQL at 1M chunks"). ``ts_rank``
alone (no IDF, one ORed query) scored 0.58 nDCG@10 on the handbook questions against
FTS5's 0.77, and IDF times ``ts_rank`` per word 0.73 (docs/BENCHMARKS.md,
"PostgreSQL"; ``lexical_ranking`` ``ts_rank`` keeps that ranking for the benchmarks, and
the CJK bigrams still use it). The text
configuration (``english``: stop words and Snowball stemming, the counterpart of FTS5's
porter tokenizer) is in ``migrations.TEXT_CONFIG``.

Vectors: with HNSW the index *is* the vector pass. ``hnsw.ef_search`` is set for each
query (``DOCBOT_PG_EF_SEARCH``, at least the number of results asked for), and
``hnsw.iterative_scan`` lets a scoped query keep walking the graph until it has
enough rows inside the scope instead of returning what is left of a global top list.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ingest.models import Hit
from ingest.settings import PG_EF_SEARCH_MAX
from ingest.store.codes import VectorCodes
from ingest.store.postgres.base import PostgresBase, _parse_time
from ingest.store.postgres.documents import HNSW_MAX_DIM, LIVE, IndexWriter, from_db
from ingest.store.postgres.lexical import terms
from ingest.store.scope import Scope
from ingest.store.vector_plan import MIN_RECALL, RECALL_K, SAMPLE_QUERIES, VectorPlan, exact_top

FTS_WEIGHTS = (3.0, 2.0, 1.0)
"""Weights of (title, heading, body), as the SQLite side's (``sqlite/search.py``)."""
RANK_NORMALIZATION = 1
"""``ts_rank``'s length normalisation: divide by 1 + log(the chunk's length in words)."""
EXACT_COUNT_BELOW = 20_000
"""Below this many chunks (the planner's estimate) the chunk count behind the IDF is
counted exactly; above, the estimate is used (a count would read every row)."""
MASKS_KEPT = 32
_TOTAL = (
    "SELECT coalesce(sum(x.n), 0) FROM (SELECT df AS n FROM chunk_terms WHERE field = '{field}' "
    "AND lexeme = 'tsv' UNION ALL SELECT delta FROM chunk_term_changes "
    "WHERE field = '{field}' AND lexeme = 'tsv') x"
)
BM25_K1 = 1.2
BM25_B = 0.75
"""Okapi BM25's term-frequency saturation and length normalisation, FTS5's values."""
BM25_MIN_IDF = 1e-6
"""FTS5's IDF for a word in more than half the chunks (its log would be negative)."""
LEXICAL_RANKINGS = ("bm25", "ts_rank")


def candidate_words(found: list[tuple[str, int]], budget: int) -> tuple[list[str], bool]:
    """Which words' postings are ranked: (words, whether a chunk must hold all of them).

    ``found`` is (word, chunks holding it), rarest first. Every chunk holding any word
    is a candidate when their postings add up to at most ``budget`` (or ``budget`` is 0):
    the ranking is then exact. Otherwise the rarest words whose postings fit, so a chunk
    holding only common words (each worth little IDF) is not read. When even the rarest
    word alone is over the budget, the candidates are the chunks holding both of the two
    rarest (those outrank chunks holding one of them in the summed ranking, all else
    equal), cut at ``budget`` by the query. Ranking then scores each candidate by every
    word of the question, as the unbounded ranking does."""
    if budget <= 0 or sum(df for _, df in found) <= budget:
        return [w for w, _ in found], False
    chosen: list[str] = []
    total = 0
    for word, df in found:
        if total + df > budget:
            break
        chosen.append(word)
        total += df
    if chosen:
        return chosen, False
    return [w for w, _ in found[:2]], len(found) >= 2


def scope_sql(scope: Scope | None) -> tuple[str, list[object]]:
    """SQL conditions on ``documents d`` selecting what ``scope`` lets a search return
    (``""`` when it filters nothing)."""
    if scope is None or scope.filters_nothing:
        return "", []
    clauses: list[str] = []
    params: list[object] = []
    if scope.sources is not None:
        clauses.append("d.source = ANY(%s)")
        params.append(sorted(scope.sources))
    if scope.spaces is not None:
        clauses.append("(d.space IS NULL OR d.space = ANY(%s))")
        params.append(sorted(scope.spaces))
    if scope.labels is not None:
        clauses.append("d.tags ?| %s::text[]")
        params.append(sorted(scope.labels))
    if not scope.all_restricted:
        if scope.reader:
            clauses.append("(d.access IS NULL OR d.access -> 'readers' ? %s)")
            params.append(scope.reader.lower())
        else:
            clauses.append("d.access IS NULL")
    return " AND ".join(clauses), params


def _weights(weights: tuple[float, float, float]) -> list[float]:
    """(title, heading, body), none negative: BM25's column weights, as FTS5's."""
    return [max(float(w), 0.0) for w in weights]


def _ts_rank_weights(weights: list[float]) -> list[float]:
    """(title, heading, body) as ts_rank's {D, C, B, A}, the largest scaled to 1 (the
    CJK bigrams are all D: their four weights are equal)."""
    if len(weights) == 4:
        return weights
    title, heading, body = weights
    top = max(title, heading, body) or 1.0
    return [0.1, body / top, heading / top, title / top]


class Search(PostgresBase):
    """Search primitives over the chunks, each confined to an optional :class:`Scope`."""

    def fts_search(
        self,
        match: str,
        limit: int,
        weights: tuple[float, float, float] = FTS_WEIGHTS,
        *,
        scope: Scope | None = None,
    ) -> list[tuple[int, float]]:
        """(chunk_id, rank; higher is better) for an FTS5 MATCH expression or plain text
        (``lexical.py``: only its words are used, whatever it holds)."""
        return self._ranked("tsv", self.text_config, _weights(weights), match, limit, scope)

    def cjk_search(
        self, match: str, limit: int, *, scope: Scope | None = None
    ) -> list[tuple[int, float]]:
        """Like :meth:`fts_search`, over the CJK bigrams (``ingest/languages.py``)."""
        return self._ranked("cjk", "simple", [1.0, 1.0, 1.0, 1.0], match, limit, scope)

    def _term_frequencies(
        self, column: str, config: str, words: list[str]
    ) -> tuple[list[tuple[str, int]], int, tuple[int, int]]:
        """([(word, chunks holding it)] for the words that can match, rarest first; the
        chunk count; the collection's (chunks, indexed tokens) as kept beside the
        lexeme counts, ``migrations.TOTALS``, exact whenever the chunks are visible).
        A word the configuration splits into several lexemes ("foo_bar") gets the
        smallest of their counts, what the AND of them can match at most."""
        rows = self.db.rows(
            """
            SELECT u.w, (SELECT coalesce(min(d.df), 0) FROM (
                SELECT (SELECT coalesce(sum(x.n), 0) FROM (
                    SELECT ct.df AS n FROM chunk_terms ct WHERE ct.field = %s AND ct.lexeme = l
                    UNION ALL SELECT cc.delta FROM chunk_term_changes cc
                    WHERE cc.field = %s AND cc.lexeme = l) x) AS df
                FROM unnest(tsvector_to_array(to_tsvector(%s::regconfig, u.w))) AS l) d)
            FROM unnest(%s::text[]) WITH ORDINALITY AS u(w, i)
            WHERE numnode(plainto_tsquery(%s::regconfig, u.w)) > 0
            ORDER BY 2, u.i
            """,
            [column, column, config, words, config],
        )
        n, chunks, tokens = self.db.row(
            f"SELECT CASE WHEN reltuples >= {EXACT_COUNT_BELOW} THEN reltuples::bigint "
            "ELSE (SELECT count(*) FROM chunks) END, "
            f"({_TOTAL.format(field='#chunks')}), ({_TOTAL.format(field='#tokens')}) "
            "FROM pg_class WHERE oid = 'chunks'::regclass"
        ) or (0, 0, 0)
        found = [(w, int(df)) for w, df in rows if df > 0]
        return found, max(int(n), 1), (int(chunks), int(tokens))

    def _ranked(
        self,
        column: str,
        config: str,
        weights: list[float],
        match: str,
        limit: int,
        scope: Scope | None,
    ) -> list[tuple[int, float]]:
        """The ranking of the module doc over a bounded candidate set: see
        :func:`candidate_words`. ``weights`` are FTS5's (title, heading, body) for BM25
        (``tsv``), ts_rank's {D, C, B, A} otherwise (``cjk``, or ``lexical_ranking``
        ``ts_rank``, what the benchmarks compare)."""
        words = terms(match)
        if not words or limit <= 0:
            return []
        found, n, totals = self._term_frequencies(column, config, words)
        if not found:
            return []
        chosen, narrow = candidate_words(found, self.lexical_candidates)
        ranked = self._rank_candidates(
            column, config, weights, found, n, totals, chosen, narrow, limit, scope
        )
        if not ranked and narrow:
            # No chunk holds both of the two rarest words: rank the chunks holding the
            # rarest, cut at the budget, rather than none (a lexical match lost).
            ranked = self._rank_candidates(
                column, config, weights, found, n, totals, chosen[:1], False, limit, scope
            )
        return ranked

    def _rank_candidates(
        self,
        column: str,
        config: str,
        weights: list[float],
        found: list[tuple[str, int]],
        n: int,
        totals: tuple[int, int],
        chosen: list[str],
        narrow: bool,
        limit: int,
        scope: Scope | None,
    ) -> list[tuple[int, float]]:
        """Rank the chunks holding any of ``chosen`` (all of them when ``narrow``), at
        most ``lexical_candidates`` of them, by every word of ``found``."""
        where, params = scope_sql(scope)
        join = " JOIN documents d ON d.id = c.document_id" if where else ""
        one = "plainto_tsquery(%s::regconfig, %s)"
        matches = (" && " if narrow else " || ").join([one] * len(chosen))
        bound = self.lexical_candidates if self.lexical_candidates > 0 else None
        candidates = (
            f"SELECT c.id, c.{column} AS v{', c.tokens AS dl' if column == 'tsv' else ''} "
            f"FROM chunks c{join} WHERE c.{column} @@ ({matches})"
            f"{' AND ' + where if where else ''}{' LIMIT %s' if bound else ''}"
        )
        candidate_params = [
            *[x for w in chosen for x in (config, w)],
            *params,
            *([bound] if bound else []),
        ]
        if column == "tsv" and self.lexical_ranking == "bm25":
            return self._bm25(
                config, weights, found, n, totals, candidates, candidate_params, limit
            )
        idf = [math.log(1 + (n - df + 0.5) / (df + 0.5)) for _, df in found]
        rows = self.db.rows(
            f"""
            WITH q AS MATERIALIZED (
                SELECT plainto_tsquery(%s::regconfig, w) AS q, idf
                FROM unnest(%s::text[], %s::float8[]) AS u(w, idf)
            ), cand AS MATERIALIZED ({candidates})
            SELECT cand.id, sum(q.idf * ts_rank(%s::float4[], cand.v, q.q, {RANK_NORMALIZATION}))
                         AS rank
            FROM cand JOIN q ON cand.v @@ q.q
            GROUP BY cand.id ORDER BY rank DESC, cand.id LIMIT %s
            """,
            [
                config, [w for w, _ in found], idf, *candidate_params,
                _ts_rank_weights(weights), limit,
            ],
        )  # fmt: skip
        return [(int(chunk_id), float(rank)) for chunk_id, rank in rows]

    def _bm25(
        self,
        config: str,
        weights: list[float],
        found: list[tuple[str, int]],
        n: int,
        totals: tuple[int, int],
        candidates: str,
        candidate_params: list[object],
        limit: int,
    ) -> list[tuple[int, float]]:
        """Okapi BM25 as FTS5's ``bm25()`` computes it, over the candidates: for each
        word, IDF log((N - df + 0.5) / (df + 0.5)) (1e-6 when not positive) times
        tf (k1 + 1) / (tf + k1 (1 - b + b dl / avgdl)), where tf is the sum of the
        column weights of the word's positions in the chunk (title A, heading B, body
        C), dl the chunk's indexed tokens (``chunks.tokens``; stop words are not counted,
        where FTS5 counts every token; dl / avgdl changes little) and avgdl the
        collection's (``migrations.TOTALS``). tf is computed in C: for a one-lexeme
        query ``ts_rank_cd`` without normalisation is exactly the sum of the weights of
        its positions (each position is a cover of length one), so the weights go in
        divided by a power of two (its weights are at most 1; 3, 2, 1 go in as 0.75,
        0.5, 0.25, exact in its ``float4``). Unnesting each candidate's ``tsvector`` instead made
        the ranking 2.4x slower than ``ts_rank``'s at 1M chunks (docs/BENCHMARKS.md,
        "PostgreSQL: BM25"). A word the configuration splits into several lexemes
        ("foo_bar") gets their cover density instead (FTS5 would match them as a
        phrase)."""
        chunks, tokens = totals
        n = chunks or n
        avgdl = tokens / chunks if chunks and tokens else 1.0
        idf = [max(math.log((n - df + 0.5) / (df + 0.5)), BM25_MIN_IDF) for _, df in found]
        title, heading, body = weights
        top = max(title, heading, body)
        scale = 2.0 ** math.ceil(math.log2(top)) if top > 0 else 1.0
        rows = self.db.rows(
            f"""
            WITH q AS MATERIALIZED (
                SELECT plainto_tsquery(%s::regconfig, w) AS q, idf
                FROM unnest(%s::text[], %s::float8[]) AS u(w, idf)
            ), cand AS MATERIALIZED ({candidates}
            ), tf AS (
                SELECT cand.id, cand.dl, q.idf,
                       %s::float8 * ts_rank_cd(%s::float4[], cand.v, q.q, 0) AS tf
                FROM cand JOIN q ON cand.v @@ q.q
            )
            SELECT id, sum(idf * tf * (%s + 1) / (tf + %s * (1 - %s + %s * dl / %s))) AS rank
            FROM tf GROUP BY id ORDER BY rank DESC, id LIMIT %s
            """,
            [
                config, [w for w, _ in found], idf, *candidate_params,
                scale, [body / scale, body / scale, heading / scale, title / scale],
                BM25_K1, BM25_K1, BM25_B, BM25_B, avgdl, limit,
            ],
        )  # fmt: skip
        return [(int(chunk_id), float(rank)) for chunk_id, rank in rows]

    # --- vectors ----------------------------------------------------------------

    def _vectors_ready(self) -> bool:
        """Whether the live generation has vectors. Remembered once true: the live
        vector table then always exists (a switch renames another one into place)."""
        if self.__dict__.get("_ready"):
            return True
        ready = self._has_vectors() and self._table_exists("chunk_vectors")
        self.__dict__["_ready"] = ready
        return ready

    def _vector_index_kind(self) -> str:
        """How the live HNSW graph stores its vectors: ``vector`` (float32, what every
        store had before ``hnsw_storage`` was recorded) or ``halfvec`` (float16). One
        kind per database, so a process may remember it (see ``documents.py``)."""
        kind = self.__dict__.get("_index_kind")
        if kind is None:
            kind = self.get_meta("hnsw_storage")
            if kind is None:  # no index built yet (or one from before the key): float32
                return "vector"
            self.__dict__["_index_kind"] = kind
        return str(kind)

    def _index_query(
        self, query: np.ndarray, limit: int, scope: Scope | None
    ) -> tuple[str, list[object]]:
        """The nearest-neighbour query the HNSW index answers, and its parameters: the
        distance is written as the index's expression, or the planner would not use it.
        Rows come back with the full-precision vector, which the caller re-ranks by."""
        where, params = scope_sql(scope)
        join = (
            " JOIN chunks c ON c.id = v.chunk_id JOIN documents d ON d.id = c.document_id"
            if where
            else ""
        )
        distance = "v.embedding <=> %s"
        if self._vector_index_kind() == "halfvec":
            dim = int(self.embed_dim or len(query))
            distance = f"v.embedding::halfvec({dim}) <=> %s::halfvec({dim})"
        sql = (
            f"SELECT v.chunk_id, v.embedding FROM chunk_vectors v{join}"
            f"{' WHERE ' + where if where else ''} ORDER BY {distance} LIMIT %s"
        )
        return sql, [*params, query, limit]

    def index_search(
        self, vector: np.ndarray, limit: int, *, scope: Scope | None = None
    ) -> tuple[list[int], np.ndarray]:
        """The ``limit`` nearest chunks inside ``scope`` by the HNSW index (cosine),
        nearest first: their ids and their vectors (one row each)."""
        query = np.asarray(vector, dtype=np.float32)
        empty = np.zeros((0, len(query)), dtype=np.float32)
        if limit <= 0 or not self._vectors_ready():
            return [], empty
        sql, params = self._index_query(query, limit, scope)
        ef = min(max(self.ef_search, limit), PG_EF_SEARCH_MAX)
        # One round trip: the settings (local to this transaction) and the query, pipelined.
        with self.db.connection() as conn, conn.pipeline(), conn.transaction():
            conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(ef),))
            if scope_sql(scope)[0] and self.iterative_scan:
                conn.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)")
            cur = conn.execute(sql, params, binary=True)  # vectors: see db.Database.rows
        rows = cur.fetchall()
        if not rows:
            return [], empty
        return [int(r[0]) for r in rows], np.stack([from_db(r[1]) for r in rows])

    def vector_search(
        self, vector: np.ndarray, limit: int, *, exact: bool = False, scope: Scope | None = None
    ) -> list[tuple[int, float]]:
        """(chunk_id, cosine similarity) of the nearest chunks, best first: by the HNSW
        index, or with ``exact=True`` by scanning every vector (benchmarks compare)."""
        if not self._vectors_ready():
            return []
        query = np.asarray(vector, dtype=np.float32)
        if exact:
            with self.transaction() as conn:
                conn.execute("SELECT set_config('enable_indexscan', 'off', true)")
                rows = conn.execute(
                    "SELECT chunk_id, 1 - (embedding <=> %s) FROM chunk_vectors "
                    "ORDER BY embedding <=> %s LIMIT %s",
                    (query, query, limit),
                ).fetchall()
            return [(int(i), float(s)) for i, s in rows]
        ids, matrix = self.index_search(query, limit, scope=scope)
        if not ids:
            return []
        sims = matrix @ query / max(float(np.linalg.norm(query)), 1e-12)
        order = np.argsort(-sims, kind="stable")[:limit]
        return [(ids[i], float(sims[i])) for i in order]

    def nearest_vectors(self, vector: np.ndarray, limit: int) -> tuple[list[int], np.ndarray]:
        """Candidate chunk ids for the ``limit`` nearest, with their vectors."""
        return self.index_search(vector, limit)

    def vectors(self, chunk_ids: Sequence[int]) -> tuple[list[int], np.ndarray]:
        """The stored vectors of these chunks: (ids found, matrix with one row each)."""
        if not chunk_ids or not self._vectors_ready():
            return [], np.zeros((0, 0), dtype=np.float32)
        rows = self.db.rows(
            "SELECT chunk_id, embedding FROM chunk_vectors WHERE chunk_id = ANY(%s)",
            ([int(i) for i in chunk_ids],),
            binary=True,
        )
        if not rows:
            return [], np.zeros((0, 0), dtype=np.float32)
        return [int(r[0]) for r in rows], np.stack([from_db(r[1]) for r in rows])

    # --- how vectors are searched (ingest/store/vector_plan.py) -----------------

    def _vector_count(self) -> int:
        if not self._vectors_ready():
            return 0
        row = self.db.row("SELECT count(*) FROM chunk_vectors")
        return int(row[0]) if row else 0

    def _index_mode(self) -> str:
        """``hnsw`` when the live vectors have their index, else ``scan`` (too wide for
        one, or a first sync still writing them)."""
        if (self.embed_dim or 0) > HNSW_MAX_DIM:
            return "scan"
        generation = self.get_meta("index_generation") or "1"
        return "hnsw" if self._table_exists(f"chunk_vectors_hnsw_g{generation}") else "scan"

    def vector_plan(self) -> VectorPlan:
        """The HNSW index and the recall measured after the last sync that changed
        vectors (not measured before the first)."""
        plan = VectorPlan.load(self.get_meta("vector_plan"))
        if plan is not None and plan.ef_search == self.ef_search:
            return plan
        # Measured at another ef_search (or not at all): recall unknown. The chunk count
        # comes from the recorded plan when there is one: retrieval asks for the plan on
        # every question, and counting 1M vectors each time cost ~70 ms of every query
        # at DOCBOT_PG_EF_SEARCH=400 (docs/BENCHMARKS.md, "PostgreSQL at 1M chunks").
        chunks = plan.chunks if plan is not None else self._vector_count()
        return VectorPlan(self._index_mode(), chunks, ef_search=self.ef_search)

    def refresh_vector_plan(self) -> VectorPlan:
        """Measure the index's recall@10 against exact search on a sample of this
        store's own vectors (each one's own id left out), and record it. Builds the
        index first when the vectors have none yet (after a first sync)."""
        IndexWriter(self, LIVE).ensure_vector_index()
        count = self._vector_count()
        recall = None
        rows = (
            self.db.rows(
                "SELECT chunk_id, embedding FROM chunk_vectors ORDER BY random() LIMIT %s",
                (SAMPLE_QUERIES,),
                binary=True,
            )
            if count
            else []
        )
        if rows:
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            queries = np.stack([from_db(r[1]) for r in rows])
            norms = np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
            truth = exact_top(queries / norms, self._normalised_blocks, RECALL_K, ids)
            found = total = 0
            for query, own, best in zip(queries, ids, truth, strict=True):
                got, _ = self.index_search(query, RECALL_K + 1)
                found += len(best & (set(got) - {int(own)}))
                total += len(best)
            recall = found / total if total else 1.0
        version = self.get_meta("vectors_version") or "0"
        plan = VectorPlan(
            self._index_mode(), count, 1, recall,
            recall is None or recall >= MIN_RECALL, version, self.ef_search,
        )  # fmt: skip
        self.set_meta("vector_plan", plan.dump())
        return plan

    def _vector_blocks(self, size: int = 20_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        last = -1
        while self._vectors_ready():
            rows = self.db.rows(
                "SELECT chunk_id, embedding FROM chunk_vectors WHERE chunk_id > %s "
                "ORDER BY chunk_id LIMIT %s",
                (last, size),
                binary=True,
            )
            if not rows:
                return
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            yield ids, np.stack([from_db(r[1]) for r in rows])
            last = int(ids[-1])

    def _normalised_blocks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Blocks of unit vectors: exact cosine order, as the index's distance has."""
        for ids, block in self._vector_blocks():
            yield ids, block / np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)

    def vector_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """Every vector in memory (ids, matrix), reloaded when a sync changed them (the
        same contract as the SQLite store; retrieval here uses the index instead)."""
        version = self.get_meta("vectors_version") or "0"
        cached = self.__dict__.get("_matrix")
        if cached is not None and cached[0] == version:
            return cached[1], cached[2]
        with self._codes_lock:
            blocks = list(self._vector_blocks())
            ids = np.concatenate([b[0] for b in blocks]) if blocks else np.zeros(0, np.int64)
            matrix = (
                np.concatenate([b[1] for b in blocks])
                if blocks
                else np.zeros((0, self.embed_dim or 1), np.float32)
            )
            self.__dict__["_matrix"] = (version, ids, matrix)
        return ids, matrix

    def vector_codes(self) -> VectorCodes:
        """The 1-bit codes of every vector (``ingest/store/codes.py``), reloaded when a
        sync has changed the vectors."""
        version = self.get_meta("vectors_version") or "0"
        codes = self._codes
        if codes is not None and codes.version == version:
            return codes
        with self._codes_lock:
            codes = self._codes
            if codes is None or codes.version != version:
                rows: list[Any] = []
                if self._vectors_ready():
                    rows = self.db.rows("SELECT chunk_id, code FROM chunk_vectors", binary=True)
                codes = VectorCodes.build(version, [(int(i), bytes(c)) for i, c in rows])
                self._codes = codes
        return codes

    def scope_mask(self, codes: VectorCodes, scope: Scope | None) -> np.ndarray | None:
        """Which of ``codes`` the scope keeps (None: all of them), cached per version."""
        where, params = scope_sql(scope)
        if not where or scope is None:
            return None
        cache_key = (codes.version, scope.key)
        with self._codes_lock:
            masks: dict[tuple[str, str], np.ndarray] = self.__dict__.setdefault("_masks", {})
            mask = masks.get(cache_key)
        if mask is not None:
            return mask
        rows = self.db.rows(
            f"SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id WHERE {where}",
            params,
        )
        allowed = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        mask = np.isin(codes.ids, allowed)
        with self._codes_lock:
            if len(masks) >= MASKS_KEPT or any(k[0] != codes.version for k in masks):
                masks.clear()
            masks[cache_key] = mask
        return mask

    def load_hits(self, scored: Sequence[tuple[int, float]]) -> list[Hit]:
        """Turn (chunk_id, score) pairs into citable hits, keeping their order."""
        if not scored:
            return []
        rows = self.db.rows(
            "SELECT c.id, d.source, d.doc_id, d.title, d.url, c.text, c.heading_path, c.anchor, "
            "d.updated_at, d.space, d.access IS NOT NULL, d.breadcrumbs "
            "FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.id = ANY(%s)",
            ([int(chunk_id) for chunk_id, _ in scored],),
        )
        by_id = {row[0]: row for row in rows}
        hits = []
        for chunk_id, score in scored:
            row = by_id.get(chunk_id)
            if row is None:  # deleted by a concurrent sync since the search
                continue
            hits.append(
                Hit(
                    chunk_id=row[0],
                    source=row[1],
                    doc_id=row[2],
                    title=row[3],
                    url=row[4],
                    text=row[5],
                    heading_path=tuple(row[6]),
                    anchor=row[7],
                    score=score,
                    updated_at=_parse_time(row[8]),
                    space=row[9],
                    restricted=bool(row[10]),
                    breadcrumbs=tuple(row[11]),
                )
            )
        return hits
