"""Do the passages found actually address the question? The abstention gate's evidence.

A cosine floor cannot tell "the docs answer this" from "the docs talk about things
like this": on a company's own docs every question shares domain vocabulary with some
page (issue 12: best cosine of unanswerable questions median 0.58, answerable 0.72).
What separates them is whether the question's *distinctive* words — the ones rare in
this corpus, or absent from it ("Jaeger", "Vault", "Berlin") — are in the passages
that would be shown. A word's rarity is read from the store's own FTS5 index (how
many chunks match it, with the same porter stemming the search uses), so it is
calibrated to each corpus without training, and the same words matched in a passage
are matched the way BM25 matches them.

:func:`weigh` scores each passage by the share of the question's inverse document
frequency (IDF) mass it covers; the gate in ``bot/answer.py`` combines that with the
dense similarity relative to the embedder's own floor. The figures behind the
thresholds are in docs/BENCHMARKS.md ("Answers").
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.retrieve import fts_query
from ingest.models import Hit
from ingest.store import Store

QUESTION_WORDS = frozenset(
    """about actually after again all also am any anyone anything around back been before
    being both but could did doing each else ever every few get gets getting give go going
    got had has have having here him his her hers into just know let like lot make many
    may might more most much must need needs new no not now off one only other out over
    own please same say see she some someone something still such supposed take tell than
    them then these they thing things those through too two under up us use used using
    very want way well were whom would yes yet""".split()  # noqa: SIM905
)
"""Words of how people ask, not of what they ask about: they carry no evidence either
way (a page need not say "actually" to answer), so they are left out of the terms."""

RARE_SHARE = 0.001
"""A term in at most this share of the corpus's chunks (0.1%: 9 of the handbook's 9,306)
is distinctive, and so is one in none."""
ANCHOR_SHARE = 0.002
"""A term in at most this share of the chunks (or in one chunk, in a small corpus) that a
passage found does contain anchors the answer to the question's subject: the answer is
then given, naming what is missing, instead of abstaining."""
MISSING_IDF = 0.3
"""Abstain when distinctive terms that no passage found contains carry at least this
share of the question's IDF mass, and no passage holds an anchoring term. The three
values were chosen on the even-numbered questions of benchmarks/handbook-answers and
checked on the odd ones (docs/BENCHMARKS.md, "Answers")."""


_TOKEN = re.compile(r'"([^"]+)"')


def content_terms(question: str) -> list[str]:
    """The question's words as the search sees them, less the asking words."""
    return [
        t
        for t in _TOKEN.findall(fts_query(question))
        if (t not in QUESTION_WORDS and not t.isdigit()) or (t.isdigit() and len(t) >= 3)
    ]


