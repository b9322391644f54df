"""The knowledge base: where documents, chunks and vectors are kept and searched.

``sqlite/`` is the embedded backend (one file, FTS5 + sqlite-vec); ``codes`` (the
coarse vector pass) and ``history`` (sync-run values) are shared by every backend.
"""

from ingest.store.codes import VectorCodes, binary_code, coarse_pool
from ingest.store.history import SyncRun
from ingest.store.sqlite.store import Store

__all__ = ["Store", "SyncRun", "VectorCodes", "binary_code", "coarse_pool"]
