"""From a question (and its thread) to an answer with cited sources.

One code path for every surface: ``docbot ask``, Slack mentions, ``/ask``, DMs,
thread follow-ups and ``POST /api/ask`` all call :meth:`Answerer.ask`, which
validates the question, retrieves, and returns an :class:`AnswerStream` whose
sources are known at once and whose text can be streamed.

Three ways to answer:
- ``llm``: a chat model gets numbered sources within a token budget, is told to
  cite them as [n] and to say when they do not contain the answer;
- ``extractive`` (no model configured): the most relevant sentences of the best
  passages, quoted and linked, labelled as quotes;
- abstain: nothing relevant was found; say so and list the closest pages.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.llm import LLM, Message, Usage
from bot.retrieve import Retriever, SearchResult, fts_query
from ingest.errors import DocbotError, InputError, LLMError
from ingest.models import Hit

MAX_QUESTION_CHARS = 4000
HISTORY_TURNS = 6
CHARS_PER_TOKEN = 4  # a conservative average for English prose and code
NOT_FOUND = "I couldn't find this in the docs."
EMPTY_INDEX = "I have no documents yet — an admin needs to run `docbot sync`."

SYSTEM_PROMPT = """You are docbot, a helpful assistant that answers questions from the \
company's internal documentation.
Answer using ONLY the numbered sources in the user's message. Cite every fact with the \
number of its source in square brackets, like [1] or [2][3].
If the sources do not contain the answer, reply exactly: "I couldn't find this in the docs." \
and then, if useful, one sentence on what the sources do cover. Never guess or use outside \
knowledge. Be concise: a few sentences or a short list. Use Markdown."""

CONDENSE_PROMPT = """Rewrite the user's last message as a standalone question that can be \
understood without the conversation. Keep names and terms exactly. Reply with the question only."""


class EmptyIndex(DocbotError):
    """The store has no documents: nothing can be answered until a sync has run."""

    def __init__(self) -> None:
        super().__init__(EMPTY_INDEX)


def estimate_tokens(text: str) -> int:
    """Cheap, offline token estimate (no tokenizer download) used for budgets."""
    return len(text) // CHARS_PER_TOKEN + 1


def clean_question(question: str) -> str:
    """Validate and normalise a question; raise :class:`InputError` with advice."""
    text = " ".join((question or "").split())
    if not text:
        raise InputError(
            "the question is empty; ask something, e.g. “How do I connect to the VPN?”"
        )
    if len(text) > MAX_QUESTION_CHARS:
        raise InputError(
            f"the question is {len(text):,} characters long; the limit is "
            f"{MAX_QUESTION_CHARS:,}. Ask a shorter question (paste only the relevant part)."
        )
    return text


@dataclass
class Answer:
    question: str
    text: str
    mode: str  # "llm" | "extractive"
    sources: list[Hit]
    """The numbered passages given to the model (or quoted); [n] in text is sources[n-1]."""
    cited: list[int] = field(default_factory=list)
    abstained: bool = False
    search_query: str = ""
    model: str | None = None
    usage: Usage | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    condense_usage: Usage | None = None
    """Tokens spent rewriting a follow-up into a standalone question."""
    cache: str | None = None
    """``hit`` (served from the answer cache), ``miss``/``stale`` (looked up, then
    generated), None (not cacheable: a follow-up, or no cache)."""

    @property
    def cached(self) -> bool:
        return self.cache == "hit"

    @property
    def tokens(self) -> tuple[int, int]:
        """(prompt, completion) tokens of every model call behind this answer."""
        calls = [u for u in (self.usage, self.condense_usage) if u is not None]
        return sum(u.prompt_tokens for u in calls), sum(u.completion_tokens for u in calls)

    @property
    def cited_sources(self) -> list[tuple[int, Hit]]:
        """(number, hit) of the sources to show: the cited ones, else all of them."""
        numbers = self.cited or list(range(1, len(self.sources) + 1))
        return [(n, self.sources[n - 1]) for n in numbers if 0 < n <= len(self.sources)]

    def as_json(self) -> dict[str, Any]:
        """The ``docbot ask --json`` / ``POST /api/ask`` shape."""
        return {
            "answer": self.text,
            "mode": self.mode,
            "sources": [
                {
                    "n": n,
                    "title": hit.title,
                    "url": hit.link,
                    "source": hit.source,
                    "score": round(hit.score, 4),
                    "section": hit.section,
                    "updated_at": hit.updated_at.isoformat() if hit.updated_at else None,
                }
                for n, hit in self.cited_sources
            ],
            "abstained": self.abstained,
            "cached": self.cached,
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
        }


