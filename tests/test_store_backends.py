"""The store contract that sync, rebuild and retrieval rely on, run against both
backends: the embedded SQLite file and PostgreSQL with pgvector (a real server started
by the tests, ``tests/postgres_fixtures.py``). Each test runs once per backend."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bot.retrieve import Retriever, fts_query
from ingest.errors import EmbedderMismatch
from ingest.models import Access, Chunk, Document
from ingest.store.generations import BuiltSource
from ingest.store.history import DocumentChange
from ingest.store.scope import Scope
from tests.fakes.embedders import HashEmbedder

EMBEDDER = HashEmbedder()


def page(
    doc_id: str,
    title: str,
    sections: list[tuple[str, str]],
    *,
    source: str = "docs",
    space: str | None = None,
    tags: tuple[str, ...] = (),
    access: Access | None = None,
) -> tuple[Document, list[Chunk]]:
    body = "\n\n".join(text for _, text in sections)
    doc = Document(
        source=source, doc_id=doc_id, title=title, url=f"https://docs.example/{doc_id}",
        body=body, breadcrumbs=("Handbook",), tags=tags, space=space,
        access=access or Access(),
    )  # fmt: skip
    chunks = [
        Chunk(doc_id, i, text, (title, heading) if heading else (title,), heading.lower())
        for i, (heading, text) in enumerate(sections)
    ]
    return doc, chunks


def put(store: Any, doc: Document, chunks: list[Chunk], writer: Any = None) -> None:
    target = writer or store
    target.bind_embedder(EMBEDDER.model_id, EMBEDDER.dim)
    vectors = EMBEDDER.embed_batch([c.text for c in chunks])
    target.replace_document(doc, chunks, [v.tobytes() for v in vectors])


def handbook(store: Any) -> None:
    put(store, *page("vpn", "VPN access", [
        ("Connecting", "Install the client and connect to vpn.acme.example with your SSO login."),
        ("Troubleshooting", "If the tunnel drops, restart the client."),
    ]))  # fmt: skip
    put(store, *page("expenses", "Expenses", [
        ("", "Submit receipts within 30 days. The VPN is not an expense."),
    ]))  # fmt: skip
    put(store, *page("tokyo", "東京オフィス", [("", "東京オフィスの営業時間は九時から")]))


def test_documents_round_trip(any_store: Any) -> None:
    handbook(any_store)
    assert set(any_store.document_shas("docs")) == {"vpn", "expenses", "tokyo"}
    assert any_store.count("docs") == 3 and any_store.source_counts() == {"docs": 3}
    assert any_store.titles("docs", ["vpn", "nope"]) == {"vpn": "VPN access"}
    (doc, chunks), = any_store.stored_documents("docs", ["vpn"])  # fmt: skip
    assert (doc.title, doc.breadcrumbs, doc.url) == ("VPN access", ("Handbook",), doc.url)
    assert [c.heading_path for c in chunks] == [
        ("VPN access", "Connecting"), ("VPN access", "Troubleshooting")
    ]  # fmt: skip
    assert chunks[0].anchor == "connecting"
    cached = any_store.cached_vectors([chunks[0].sha, "unknown"])
    assert list(cached) == [chunks[0].sha]
    expected = EMBEDDER.embed_batch([chunks[0].text])[0]
    assert np.allclose(np.frombuffer(cached[chunks[0].sha], np.float32), expected)
    # replacing keeps one version; deleting removes its chunks from every index
    put(any_store, *page("vpn", "VPN access", [("", "Use WireGuard now.")]))
    assert len(any_store.stored_documents("docs", ["vpn"])[0][1]) == 1
    assert any_store.fts_search('"tunnel"', 5) == []
    any_store.delete_documents("docs", ["vpn"])
    assert any_store.fts_search('"wireguard"', 5) == []
    assert set(any_store.document_shas("docs")) == {"expenses", "tokyo"}
    assert "docs" in any_store.source_names()


def test_the_embedder_is_bound_once(any_store: Any) -> None:
    any_store.bind_embedder("model-a", 8)
    any_store.bind_embedder("model-a", 8)
    assert (any_store.embed_model, any_store.embed_dim) == ("model-a", 8)
    with pytest.raises(EmbedderMismatch, match="model-b"):
        any_store.check_embedder("model-b")
    with pytest.raises(EmbedderMismatch, match="8-dimensional"):
        any_store.check_embedder("model-a", 16)


def test_lexical_search_weights_titles_and_reads_cjk(any_store: Any) -> None:
    handbook(any_store)
    ranked = any_store.load_hits(any_store.fts_search(fts_query("vpn"), 10))
    assert [h.doc_id for h in ranked] == ["vpn", "vpn", "expenses"]  # the title weighs most
    assert ranked[0].heading_path[0] == "VPN access" and ranked[0].breadcrumbs == ("Handbook",)
    assert any_store.fts_search(fts_query("receipt"), 5)  # stemmed: receipts
    assert any_store.fts_search(fts_query("nothing-like-this"), 5) == []
    assert any_store.fts_search("", 5) == []
    cjk = any_store.cjk_search('"東京" OR "営業"', 5)
    assert [h.doc_id for h in any_store.load_hits(cjk)] == ["tokyo"]


def test_vector_search_and_hits(any_store: Any) -> None:
    handbook(any_store)
    query = EMBEDDER.embed_query("restart the client if the tunnel drops")
    best = any_store.vector_search(np.asarray(query), 3)
    hit = any_store.load_hits(best[:1])[0]
    assert (hit.doc_id, hit.heading_path[-1]) == ("vpn", "Troubleshooting")
    assert best[0][1] == pytest.approx(1.0, abs=1e-4) or best[0][1] > best[1][1]
    exact = any_store.vector_search(np.asarray(query), 3, exact=True)
    assert [c for c, _ in exact] == [c for c, _ in best]
    assert any_store.vector_plan().describe()
    assert any_store.refresh_vector_plan().chunks == 4


def test_scopes_filter_inside_both_searches(any_store: Any) -> None:
    put(any_store, *page("pub", "Deploy guide", [("", "deploy with the pipeline")]))
    put(any_store, *page("eng", "Deploy secrets", [("", "deploy keys rotate")], space="ENG",
                         tags=("ops",), source="wiki",
                         access=Access(frozenset({"ana@acme.example"}), "restricted")))  # fmt: skip
    retriever = Retriever(any_store, EMBEDDER)

    def found(scope: Scope) -> set[str]:
        return {h.doc_id for h in retriever.search("deploy", k=5, scope=scope).hits}

    assert found(Scope.everything()) == {"pub", "eng"}
    assert found(Scope()) == {"pub"}  # no reader: public only
    assert found(Scope(reader="ANA@acme.example")) == {"pub", "eng"}
    assert found(Scope(reader="bob@acme.example")) == {"pub"}
    assert found(Scope(sources=frozenset({"wiki"}), all_restricted=True)) == {"eng"}
    assert found(Scope(spaces=frozenset({"OPS"}), all_restricted=True)) == {"pub"}
    assert found(Scope(labels=frozenset({"ops"}), all_restricted=True)) == {"eng"}
    assert any_store.fts_search('"deploy"', 5, scope=Scope(sources=frozenset())) == []
    assert any_store.has_restricted()
    assert any_store.set_access("wiki", {"eng": Access()}) == 1
    assert found(Scope()) == {"pub", "eng"} and not any_store.has_restricted()


def test_runs_record_what_each_sync_did(any_store: Any) -> None:
    first = any_store.start_run("docs")
    any_store.update_run_progress(first, {"documents": 3})
    assert [r.progress for r in any_store.running_runs()] == [{"documents": 3}]
    any_store.finish_run(
        first, status="ok", counts={"added": 2, "failed": 1}, seconds=1.5,
        failures=[("bad.md", "unreadable")], cursor="c1",
        changes=[DocumentChange("added", "a", "A"), DocumentChange("failed", "bad.md", None, "x")],
    )  # fmt: skip
    assert any_store.get_cursor("docs") == "c1" and any_store.last_success("docs") is not None
    second = any_store.start_run("docs", kind="rebuild")
    third = any_store.start_run("docs")  # the second's process died: it is interrupted
    runs = any_store.recent_runs("docs")
    assert [r.id for r in runs] == [third, second, first]
    assert [r.status for r in runs] == ["running", "interrupted", "ok"]
    assert runs[1].kind == "rebuild" and runs[1].reason
    assert (runs[2].added, runs[2].failed, runs[2].failures) == (2, 1, [("bad.md", "unreadable")])
    assert [(c.change, c.doc_id) for c in runs[2].changes] == [
        ("added", "a"), ("failed", "bad.md")
    ]  # fmt: skip
    any_store.mark_interrupted(third, "stopped")
    assert any_store.last_runs()["docs"].status == "interrupted"
    assert any_store.running_runs() == []
    put(any_store, *page("solo", "Solo", [("", "text")], source="fresh"))
    assert any_store.incomplete_sources() == {"fresh"}
    assert any_store.source_generations()["fresh"] == 1
    stats = any_store.stats()
    assert (stats["documents"], stats["chunks"], stats["embed_dim"]) == (1, 1, EMBEDDER.dim)
    assert stats["bytes"] > 0


def test_a_rebuild_is_written_beside_the_live_index_and_switched_to_at_once(
    open_store: Any,
) -> None:
    store = open_store()
    handbook(store)
    live_ids = {c for c, _ in store.fts_search(fts_query("vpn expenses"), 10)}
    builder, resumed = store.begin_build(EMBEDDER.model_id)
    assert not resumed and store.build_state().generation == 2
    put(store, *page("vpn", "VPN access", [("", "The VPN moved to WireGuard.")]), writer=builder)
    reader = open_store()  # what the bot sees meanwhile
    assert reader.fts_search('"wireguard"', 5) == []
    assert {h.doc_id for h in reader.load_hits(reader.fts_search('"vpn"', 5))} >= {"vpn"}
    again, resumed = open_store().begin_build(EMBEDDER.model_id)  # a killed rebuild resumes
    assert resumed and again.count("docs") == 1
    store.switch_build({"docs": BuiltSource(cursor="after", chunking="v2")})
    assert store.build_state() is None
    hits = reader.load_hits(reader.fts_search('"wireguard"', 5))
    assert [h.doc_id for h in hits] == ["vpn"]
    assert not live_ids & {h.chunk_id for h in hits}  # ids never repeat across generations
    assert reader.count("docs") == 1 and reader.get_cursor("docs") == "after"
    assert reader.get_meta("chunking:docs") == "v2"
    assert reader.vector_search(np.asarray(EMBEDDER.embed_query("wireguard")), 1)
    # another model's build is discarded, not resumed
    store.begin_build("test:a")
    _, resumed = store.begin_build("test:b")
    assert not resumed and store.build_state().embed_model == "test:b"
    store.discard_build()
    assert store.build_state() is None and store.count("docs") == 1


def test_the_nearest_chunks_in_scope_with_their_vectors(any_store: Any) -> None:
    handbook(any_store)
    put(any_store, *page("pvt", "Tunnel secrets", [("", "tunnel passwords rotate weekly")],
                         access=Access(frozenset({"ana@acme.example"}), "restricted")))  # fmt: skip
    query = np.asarray(EMBEDDER.embed_query("tunnel passwords rotate weekly"))
    ids, matrix = any_store.index_search(query, 2, scope=Scope.everything())
    assert [h.doc_id for h in any_store.load_hits([(i, 0.0) for i in ids])] == ["pvt", "vpn"]
    assert matrix.shape == (2, EMBEDDER.dim) and np.allclose(matrix[0], query, atol=1e-5)
    public, _ = any_store.index_search(query, 2, scope=Scope())
    assert ids[0] not in public and len(public) == 2
    assert any_store.index_search(query, 0)[0] == []
