"""Extractive answers (no chat model configured): the sentences of the best passages
that cover the question, quoted verbatim and linked."""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.retrieve import fts_query
from ingest.models import Hit

_BOUNDARY = re.compile(r"(?<=[.!?])[ \t]+(?=[A-Z0-9`*\[(\"'])|\n")


_LIST_MARK = re.compile(r"\s*(\d+[.)]|[-*+])")


def _spans(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of sentences and lines in ``text``."""
    spans, start = [], 0
    for match in _BOUNDARY.finditer(text):
        line_start = text.rfind("\n", 0, match.start()) + 1
        if match.group() != "\n" and _LIST_MARK.fullmatch(text[line_start : match.start()]):
            continue  # "6. **Bold**" is a list item, not the end of a sentence
        if text[start : match.start()].strip():
            spans.append((start, match.start()))
        start = match.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


def best_passage(question: str, text: str, max_chars: int = 420) -> str:
    """The run of consecutive sentences of ``text`` that best covers the question,
    cut verbatim from the text (lists, code and emphasis stay intact)."""
    if len(text) <= max_chars:
        return text.strip()
    terms = {t.strip('"') for t in fts_query(question).split(" OR ") if t}
    spans = _spans(text)
    if not spans:
        return text[:max_chars].strip()

    def covered(span: tuple[int, int]) -> set[str]:
        words = set(re.findall(r"\w+", text[span[0] : span[1]].lower()))
        return {
            t
            for t in terms
            if t in words or (len(t) > 5 and any(w.startswith(t[:5]) for w in words))
        }

    # The window covering the most distinct question terms wins; among equals the
    # earliest, since procedures and definitions start at the top of a section.
    found = [covered(span) for span in spans]
    best, best_score, best_end = 0, -1, 1
    for i in range(len(spans)):
        terms_here: set[str] = set()
        j = i
        while j < len(spans) and spans[j][1] - spans[i][0] <= max_chars:
            terms_here |= found[j]
            j += 1
        if len(terms_here) > best_score:
            best, best_score, best_end = i, len(terms_here), max(j, i + 1)
    while best > 0 and text[spans[best][0] : spans[best][0] + 1] in (" ", "\t"):
        best -= 1  # a wrapped continuation line: start at its list item instead
    start, end = spans[best][0], spans[best_end - 1][1]
    passage = text[start:end].strip()
    if len(passage) > max_chars:
        passage = passage[:max_chars].rsplit(" ", 1)[0] + " …"
    if "```" in passage and passage.count("```") % 2:
        passage += "\n```"
    return passage


def extractive_answer(question: str, hits: Sequence[Hit]) -> str:
    """Quoted passages with links, labelled as quotes (no model configured)."""
    parts = ["Here is what the docs say (quoted passages; no language model is configured):"]
    for n, hit in enumerate(hits, start=1):
        passage = best_passage(question, hit.text, max_chars=700 if n == 1 else 420)
        quoted = "\n".join(f"> {line}" if line.strip() else ">" for line in passage.splitlines())
        parts.append(f"{quoted}\n— [{n}] [{hit.section}]({hit.link})")
    return "\n\n".join(parts)
