"""The judged answer set (benchmarks/handbook-answers) stays well formed and true to the
handbook it was written from.

The set is only worth something if its judgments can be re-checked without trusting
whoever wrote them: every key fact of an answerable question must be found in one of
its pages, every evidence quote must be on one of them, and every term an unanswerable
question calls absent must be absent from the whole corpus. These tests do that check,
so a renamed page or an edited handbook shows up as a failing question, not as a silently
wrong score.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
ANSWERS = REPO / "benchmarks" / "handbook-answers" / "questions.jsonl"
RETRIEVAL_QUERIES = REPO / "benchmarks" / "handbook-qa" / "queries.jsonl"

KINDS = {"number", "procedure", "list", "who", "definition", "policy"}
UNANSWERABLE_TYPES = {"absent_topic", "missing_fact"}
MIN_ANSWERABLE, MIN_UNANSWERABLE = 60, 40
MIN_PER_KIND = {"procedure": 10, "number": 10, "list": 8}
ANSWERABLE_KEYS = {"id", "question", "answerable", "pages", "key_facts", "kind", "evidence"}
UNANSWERABLE_KEYS = {
    "id",
    "question",
    "answerable",
    "unanswerable_type",
    "distinctive_terms",
    "absent_terms",
    "present_but_insufficient",
    "why",
    "near_pages",
}
EVIDENCE_SEPARATOR = " … "  # joins quotes taken from different places on the pages

_LINK = re.compile(r"!?\[([^\]]*)\]\([^)\s]*\)")  # [text](url) reads as its text
# Emphasis and code marks: ** __ * ` and an underscore at a word's edge (_italic_), but
# not one inside a word (hide_sidebar), so identifiers survive.
_EMPHASIS = re.compile(r"\*\*|__|\*|`|(?<!\w)_|_(?!\w)")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "\u00a0": " "})


def normalise(text: str) -> str:
    """Text as a reader sees it, so a fact quoted from the rendered page still matches
    the Markdown source: links read as their text, emphasis marks gone, curly quotes
    straight, whitespace collapsed, case folded."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    text = _LINK.sub(r"\1", text)
    text = _EMPHASIS.sub("", text)
    return re.sub(r"\s+", " ", text).strip().lower()


def _questions() -> list[dict[str, Any]]:
    lines = ANSWERS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(s, str) and s.strip() for s in value)


def _doc_id_ok(doc_id: object) -> bool:
    return (
        isinstance(doc_id, str)
        and doc_id.startswith("content/")
        and doc_id.endswith(".md")
        and ".." not in doc_id
    )


def test_the_file_is_well_formed() -> None:
    questions = _questions()
    ids = [q["id"] for q in questions]
    assert len(ids) == len(set(ids)), "duplicate ids"
    texts = [normalise(q["question"]) for q in questions]
    assert len(texts) == len(set(texts)), "duplicate questions"
    for q in questions:
        assert isinstance(q["question"], str) and q["question"].strip(), q["id"]
        assert isinstance(q["answerable"], bool), q["id"]
        if q["answerable"]:
            assert set(q) == ANSWERABLE_KEYS, q["id"]
            assert re.fullmatch(r"a[1-9][0-9]*", q["id"]), q["id"]
            assert q["kind"] in KINDS, q["id"]
            assert q["pages"] and all(_doc_id_ok(p) for p in q["pages"]), q["id"]
            assert len(q["pages"]) == len(set(q["pages"])), q["id"]
            assert q["key_facts"] and all(_strings(f) and f for f in q["key_facts"]), q["id"]
            assert isinstance(q["evidence"], str) and q["evidence"].strip(), q["id"]
        else:
            assert set(q) == UNANSWERABLE_KEYS, q["id"]
            assert re.fullmatch(r"u[1-9][0-9]*", q["id"]), q["id"]
            assert q["unanswerable_type"] in UNANSWERABLE_TYPES, q["id"]
            assert _strings(q["distinctive_terms"]) and q["distinctive_terms"], q["id"]
            assert _strings(q["absent_terms"]) and _strings(q["present_but_insufficient"])
            assert q["absent_terms"] or q["present_but_insufficient"], q["id"]
            if q["unanswerable_type"] == "absent_topic":
                assert q["absent_terms"], f"{q['id']}: an absent topic names its absent terms"
            else:
                assert q["present_but_insufficient"], f"{q['id']}: name what the pages do say"
            assert "grep" in q["why"], f"{q['id']}: record the grep that was run"
            assert q["near_pages"] and all(_doc_id_ok(p) for p in q["near_pages"]), q["id"]

    answerable = [q for q in questions if q["answerable"]]
    assert len(answerable) >= MIN_ANSWERABLE
    assert len(questions) - len(answerable) >= MIN_UNANSWERABLE
    kinds = Counter(q["kind"] for q in answerable)
    for kind, least in MIN_PER_KIND.items():
        assert kinds[kind] >= least, f"only {kinds[kind]} {kind} questions"


def test_no_question_is_reused_from_the_retrieval_set() -> None:
    reused = {
        normalise(json.loads(line)["text"])
        for line in RETRIEVAL_QUERIES.read_text(encoding="utf-8").splitlines()
        if line.strip()
    }
    assert not [q["id"] for q in _questions() if normalise(q["question"]) in reused]


@cache
def _page(handbook: Path, doc_id: str) -> str:
    return normalise((handbook / doc_id).read_text(encoding="utf-8"))


@pytest.fixture
def handbook(shared_data: Path) -> Path:
    root = shared_data / "markdown" / "sourcegraph-handbook"
    if not (root / "content").is_dir():
        pytest.skip(f"needs the Sourcegraph handbook at {root}")
    return root


def test_every_key_fact_and_quote_is_on_the_cited_pages(handbook: Path) -> None:
    problems = []
    for q in (q for q in _questions() if q["answerable"]):
        missing = [p for p in q["pages"] if not (handbook / p).is_file()]
        if missing:
            problems.append(f"{q['id']}: no such page {missing}")
            continue
        pages = [_page(handbook, p) for p in q["pages"]]
        for fact in q["key_facts"]:
            if not any(normalise(alt) in page for alt in fact for page in pages):
                problems.append(f"{q['id']}: key fact {fact} is on none of its pages")
        for quote in q["evidence"].split(EVIDENCE_SEPARATOR):
            if not any(normalise(quote) in page for page in pages):
                problems.append(f"{q['id']}: evidence not found: {quote[:80]!r}")
    assert not problems, "\n".join(problems)


def test_what_unanswerable_questions_call_absent_is_absent(handbook: Path) -> None:
    corpus = sorted(handbook.rglob("*.md"))  # the 884 pages docbot indexes, README included
    assert len(corpus) == 884
    raw = [path.read_text(encoding="utf-8") for path in corpus]
    texts = [t.lower() for t in raw] + [normalise(t) for t in raw]
    problems = []
    for q in (q for q in _questions() if not q["answerable"]):
        missing = [p for p in q["near_pages"] if not (handbook / p).is_file()]
        if missing:
            problems.append(f"{q['id']}: no such near page {missing}")
            continue
        for term in q["absent_terms"]:
            hits = sum(normalise(term) in t or term.lower() in t for t in texts)
            if hits:
                problems.append(f"{q['id']}: {term!r} is in the corpus")
        near = [_page(handbook, p) for p in q["near_pages"]]
        for term in q["present_but_insufficient"]:
            if not any(normalise(term) in page for page in near):
                problems.append(f"{q['id']}: {term!r} is on none of its near pages")
    assert not problems, "\n".join(problems)
