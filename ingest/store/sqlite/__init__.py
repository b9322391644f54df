"""The embedded backend: one SQLite file with FTS5 and sqlite-vec."""
