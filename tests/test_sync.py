"""Sync: idempotent, incremental by content hash, prunes deletions, and never
damages what was stored before when something fails half-way."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from ingest.errors import EmbedderError, EmbedderMismatch
from ingest.models import Document
from ingest.sources import Scan, Source
from ingest.sources.markdown import MarkdownSource
from ingest.store import Store
from ingest.sync import sync_source
from tests.fakes.embedders import HashEmbedder


class BrokenEmbedder(HashEmbedder):
    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        raise EmbedderError("the embeddings API failed: HTTP 500")


class CrashingSource(Source):
    """Yields some documents, then dies like a network drop in the middle of a scan."""

    def __init__(self, name: str, docs: list[Document], crash_after: int) -> None:
        self.name, self.docs, self.crash_after = name, docs, crash_after

    def scan(self, cursor: str | None = None, *, full: bool = False) -> Scan:
        def documents() -> Iterator[Document]:
            for i, doc in enumerate(self.docs):
                if i == self.crash_after:
                    raise ConnectionResetError("connection reset by peer")
                yield doc

        return Scan(documents=documents(), cursor="new-cursor")


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    for name in ("vpn", "expenses", "onboarding"):
        (root / f"{name}.md").write_text(
            f"# {name.title()}\n\nAbout {name}.\n\n## Details\n\nThe {name} details are here.\n"
        )
    return root


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "docbot.db")


def test_second_run_embeds_nothing(store: Store, docs: Path) -> None:
    embedder = HashEmbedder()
    first = sync_source(store, MarkdownSource("docs", docs), embedder)
    assert (first.added, first.error, first.chunks_embedded) == (3, None, len(embedder.texts))
    assert first.chunks_embedded > 0
    embedder.texts.clear()
    second = sync_source(store, MarkdownSource("docs", docs), embedder)
    assert (second.added, second.updated, second.unchanged, second.chunks_embedded) == (0, 0, 3, 0)
    assert embedder.texts == []


def test_edit_reembeds_only_the_changed_chunk(store: Store, docs: Path) -> None:
    embedder = HashEmbedder()
    sync_source(store, MarkdownSource("docs", docs), embedder)
    embedder.texts.clear()
    (docs / "vpn.md").write_text(
        "# Vpn\n\nAbout vpn.\n\n## Details\n\nConnect to vpn.acme.example now.\n"
    )
    report = sync_source(store, MarkdownSource("docs", docs), embedder)
    assert (report.updated, report.unchanged, report.chunks_embedded) == (1, 2, 1)
    assert len(embedder.texts) == 1 and "vpn.acme.example" in embedder.texts[0]
    assert store.fts_search('"acme"', 5)


def test_deleted_file_is_pruned(store: Store, docs: Path) -> None:
    embedder = HashEmbedder()
    sync_source(store, MarkdownSource("docs", docs), embedder)
    (docs / "expenses.md").unlink()
    report = sync_source(store, MarkdownSource("docs", docs), embedder)
    assert report.deleted == 1
    assert set(store.document_shas("docs")) == {"vpn.md", "onboarding.md"}
    assert not store.fts_search('"expenses"', 5)
    (count,) = store.conn.execute("SELECT count(*) FROM chunks_vec").fetchone()
    (chunks,) = store.conn.execute("SELECT count(*) FROM chunks").fetchone()
    assert count == chunks


def test_crash_in_the_middle_keeps_the_store_intact(store: Store, docs: Path) -> None:
    embedder = HashEmbedder()
    sync_source(store, MarkdownSource("docs", docs), embedder)
    before = store.document_shas("docs")
    edited = [
        Document(source="docs", doc_id=f"{n}.md", title=n, url="u", body=f"new {n} text")
        for n in ("vpn", "expenses", "onboarding")
    ]
    report = sync_source(store, CrashingSource("docs", edited, crash_after=1), embedder)
    assert report.error and "ConnectionResetError" in report.error
    after = store.document_shas("docs")
    assert set(after) == set(before)  # nothing pruned
    assert after["expenses.md"] == before["expenses.md"]  # untouched documents unchanged
    assert store.last_runs()["docs"].status == "failed"
    assert store.get_cursor("docs") is None  # the cursor did not advance


def test_embedder_failure_keeps_previous_content(store: Store, docs: Path) -> None:
    sync_source(store, MarkdownSource("docs", docs), HashEmbedder())
    (docs / "vpn.md").write_text("# Vpn\n\nchanged\n")
    report = sync_source(store, MarkdownSource("docs", docs), BrokenEmbedder())
    assert report.error == "the embeddings API failed: HTTP 500"
    assert store.fts_search('"details"', 10)  # old vpn chunks still searchable
    assert len(store.document_shas("docs")) == 3


def test_non_utf8_file_is_reported_and_its_old_version_kept(store: Store, docs: Path) -> None:
    sync_source(store, MarkdownSource("docs", docs), HashEmbedder())
    old = store.document_shas("docs")["vpn.md"]
    (docs / "vpn.md").write_bytes("# Vpn caf\xe9\n".encode("latin-1"))
    report = sync_source(store, MarkdownSource("docs", docs), HashEmbedder())
    assert report.status == "partial" and report.failed == 1 and report.deleted == 0
    assert store.document_shas("docs")["vpn.md"] == old
    assert "not UTF-8" in report.failures[0][1]


def test_missing_folder_fails_without_pruning(store: Store, docs: Path, tmp_path: Path) -> None:
    sync_source(store, MarkdownSource("docs", docs), HashEmbedder())
    report = sync_source(store, MarkdownSource("docs", tmp_path / "gone"), HashEmbedder())
    assert report.error and "does not exist" in report.error
    assert len(store.document_shas("docs")) == 3


def test_store_refuses_vectors_of_another_model(store: Store, docs: Path) -> None:
    sync_source(store, MarkdownSource("docs", docs), HashEmbedder())

    report = sync_source(store, MarkdownSource("docs", docs), HashEmbedder(model_id="test:other"))
    assert report.error and "--rebuild" in report.error
    with pytest.raises(EmbedderMismatch):
        store.check_embedder("test:other")
    rebuilt = sync_source(
        store, MarkdownSource("docs", docs), HashEmbedder(model_id="test:other"), rebuild=True
    )
    assert (rebuilt.status, rebuilt.rebuild, rebuilt.unchanged) == ("ok", True, 3)
    assert rebuilt.chunks_embedded > 0 and store.embed_model == "test:other"


def test_identical_text_in_two_documents_is_embedded_once(store: Store, tmp_path: Path) -> None:
    root = tmp_path / "dup"
    root.mkdir()
    for name in ("a", "b"):
        (root / f"{name}.md").write_text("# Same\n\nIdentical body text.\n")
    embedder = HashEmbedder()
    report = sync_source(store, MarkdownSource("dup", root), embedder)
    assert report.added == 2 and report.chunks_embedded == 1 and len(embedder.texts) == 1


def test_a_chunking_change_re_chunks_every_document_once(store: Store, tmp_path: Path) -> None:
    """An upgrade that cuts pages differently (say, adds overlap) applies to pages
    already stored, not only to pages edited later; chunk texts that did not change
    keep their vectors."""
    from functools import partial

    from ingest.chunking import split_markdown

    root = tmp_path / "long"
    root.mkdir()
    paragraphs = [f"Paragraph {i}" + " word" * 40 for i in range(12)]
    (root / "long.md").write_text("# Long\n\n## Part\n\n" + "\n\n".join(paragraphs) + "\n")
    (root / "short.md").write_text("# Short\n\nOne short page.\n")
    source = MarkdownSource("docs", root)
    embedder = HashEmbedder()
    old = partial(split_markdown, chunk_chars=700, overlap_chars=0)
    new = partial(split_markdown, chunk_chars=700, overlap_chars=250)

    assert sync_source(store, source, embedder, chunker=old).added == 2
    before = store.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
    changed = sync_source(store, source, embedder, chunker=new)
    # Re-cut beside the live index and switched in: same documents, new chunks.
    assert (changed.rebuild, changed.updated, changed.unchanged, changed.error) == (
        True, 0, 2, None)  # fmt: skip
    assert store.conn.execute("SELECT count(*) FROM chunks").fetchone()[0] > before
    assert changed.chunks_embedded < store.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
    again = sync_source(store, source, embedder, chunker=new)
    assert (again.updated, again.unchanged, again.chunks_embedded) == (0, 2, 0)


def test_a_store_from_before_chunking_signatures_is_not_re_chunked(
    store: Store, docs: Path
) -> None:
    """Stores made before the signature was recorded were cut with the v1 defaults;
    the default chunker still cuts that way, so upgrading costs no full re-scan."""
    source = MarkdownSource("docs", docs)
    sync_source(store, source, HashEmbedder())
    store.conn.execute("DELETE FROM meta WHERE key = 'chunking:docs'")
    again = sync_source(store, source, HashEmbedder())
    assert (again.updated, again.unchanged, again.chunks_embedded) == (0, 3, 0)
    assert store.get_meta("chunking:docs") is not None
