"""The store contract (``ingest/store/contract.py``), checked against every backend.

Each test takes the ``store`` fixture, parametrised by ``tests/store_backends.py``: a
fresh real database per test (a SQLite file today), reached through ``open_store``.
What is checked is what the code above the store relies on: documents replaced and
deleted whole, deterministic lexical and vector rankings, a rebuild that stays
invisible until its switch, metadata, sync history, event claims
that exactly one racer wins, threads, answer records and votes, the answer cache's
rows, and per-source locks that exclude other holders in this and other processes.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import ingest.store
from ingest.errors import ConfigError
from ingest.locks import SourceBusy
from ingest.models import Chunk, Document
from ingest.settings import Settings, load_settings
from ingest.store import StoreContract, open_store
from ingest.store.generations import BuiltSource
from ingest.store.history import DocumentChange
from ingest.store.rows import ANSWER_FIELDS, CachedAnswer, FeedbackRecord
from ingest.store.scope import Scope
from tests.store_backends import BACKENDS, open_backend, second_handle, settings_env

DIM = 8
MODEL = "test:contract"


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreContract]:
    pg_url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    opened = open_backend(request.param, tmp_path, pg_url)
    yield opened
    opened.close()


def unit(*values: float) -> bytes:
    vector = np.zeros(DIM, dtype=np.float32)
    vector[: len(values)] = values
    return (vector / np.linalg.norm(vector)).astype(np.float32).tobytes()


def put(
    store: StoreContract, doc_id: str, texts: list[str], vectors: list[bytes], source: str = "kb"
) -> None:
    store.bind_embedder(MODEL, DIM)
    doc = Document(source=source, doc_id=doc_id, title=doc_id.title(), url=f"https://d/{doc_id}",
                   body="\n\n".join(texts))  # fmt: skip
    chunks = [Chunk(doc_id=doc_id, ordinal=i, text=t) for i, t in enumerate(texts)]
    store.replace_document(doc, chunks, vectors)


def ids_of(store: StoreContract, scored: list[tuple[int, float]]) -> list[str]:
    return [h.doc_id for h in store.load_hits(scored)]


# --- documents -------------------------------------------------------------------------


def test_replace_document_swaps_every_chunk_and_delete_removes_them(store: StoreContract) -> None:
    put(store, "vpn", ["Connect to the VPN with WireGuard.", "Rotate VPN keys yearly."],
        [unit(1), unit(1, 1)])  # fmt: skip
    put(store, "pto", ["Holidays: 25 days a year."], [unit(0, 1)])
    assert store.count("kb") == 2 and store.chunk_count() == 3 and store.document_count() == 2
    assert store.has_chunks() and store.source_counts() == {"kb": 2}
    old_sha = store.document_shas("kb")["vpn"]

    put(store, "vpn", ["Connect with Tailscale now."], [unit(1, 0, 1)])
    assert store.chunk_count() == 2 and store.document_shas("kb")["vpn"] != old_sha
    assert store.fts_search('"wireguard"', 10) == []  # no chunk of the old version is left
    [hit] = store.load_hits(store.fts_search('"tailscale"', 10))
    assert (hit.doc_id, hit.title, hit.url) == ("vpn", "Vpn", "https://d/vpn")
    assert store.titles("kb", ["vpn", "gone"]) == {"vpn": "Vpn"}

    store.delete_documents("kb", ["vpn"])
    assert store.document_shas("kb").keys() == {"pto"} and store.chunk_count() == 1
    assert store.fts_search('"tailscale"', 10) == [] and store.vector_search(
        np.frombuffer(unit(1, 0, 1), np.float32), 5
    ) == [(store.fts_search('"holidays"', 1)[0][0], pytest.approx(0.0, abs=1e-6))]
    stats = store.stats()
    assert (stats["documents"], stats["chunks"], stats["embed_model"]) == (1, 1, MODEL)


def test_a_store_refuses_vectors_of_another_model(store: StoreContract) -> None:
    put(store, "a", ["alpha"], [unit(1)])
    with pytest.raises(Exception, match="model"):
        store.check_embedder("other:model")


def test_a_chunk_without_its_vector_is_refused_and_the_old_version_kept(
    store: StoreContract,
) -> None:
    put(store, "a", ["alpha first"], [unit(1)])
    with pytest.raises(Exception, match="differ"):
        put(store, "a", ["alpha second", "beta"], [unit(1)])
    assert ids_of(store, store.fts_search('"first"', 5)) == ["a"]
    assert store.fts_search('"second"', 5) == []


# --- search ----------------------------------------------------------------------------


def test_lexical_search_ranks_deterministically_and_obeys_scope(store: StoreContract) -> None:
    put(store, "vpn", ["VPN VPN setup guide"], [unit(1)])
    put(store, "printers", ["printer setup"], [unit(0, 1)])
    put(store, "net", ["the office VPN is down sometimes"], [unit(1, 1)], source="other")
    first = store.fts_search('"vpn"', 10)
    assert ids_of(store, first) == ["vpn", "net"]  # the denser match first
    assert all(a[1] >= b[1] for a, b in itertools.pairwise(first))
    assert store.fts_search('"vpn"', 10) == first  # same state, same ranking
    scoped = store.fts_search('"vpn"', 10, scope=Scope(sources=frozenset({"other"})))
    assert ids_of(store, scoped) == ["net"]
    assert store.fts_search('"vpn"', 1) == first[:1]


def test_vector_search_returns_the_nearest_first(store: StoreContract) -> None:
    put(store, "a", ["a0", "a1", "a2"], [unit(1), unit(1, 1), unit(0, 1)])
    query = np.frombuffer(unit(1, 0.1), np.float32)
    found = store.vector_search(query, 3)
    by_chunk = {h.chunk_id: h.text for h in store.load_hits(found)}
    assert [by_chunk[c] for c, _ in found] == ["a0", "a1", "a2"]
    assert found == store.vector_search(query, 3)  # same state, same ranking
    exact = store.vector_search(query, 3, exact=True)
    assert [c for c, _ in exact] == [c for c, _ in found]
    assert [s for _, s in exact] == pytest.approx([s for _, s in found], abs=1e-5)
    ids, matrix = store.vectors([found[0][0]])
    assert ids == [found[0][0]] and matrix.shape == (1, DIM)
    assert found[0][1] == pytest.approx(float(matrix[0] @ query), abs=1e-5)


def test_corpus_statistics_match_like_the_lexical_search(store: StoreContract) -> None:
    put(store, "a", ["Deploying services", "deploy the printer", "lunch menu"],
        [unit(1), unit(0, 1), unit(0, 0, 1)])  # fmt: skip
    hits = store.load_hits(store.fts_search('"printer"', 5))
    counts, covered = store.term_frequencies(["deploy", "printer", "zebra"], [hits[0].chunk_id])
    assert counts == {"deploy": 2, "printer": 1, "zebra": 0}  # stemmed: deploying = deploy
    assert covered == {hits[0].chunk_id: {"deploy", "printer"}}
    assert store.previous_chunk_text(hits[0].chunk_id) == "Deploying services"
    assert store.texts_holding(["they deployed it", "nothing"], ["deploy", "zebra"]) == {
        "deploy": {0},
        "zebra": set(),
    }
    assert store.recent_titles(5) == ["A"]


def test_the_chunks_around_one_are_its_documents_in_order(store: StoreContract) -> None:
    put(store, "a", ["first part", "second part", "third part", "fourth part"],
        [unit(1), unit(0, 1), unit(0, 0, 1), unit(1, 1)])  # fmt: skip
    put(store, "b", ["another page"], [unit(1, 0, 1)])
    (second,) = store.load_hits(store.fts_search('"second"', 1))
    near = store.chunks_around(second.chunk_id, 1, 1)
    assert [c.text for c in near] == ["first part", "second part", "third part"]
    assert [c.ordinal for c in near] == [0, 1, 2] and near[1].chunk_id == second.chunk_id
    assert near[1].heading_path == second.heading_path
    assert [c.text for c in store.chunks_around(second.chunk_id, 0, 5)] == [
        "second part",
        "third part",
        "fourth part",
    ]
    assert store.chunks_around(10**9, 1, 1) == []


# --- rebuilds beside the live index ----------------------------------------------------


def test_a_rebuild_stays_invisible_until_the_switch(store: StoreContract) -> None:
    put(store, "vpn", ["Old VPN page"], [unit(1)])
    before = store.source_generations()
    build, resumed = store.begin_build("test:rebuilt")
    assert resumed is False and store.build_state() is not None
    build.bind_embedder("test:rebuilt", DIM)
    doc = Document(source="kb", doc_id="vpn", title="Vpn", url="https://d/vpn", body="")
    build.replace_document(doc, [Chunk(doc_id="vpn", ordinal=0, text="New VPN page")], [unit(1)])
    assert ids_of(store, store.fts_search('"old"', 5)) == ["vpn"]  # answers: still the old index
    assert store.fts_search('"new"', 5) == [] and store.embed_model == MODEL
    store.switch_build({"kb": BuiltSource(cursor="c2", chunking="sig")})
    assert store.build_state() is None and store.embed_model == "test:rebuilt"
    assert store.fts_search('"old"', 5) == [] and ids_of(store, store.fts_search('"new"', 5))
    assert store.get_cursor("kb") == "c2" and store.get_meta("chunking:kb") == "sig"
    assert store.source_generations()["kb"] > before.get("kb", 0)


def test_meta_values_round_trip(store: StoreContract) -> None:
    assert store.get_meta("chunking:kb") is None
    store.set_meta("chunking:kb", "v1")
    store.set_meta("chunking:kb", "v2")
    assert store.get_meta("chunking:kb") == second_handle(store).get_meta("chunking:kb") == "v2"


# --- sync history ----------------------------------------------------------------------


def test_runs_record_outcomes_cursors_and_interrupted_runs(store: StoreContract) -> None:
    first = store.start_run("kb")
    store.update_run_progress(first, {"documents_seen": 3})
    [running] = store.running_runs()
    assert (running.id, running.status, running.progress) == (
        first,
        "running",
        {"documents_seen": 3},
    )
    second = store.start_run("kb")  # the first one's process must have died
    assert store.recent_runs("kb", 5)[1].status == "interrupted"
    store.finish_run(second, status="ok", counts={"added": 2}, seconds=1.5, cursor="c1",
                     changes=[DocumentChange("added", "a", "A")])  # fmt: skip
    last = store.last_runs()["kb"]
    assert (last.id, last.status, last.added) == (second, "ok", 2)
    assert store.recent_runs("kb", 1)[0].changes == [DocumentChange("added", "a", "A")]
    assert store.get_cursor("kb") == "c1" and store.last_success("kb") is not None
    assert store.running_runs() == []
    third = store.start_run("kb")
    store.mark_interrupted(third, "stopped by a test")
    assert store.recent_runs("kb", 1)[0].reason == "stopped by a test"


# --- event claims and threads ----------------------------------------------------------


def test_of_two_claims_of_one_key_exactly_one_wins(store: StoreContract) -> None:
    at, old = "2026-01-02T00:00:00.000+00:00", "2026-01-01T00:00:00.000+00:00"
    assert store.claim_events(["ev1", "ev1-msg"], at, old) is True
    assert store.claim_events(["ev1"], at, old) is False
    assert store.claim_events(["ev2", "ev1-msg"], at, old) is False  # all or none
    assert store.claim_events(["ev2"], at, old) is True


def test_racing_claimers_on_separate_handles_get_one_true(store: StoreContract) -> None:
    handles = [second_handle(store) for _ in range(6)]
    start = threading.Barrier(len(handles))
    results: list[bool] = []

    def claim(handle: StoreContract) -> None:
        start.wait()
        results.append(handle.claim_events(["race"], "2026-01-02T00:00:00+00:00", ""))

    threads = [threading.Thread(target=claim, args=(h,)) for h in handles]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 5 + [True]


def test_threads_keep_their_first_kind(store: StoreContract) -> None:
    assert store.thread_kind("C1", "1.0") is None
    store.remember_thread("C1", "1.0", "assistant", "2026-01-01T00:00:00+00:00")
    store.remember_thread("C1", "1.0", "answer", "2026-01-01T00:00:01+00:00")
    assert store.thread_kind("C1", "1.0") == "assistant"
    assert second_handle(store).thread_kind("C1", "1.0") == "assistant"


# --- answers and feedback --------------------------------------------------------------


def answer_row(answer_id: str, created_at: str, **values: object) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(ANSWER_FIELDS)
    row.update(id=answer_id, created_at=created_at, surface="slack", outcome="answered",
               question="how?", sources="[]", timings={"retrieve_ms": 1.5})  # fmt: skip
    row.update(values)
    return row


def test_answer_records_round_trip_and_are_counted(store: StoreContract) -> None:
    store.save_answer(answer_row("a1", "2026-01-01T10:00:00.000+00:00", latency_ms=12.5))
    store.save_answer(answer_row("a2", "2026-01-02T10:00:00.000+00:00", outcome="abstained",
                                 surface="cli"))  # fmt: skip
    store.save_answer(answer_row("a1", "2026-01-01T10:00:00.000+00:00", answer="done"))
    got = store.get_answer("a1")
    assert got is not None and got["answer"] == "done" and got["timings"] == {"retrieve_ms": 1.5}
    assert set(got) == set(ANSWER_FIELDS) and store.get_answer("nope") is None
    since = [r["id"] for r in store.answers_since("2026-01-01", ["answered", "abstained"])]
    assert since == ["a1", "a2"]
    assert [r["id"] for r in store.answers_since("2026-01-02", ["answered"])] == []
    assert store.outcome_counts("") == {("slack", "answered"): 1, ("cli", "abstained"): 1}


def test_a_second_vote_replaces_the_first(store: StoreContract) -> None:
    store.save_answer(answer_row("a1", "2026-01-01T10:00:00.000+00:00"))
    up = FeedbackRecord("a1", "U1", "up", "how?", "so", "[]", "2026-01-01T11:00:00.000+00:00")
    store.save_feedback(up, channel="C1", message_ts="1.0")
    down = FeedbackRecord("a1", "U1", "down", "how?", "so", "[]", "2026-01-01T12:00:00.000+00:00")
    store.save_feedback(down, channel="C1", message_ts="1.0")
    orphan = FeedbackRecord("gone", "U2", "up", None, None, "[]", "2026-01-01T13:00:00.000+00:00")
    store.save_feedback(orphan, channel=None, message_ts=None)
    assert store.votes_since("2026-01-01") == [(orphan, None), (down, "slack")]


# --- the answer cache ------------------------------------------------------------------


def cache(store: StoreContract, key: str, created_at: str, *, max_entries: int = 10) -> None:
    hits = store.load_hits(store.fts_search('"vpn"', 5))
    cited = list(store.cited_chunks([h.chunk_id for h in hits]).values())
    store.cache_put(
        key, CachedAnswer('{"text": "x"}', created_at, "s1"), question="vpn?",
        mode="extractive", model=None, cited=cited,
        expire_before="2026-01-01T00:00:00.000+00:00", max_entries=max_entries,
    )  # fmt: skip


def test_cache_entries_hold_while_their_chunks_are_unchanged(store: StoreContract) -> None:
    put(store, "vpn", ["Use the VPN."], [unit(1)])
    cache(store, "k1", "2026-01-02T00:00:00.000+00:00")
    assert store.cache_get("k1") == CachedAnswer(
        '{"text": "x"}', "2026-01-02T00:00:00.000+00:00", "s1"
    )
    assert store.cache_sources_unchanged("k1") and store.cache_entries() == 1
    store.cache_hit("k1", "2026-01-02T01:00:00.000+00:00", stamp="s2")
    entry = store.cache_get("k1")
    assert entry is not None and entry.stamp == "s2"
    put(store, "vpn", ["Use the new VPN."], [unit(1)])  # the cited chunk changed
    assert not store.cache_sources_unchanged("k1")
    assert store.cache_purge("2026-01-01T00:00:00.000+00:00", 10) == 1
    assert store.cache_get("k1") is None and store.cache_entries() == 0
    assert store.cache_sources_unchanged("missing") is False


def test_cache_drop_expiry_and_least_recently_used_eviction(store: StoreContract) -> None:
    put(store, "vpn", ["Use the VPN."], [unit(1)])
    cache(store, "old", "2025-12-31T00:00:00.000+00:00")  # expired: evicted on the next put
    cache(store, "a", "2026-01-02T00:00:00.000+00:00")
    assert store.cache_get("old") is None
    cache(store, "b", "2026-01-03T00:00:00.000+00:00")
    store.cache_hit("a", "2026-01-04T00:00:00.000+00:00")  # now a is the most recent
    cache(store, "c", "2026-01-05T00:00:00.000+00:00", max_entries=2)
    assert (store.cache_get("a") is not None, store.cache_get("b"), store.cache_entries()) == (
        True, None, 2
    )  # fmt: skip
    store.cache_drop("a")
    assert store.cache_get("a") is None and store.cache_entries() == 1


def test_cited_chunks_are_the_stored_text_url_title_and_access(store: StoreContract) -> None:
    put(store, "vpn", ["Use the VPN."], [unit(1)])
    [(chunk_id, _)] = store.fts_search('"vpn"', 5)
    [cited] = store.cited_chunks([chunk_id, chunk_id, 999_999]).values()
    assert (cited.chunk_id, cited.text, cited.url, cited.title, cited.access) == (
        chunk_id, "Use the VPN.", "https://d/vpn", "Vpn", None
    )  # fmt: skip


# --- source locks ----------------------------------------------------------------------


def test_a_source_lock_excludes_a_second_holder(store: StoreContract) -> None:
    other = second_handle(store)
    assert store.lock_held("kb") is False
    with store.source_lock("kb"):
        assert other.lock_held("kb") is True
        with pytest.raises(SourceBusy, match="already being synced"), other.source_lock("kb"):
            pass
        with other.source_lock("docs"):  # another source is independent
            pass
        with pytest.raises(SourceBusy), other.source_locks(["docs", "kb"]):
            pass
        with other.source_lock("docs"):  # source_locks held none when it failed
            pass
    assert other.lock_held("kb") is False
    with other.source_lock("kb", timeout=0.5):
        pass


HOLDER = """
import sys
from ingest.settings import load_settings
import os
from ingest.store import open_store
store = open_store(load_settings(dict(os.environ)))
with store.source_lock("kb"):
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_a_source_lock_excludes_another_process_until_it_dies(store: StoreContract) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCBOT_")}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], env={**env, **settings_env(store)},
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert store.lock_held("kb") is True
        with pytest.raises(SourceBusy, match=f"process {holder.pid}"), store.source_lock("kb"):
            pass
    finally:
        holder.kill()
        holder.wait()
    with store.source_lock("kb", timeout=5):  # a killed holder's lock goes with it
        assert store.lock_held("kb") is True


