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

With a chat model and ``DOCBOT_RERANK=llm``, the model first reorders the top fused
candidates (``bot/rerank.py``); the first ``k`` of its order then take the place of the
fused ``k`` in everything below, and any rerank failure leaves the fused order.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.evidence import (
    ANCHOR_SHARE,
    DESCRIBED,
    MISSING_IDF,
    RARE_SHARE,
    TOGETHER_SHARE,
    TYPE_SHARE,
    Evidence,
    count_names,
    lead_in,
    rare_names,
    together,
    typed_units,
    unmet_names,
    weigh,
)
from bot.extractive import extractive_answer, term_weights
from bot.guard import allowed_hosts, guard_stream
from bot.llm import LLM, Message, Usage, call_until_deadline, until_deadline
from bot.prompts import CONDENSE_PROMPT, SYSTEM_PROMPT, build_messages, estimate_tokens
from bot.rerank import Reranked, Reranker
from bot.retrieve import Retriever, SearchResult
from bot.sections import section_of
from ingest.errors import DocbotError, InputError, LLMError
from ingest.languages import detect_language, is_english
from ingest.models import Hit
from ingest.store.scope import Scope

MAX_QUESTION_CHARS = 4000
HISTORY_TURNS = 6
LEXICAL_FLOOR = 0.75
"""Share of the embedder's similarity floor at which a passage that shares words with
the question still counts (docs/BENCHMARKS.md, "The abstention gate")."""
LEXICAL_COVER = 0.6
"""Share of the question's IDF mass a passage must hold, more than any other candidate
holds, to be used whatever its similarity (``_relevant``): the best lexical match of a
question ("where do I save the customer's PO?" on the deal desk FAQ holding "customer",
"PO", "sent" and "save") can sit under the cosine floor when its page is long and about
something broader (docs/BENCHMARKS.md, "The best lexical match, two asks, carried
room")."""
ANCHOR_FLOOR = 1.0
"""Share of the embedder's similarity floor a passage needs for its rare question term to
anchor a partial answer: a word shared in another sense ("student" in "F1 Student VISA"
for a question about student loans) is no evidence the passage is about the question's
subject (docs/BENCHMARKS.md, "Anchors close by meaning")."""
NOT_FOUND = "I couldn't find this in the docs."
EMPTY_INDEX = "I have no documents yet — an admin needs to run `docbot sync`."


