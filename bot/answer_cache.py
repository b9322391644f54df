"""Answers to repeated questions, served from the store while their sources are unchanged.

The same question comes back (the VPN, the expense limit, again and again), and each
LLM answer costs seconds and money. A cached answer is served only while **every
chunk it cited is still in the store unchanged** (same id, same content hash, same
page URL and title): each entry lists those chunks (``answer_cache_chunks``), and a
lookup checks them. So a sync that edits or deletes a page invalidates exactly the
answers that cited it, with no invalidation step to forget; :meth:`AnswerCache.purge`
after a sync only reclaims space.

What is cached, and why:
- only history-less questions (a follow-up depends on its thread), keyed by the
  normalised text (case, whitespace and punctuation ignored; Slack markup is removed
  before the question gets here) plus the scope of who will see it (``bot/access.py``:
  an answer made for one channel's sources, or for one reader's restricted pages, is
  never served to another), mode, chat model, embedder, retrieval depth, context
  budget, system prompt, the rerank when one is on (``bot/rerank.py``: its model and
  candidates) and installed docbot release: change any of those
  (an upgrade that renders quotes or sources differently, say) and old entries never
  match;
- never abstentions: the page that answers the question may be added by the next
  sync, and an abstention cites nothing whose change would invalidate it;
- at most ``DOCBOT_ANSWER_CACHE_SIZE`` entries (least recently used go first), each
  for at most ``DOCBOT_ANSWER_CACHE_TTL``.

When a sync changes *other* pages in the answer's scope (one that would now answer
better, say), the entry is served only if the question still retrieves the same
passages, and answers made from an incomplete index are never stored: that rule is
its own piece, ``bot/freshness.py``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import re
import time
import unicodedata
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.answer import Answer, Answerer, AnswerStream, clean_history, clean_question
from bot.freshness import Freshness, same_passages
from bot.freshness import Scope as SourceSet
from bot.llm import LLM, Message
from bot.prompts import SYSTEM_PROMPT
from bot.rerank import Reranker
from bot.retrieve import Retriever
from ingest.models import Hit
from ingest.store.contract import StoreContract
from ingest.store.rows import CachedAnswer, CitedChunk
from ingest.store.scope import Scope

log = logging.getLogger(__name__)

CACHE_FORMAT = 1  # bump when the stored JSON changes shape
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def _release() -> str:
    """The installed docbot version, part of every key (a source checkout reads 'dev')."""
    try:
        return importlib.metadata.version("docbot")
    except importlib.metadata.PackageNotFoundError:
        return "dev"


RELEASE = _release()


def normalise_question(text: str) -> str:
    """Case, width, whitespace and punctuation folded: 'How do I use the VPN?' ==
    'how do i use the vpn'."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_WORD.sub(" ", text).split())


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def _hit_json(hit: Hit) -> dict[str, Any]:
    return {
        "chunk_id": hit.chunk_id, "source": hit.source, "doc_id": hit.doc_id,
        "title": hit.title, "url": hit.url, "text": hit.text,
        "heading_path": list(hit.heading_path), "anchor": hit.anchor, "score": hit.score,
        "updated_at": hit.updated_at.isoformat() if hit.updated_at else None,
        "scores": hit.scores, "space": hit.space, "restricted": hit.restricted,
        "breadcrumbs": list(hit.breadcrumbs),
    }  # fmt: skip


def _hit_from_json(data: dict[str, Any]) -> Hit:
    updated = data.get("updated_at")
    return Hit(
        chunk_id=data["chunk_id"], source=data["source"], doc_id=data["doc_id"],
        title=data["title"], url=data["url"], text=data["text"],
        heading_path=tuple(data["heading_path"]), anchor=data["anchor"], score=data["score"],
        updated_at=datetime.fromisoformat(updated) if updated else None,
        scores=dict(data.get("scores") or {}), space=data.get("space"),
        restricted=bool(data.get("restricted")),
        breadcrumbs=tuple(data.get("breadcrumbs") or ()),
    )  # fmt: skip


