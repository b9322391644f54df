"""What script a text is written in, and word pieces for scripts without spaces.

FTS5's ``unicode61`` tokenizer splits on spaces and punctuation, which serves
Latin, Greek, Cyrillic, Arabic and Hebrew text. Chinese and Japanese (and Korean
words with attached particles) are written without spaces between words, so a
whole run of ideographs would become one token that no query matches. For those
scripts we index overlapping character bigrams (``東京都`` -> ``東京 京都``), the
approach of Lucene's CJK analyzer: a two-character word, the most common length,
is found, and BM25 ranks passages by how many of the query's bigrams they hold.

Which language a question is in decides which embedder reads it
(``bot/retrieve.py``): :func:`is_english` uses py3langid (langid.py's maintained
fork, BSD-3, its model inside the wheel, numpy only, ~0.15 ms a question).
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from typing import Any

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


# --- which language a question or passage is in -------------------------------------

DETECTABLE_LANGUAGES = (
    *("ar", "de", "en", "es", "fr", "it", "ja", "ko"),
    *("nl", "pl", "pt", "ru", "th", "tr", "zh"),
)
"""The languages the bundled multilingual embedder was trained on (Universal Sentence
Encoder multilingual v3); detection chooses among these only, so a short English
question cannot be taken for, say, Afrikaans."""
CONFIDENT = 0.9
"""A Latin-script text counts as another language than English only when py3langid
gives that language at least this probability. On the 124 English questions of
dbpedia and the handbook set, 6 are classed as another language, all below 0.77
("keith urban": de 0.76, "YMCA Tampa": pt 0.18), while German and Spanish questions
of five words score 0.95-1.0 (docs/BENCHMARKS.md, "Languages")."""

_IDENTIFIER: object | None = None
_IDENTIFIER_LOCK = threading.Lock()


def _identifier() -> Any:
    """py3langid's identifier (its model ships in the wheel; loaded once, ~0.2 s)."""
    global _IDENTIFIER
    with _IDENTIFIER_LOCK:
        if _IDENTIFIER is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
            identifier.set_languages(list(DETECTABLE_LANGUAGES))
            _IDENTIFIER = identifier
        return _IDENTIFIER


@functools.lru_cache(maxsize=1024)
def detect_language(text: str) -> tuple[str, float]:
    """(ISO 639-1 code, probability) of ``text`` among :data:`DETECTABLE_LANGUAGES`.

    Cached: one question is classified by the retriever's path choice
    (:func:`is_english`), its lexical weighting and the answer's name checks, and a
    pure function of the text need not run three times."""
    lang, probability = _identifier().classify(text)
    return str(lang), float(probability)


def is_english(text: str) -> bool:
    """Whether ``text`` should take the English path (the bundled English embedder).

    Mostly non-Latin letters: not English. Latin script: English unless py3langid is
    confident (:data:`CONFIDENT`) it is another language; an unsure call keeps the
    English path, which is what every question took before."""
    if not any(char.isalpha() for char in text):
        return True
    if latin_share(text) < 0.5:
        return False
    lang, probability = detect_language(text)
    return lang == "en" or probability < CONFIDENT


def chunk_language(text: str) -> str:
    """A passage's language as the multilingual vector set records it: ``en`` for
    what :func:`is_english` takes as English, else the detected code (its first 600
    characters decide: enough for langid, and a long table costs nothing more)."""
    head = text[:600]
    return "en" if is_english(head) else detect_language(head)[0]
