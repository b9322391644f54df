"""The shared backend: PostgreSQL with pgvector (HNSW) and full-text search, for several
replicas on one knowledge base. Imported only when ``DOCBOT_DATABASE_URL`` names a
PostgreSQL server, so the embedded default needs none of its packages."""

from ingest.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
