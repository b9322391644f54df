"""What script a text is written in, and word pieces for scripts without spaces.

FTS5's ``unicode61`` tokenizer splits on spaces and punctuation, which serves
Latin, Greek, Cyrillic, Arabic and Hebrew text. Chinese and Japanese (and Korean
words with attached particles) are written without spaces between words, so a
whole run of ideographs would become one token that no query matches. For those
scripts we index overlapping character bigrams (``東京都`` -> ``東京 京都``), the
approach of Lucene's CJK analyzer: a two-character word, the most common length,
is found, and BM25 ranks passages by how many of the query's bigrams they hold.
"""

from __future__ import annotations

import re
import unicodedata

_CJK_RANGES = (
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3130, 0x318F),  # Hangul compatibility Jamo
    (0x31F0, 0x31FF),  # Katakana extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width Katakana
    (0x20000, 0x2FA1F),  # CJK extensions B-F, compatibility supplement
)

_CJK_CLASS = "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in _CJK_RANGES)
_CJK_RUN = re.compile(f"[{_CJK_CLASS}\u30fc]+")  # \u30fc: the long-vowel mark ー


def is_cjk(char: str) -> bool:
    code = ord(char)
    return any(lo <= code <= hi for lo, hi in _CJK_RANGES)


def latin_share(text: str) -> float:
    """Share of the letters in ``text`` that are Latin (1.0 when it has no letters)."""
    letters = latin = 0
    for char in text:
        if not char.isalpha():
            continue
        letters += 1
        if char.isascii() or unicodedata.name(char, "").startswith("LATIN"):
            latin += 1
    return latin / letters if letters else 1.0


def has_cjk(text: str) -> bool:
    return _CJK_RUN.search(text) is not None


def cjk_bigrams(text: str) -> list[str]:
    """Overlapping bigrams of each run of CJK characters (a lone character stays
    a unigram), in order, repeats kept (they count as term frequency)."""
    grams: list[str] = []
    for run in _CJK_RUN.findall(unicodedata.normalize("NFKC", text)):
        if len(run) == 1:
            grams.append(run)
        else:
            grams.extend(run[i : i + 2] for i in range(len(run) - 1))
    return grams