class AnswerStream:
    """An answer being produced: ``sources`` now, text by iterating, ``answer`` after.

    ``on_done`` runs once the text is complete (not when generation fails): the
    answer cache stores finished answers through it.
    """

    def __init__(
        self,
        answer: Answer,
        pieces: Iterator[str],
        started: float,
        on_done: Callable[[Answer], None] | None = None,
    ) -> None:
        self._answer = answer
        self._pieces = pieces
        self._started = started
        self._done = False
        self.on_done = on_done

    @property
    def sources(self) -> list[Hit]:
        return self._answer.sources

    @property
    def partial(self) -> Answer:
        """The answer as far as it got (its sources and retrieval timings are known
        from the start), for recording a failure mid-answer."""
        return self._answer

    @property
    def mode(self) -> str:
        return self._answer.mode

    def __iter__(self) -> Iterator[str]:
        if self._done:
            return
        parts: list[str] = []
        generate_started = time.perf_counter()
        for piece in self._pieces:
            parts.append(piece)
            yield piece
        self._done = True
        answer = self._answer
        if answer.mode == "llm" and not answer.cached:
            answer.text = "".join(parts).strip()
            answer.cited = _citations(answer.text, len(answer.sources))
            answer.abstained = answer.text.startswith(NOT_FOUND[:-1]) or (
                NOT_FOUND.lower()[:-1] in answer.text.lower() and not answer.cited
            )
            answer.timings_ms["generate_ms"] = (time.perf_counter() - generate_started) * 1000
            if answer.usage and answer.usage.first_token_ms is not None:
                answer.timings_ms["first_token_ms"] = answer.usage.first_token_ms
        answer.timings_ms["total_ms"] = (time.perf_counter() - self._started) * 1000
        if self.on_done is not None:
            self.on_done(answer)

    @property
    def answer(self) -> Answer:
        """The finished answer (consumes the rest of the stream if needed)."""
        for _ in self:
            pass
        return self._answer


def _citations(text: str, count: int) -> list[int]:
    numbers: list[int] = []
    for match in re.finditer(r"\[(\d+(?:\s*[,–-]\s*\d+)*)\]", text):
        for part in re.split(r"[,–-]", match.group(1)):
            n = int(part.strip())
            if 0 < n <= count and n not in numbers:
                numbers.append(n)
    return numbers