# --- choosing the backend --------------------------------------------------------------


def test_the_store_names_its_backend_and_where_it_lives(store: StoreContract) -> None:
    assert store.backend in BACKENDS
    assert store.location and ":" not in store.location.partition("//")[2].partition("@")[0]


def test_open_store_opens_the_sqlite_file_by_default(tmp_path: Path) -> None:
    store = open_store(load_settings({"DOCBOT_DB": str(tmp_path / "x.db")}))
    assert (store.backend, store.location) == ("sqlite", str(tmp_path / "x.db"))
    assert (tmp_path / "x.db").exists()


def test_a_database_url_that_is_not_postgres_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="DOCBOT_DATABASE_URL: must start with postgresql://"):
        load_settings({"DOCBOT_DATABASE_URL": "mysql://db/docbot"})
    with pytest.raises(ConfigError, match="DOCBOT_DATABASE_URL"):
        open_store(Settings(database_url="sqlite:///x.db"))


@pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("ingest.store.postgres") is not None,
    reason="this build has the PostgreSQL backend",
)
def test_a_postgres_url_without_the_backend_is_one_clear_error() -> None:
    settings = load_settings({"DOCBOT_DATABASE_URL": "postgresql://u:pw@db/docbot"})
    assert settings.database_url == "postgresql://u:pw@db/docbot"
    with pytest.raises(ConfigError, match=r"DOCBOT_DATABASE_URL: .*no PostgreSQL backend") as err:
        open_store(settings)
    assert "\n" not in str(err.value) and "pw" not in str(err.value)


def test_a_backend_whose_driver_is_missing_names_it_and_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ingest.store, "POSTGRES_MODULE", "tests.fakes.backend_without_driver")
    with pytest.raises(ConfigError, match="DOCBOT_DATABASE_URL") as err:
        open_store(Settings(database_url="postgresql://db/docbot"))
    assert "docbot_test_driver_that_is_not_installed" in str(err.value)
    assert "\n" not in str(err.value)
