"""The knowledge base: where documents, chunks and vectors are kept and searched.

``sqlite/`` is the embedded backend (one file, FTS5 + sqlite-vec).
"""

from ingest.store.sqlite.store import Store, SyncRun, VectorCodes, binary_code, coarse_pool

__all__ = ["Store", "SyncRun", "VectorCodes", "binary_code", "coarse_pool"]