@dataclass
class Evidence:
    """The question's terms, their rarity in the corpus, and which passages hold them."""

    terms: list[str]
    chunk_counts: dict[str, int]
    """How many chunks of the whole store match each term (0: the corpus never uses it)."""
    total_chunks: int
    covered: dict[int, set[str]] = field(default_factory=dict)
    """Per chunk id of the passages weighed: the question terms it matches."""

    def idf(self, term: str) -> float:
        """Smoothed inverse chunk frequency, 0 for a word in every chunk, largest for
        a word in none."""
        n = self.chunk_counts.get(term, 0)
        return math.log((self.total_chunks + 1) / (n + 1))

    @property
    def max_idf(self) -> float:
        return math.log(self.total_chunks + 1)

    def absent(self) -> list[str]:
        """Terms no chunk of the corpus contains."""
        return [t for t in self.terms if self.chunk_counts.get(t, 0) == 0]

    def distinctive(self, share: float) -> list[str]:
        """Terms in at most ``share`` of all chunks (absent ones included), rarest first."""
        limit = share * self.total_chunks
        rare = [t for t in self.terms if self.chunk_counts.get(t, 0) <= limit]
        return sorted(rare, key=lambda t: self.chunk_counts.get(t, 0))

    def coverage(self, chunk_ids: Sequence[int]) -> float:
        """Share of the question's IDF mass matched by the union of these passages."""
        total = sum(self.idf(t) for t in self.terms)
        if total <= 0:
            return 1.0
        held: set[str] = set()
        for cid in chunk_ids:
            held |= self.covered.get(cid, set())
        return sum(self.idf(t) for t in held) / total

    def missing_share(self, chunk_ids: Sequence[int], share: float) -> float:
        """Share of the question's IDF mass in distinctive terms none of these
        passages contains: the gate's measure of what the passages leave out."""
        total = sum(self.idf(t) for t in self.terms)
        if total <= 0:
            return 0.0
        return sum(self.idf(t) for t in self.missing(chunk_ids, share)) / total

    def anchored(self, chunk_ids: Sequence[int], share: float) -> list[str]:
        """Terms in at most ``share`` of all chunks (at least: in one) that these
        passages contain: evidence they are about what the question is about."""
        limit = max(share * self.total_chunks, 1)
        held: set[str] = set()
        for cid in chunk_ids:
            held |= self.covered.get(cid, set())
        return [t for t in self.terms if t in held and self.chunk_counts.get(t, 0) <= limit]

    def looked_for(self, limit: int = 4) -> list[str]:
        """The terms to name when nothing answers: the rarest in the corpus first."""
        return sorted(self.terms, key=lambda t: self.chunk_counts.get(t, 0))[:limit]

    def missing(self, chunk_ids: Sequence[int], share: float) -> list[str]:
        """Distinctive terms none of these passages contains, rarest first."""
        held: set[str] = set()
        for cid in chunk_ids:
            held |= self.covered.get(cid, set())
        return [t for t in self.distinctive(share) if t not in held]


def weigh(store: Store, question: str, hits: Sequence[Hit]) -> Evidence:
    """The evidence for ``question`` in ``hits``, read from the store's FTS index."""
    terms = list(dict.fromkeys(content_terms(question)))
    conn = store.conn
    total = int(conn.execute("SELECT count(*) FROM chunks").fetchone()[0])
    counts: dict[str, int] = {}
    covered: dict[int, set[str]] = {h.chunk_id: set() for h in hits}
    ids = list(covered)
    marks = ",".join("?" * len(ids))
    for term in terms:
        match = f'"{term}"'
        counts[term] = int(
            conn.execute(
                "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (match,)
            ).fetchone()[0]
        )
        if not ids or counts[term] == 0:
            continue
        rows = conn.execute(
            f"SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ? AND rowid IN ({marks})",
            (match, *ids),
        )
        for (rowid,) in rows:
            covered[int(rowid)].add(term)
    return Evidence(terms=terms, chunk_counts=counts, total_chunks=total, covered=covered)


_LEAD_IN = re.compile(r"^\s*(#{1,6}\s.+|\*\*[^*]+\*\*:?|__[^_]+__:?|.*:)\s*$")


def lead_in(store: Store, hit: Hit) -> str:
    """The line that gives a passage its meaning when the chunker cut it from it: for a
    chunk that starts inside a list, the previous chunk's last line if it introduces the
    list ("**Do not:**", "## Steps", "... as follows:"); else ''."""
    first = next((line for line in hit.text.splitlines() if line.strip()), "")
    if not re.match(r"\s*(\d+[.)]|[-*+])\s", first):
        return ""
    row = store.conn.execute(
        "SELECT p.text FROM chunks c JOIN chunks p ON p.document_id = c.document_id "
        "AND p.ordinal = c.ordinal - 1 WHERE c.id = ?",
        (hit.chunk_id,),
    ).fetchone()
    if row is None:
        return ""
    last = next((line for line in reversed(str(row[0]).splitlines()) if line.strip()), "")
    return last.strip() if _LEAD_IN.match(last) and len(last) <= 200 else ""
