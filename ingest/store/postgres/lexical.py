"""The lexical index's text, on the way in and on the way out, made the same way.

Documents: each chunk's ``tsv`` is its title, headings and body, each folded
(:func:`fold`) and weighted A, B and C, as the FTS5 columns are weighted
(``FTS_WEIGHTS``); ``cjk`` holds its Chinese/Japanese/Korean character bigrams under the
``simple`` configuration (``ingest/languages.py``). Accents are folded here, in Python,
because the ``unaccent`` extension is not on every server; the text configuration then
lowercases, drops stop words and stems.

Questions: the store is given an FTS5 MATCH expression (quoted terms joined by ``OR``,
``bot/retrieve.py``'s ``fts_query``) or plain text. Only its word tokens survive
(:func:`terms`): they go to the server as one bound array, and each becomes a
``plainto_tsquery`` there (``search.py`` scores them one by one). So no user text can be
tsquery syntax (``&``, ``|``, ``!``, ``<->``, ``:*``, quotes, parentheses) or raise a
syntax error; a word that is only a stop word becomes an empty query and is skipped.
"""

from __future__ import annotations

import re
import unicodedata

MAX_TERMS = 64
_QUOTED = re.compile(r'"((?:[^"]|"")*)"')
_WORD = re.compile(r"\w+", re.UNICODE)
_OPERATORS = frozenset({"OR", "AND", "NOT", "NEAR"})


def fold(text: str) -> str:
    """Lower-case ``text`` with diacritics removed (é -> e), and without NUL characters,
    which PostgreSQL text cannot hold."""
    decomposed = unicodedata.normalize("NFKD", text.replace("\x00", " "))
    kept = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", kept).lower()


def terms(match: str) -> list[str]:
    """The distinct word tokens of an FTS5 MATCH expression or of plain text, folded."""
    quoted = [q.replace('""', '"') for q in _QUOTED.findall(match)]
    words: list[str] = []
    for part in quoted or [match]:
        for token in _WORD.findall(part):
            if not quoted and token in _OPERATORS:  # FTS5 syntax in unquoted text
                continue
            word = fold(token).strip("_")
            if word and word not in words:
                words.append(word)
    return words[:MAX_TERMS]


TSV_SQL = (
    "setweight(to_tsvector(%s::regconfig, %s), 'A') || "
    "setweight(to_tsvector(%s::regconfig, %s), 'B') || "
    "setweight(to_tsvector(%s::regconfig, %s), 'C')"
)
"""The weighted ``tsvector`` of (config, title, config, heading, config, body)."""
