"""The knowledge base: one SQLite file with documents, chunks, FTS5 and sqlite-vec.

Readers (the bot answering) and the writer (sync) share the file through WAL, so
questions are answered from the last committed state while a sync runs. Each
thread gets its own connection. Every document is replaced in one transaction:
a sync that dies half-way leaves each document either fully old or fully new.

The store remembers which embedding model built its vectors (``meta``) and
refuses vectors from another model, like simonw/llm's collections do.

Its SQL lives with the concern it serves: ``documents`` (write side), ``generations``
(rebuilding beside the live index, then switching), ``search`` (read side), ``stats``
(counts and term rarity for the bot), ``runs`` (sync history), ``records`` (the bot's
event claims, threads, answers and feedback), ``cache`` (answer-cache rows) and
``locks`` (per-source sync locks), ``export`` (reading it out whole for ``docbot
migrate``); ``base`` holds connections and metadata, ``db``
opens SQLite and ``migrations`` creates the schema. What any backend must provide is
``ingest/store/contract.py``.
"""

from __future__ import annotations

from ingest.store.sqlite.cache import AnswerCacheRows
from ingest.store.sqlite.export import Export
from ingest.store.sqlite.generations import Generations
from ingest.store.sqlite.locks import SourceLocks
from ingest.store.sqlite.records import Records
from ingest.store.sqlite.runs import Runs
from ingest.store.sqlite.search import FTS_WEIGHTS, Search
from ingest.store.sqlite.stats import Stats

__all__ = ["FTS_WEIGHTS", "Store"]


class Store(Generations, Search, Stats, Runs, Records, AnswerCacheRows, SourceLocks, Export):
    """Access to one docbot SQLite file. Cheap to share between threads."""

    @property
    def backend(self) -> str:
        """Which database this is (``docbot status`` names it)."""
        return "sqlite"