class EmptyIndex(DocbotError):
    """The store has no documents: nothing can be answered until a sync has run."""

    def __init__(self) -> None:
        super().__init__(EMPTY_INDEX)


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
    looked_for: list[str] = field(default_factory=list)
    """The question's distinctive terms (rarest in the corpus first), named when the
    answer says the docs do not cover them."""
    missing: list[str] = field(default_factory=list)
    """Distinctive terms that none of the quoted passages contains (a partial answer)."""
    cache: str | None = None
    """``hit`` (served from the answer cache), ``miss``/``stale`` (looked up, then
    generated), None (not cacheable: a follow-up, or no cache)."""
    rerank_usage: Usage | None = None
    """Tokens spent reordering the candidates (``bot/rerank.py``); None: no rerank."""
    rerank: str | None = None
    """How the rerank went (``Reranked.outcome``: ``ok``, or why the fused order
    stands); None when no rerank was configured."""

    @property
    def cached(self) -> bool:
        return self.cache == "hit"

    @property
    def tokens(self) -> tuple[int, int]:
        """(prompt, completion) tokens of every model call behind this answer."""
        calls = [u for u in (self.usage, self.condense_usage, self.rerank_usage) if u is not None]
        return sum(u.prompt_tokens for u in calls), sum(u.completion_tokens for u in calls)

    @property
    def cited_sources(self) -> list[tuple[int, Hit]]:
        """(number, hit) of the sources to show: the cited ones, else all of them."""
        numbers = self.cited or list(range(1, len(self.sources) + 1))
        return [(n, self.sources[n - 1]) for n in numbers if 0 < n <= len(self.sources)]

    def _pages(self) -> list[dict[str, Any]]:
        """One entry per cited page: its first number and section as ``n``/``url``/
        ``section`` (as before), every number citing it in ``numbers`` and every
        section used in ``sections``."""
        pages: dict[tuple[str, str], dict[str, Any]] = {}
        for n, hit in self.cited_sources:
            key = (hit.source, hit.doc_id)
            if key not in pages:
                pages[key] = {
                    "n": n,
                    "numbers": [],
                    "title": hit.title,
                    "url": hit.link,
                    "source": hit.source,
                    "score": round(hit.score, 4),
                    "section": hit.section,
                    "sections": [],
                    "updated_at": hit.updated_at.isoformat() if hit.updated_at else None,
                }
            pages[key]["numbers"].append(n)
            pages[key]["sections"].append({"n": n, "section": hit.section, "url": hit.link})
        return list(pages.values())

    def as_json(self) -> dict[str, Any]:
        """The ``docbot ask --json`` / ``POST /api/ask`` shape."""
        return {
            "answer": self.text,
            "mode": self.mode,
            "sources": self._pages(),
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
        checked = self._answer.mode != "llm" or self._answer.cached or self._answer.abstained
        # With a model, nothing is shown before the text cites a real source: an
        # uncited answer is replaced whole by the not-found text, never half-shown.
        for piece in self._pieces:
            parts.append(piece)
            if checked:
                yield piece
                continue
            text = "".join(parts)
            if _citations(text, len(self._answer.sources)):
                checked = True
                yield text
        self._done = True
        answer = self._answer
        if answer.mode == "llm" and not answer.cached and not answer.abstained:
            text = "".join(parts).strip()
            answer.text = text
            answer.cited = _citations(text, len(answer.sources))
            if unsupported(text, len(answer.sources)):
                # An answer the reader cannot check against a source is not shown as
                # one: the not-found text and the closest pages replace it.
                answer.text = _not_found_text(answer.sources, answer.looked_for)
                answer.cited = []
                answer.abstained = True
                if not checked:
                    yield answer.text  # nothing of the model's text was shown
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


_CITATION = re.compile(r"\[(\d+(?:\s*[,–-]\s*\d+)*)\]")


def _cited_numbers(text: str) -> list[int]:
    """Every number cited as [n], [n, m] or [n-m], in order, valid or not."""
    numbers: list[int] = []
    for match in _CITATION.finditer(text):
        for part in re.split(r"[,–-]", match.group(1)):
            n = int(part.strip())
            if n not in numbers:
                numbers.append(n)
    return numbers


def _citations(text: str, count: int) -> list[int]:
    return [n for n in _cited_numbers(text) if 0 < n <= count]


def unsupported(text: str, count: int) -> bool:
    """True when a model's answer must count as not found: it says so, it cites no
    source, or it cites a source number that was never given (an invented [7])."""
    if not text or text.startswith(NOT_FOUND[:-1]):
        return True
    numbers = _cited_numbers(text)
    if not numbers or any(not 0 < n <= count for n in numbers):
        return True
    return NOT_FOUND.lower()[:-1] in text.lower() and not _citations(text, count)


class Answerer:
    """Retrieval plus generation; shared by the CLI, Slack and the JSON API."""

    def __init__(
        self,
        retriever: Retriever,
        llm: LLM | None = None,
        *,
        context_tokens: int = 3000,
        k: int = 5,
        per_document: int = 2,
        quoted: int = 4,
        rare_share: float = RARE_SHARE,
        anchor_share: float = ANCHOR_SHARE,
        missing_idf: float = MISSING_IDF,
        timeout: float | None = None,
        type_share: float | None = TYPE_SHARE,
        check_names: bool = True,
        typed_names: bool = True,
        lexical_floor: float = LEXICAL_FLOOR,
        sections: bool = True,
        anchor_floor: float = ANCHOR_FLOOR,
        reranker: Reranker | None = None,
        together_share: float = TOGETHER_SHARE,
        lexical_cover: float | None = LEXICAL_COVER,
    ) -> None:
        self.retriever = retriever
        self.llm = llm
        self.reranker = reranker
        """Reorders the top candidates before the answer; used only with ``llm``."""
        self.context_tokens = context_tokens
        self.k = k
        self.per_document = per_document
        """Passages of one page that may be used: the second-best section of a long
        page is often the one that answers (docs/BENCHMARKS.md, "Answers")."""
        self.quoted = quoted
        """How many passages an extractive answer quotes."""
        self.rare_share = rare_share
        self.anchor_share = anchor_share
        self.missing_idf = missing_idf
        self.timeout = timeout
        """Seconds a question may take in all, model retries included (``None``: no
        limit beyond the client's own); past it the asker gets ``LLMTimeout``."""
        self.type_share = type_share
        """How many of the question's rarest subject terms may sit next to the answer
        its wording asks for (an amount, a date, an identifier); 0 turns the answer-type
        check off."""
        self.check_names = check_names
        """Whether the names the question asks about ("Microsoft Teams", "FY25") must be
        in the passages found (``bot/evidence.py`` ``unmet_names``)."""
        self.typed_names = typed_names
        self.lexical_floor = lexical_floor
        """A passage that shares words with the question may be used at this share of
        the embedder's similarity floor (``_relevant``)."""
        self.lexical_cover = lexical_cover
        """A candidate holding at least this share of the question's IDF mass, and more
        of it than every other candidate, is used under the similarity floor too
        (``None``: off)."""
        self.anchor_floor = anchor_floor
        """A passage anchors a partial answer only when its similarity to the question is
        at least this share of the embedder's floor (0: any passage found)."""
        self.together_share = together_share
        """The share of the question's words the passages hold that must sit together
        in one sentence window (``bot/evidence.py`` ``together``); 0 turns it off."""
        self.sections = sections
        """Whether an extractive quote is chosen from the passage's section text (its
        chunk with the rest of a list, procedure or sub-section the chunker cut off:
        ``bot/sections.py``) rather than from the chunk alone."""
        """Whether the answer-type check needs the question's rare names (in at most
        ``anchor_share`` of the chunks) beside the typed text: COBRA's cost, not any
        amount next to "leave"."""

    # --- the one entry point -------------------------------------------------

    def ask(
        self, question: str, history: Sequence[Message] = (), *, scope: Scope | None = None
    ) -> AnswerStream:
        """Validate, retrieve (within ``scope``: who will see the answer may read every
        passage, see ``bot/access.py``) and start answering. Raises ``InputError`` for
        bad input."""
        started = time.perf_counter()
        deadline = time.monotonic() + self.timeout if self.timeout else None
        question = clean_question(question)
        history = clean_history(history)
        condense_usage = Usage() if history and self.llm is not None else None
        search_query, condense_ms = self._standalone(question, history, condense_usage, deadline)
        reranker = self.reranker if self.llm is not None else None
        depth = max(self.k, reranker.candidates) if reranker is not None else self.k
        result = self.retriever.search(
            search_query, k=depth, per_document=self.per_document, scope=scope
        )
        reranked = self._rerank(reranker, search_query, result, deadline)
        lacking = ""
        t0 = time.perf_counter()
        evidence = weigh(self.retriever.store, search_query, result.hits)
        relevant = self._relevant(result, evidence)
        timings = dict(result.timings_ms)
        if condense_ms:
            timings["condense_ms"] = condense_ms
        across = cross_lingual(result, relevant)
        if relevant and not across and not self._supported(evidence, result.hits, result):
            relevant = []
        unmet: list[str] = []
        # Capitals mark names in English only (German capitalises every noun), and a
        # passage in another language than the question cannot spell its names.
        named = not across and is_english(search_query)
        counted = (
            count_names(self.retriever.store, search_query, result.hits)
            if relevant and named and (self.check_names or self.typed_names)
            else None
        )
        if relevant and self.check_names and counted is not None:
            unmet = unmet_names(self.retriever.store, search_query, result.hits, counted)
        if unmet:
            # The question asks about a thing by name the passages do not name: "the
            # People Partner" on a page that has people and partners, but not that.
            relevant = []
        if relevant and self.type_share is not None:
            shown = relevant[: self.quoted] if self.llm is None else relevant
            about = (
                rare_names(self.retriever.store, search_query, self.anchor_share, counted)
                if self.typed_names and counted is not None
                else []
            )
            wanted, found = typed_units(
                self.retriever.store, search_query, evidence, shown, self.type_share, about
            )
            if wanted and not found:
                # The passages are about the subject but hold nothing of the kind the
                # question asks for (no amount next to "COBRA"): not covered.
                relevant = []
                lacking = " or ".join(DESCRIBED[w] for w in wanted if w != "person")
        apart: list[str] = []
        quote_texts: tuple[dict[int, str], dict[int, str]] | None = None
        if relevant and not across and self.together_share > 0:
            shown = relevant[: self.quoted] if self.llm is None else relevant
            if self.llm is None:
                # What an extractive answer quotes from: the passage's section text.
                quote_texts = self._quote_texts(shown)
                texts = quote_texts[1]
            else:
                texts = {}  # a model reads the passages themselves
            passages = [
                (h.section.rsplit(" > ", 1)[-1], texts.get(h.chunk_id, h.text)) for h in shown
            ]
            gathered = together(self.retriever.store, search_query, evidence, passages)
            if gathered.share < self.together_share:
                # Each word is somewhere, none of the passages says anything about them
                # together ("extra" pay in a payroll form, "on call" in a rotation page).
                relevant = []
                apart = gathered.apart(evidence)
        timings["evidence_ms"] = (time.perf_counter() - t0) * 1000
        looked_for = evidence.missing([h.chunk_id for h in result.hits], self.rare_share)
        looked_for = looked_for or evidence.looked_for()
        if unmet:
            looked_for = list(dict.fromkeys([*unmet, *looked_for]))
        if apart:
            looked_for = apart
        if not relevant:
            answer = Answer(
                question=question,
                text=_not_found_text(result.hits, looked_for, lacking, together=bool(apart)),
                mode="llm" if self.llm else "extractive",
                sources=result.hits[:3],
                abstained=True,
                search_query=search_query,
                looked_for=looked_for,
                timings_ms=timings,
                condense_usage=condense_usage,
                rerank_usage=reranked.usage if reranked else None,
                rerank=reranked.outcome if reranked else None,
            )
            return AnswerStream(answer, iter([answer.text]), started)
        if self.llm is None:
            quoted = relevant[: self.quoted]
            missing = (
                [] if across else evidence.missing([h.chunk_id for h in quoted], self.rare_share)
            )
            leads, texts = quote_texts or self._quote_texts(quoted)
            text = extractive_answer(
                question if not history else search_query,
                quoted,
                missing=missing,
                lead_ins=leads,
                texts=texts,
                weights=term_weights({t: evidence.idf(t) for t in evidence.terms}),
            )
            answer = Answer(
                question=question,
                text=text,
                mode="extractive",
                sources=quoted,
                search_query=search_query,
                looked_for=looked_for,
                missing=missing,
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
            looked_for=looked_for,
            missing=[]
            if across
            else evidence.missing([h.chunk_id for h in sources], self.rare_share),
            model=self.llm.model,
            usage=usage,
            timings_ms=timings,
            condense_usage=condense_usage,
            rerank_usage=reranked.usage if reranked else None,
            rerank=reranked.outcome if reranked else None,
        )
        messages = build_messages(question, history, sources, answer.missing)
        pieces = guard_stream(self.llm.stream(messages, usage), allowed_hosts(sources))
        if deadline is not None and self.timeout:
            pieces = until_deadline(pieces, deadline, self.timeout)
        return AnswerStream(answer, pieces, started)

    # --- steps ---------------------------------------------------------------

    def _rerank(
        self,
        reranker: Reranker | None,
        question: str,
        result: SearchResult,
        deadline: float | None,
    ) -> Reranked | None:
        """Reorder ``result``'s candidates in place and keep the first ``k``.

        Not asked when no candidate passes the relevance floor (the same test as the
        answer's, the best lexical match included): the answer abstains whatever
        their order, and the model call would only add latency."""
        if reranker is None:
            return None
        if not self._relevant(result, weigh(self.retriever.store, question, result.hits)):
            result.hits = result.hits[: self.k]
            return Reranked(result.hits, "skipped")
        reranked = reranker.rerank(question, result.hits, deadline)
        result.hits = reranked.hits[: self.k]
        result.timings_ms["rerank_ms"] = reranked.ms
        return reranked

    def _standalone(
        self,
        question: str,
        history: Sequence[Message],
        usage: Usage | None = None,
        deadline: float | None = None,
    ) -> tuple[str, float]:
        """The follow-up rewritten as a standalone question, for retrieval."""
        if not history:
            return question, 0.0
        started = time.perf_counter()
        llm = self.llm
        if llm is not None:
            transcript = "\n".join(f"{m['role']}: {m['content'][:1000]}" for m in history)
            messages: list[Message] = [
                {"role": "system", "content": CONDENSE_PROMPT},
                {
                    "role": "user",
                    "content": f"Conversation:\n{transcript}\n\nLast message: {question}",
                },
            ]
            try:
                if deadline is not None and self.timeout:
                    rewritten = call_until_deadline(
                        lambda: llm.complete(messages, usage), deadline, self.timeout
                    ).strip()
                else:
                    rewritten = llm.complete(messages, usage).strip()
                if rewritten:
                    return rewritten[:MAX_QUESTION_CHARS], (time.perf_counter() - started) * 1000
            except LLMError:
                pass  # fall back to the keyword approach below; the answer step reports errors
        previous = [m["content"] for m in history if m["role"] == "user"][-2:]
        return " ".join([*previous, question])[-MAX_QUESTION_CHARS:], 0.0

    def _quote_texts(self, quoted: Sequence[Hit]) -> tuple[dict[int, str], dict[int, str]]:
        """(lead-in line, section text) of each quoted passage, by chunk id: the text
        its quote is chosen from, and the line introducing the list it starts inside."""
        store = self.retriever.store
        if not self.sections:
            return {h.chunk_id: lead_in(store, h) for h in quoted}, {}
        shown = {h.chunk_id for h in quoted}
        leads: dict[int, str] = {}
        texts: dict[int, str] = {}
        for hit in quoted:
            section = section_of(store, hit, shown - {hit.chunk_id})
            texts[hit.chunk_id] = section.text
            start = dataclasses.replace(hit, chunk_id=section.first_chunk_id, text=section.text)
            leads[hit.chunk_id] = lead_in(store, start)
        return leads, texts

    def _relevant(self, result: SearchResult, evidence: Evidence | None = None) -> list[Hit]:
        """Hits worth answering from; empty when the docs do not cover the question.

        With ``evidence``, the candidate that holds most of the question's IDF mass
        (``lexical_cover`` or more, and strictly more than any other) is kept whatever
        its similarity: a passage saying "Sourcegraph does not match 401k
        contributions" is the question in its own words, and the embedder, which reads
        a 128-token passage about several benefits, ranks it under the floor."""
        best = self._best_lexical(result.hits, evidence)
        floor = result.similarity_floor
        if floor is None:
            floor = self.retriever.embedder.min_similarity
        if self.retriever.store.embed_model is None or not result.dense_trusted:
            # No vectors, or a language the embedder cannot read (its similarities
            # mean nothing there): only passages that share words with the question.
            return [h for h in result.hits if h.scores.get("bm25", 0) > 0]
        foreign_floor = result.multilingual_floor
        return [
            h
            for h in result.hits
            if h.scores.get("dense", 0.0) >= floor
            or (
                h.scores.get("bm25", 0.0) > 0
                and h.scores.get("dense", 0.0) >= floor * self.lexical_floor
            )
            or (foreign_floor is not None and h.scores.get("multilingual", -1.0) >= foreign_floor)
            or h.chunk_id == best
        ]

    def _best_lexical(self, hits: Sequence[Hit], evidence: Evidence | None) -> int | None:
        """The chunk id of the one candidate holding the most of the question's IDF
        mass, when that is at least ``lexical_cover`` and no other candidate holds as
        much; ``None`` otherwise (a tie says the words are common to the topic, not
        that one passage states the question)."""
        if evidence is None or self.lexical_cover is None or not hits:
            return None
        shares = sorted(((evidence.coverage([h.chunk_id]), h.chunk_id) for h in hits), reverse=True)
        share, best = shares[0]
        if share < self.lexical_cover or (len(shares) > 1 and shares[1][0] >= share):
            return None
        return best

    def _supported(
        self, evidence: Evidence, hits: Sequence[Hit], result: SearchResult | None = None
    ) -> bool:
        """False when the passages found leave out what makes the question specific:
        its distinctive terms (rare in this corpus, or absent from it) that none of
        them contains carry ``missing_idf`` or more of the question's IDF mass, and
        none of them holds a rare term of the question either (which would make
        it a partial answer, given with what is missing named). Only a passage close
        to the question by meaning (``anchor_floor``) may hold that anchoring term:
        one found for the shared word alone may use it in another sense."""
        ids = [h.chunk_id for h in hits]
        if evidence.missing_share(ids, self.rare_share) < self.missing_idf:
            return True
        return bool(evidence.anchored(self._close(hits, result), self.anchor_share))

    def _close(self, hits: Sequence[Hit], result: SearchResult | None) -> list[int]:
        """Chunk ids of the passages whose similarity to the question reaches
        ``anchor_floor`` of the embedder's floor; all of them when similarities mean
        nothing here (no vectors, or a script the embedder cannot read)."""
        trusted = result is None or result.dense_trusted
        if self.anchor_floor <= 0 or self.retriever.store.embed_model is None or not trusted:
            return [h.chunk_id for h in hits]
        floor = result.similarity_floor if result is not None else None
        if floor is None:
            floor = self.retriever.embedder.min_similarity
        return [h.chunk_id for h in hits if h.scores.get("dense", 0.0) >= floor * self.anchor_floor]

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


def cross_lingual(result: SearchResult, relevant: Sequence[Hit]) -> bool:
    """Whether the question was read by the multilingual model and the best passage is
    in another language (a German question, an English page). The question's words
    cannot then appear in the passage, so the checks built on shared words (its rare
    terms must be there; the words no quote holds are named) do not apply; the
    multilingual model's similarity floor still does."""
    if result.language is None or not relevant:
        return False
    return detect_language(relevant[0].text[:600])[0] != result.language


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


def _not_found_text(
    closest: Sequence[Hit],
    looked_for: Sequence[str] = (),
    lacking: str = "",
    together: bool = False,
) -> str:
    """Plainly: the docs do not cover it, what was looked for (with ``lacking``, the
    kind of answer the passages do not hold: "an amount"; with ``together``, that the
    terms were found only apart), and the closest pages (one line per page) so the
    reader can check, or tell the page's owner."""
    if not closest:
        return f"{NOT_FOUND} The knowledge base has no documents yet — run `docbot sync` first."
    searched = ""
    if looked_for:
        terms = ", ".join(f"“{t}”" for t in looked_for[:4])
        kind = f"{lacking} about " if lacking else ""
        searched = f" I looked for {kind}{terms}."
        if together:
            searched = (
                f" I looked for {terms} together; the passages found mention them only apart."
            )
    pages: list[str] = []
    seen: set[tuple[str, str]] = set()
    for hit in closest:
        if (hit.source, hit.doc_id) not in seen and len(pages) < 3:
            seen.add((hit.source, hit.doc_id))
            pages.append(f"• [{hit.title}]({hit.url})")
    return (
        f"{NOT_FOUND} The docs do not seem to cover it.{searched} "
        "The closest pages I have are:\n" + "\n".join(pages)
    )
