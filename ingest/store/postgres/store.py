"""The knowledge base in PostgreSQL: documents, chunks, a weighted ``tsvector`` (GIN)
and pgvector (HNSW), shared by every replica that connects to it.

The same contract as ``ingest/store/sqlite/store.py`` (``ingest/store/contract.py``),
split by the same concerns: ``documents`` (write side), ``generations`` (rebuilding
beside the live index, then switching), ``search`` (read side), ``stats`` (counts and
term rarity), ``runs`` (sync history), ``records`` (event claims, threads, answers,
feedback), ``cache`` (answer-cache rows), ``locks`` (per-source advisory locks);
``base`` holds the pool and metadata, ``db`` opens connections and translates errors,
``migrations`` creates the schema and ``lexical`` makes the lexical index's text.
Connections come from one pool per store; a transaction holds one connection for its
thread until it ends.
"""

from __future__ import annotations

from ingest.store.contract import StoreContract
from ingest.store.postgres.cache import AnswerCacheRows
from ingest.store.postgres.generations import Generations
from ingest.store.postgres.locks import SourceLocks
from ingest.store.postgres.records import Records
from ingest.store.postgres.runs import Runs
from ingest.store.postgres.search import FTS_WEIGHTS, Search
from ingest.store.postgres.stats import Stats

__all__ = ["FTS_WEIGHTS", "PostgresStore"]


class PostgresStore(Generations, Search, Stats, Runs, Records, AnswerCacheRows, SourceLocks):
    """Access to one docbot PostgreSQL database. Cheap to share between threads."""


def _satisfies_contract(store: PostgresStore) -> StoreContract:
    """Never called: mypy checks here that the class provides the whole contract."""
    return store
