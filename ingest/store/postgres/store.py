"""The knowledge base in PostgreSQL: documents, chunks, a weighted ``tsvector`` (GIN)
and pgvector (HNSW), shared by every replica that connects to it.

The same contract as ``ingest/store/sqlite/store.py``, split by the same concerns:
``documents`` (write side), ``generations`` (rebuilding beside the live index, then
switching), ``search`` (read side), ``runs`` (sync history); ``base`` holds the pool and
metadata, ``db`` opens connections and translates errors, ``migrations`` creates the
schema and ``lexical`` makes the lexical index's text. Connections come from one pool
per store; a transaction holds one connection for its thread until it ends.
"""

from __future__ import annotations

from ingest.store.postgres.generations import Generations
from ingest.store.postgres.runs import Runs
from ingest.store.postgres.search import FTS_WEIGHTS, Search

__all__ = ["FTS_WEIGHTS", "PostgresStore"]


class PostgresStore(Generations, Search, Runs):
    """Access to one docbot PostgreSQL database. Cheap to share between threads."""
