"""A real store and answerer over a handful of Markdown pages, for the answer tests.

Each answer test describes its corpus as ``{file name: Markdown}``; this writes the
pages into ``folder/docs``, syncs them through the real Markdown source into the real
SQLite store ``folder/kb.db`` with the deterministic ``HashEmbedder``, and hands back
the store or an ``Answerer`` over it. Nothing is mocked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.answer import Answerer
from bot.retrieve import Retriever
from ingest.sources.markdown import MarkdownSource
from ingest.store import Store
from ingest.sync import sync_source
from tests.fakes.embedders import HashEmbedder


def index_pages(folder: Path, pages: dict[str, str]) -> Store:
    """The pages written under ``folder/docs`` and synced into ``folder/kb.db``."""
    root = folder / "docs"
    root.mkdir(parents=True)
    for name, text in pages.items():
        (root / name).write_text(text)
    store = Store(folder / "kb.db")
    assert sync_source(store, MarkdownSource("docs", root), HashEmbedder()).error is None
    return store


def answerer_over(folder: Path, pages: dict[str, str], **settings: Any) -> Answerer:
    """An ``Answerer`` (with ``settings``) over ``index_pages(folder, pages)``."""
    return Answerer(Retriever(index_pages(folder, pages), HashEmbedder()), **settings)