class Answerer:
    """Retrieval plus generation; shared by the CLI, Slack and the JSON API."""

    def __init__(
        self,
        retriever: Retriever,
        llm: LLM | None = None,
        *,
        context_tokens: int = 3000,
        k: int = 5,
    ) -> None:
        self.retriever = retriever
        self.llm = llm
        self.context_tokens = context_tokens
        self.k = k

    # --- the one entry point -------------------------------------------------

    def ask(self, question: str, history: Sequence[Message] = ()) -> AnswerStream:
        """Validate, retrieve and start answering. Raises ``InputError`` for bad input."""
        started = time.perf_counter()
        question = clean_question(question)
        history = clean_history(history)
        condense_usage = Usage() if history and self.llm is not None else None
        search_query, condense_ms = self._standalone(question, history, condense_usage)
        result = self.retriever.search(search_query, k=self.k)
        relevant = self._relevant(result)
        timings = dict(result.timings_ms)
        if condense_ms:
            timings["condense_ms"] = condense_ms
        if not relevant:
            answer = Answer(
                question=question,
                text=_not_found_text(result.hits),
                mode="llm" if self.llm else "extractive",
                sources=result.hits[:3],
                abstained=True,
                search_query=search_query,
                timings_ms=timings,
                condense_usage=condense_usage,
            )
            return AnswerStream(answer, iter([answer.text]), started)
        if self.llm is None:
            text = extractive_answer(question if not history else search_query, relevant[:3])
            answer = Answer(
                question=question,
                text=text,
                mode="extractive",
                sources=relevant[:3],
                search_query=search_query,
                timings_ms=timings,
            )
            return AnswerStream(answer, iter([text]), started)
        sources = self._fit_budget(relevant, question, history)
        usage = Usage()
        answer = Answer(
            question=question,
            text="",
            mode="llm",
            sources=sources,
            search_query=search_query,
            model=self.llm.model,
            usage=usage,
            timings_ms=timings,
            condense_usage=condense_usage,
        )
        messages = build_messages(question, history, sources)
        return AnswerStream(answer, self.llm.stream(messages, usage), started)

    # --- steps ---------------------------------------------------------------

    def _standalone(
        self, question: str, history: Sequence[Message], usage: Usage | None = None
    ) -> tuple[str, float]:
        """The follow-up rewritten as a standalone question, for retrieval."""
        if not history:
            return question, 0.0
        started = time.perf_counter()
        if self.llm is not None:
            transcript = "\n".join(f"{m['role']}: {m['content'][:1000]}" for m in history)
            try:
                rewritten = self.llm.complete(
                    [
                        {"role": "system", "content": CONDENSE_PROMPT},
                        {
                            "role": "user",
                            "content": f"Conversation:\n{transcript}\n\nLast message: {question}",
                        },
                    ],
                    usage,
                ).strip()
                if rewritten:
                    return rewritten[:MAX_QUESTION_CHARS], (time.perf_counter() - started) * 1000
            except LLMError:
                pass  # fall back to the keyword approach below; the answer step reports errors
        previous = [m["content"] for m in history if m["role"] == "user"][-2:]
        return " ".join([*previous, question])[-MAX_QUESTION_CHARS:], 0.0

    def _relevant(self, result: SearchResult) -> list[Hit]:
        """Hits worth answering from; empty when the docs do not cover the question."""
        floor = self.retriever.embedder.min_similarity
        if self.retriever.store.embed_model is None or not result.dense_trusted:
            # No vectors, or a language the embedder cannot read (its similarities
            # mean nothing there): only passages that share words with the question.
            return [h for h in result.hits if h.scores.get("bm25", 0) > 0]
        return [
            h
            for h in result.hits
            if h.scores.get("dense", 0.0) >= floor
            or (h.scores.get("bm25", 0.0) > 0 and h.scores.get("dense", 0.0) >= floor * 0.75)
        ]

    def _fit_budget(
        self, hits: Sequence[Hit], question: str, history: Sequence[Message]
    ) -> list[Hit]:
        budget = self.context_tokens - estimate_tokens(SYSTEM_PROMPT + question)
        budget -= sum(estimate_tokens(m["content"]) for m in history)
        kept: list[Hit] = []
        for hit in hits:
            cost = estimate_tokens(hit.text) + 30
            if kept and cost > budget:
                break
            kept.append(hit)
            budget -= cost
        return kept


def clean_history(history: Sequence[Message]) -> list[Message]:
    """User and assistant turns with text, the last few only (the rest is noise)."""
    turns = [
        {"role": m["role"], "content": str(m["content"]).strip()[:MAX_QUESTION_CHARS]}
        for m in history
        if isinstance(m, dict)
        and m.get("role") in ("user", "assistant")
        and str(m.get("content", "")).strip()
    ]
    return turns[-HISTORY_TURNS:]


def _age(when: datetime | None) -> str:
    if when is None:
        return ""
    days = (datetime.now(UTC) - when).days
    if days <= 0:
        return "updated today"
    if days < 60:
        return f"updated {days} day{'s' if days != 1 else ''} ago"
    return f"updated {when:%Y-%m-%d}"


def build_messages(
    question: str, history: Sequence[Message], sources: Sequence[Hit]
) -> list[Message]:
    """System prompt, the thread so far, then numbered sources and the question."""
    blocks = []
    for n, hit in enumerate(sources, start=1):
        age = _age(hit.updated_at)
        blocks.append(f"[{n}] {hit.section} ({hit.link}{', ' + age if age else ''})\n{hit.text}")
    content = "Sources:\n\n" + "\n\n".join(blocks) + f"\n\nQuestion: {question}"
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        *history,
        {"role": "user", "content": content},
    ]


# --- extractive answers ------------------------------------------------------

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


def _not_found_text(closest: Sequence[Hit]) -> str:
    if not closest:
        return f"{NOT_FOUND} The knowledge base has no documents yet — run `docbot sync` first."
    pages = "\n".join(f"• [{h.title}]({h.url})" for h in closest[:3])
    return f"{NOT_FOUND} The closest pages I have are:\n{pages}"
