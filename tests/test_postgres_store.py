"""What only the PostgreSQL backend has to prove: user text can never be tsquery
syntax, pgvector's HNSW finds what exact search finds, migrations run once however
many replicas start, and what the server gets wrong is one clear line.

A real PostgreSQL with pgvector, started by the tests (``tests/postgres_fixtures.py``).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator

import numpy as np
import pytest

psycopg = pytest.importorskip("psycopg", reason="the PostgreSQL tests need the test extra")

from bot.retrieve import fts_query  # noqa: E402 - after the skip
from ingest.errors import ConfigError, StoreError  # noqa: E402
from ingest.models import Chunk, Document  # noqa: E402
from ingest.settings import load_settings  # noqa: E402
from ingest.store import open_store  # noqa: E402
from ingest.store.postgres import documents, migrations  # noqa: E402
from ingest.store.postgres.search import candidate_words  # noqa: E402
from ingest.store.postgres.store import PostgresStore  # noqa: E402

NASTY = [
    "foo & bar | !baz",
    "<-> <2> a <-> b",
    "a:* b:AB",
    "'",
    '"',
    '"unterminated',
    "((((",
    "))",
    "\\",
    "a\x00b",
    "NEAR/3 AND OR NOT",
    "-vpn +vpn",
    "'; DROP TABLE chunks; --",
    "&" * 200,
    "\u0301\u0301",
    "🙂 ∑ ≠",
    "x" * 5000,
    "vpn " * 500,
    "",
    "   ",
]


@pytest.fixture
def store(pg_url: str) -> Iterator[PostgresStore]:
    store = PostgresStore(pg_url)
    yield store
    store.close()


def fill(store: PostgresStore, vectors: np.ndarray, texts: list[str] | None = None) -> None:
    store.bind_embedder("test:random", vectors.shape[1])
    doc = Document(source="s", doc_id="bulk", title="Café crème", url="u", body="")
    texts = texts or [f"chunk {i}" for i in range(len(vectors))]
    chunks = [Chunk("bulk", i, text) for i, text in enumerate(texts)]
    store.replace_document(doc, chunks, [v.tobytes() for v in vectors])


def test_any_user_text_is_a_safe_query(store: PostgresStore) -> None:
    fill(store, np.eye(4, dtype=np.float32), ["the vpn", "foo bar baz", "a b", "naïve résumé"])
    for text in NASTY:
        for match in (text, fts_query(text)):
            assert isinstance(store.fts_search(match, 5), list), text
            assert isinstance(store.cjk_search(match, 5), list), text
    assert store.stats()["chunks"] == 4  # nothing was dropped
    assert len(store.fts_search("foo & bar | !baz", 5)) == 1  # the words, ORed, not syntax
    # accents fold both ways, as FTS5's remove_diacritics does
    assert store.fts_search(fts_query("resume naive"), 5)
    assert store.fts_search(fts_query("CAFE"), 5)


def test_nul_characters_in_a_document_are_stored_not_refused(store: PostgresStore) -> None:
    fill(store, np.eye(2, dtype=np.float32), ["binary\x00junk here", "plain"])
    assert store.fts_search('"junk"', 5)


def _random_unit(n: int, dim: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_hnsw_recall_against_exact_search(store: PostgresStore) -> None:
    """Random vectors are the hard case for a graph index (no clusters to follow)."""
    vectors = _random_unit(2000, 32, seed=1)
    fill(store, vectors)
    assert store.vector_plan().mode == "scan"  # a first sync writes without the index
    plan = store.refresh_vector_plan()  # after it the index is built, and measured
    assert plan.mode == "hnsw" and plan.recall is not None and plan.recall >= 0.95
    queries = _random_unit(40, 32, seed=2)
    ids = np.array(store.vector_matrix()[0])
    found = 0
    for query in queries:
        exact = set(ids[np.argsort(-(vectors @ query))[:10]].tolist())
        got, _ = store.index_search(query, 10)
        found += len(exact & set(got))
    recall = found / (10 * len(queries))
    assert recall >= 0.95, f"HNSW recall@10 {recall:.3f} at ef_search {store.ef_search}"
    assert "HNSW" in store.vector_plan().describe()
    assert store.vector_search(queries[0], 5, exact=True)[0][0] in {
        int(i) for i in ids[np.argsort(-(vectors @ queries[0]))[:1]]
    }


def test_migrations_run_once_however_many_replicas_start(pg_url: str) -> None:
    stores: list[PostgresStore] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            stores.append(PostgresStore(pg_url))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and len(stores) == 4
    with psycopg.connect(pg_url, autocommit=True) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM schema_migrations")]
        assert names == [m.__name__ for m in migrations.MIGRATIONS]
        assert migrations.migrate(conn) == []  # idempotent
    for store in stores:
        store.close()


def test_an_unreachable_server_is_one_clear_line() -> None:
    with pytest.raises(StoreError, match="cannot reach the PostgreSQL server") as info:
        PostgresStore("postgresql://docbot:secret@127.0.0.1:1/docbot")
    assert "secret" not in str(info.value) and "\n" not in str(info.value)


def test_a_missing_database_is_one_clear_line(pg_url: str) -> None:
    wrong = pg_url.replace("/docbot_tests?", "/no_such_db?", 1)
    with pytest.raises(StoreError, match=r"refused the connection.*database name"):
        PostgresStore(wrong)


def test_a_rebuild_builds_its_index_before_the_switch(store: PostgresStore) -> None:
    fill(store, _random_unit(50, 8, seed=3))
    store.refresh_vector_plan()
    builder, _ = store.begin_build("test:random")
    builder.bind_embedder("test:random", 8)
    doc = Document(source="s", doc_id="new", title="New", url="u", body="")
    vectors = _random_unit(20, 8, seed=4)
    builder.replace_document(doc, [Chunk("new", i, f"c{i}") for i in range(20)],
                             [v.tobytes() for v in vectors])  # fmt: skip
    store.switch_build({})
    assert store.vector_plan().mode == "hnsw"  # no sequential scans after the switch
    got, _ = store.index_search(vectors[3], 1)
    assert [h.doc_id for h in store.load_hits([(got[0], 1.0)])] == ["new"]


@pytest.mark.parametrize("value", ["0", "1001", "many"])
def test_a_bad_ef_search_setting_names_the_key(value: str) -> None:
    with pytest.raises(ConfigError, match="DOCBOT_PG_EF_SEARCH"):
        load_settings({"DOCBOT_PG_EF_SEARCH": value})


def test_the_ef_search_setting_reaches_the_store(pg_url: str) -> None:
    settings = load_settings({"DOCBOT_DATABASE_URL": pg_url, "DOCBOT_PG_EF_SEARCH": "250"})
    store = open_store(settings)
    try:
        assert store.backend == "postgres" and store.vector_plan().ef_search == 250
    finally:
        store.close()


def test_the_build_memory_setting_reaches_the_store(pg_url: str) -> None:
    with pytest.raises(ConfigError, match="DOCBOT_PG_BUILD_MEMORY_MB"):
        load_settings({"DOCBOT_PG_BUILD_MEMORY_MB": "32"})
    settings = load_settings({"DOCBOT_DATABASE_URL": pg_url, "DOCBOT_PG_BUILD_MEMORY_MB": "300"})
    store = open_store(settings)
    try:
        assert store.build_memory_mb == 300  # type: ignore[attr-defined]
    finally:
        store.close()


def test_a_closed_store_reconnects(store: PostgresStore) -> None:
    store.set_meta("k", "v")
    store.close()
    assert store.get_meta("k") == "v"


def test_a_term_of_several_words_is_one_phrase(store: PostgresStore) -> None:
    texts = ["the Orbit Authenticator app", "orbit around the sun; an authenticator", "plain"]
    fill(store, np.eye(3, dtype=np.float32), texts)
    counts, covered = store.term_frequencies(["orbit authenticator", "here"], [1, 2, 3])
    assert counts["orbit authenticator"] == 1  # the phrase, not both words anywhere
    assert counts["here"] == 3  # a stop word is held by every chunk: never rare
    assert [sorted(covered[i]) for i in (1, 2, 3)] == [
        ["here", "orbit authenticator"], ["here"], ["here"]
    ]  # fmt: skip
    held = store.texts_holding(
        ["Orbit Authenticators", "authenticator orbit"], ["orbit authenticator"]
    )
    assert held == {"orbit authenticator": {0}}


# --- the lexemes' document frequencies and the bounded lexical ranking ----------------


def _counted(store: PostgresStore, suffix: str = "") -> dict:
    """The kept counts (``chunk_terms`` plus the changes not folded in yet) as a dict,
    zero counts left out, checked against what ``ts_stat`` counts over the chunks
    themselves: the two must always be equal. So must the totals behind BM25's average
    length (``migrations.TOTALS``): the chunks, and their tokens (``chunks.tokens``)."""
    rows = store.db.rows(
        "SELECT field, lexeme, sum(n) FROM (SELECT field, lexeme, df AS n "
        f"FROM chunk_terms{suffix} UNION ALL SELECT field, lexeme, delta "
        f"FROM chunk_term_changes{suffix}) x "
        "GROUP BY field, lexeme"
    )
    kept = {(f, lex): int(df) for f, lex, df in rows if df}
    truth = {
        (field, word): int(n)
        for field in ("tsv", "cjk")
        for word, n in store.db.rows(
            f"SELECT word, ndoc FROM ts_stat('SELECT {field} FROM chunks{suffix}')"
        )
    }
    (chunks,) = store.db.row(f"SELECT count(*) FROM chunks{suffix}") or (0,)
    (tokens,) = store.db.row(  # every position of every lexeme: ts_stat's nentry
        f"SELECT coalesce(sum(nentry), 0) FROM ts_stat('SELECT tsv FROM chunks{suffix}')"
    ) or (0,)
    truth.update(
        {k: int(v) for k, v in [(("#chunks", "tsv"), chunks), (("#tokens", "tsv"), tokens)] if v}
    )
    assert kept == truth
    return kept


def _doc(doc_id: str, texts: list[str], title: str = "Title") -> tuple[Document, list[Chunk]]:
    doc = Document(source="s", doc_id=doc_id, title=title, url="u", body="")
    return doc, [Chunk(doc_id, i, text) for i, text in enumerate(texts)]


def test_term_counts_follow_every_write_and_the_switch(store: PostgresStore) -> None:
    store.bind_embedder("test:random", 2)
    vec = [np.ones(2, dtype=np.float32).tobytes()]
    for doc_id, text in [
        ("a", "the VPN gateway"),
        ("b", "vpn and 東京都 office"),
        ("c", "gateway"),
    ]:
        doc, chunks = _doc(doc_id, [text])
        store.replace_document(doc, chunks, vec)
    assert _counted(store)[("tsv", "vpn")] == 2
    doc, chunks = _doc("a", ["printer setup", "printer again"])  # replaced: vpn leaves
    store.replace_document(doc, chunks, vec * 2)
    counts = _counted(store)
    assert counts[("tsv", "vpn")] == 1 and counts[("tsv", "printer")] == 2
    assert counts[("cjk", "東京")] == 1
    store.delete_documents("s", ["b", "missing"])
    assert ("tsv", "vpn") not in _counted(store)
    builder, _ = store.begin_build("test:random")  # a rebuild counts its own chunks
    builder.bind_embedder("test:random", 2)
    doc, chunks = _doc("z", ["zebra crossing"])
    builder.replace_document(doc, chunks, vec)
    _counted(store, "_build")
    assert ("tsv", "zebra") not in _counted(store)  # the live counts are untouched
    store.switch_build({})
    assert ("tsv", "zebra") in _counted(store) and ("tsv", "printer") not in _counted(store)
    assert store.db.row("SELECT count(*) FROM chunk_term_changes") == (0,)  # folded
    for i in range(documents.TERMS_FOLD_EVERY + 1):  # a busy writer folds now and then
        doc, chunks = _doc(f"n{i}", [f"word{i % 7} shared"])
        store.replace_document(doc, chunks, vec)
    pending = store.db.row("SELECT count(*) FROM chunk_term_changes")
    assert pending is not None and pending[0] < 2 * documents.TERMS_FOLD_EVERY
    assert _counted(store)[("tsv", "share")] == documents.TERMS_FOLD_EVERY + 1


def test_the_migration_counts_chunks_already_stored(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    try:
        doc, chunks = _doc("a", ["alpha beta", "beta gamma"])
        store.replace_document(doc, chunks, [b"", b""])
        with store.transaction() as conn:  # as a store from before the migrations were
            conn.execute("DROP TABLE chunk_terms, chunk_term_changes")
            conn.execute("ALTER TABLE chunks DROP COLUMN tokens")
            conn.execute(f"DROP FUNCTION {migrations.TOKENS_FUNCTION}(tsvector)")
            conn.execute(
                "DELETE FROM schema_migrations WHERE name IN "
                "('m003_chunk_terms', 'm004_chunk_tokens')"
            )
        store.close()
        store = PostgresStore(pg_url)
        counted = _counted(store)  # the lengths filled in too, and their totals
        assert counted[("tsv", "beta")] == 2 and counted[("#chunks", "tsv")] == 2
        assert store.db.rows("SELECT tokens FROM chunks ORDER BY ordinal") == [(3,), (3,)]
    finally:
        store.close()


def test_candidate_words_bound_what_is_ranked() -> None:
    found = [("rare", 3), ("mid", 40), ("common", 900)]
    assert candidate_words(found, 0) == (["rare", "mid", "common"], False)  # unbounded
    assert candidate_words(found, 1000) == (["rare", "mid", "common"], False)  # all fit
    assert candidate_words(found, 50) == (["rare", "mid"], False)
    assert candidate_words(found, 3) == (["rare"], False)
    # even the rarest is over the budget: the chunks holding both of the two rarest
    assert candidate_words(found, 2) == (["rare", "mid"], True)
    assert candidate_words([("only", 10)], 2) == (["only"], False)


def test_a_bounded_ranking_keeps_the_rare_word_and_every_word_s_score(pg_url: str) -> None:
    """With room for the rare word's postings only, chunks holding nothing but the
    common word are not ranked, and the candidates keep the score the common word adds."""
    texts = [f"common filler {i}" for i in range(30)]
    texts += ["zeppelin common common", "zeppelin only"]
    bounded = PostgresStore(pg_url, lexical_candidates=5)
    exact = PostgresStore(pg_url, lexical_candidates=0)
    try:
        doc, chunks = _doc("a", texts)
        bounded.replace_document(doc, chunks, [b""] * len(chunks))
        query = fts_query("zeppelin common")
        got = bounded.fts_search(query, 10)
        want = exact.fts_search(query, 10)
        assert len(want) == 10 and len(got) == 2  # only the zeppelin chunks were ranked
        assert got == want[:2]  # ...with the same scores and order as the exact ranking
        assert {h.text for h in bounded.load_hits(got)} == {
            "zeppelin common common",
            "zeppelin only",
        }
        # a word over the budget on its own: chunks holding both rarest words, cut
        tight = PostgresStore(pg_url, lexical_candidates=1)
        try:
            hits = bounded.load_hits(tight.fts_search(query, 10))
            assert [h.text for h in hits] == ["zeppelin common common"]
            for text in NASTY:  # the narrowed query is built from bound words as well
                assert isinstance(tight.fts_search(text, 5), list)
                assert isinstance(tight.fts_search(fts_query(text), 5), list)
        finally:
            tight.close()
    finally:
        bounded.close()
        exact.close()


def test_a_narrowed_ranking_with_no_chunk_holding_both_words_keeps_the_rarest(
    pg_url: str,
) -> None:
    """Both words are over the budget and no chunk holds the two: the chunks holding
    the rarer one are still ranked (up to the budget), not none."""
    texts = [f"zeppelin note {i}" for i in range(3)] + [f"airship note {i}" for i in range(5)]
    tight = PostgresStore(pg_url, lexical_candidates=2)
    try:
        doc, chunks = _doc("a", texts)
        tight.replace_document(doc, chunks, [b""] * len(chunks))
        hits = tight.load_hits(tight.fts_search(fts_query("zeppelin airship"), 10))
        assert len(hits) == 2 and all("zeppelin" in h.text for h in hits)
    finally:
        tight.close()


def _reference_bm25(store: PostgresStore, query: str) -> dict[int, float]:
    """FTS5's ``bm25()`` computed here, in Python, from each column's own ``tsvector``
    (not the weighted one the store ranks by): tf is the column weights times the
    word's positions in each column, dl the chunk's positions in all three."""
    config = store.text_config
    rows = store.db.rows(
        "SELECT c.id, to_tsvector(%s::regconfig, lower(d.title)), "
        "to_tsvector(%s::regconfig, lower(coalesce((SELECT string_agg(h, ' ' ORDER BY n) "
        "FROM jsonb_array_elements_text(c.heading_path) WITH ORDINALITY AS x(h, n) "
        "WHERE n > 1), ''))), to_tsvector(%s::regconfig, lower(c.text)) "
        "FROM chunks c JOIN documents d ON d.id = c.document_id",
        (config, config, config),
    )
    columns: dict[int, list[dict[str, int]]] = {}
    for chunk_id, *vectors in rows:
        columns[chunk_id] = []
        for vector in vectors:
            counts = {}
            for item in vector.split() if vector else []:  # 'lexeme':1,4
                lexeme, _, positions = item.rpartition(":")
                counts[lexeme.strip("'")] = len(positions.split(","))
            columns[chunk_id].append(counts)
    n = len(columns)
    dl = {cid: sum(sum(c.values()) for c in cols) for cid, cols in columns.items()}
    avgdl = sum(dl.values()) / n
    scores: dict[int, float] = {}
    for word in query.split():
        (lexeme,) = store.db.row(
            "SELECT (tsvector_to_array(to_tsvector(%s::regconfig, %s)))[1]", (config, word)
        ) or (None,)
        held = {cid for cid, cols in columns.items() if any(lexeme in c for c in cols)}
        if not held:
            continue
        idf = max(math.log((n - len(held) + 0.5) / (len(held) + 0.5)), 1e-6)
        for cid in held:
            tf = sum(
                w * c.get(lexeme, 0) for w, c in zip((3.0, 2.0, 1.0), columns[cid], strict=True)
            )
            norm = 1.2 * (1 - 0.75 + 0.75 * dl[cid] / avgdl)
            scores[cid] = scores.get(cid, 0.0) + idf * tf * 2.2 / (tf + norm)
    return scores


def test_bm25_scores_are_fts5_s_formula(pg_url: str) -> None:
    """The store's scores equal a Python computation of FTS5's BM25 on a small corpus
    (title, heading and body weighted 3, 2, 1), whether every match is ranked or the
    candidates are bounded; after a replace and a delete the lengths behind avgdl
    follow, and the old ranking (``ts_rank``) orders the same chunks differently."""
    store = PostgresStore(pg_url, lexical_candidates=0)
    bounded = PostgresStore(pg_url, lexical_candidates=3)
    try:
        pages = {
            "vpn": ("VPN setup", [("the vpn client", ("VPN setup", "Install")),
                                  ("connect to the office network daily", ("VPN setup", "Use vpn")),
                                  ("printers and vpn vpn vpn tokens", ("VPN setup",))]),
            "net": ("Office network", [
                ("the network has a guest vpn and a staff one with many more words in this "
                 "longer passage", ()),
                ("nothing relevant here at all", ("Office network", "Misc")),
            ]),
            "hr": ("Holidays", [("vacation days and office closures", ("Holidays", "Office"))]),
        }  # fmt: skip
        for doc_id, (title, chunks) in pages.items():
            doc = Document(source="s", doc_id=doc_id, title=title, url="u", body="")
            store.replace_document(
                doc,
                [Chunk(doc_id, i, text, heading) for i, (text, heading) in enumerate(chunks)],
                [b""] * len(chunks),
            )
        for step in ("written", "replaced", "deleted"):
            if step == "replaced":
                doc, chunks = _doc("hr", ["office office office vpn", "short"], title="Leave")
                store.replace_document(doc, chunks, [b""] * 2)
            if step == "deleted":
                store.delete_documents("s", ["net"])
            for query in ("vpn office", "network vpn tokens", "office"):
                want = _reference_bm25(store, query)
                got = dict(store.fts_search(fts_query(query), 50))
                assert got.keys() == want.keys(), (step, query)
                for cid, score in want.items():
                    assert got[cid] == pytest.approx(score, rel=1e-9), (step, query, cid)
                best = sorted(want.items(), key=lambda kv: (-kv[1], kv[0]))
                assert store.fts_search(fts_query(query), 2) == [
                    (cid, pytest.approx(v)) for cid, v in best[:2]
                ]
                for cid, score in bounded.fts_search(fts_query(query), 50):
                    assert score == pytest.approx(want[cid], rel=1e-9)  # bounded, same scores
        old = PostgresStore(pg_url, lexical_candidates=0, lexical_ranking="ts_rank")
        try:
            ranked = old.fts_search(fts_query("vpn office"), 50)
            assert {c for c, _ in ranked} == set(_reference_bm25(store, "vpn office"))
            assert dict(ranked) != pytest.approx(_reference_bm25(store, "vpn office"))
        finally:
            old.close()
    finally:
        store.close()
        bounded.close()


def test_the_lexical_candidates_setting_reaches_the_store(pg_url: str) -> None:
    with pytest.raises(ConfigError, match="DOCBOT_PG_LEXICAL_CANDIDATES"):
        load_settings({"DOCBOT_PG_LEXICAL_CANDIDATES": "-1"})
    settings = load_settings({"DOCBOT_DATABASE_URL": pg_url, "DOCBOT_PG_LEXICAL_CANDIDATES": "0"})
    store = open_store(settings)
    try:
        assert store.lexical_candidates == 0  # type: ignore[attr-defined]
    finally:
        store.close()


@pytest.mark.parametrize("kind", ["vector", "halfvec"])
def test_either_graph_storage_is_found_and_kept(
    pg_url: str, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A float16 graph is queried through its own expression (else the planner scans
    every row) and keeps recall; the kind is recorded and a rebuild keeps it."""
    monkeypatch.setattr(documents, "HNSW_STORAGE", kind)
    store = PostgresStore(pg_url)
    try:
        vectors = _random_unit(1000, 32, seed=5)
        fill(store, vectors)
        assert store.refresh_vector_plan().recall >= 0.95  # type: ignore[operator]
        assert store.get_meta("hnsw_storage") == kind
        sql, params = store._index_query(vectors[0], 10, None)
        with store.transaction() as conn:
            conn.execute("SET LOCAL enable_seqscan = off")  # only the index, if usable
            plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql, params))
        assert "chunk_vectors_hnsw_g1" in plan
        monkeypatch.setattr(documents, "HNSW_STORAGE", "halfvec" if kind == "vector" else "vector")
        builder, _ = store.begin_build("test:random")
        builder.bind_embedder("test:random", 32)
        doc = Document(source="s", doc_id="bulk", title="t", url="u", body="")
        builder.replace_document(doc, [Chunk("bulk", 0, "x")], [vectors[0].tobytes()])
        store.switch_build({})
        assert store.get_meta("hnsw_storage") == kind  # never changes under a process
        got, _ = store.index_search(vectors[0], 1)
        assert len(got) == 1
    finally:
        store.close()


