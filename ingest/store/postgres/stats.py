"""What the bot reads about the corpus itself in the PostgreSQL store: counts, recent
titles, and how many chunks hold a word (the rarity behind the abstention gate,
``bot/evidence.py``).

Words are matched as the lexical search matches them: folded (``lexical.py``), then
``phraseto_tsquery`` with the store's text configuration (a term of several words is one
phrase, as the contract says), against the chunks' ``tsv``. A term of one lexeme is
counted from ``chunk_terms`` (``migrations.m003_chunk_terms``) instead of through the
GIN index: at 1M chunks a common word's count read a hundred thousand rows.
A word the configuration drops as a stop word ("here", "about") tells nothing about a
passage, so it counts as held by every chunk (and every text), never as rare.
"""

from __future__ import annotations

from collections.abc import Sequence

from ingest.store.postgres.base import PostgresBase
from ingest.store.postgres.lexical import fold
from ingest.store.rows import NearChunk


class Stats(PostgresBase):
    """Counts and term statistics of the live index."""

    def has_chunks(self) -> bool:
        return self.db.row("SELECT 1 FROM chunks LIMIT 1") is not None

    def chunk_count(self) -> int:
        row = self.db.row("SELECT count(*) FROM chunks")
        return int(row[0]) if row else 0

    def document_count(self) -> int:
        row = self.db.row("SELECT count(*) FROM documents")
        return int(row[0]) if row else 0

    def recent_titles(self, limit: int) -> list[str]:
        """Titles of unrestricted documents, most recently updated first."""
        rows = self.db.rows(
            "SELECT title FROM documents WHERE access IS NULL "  # never a restricted title
            "ORDER BY coalesce(updated_at, to_char(synced_at AT TIME ZONE 'UTC', "
            "'YYYY-MM-DD\"T\"HH24:MI:SS.US')) DESC, id DESC LIMIT %s",
            (limit,),
        )
        return [r[0] for r in rows]

    def _stop_words(self, words: Sequence[str]) -> set[str]:
        rows = self.db.rows(
            "SELECT w FROM unnest(%s::text[]) AS w "
            "WHERE numnode(phraseto_tsquery(%s::regconfig, w)) = 0",
            (list(words), self.text_config),
        )
        return {r[0] for r in rows}

    def term_frequencies(
        self, terms: Sequence[str], among: Sequence[int]
    ) -> tuple[dict[str, int], dict[int, set[str]]]:
        """({term: chunks of the whole index holding it}, {chunk id of ``among``: the
        terms it holds}). Terms are plain words (no query syntax)."""
        folded = {term: fold(term) for term in terms}
        stop = self._stop_words(list(folded.values()))
        ids = sorted({int(i) for i in among})
        covered: dict[int, set[str]] = {cid: set() for cid in ids}
        counts: dict[str, int] = {}
        total = self.chunk_count() if stop else 0
        for term, word in folded.items():
            if word in stop or not word.strip():
                counts[term] = total
                for cid in ids:
                    covered[cid].add(term)
                continue
            query = "phraseto_tsquery(%s::regconfig, %s)"
            row = self.db.row(  # one lexeme: its kept count, the same number as a count
                f"SELECT CASE WHEN numnode({query}) = 1 THEN (SELECT coalesce(sum(x.n), 0) "
                "FROM (SELECT df AS n FROM chunk_terms WHERE field = 'tsv' AND lexeme = k.l "
                "UNION ALL SELECT delta FROM chunk_term_changes WHERE field = 'tsv' "
                "AND lexeme = k.l) x) ELSE (SELECT count(*) FROM chunks "
                f"WHERE tsv @@ {query}) END "
                "FROM (SELECT (tsvector_to_array(to_tsvector(%s::regconfig, %s)))[1] AS l) k",
                (self.text_config, word) * 3,
            )
            counts[term] = int(row[0]) if row else 0
            if not ids or counts[term] == 0:
                continue
            for (cid,) in self.db.rows(
                f"SELECT id FROM chunks WHERE id = ANY(%s) AND tsv @@ {query}",
                (ids, self.text_config, word),
            ):
                covered[int(cid)].add(term)
        return counts, covered

    def previous_chunk_text(self, chunk_id: int) -> str | None:
        """The text of the chunk just before ``chunk_id`` in its document, if any."""
        row = self.db.row(
            "SELECT p.text FROM chunks c JOIN chunks p ON p.document_id = c.document_id "
            "AND p.ordinal = c.ordinal - 1 WHERE c.id = %s ORDER BY p.id LIMIT 1",
            (chunk_id,),
        )
        return None if row is None else str(row[0])

    def chunks_around(self, chunk_id: int, before: int, after: int) -> list[NearChunk]:
        """The chunks of ``chunk_id``'s document within ``before`` / ``after`` ordinals
        of it, itself included, in document order."""
        rows = self.db.rows(
            "SELECT DISTINCT ON (n.ordinal) n.id, n.ordinal, n.heading_path, n.text "
            "FROM chunks c JOIN chunks n ON n.document_id = c.document_id "
            "AND n.ordinal BETWEEN c.ordinal - %s AND c.ordinal + %s WHERE c.id = %s "
            "ORDER BY n.ordinal, n.id",
            (before, after, chunk_id),
        )
        return [NearChunk(int(i), int(o), tuple(h), str(t)) for i, o, h, t in rows]

    def texts_holding(self, texts: Sequence[str], terms: Sequence[str]) -> dict[str, set[int]]:
        """{term: indexes of ``texts`` that hold it}, matched the way the lexical search
        matches (computed by the server; the stored index is not touched)."""
        bodies = [fold(text) for text in texts]
        found: dict[str, set[int]] = {}
        stop = self._stop_words([fold(t) for t in terms]) if terms else set()
        for term in terms:
            word = fold(term)
            if word in stop or not word.strip():
                found[term] = set(range(len(texts)))
                continue
            rows = self.db.rows(
                "SELECT i - 1 FROM unnest(%s::text[]) WITH ORDINALITY AS t(body, i) "
                "WHERE to_tsvector(%s::regconfig, body) @@ phraseto_tsquery(%s::regconfig, %s)",
                (bodies, self.text_config, self.text_config, word),
            )
            found[term] = {int(r[0]) for r in rows}
        return found
