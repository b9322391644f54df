"""The knowledge base: one SQLite file with documents, chunks, FTS5 and sqlite-vec.

Readers (the bot answering) and the writer (sync) share the file through WAL, so
questions are answered from the last committed state while a sync runs. Each
thread gets its own connection. Every document is replaced in one transaction:
a sync that dies half-way leaves each document either fully old or fully new.

The store remembers which embedding model built its vectors (``meta``) and
refuses vectors from another model, like simonw/llm's collections do.

Its SQL lives with the concern it serves: ``documents`` (write side), ``generations``
(rebuilding beside the live index, then switching), ``search`` (read side), ``runs``
(sync history), ``multilingual`` (the second, multilingual vector set); ``base``
holds connections and metadata, ``db`` opens SQLite and
``migrations`` creates the schema.
"""

from __future__ import annotations

from ingest.store.sqlite.generations import Generations
from ingest.store.sqlite.multilingual import Multilingual
from ingest.store.sqlite.runs import Runs
from ingest.store.sqlite.search import FTS_WEIGHTS, Search

__all__ = ["FTS_WEIGHTS", "Store"]


class Store(Generations, Search, Multilingual, Runs):
    """Access to one docbot SQLite file. Cheap to share between threads."""