class AnswerCache:
    """The store's answer-cache rows (``cache_*`` in ``ingest/store/contract.py``) and
    the policy that decides when one may be served (see the module docstring)."""

    def __init__(self, store: StoreContract, *, max_entries: int, ttl_seconds: float) -> None:
        self.store = store
        self.max_entries = max_entries
        self.ttl = timedelta(seconds=ttl_seconds)

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0

    @staticmethod
    def key(question: str, *scope: object) -> str:
        """The entry key: the normalised question plus everything that shapes an answer."""
        prompt = hashlib.sha256(SYSTEM_PROMPT.encode()).hexdigest()[:12]
        parts = [CACHE_FORMAT, RELEASE, normalise_question(question), prompt, *map(str, scope)]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()

    def get(
        self, key: str, stamp: str | None = None, now: datetime | None = None
    ) -> tuple[str, Answer | None]:
        """``("hit", answer)``, ``("miss", None)``, ``("stale", None)`` (an entry was
        found but a cited chunk changed, or it expired; it is dropped) or, when the
        entry's stamp is not ``stamp``, ``("moved", answer)``: the index changed in its
        scope since, and the caller must check the answer still holds
        (``bot/freshness.py``) before serving it (:meth:`confirm`) or dropping it."""
        now = now or datetime.now(UTC)
        row = self.store.cache_get(key)
        if row is None:
            return "miss", None
        expired = datetime.fromisoformat(row.created_at) < now - self.ttl
        if expired or not self.store.cache_sources_unchanged(key):
            self.drop(key)
            return "stale", None
        moved = stamp is not None and row.stamp != stamp
        if not moved:
            self.store.cache_hit(key, _iso(now))
        data = json.loads(row.answer)
        answer = Answer(
            question=data["question"], text=data["text"], mode=data["mode"],
            sources=[_hit_from_json(h) for h in data["sources"]], cited=data["cited"],
            search_query=data["search_query"], model=data["model"], cache="hit",
        )  # fmt: skip
        return ("moved" if moved else "hit"), answer

    def confirm(self, key: str, stamp: str, now: datetime | None = None) -> None:
        """A moved entry still holds: serve it and give it the current stamp."""
        self.store.cache_hit(key, _iso(now or datetime.now(UTC)), stamp=stamp)

    def drop(self, key: str) -> None:
        self.store.cache_drop(key)

    def put(
        self,
        key: str,
        question: str,
        answer: Answer,
        now: datetime | None = None,
        *,
        stamp: str | None = None,
    ) -> bool:
        """Store a finished answer with the chunks it cites and the ``stamp`` of the
        index it was made from; False when it must not be cached (an abstention,
        nothing cited, or a source already changed)."""
        cited = [hit for _, hit in answer.cited_sources]
        if answer.abstained or not answer.text.strip() or not cited:
            return False
        deps = self._dependencies(cited)
        if deps is None:
            return False
        now = now or datetime.now(UTC)
        payload = {
            "question": answer.question, "text": answer.text, "mode": answer.mode,
            "model": answer.model, "search_query": answer.search_query, "cited": answer.cited,
            "sources": [_hit_json(h) for h in answer.sources],
        }  # fmt: skip
        self.store.cache_put(
            key,
            CachedAnswer(json.dumps(payload), _iso(now), stamp),
            question=normalise_question(question),
            mode=answer.mode,
            model=answer.model,
            cited=deps,
            expire_before=_iso(now - self.ttl),
            max_entries=self.max_entries,
        )
        return True

    def _dependencies(self, hits: Sequence[Hit]) -> list[CitedChunk] | None:
        """Each cited chunk as stored now, provided it still holds the text the answer
        was made from (a sync may have raced us)."""
        stored = self.store.cited_chunks([h.chunk_id for h in hits])
        deps = []
        for hit in hits:
            chunk = stored.get(hit.chunk_id)
            unchanged = chunk is not None and (chunk.text, chunk.url, chunk.title) == (
                hit.text, hit.url, hit.title
            )  # fmt: skip
            if chunk is None or not unchanged:
                return None
            deps.append(chunk)
        return deps

    def purge(self, now: datetime | None = None) -> int:
        """Drop entries whose cited chunks changed, expired ones and the excess (after a
        sync); returns how many went. Lookups never serve those anyway."""
        now = now or datetime.now(UTC)
        return self.store.cache_purge(_iso(now - self.ttl), self.max_entries)

    def entries(self) -> int:
        return self.store.cache_entries()