def test_a_one_word_term_is_counted_from_the_kept_counts(store: PostgresStore) -> None:
    texts = ["orbit and orbits", "the Orbit app", "plain", "résumé"]
    fill(store, np.eye(4, dtype=np.float32), texts)
    counts, covered = store.term_frequencies(["orbit", "Resume", "absent", "orbit app"], [2])
    assert counts == {"orbit": 2, "Resume": 1, "absent": 0, "orbit app": 1}
    assert covered[2] == {"orbit", "orbit app"}


def test_a_plan_at_another_ef_search_does_not_count_the_vectors(pg_url: str) -> None:
    """Retrieval reads the plan on every question: with an ef_search other than the one
    the recall was measured at, it must not count every vector each time."""
    store = PostgresStore(pg_url)
    try:
        fill(store, _random_unit(30, 8, seed=6))
        store.refresh_vector_plan()
    finally:
        store.close()
    other = PostgresStore(pg_url, ef_search=250)
    try:
        seen: list[str] = []
        rows = other.db.rows
        other.db.rows = lambda sql, params=(), **kw: seen.append(sql) or rows(sql, params, **kw)  # type: ignore[method-assign]
        plan = other.vector_plan()
        assert plan.mode == "hnsw" and plan.chunks == 30 and plan.ef_search == 250
        assert plan.recall is None  # measured at another ef_search
        assert not any("count(*)" in sql for sql in seen)
    finally:
        other.close()
