"""``docbot eval --answers``: what a person reads, judged, not just what retrieval ranks.

Retrieval metrics (``bot/eval/evaluate.py``) say whether the right page is somewhere in
the top 10; a user sees one answer. This runs the real answer path
(:meth:`Answerer.ask`, extractive when no model is configured) over a judged question
set in which some questions have no answer in the docs, and reports:

- abstention rate on the unanswerable questions (the bot should say "not in the docs");
- false-abstention rate on the answerable ones;
- "key fact present": every key fact of the question is in the answer text, over the
  answerable questions it answered (and the mean share of facts, to see near misses);
- "answering page cited": a page that answers is among the cited sources.

The judged set is a JSONL file (``benchmarks/handbook-answers/README.md``): answerable
rows have ``pages`` and ``key_facts`` (a list of facts, each a list of acceptable
alternatives, matched case-insensitively as substrings of the normalised text);
unanswerable rows have ``answerable: false``. The docs folder is indexed through the
Markdown source and the sync pipeline, into ``store`` when given (an existing store is
brought up to date incrementally, so a second run skips the 3-4 minutes of embedding)
or into a temporary one.

Every figure is also reported on the even- and odd-numbered questions separately, so a
gate tuned on one half can be checked on the other.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.answer import Answer, Answerer
from bot.retrieve import Retriever
from ingest.embedding import Embedder
from ingest.errors import InputError
from ingest.sources.markdown import MarkdownSource
from ingest.store import Store
from ingest.sync import Progress, sync_source

SOURCE_NAME = "eval-docs"

_LINK = re.compile(r"!?\[([^\]]*)\]\([^)\s]*\)")
_EMPHASIS = re.compile(r"\*\*|__|\*|`|(?<!\w)_|_(?!\w)")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "\u00a0": " "})
_QUOTE_MARK = re.compile(r"^\s*>\s?", re.MULTILINE)
_CITATION_LINE = re.compile(r"^— \[\d+\].*$", re.MULTILINE)


def normalise(text: str) -> str:
    """Text as a reader sees it (the judged set's own rule): links as their text,
    emphasis and code marks gone, curly quotes straight, whitespace collapsed, lower case."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    text = _LINK.sub(r"\1", text)
    text = _EMPHASIS.sub("", text)
    return re.sub(r"\s+", " ", text).strip().lower()


def answer_body(text: str) -> str:
    """The quoted text of an answer without its quote marks and citation lines, so a
    fact split over two quoted lines still matches and a page title does not count."""
    return normalise(_CITATION_LINE.sub("", _QUOTE_MARK.sub("", text)))


@dataclass(frozen=True)
class JudgedQuestion:
    id: str
    question: str
    answerable: bool
    pages: tuple[str, ...] = ()
    key_facts: tuple[tuple[str, ...], ...] = ()
    kind: str = ""

    @property
    def half(self) -> str:
        """``even`` or ``odd`` by the number in the id (a1 odd, a2 even)."""
        digits = re.sub(r"\D", "", self.id)
        return "even" if digits and int(digits) % 2 == 0 else "odd"


def load_answer_set(path: str | Path) -> list[JudgedQuestion]:
    """Read a judged answer set; :class:`InputError` names the bad line."""
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{file} is not a file; give a judged question set (JSONL)")
    questions: list[JudgedQuestion] = []
    with file.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                answerable = bool(row["answerable"])
                questions.append(
                    JudgedQuestion(
                        id=str(row["id"]),
                        question=str(row["question"]),
                        answerable=answerable,
                        pages=tuple(str(p) for p in row.get("pages") or ()),
                        key_facts=tuple(
                            tuple(str(alt) for alt in fact) for fact in row.get("key_facts") or ()
                        ),
                        kind=str(row.get("kind") or ""),
                    )
                )
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise InputError(
                    f"{file}:{number}: expected a JSON object with id, question, answerable "
                    f"({type(exc).__name__}: {exc})"
                ) from None
    if not questions:
        raise InputError(f"{file}: no questions")
    return questions


@dataclass
class Judged:
    """One question's answer and how it was judged."""

    question: JudgedQuestion
    abstained: bool
    facts_found: int
    cited_pages: list[str]
    text: str

    @property
    def all_facts(self) -> bool:
        return self.facts_found == len(self.question.key_facts)

    @property
    def page_cited(self) -> bool:
        return any(p in self.question.pages for p in self.cited_pages)

    def as_json(self) -> dict[str, Any]:
        q = self.question
        return {
            "id": q.id,
            "question": q.question,
            "answerable": q.answerable,
            "kind": q.kind,
            "abstained": self.abstained,
            "facts": f"{self.facts_found}/{len(q.key_facts)}",
            "page_cited": self.page_cited if q.answerable else None,
            "cited_pages": self.cited_pages,
            "answer": self.text,
        }


def judge(question: JudgedQuestion, answer: Answer) -> Judged:
    body = answer_body(answer.text)
    found = sum(any(normalise(alt) in body for alt in fact) for fact in question.key_facts)
    cited = list(dict.fromkeys(hit.doc_id for _, hit in answer.cited_sources))
    return Judged(question, answer.abstained, found, [] if answer.abstained else cited, answer.text)


def _rate(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def summarise(judged: Sequence[Judged]) -> dict[str, Any]:
    """The four figures (and their counts) over ``judged``."""
    unanswerable = [j for j in judged if not j.question.answerable]
    answerable = [j for j in judged if j.question.answerable]
    answered = [j for j in answerable if not j.abstained]
    facts = sum(len(j.question.key_facts) for j in answered)
    return {
        "unanswerable": len(unanswerable),
        "answerable": len(answerable),
        "abstention_rate": _rate(sum(j.abstained for j in unanswerable), len(unanswerable)),
        "false_abstention_rate": _rate(len(answerable) - len(answered), len(answerable)),
        "key_fact_rate": _rate(sum(j.all_facts for j in answered), len(answered)),
        "fact_share": _rate(sum(j.facts_found for j in answered), facts),
        "page_cited_rate": _rate(sum(j.page_cited for j in answered), len(answered)),
    }


@dataclass
class AnswerReport:
    """What ``docbot eval --answers`` reports; :meth:`as_json` is its ``--json`` shape."""

    judged: list[Judged]
    documents: int
    chunks: int
    index_seconds: float
    answer_seconds: float
    config: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        by_kind: dict[str, dict[str, Any]] = {}
        for kind in sorted({j.question.kind for j in self.judged if j.question.answerable}):
            by_kind[kind] = summarise(
                [j for j in self.judged if j.question.answerable and j.question.kind == kind]
            )
        return {
            "all": summarise(self.judged),
            "even": summarise([j for j in self.judged if j.question.half == "even"]),
            "odd": summarise([j for j in self.judged if j.question.half == "odd"]),
            "by_kind": by_kind,
            "documents": self.documents,
            "chunks": self.chunks,
            "index_seconds": round(self.index_seconds, 2),
            "answer_seconds": round(self.answer_seconds, 2),
            "config": self.config,
        }


@contextmanager
def docs_store(
    docs: str | Path, embedder: Embedder, store_path: str | Path | None, progress: Progress | None
) -> Iterator[tuple[Store, float]]:
    """The docs folder indexed (into ``store_path`` when given, kept and reused; else a
    temporary store), and the seconds indexing took."""
    folder = Path(docs)
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder; --docs takes the folder of Markdown pages")
    with tempfile.TemporaryDirectory(prefix="docbot-answers-") as tmp:
        path = Path(store_path) if store_path else Path(tmp) / "answers.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        store = Store(path)
        try:
            started = time.perf_counter()
            report = sync_source(
                store, MarkdownSource(SOURCE_NAME, folder), embedder, progress=progress
            )
            if report.error:
                raise InputError(f"indexing {folder} failed: {report.error}")
            yield store, time.perf_counter() - started
        finally:
            store.close()


def evaluate_answers(
    questions: Sequence[JudgedQuestion],
    docs: str | Path,
    embedder: Embedder,
    *,
    store_path: str | Path | None = None,
    progress: Progress | None = None,
) -> AnswerReport:
    """Index ``docs``, answer every question offline (extractive), judge each answer."""
    with docs_store(docs, embedder, store_path, progress) as (store, seconds):
        documents, chunks = store.document_count(), store.chunk_count()
        answerer = Answerer(Retriever(store, embedder))
        started = time.perf_counter()
        judged = [judge(q, answerer.ask(q.question).answer) for q in questions]
        answer_seconds = time.perf_counter() - started
    return AnswerReport(
        judged=judged,
        documents=int(documents),
        chunks=int(chunks),
        index_seconds=seconds,
        answer_seconds=answer_seconds,
        config={"embedder": embedder.model_id, "k": answerer.k, "mode": "extractive"},
    )


def write_details(path: str | Path, report: AnswerReport) -> None:
    """One JSON line per question: the answer and how it was judged (for reading)."""
    with Path(path).open("w", encoding="utf-8") as out:
        for j in report.judged:
            out.write(json.dumps(j.as_json(), ensure_ascii=False) + "\n")


def render_answers(report: AnswerReport, questions_path: str) -> None:
    from rich.console import Console
    from rich.table import Table

    data = report.as_json()
    table = Table(title=f"docbot eval --answers {questions_path}")
    table.add_column("figure")
    for half in ("all", "even", "odd"):
        table.add_column(half, justify="right")
    names = [
        ("abstention_rate", "abstains on unanswerable"),
        ("false_abstention_rate", "abstains on answerable"),
        ("key_fact_rate", "all key facts in answer"),
        ("fact_share", "share of key facts in answer"),
        ("page_cited_rate", "answering page cited"),
        ("answerable", "answerable questions"),
        ("unanswerable", "unanswerable questions"),
    ]
    for key, label in names:
        table.add_row(label, *(str(data[h][key]) for h in ("all", "even", "odd")))
    console = Console()
    console.print(table)
    console.print(
        f"{report.documents} documents / {report.chunks} chunks; indexing "
        f"{report.index_seconds:.1f} s, answering {report.answer_seconds:.1f} s",
        markup=False,
        highlight=False,
    )