class CachingAnswerer(Answerer):
    """:class:`Answerer` that serves repeated history-less questions from the cache.

    Every surface asks through ``Docbot.answerer``, so ``docbot ask``, Slack and
    ``POST /api/ask`` all share the cache; cached answers say so
    (``Answer.cache == "hit"``, ``"cached": true`` in JSON, ``cache_ms`` timing).
    """

    def __init__(
        self,
        retriever: Retriever,
        llm: LLM | None,
        cache: AnswerCache,
        *,
        on_lookup: Callable[[str], None] | None = None,
        context_tokens: int = 3000,
        k: int = 5,
        timeout: float | None = None,
        reranker: Reranker | None = None,
    ) -> None:
        super().__init__(
            retriever, llm, context_tokens=context_tokens, k=k, timeout=timeout, reranker=reranker
        )
        self.cache = cache
        self.freshness = Freshness(cache.store)
        self.on_lookup = on_lookup
        """Told each lookup's result (``hit``, ``miss``, ``stale``): metrics count them."""

    @staticmethod
    def sources_of(scope: Scope | None) -> SourceSet:
        """The sources a question in ``scope`` may draw on (None: every source): what
        cached answers are stamped with and checked against (``bot/freshness.py``)."""
        return scope.sources if scope is not None else None

    def ask(
        self, question: str, history: Sequence[Message] = (), *, scope: Scope | None = None
    ) -> AnswerStream:
        started = time.perf_counter()
        if not self.cache.enabled or clean_history(history):
            return super().ask(question, history, scope=scope)
        question = clean_question(question)
        # A reranked answer is another answer; without a rerank the key is as before.
        rerank = [self.reranker.key] if self.reranker is not None and self.llm else []
        key = self.cache.key(
            question, "llm" if self.llm else "extractive", self.llm.model if self.llm else "",
            self.retriever.embedder.model_id, self.k, self.context_tokens,
            scope.key if scope is not None else "all", *rerank,
        )  # fmt: skip
        sources = self.sources_of(scope)
        try:
            stamp = self.freshness.stamp(sources)
            result, cached = self.cache.get(key, stamp)
            if result == "moved" and cached is not None:
                result, cached = self._recheck(key, question, cached, stamp, scope)
        except Exception:  # a broken cache must not stop answers
            log.warning("answer cache lookup failed; answering without it", exc_info=True)
            return super().ask(question, history, scope=scope)
        if self.on_lookup is not None:
            self.on_lookup(result)
        if cached is not None:
            cached.question = question
            cached.timings_ms = {"cache_ms": (time.perf_counter() - started) * 1000}
            return AnswerStream(cached, iter([cached.text]), started)
        stream = super().ask(question, scope=scope)
        stream.partial.cache = result
        stream.on_done = lambda answer: self._store(key, question, answer, stamp, sources)
        return stream

    def _recheck(
        self, key: str, question: str, cached: Answer, stamp: str, scope: Scope | None
    ) -> tuple[str, Answer | None]:
        """A sync changed the scope since ``cached`` was made: serve it only if the
        question retrieves the same passages now (``bot/freshness.py``), searched the
        way :meth:`Answerer.ask` searches. With a rerank, this compares against the
        fused order (no model call): a reranked answer whose passages the fused order
        does not give is regenerated, never served unchecked."""
        result = self.retriever.search(
            question, k=self.k, per_document=self.per_document, scope=scope
        )
        relevant = self._relevant(result)
        if self.llm is None:
            now = relevant[: self.quoted]
        else:
            now = self._fit_budget(relevant, question, [])
        if same_passages(cached.sources, now):
            self.cache.confirm(key, stamp)
            return "hit", cached
        self.cache.drop(key)
        return "stale", None

    def _store(
        self, key: str, question: str, answer: Answer, stamp: str, sources: SourceSet
    ) -> None:
        try:
            if self.freshness.cacheable(stamp, sources):
                self.cache.put(key, question, answer, stamp=stamp)
        except Exception:  # the answer is fine; only caching it failed
            log.warning("could not cache the answer", exc_info=True)
