"""The one composition function: settings in, wired components out.

The CLI, the Slack app and the HTTP API all get their store, embedder, retriever
and answerer from :func:`build`, so ``docbot ask`` and a Slack mention run the
same code with the same configuration. Operations hang off the same object: one
metrics registry, one rate limiter and one answer cache per app, shared by every
surface (and, for metrics, isolated between apps and tests).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from bot.access import Audience, Decision, decide
from bot.answer import Answerer
from bot.answer_cache import AnswerCache, CachingAnswerer
from bot.llm import LLM, OpenAIChat
from bot.ops.metrics import MeteredEmbedder, Metrics
from bot.ops.observe import Observer
from bot.ops.pricing import PriceTable
from bot.ops.ratelimit import RateLimiter
from bot.ops.status import collect_status
from bot.records import Records
from bot.rerank import Reranker
from bot.retrieve import Retriever
from ingest.embedding import Embedder, make_embedder, make_multilingual_embedder
from ingest.errors import ConfigError
from ingest.settings import Settings
from ingest.sources import Source, build_source
from ingest.store import StoreContract, open_store
from ingest.store.contract import MultilingualVectors
from ingest.sync import DeleteGuard, Progress, SyncReport, sync_sources

if TYPE_CHECKING:
    from ingest.schedule import SyncOutcome

log = logging.getLogger(__name__)


@dataclass
class Docbot:
    """Everything a surface (CLI, Slack, API) needs, built lazily from settings."""

    settings: Settings
    _embedder: Embedder | None = field(default=None, repr=False)
    _llm: LLM | None = field(default=None, repr=False)

    @cached_property
    def store(self) -> StoreContract:
        return open_store(self.settings)

    def close(self) -> None:
        """Release the store's connections, if it was opened (the CLI, when a command
        ends): a PostgreSQL pool's threads stop, and SQLite checkpoints and removes its
        write-ahead log at once instead of whenever the collector gets to it."""
        store = self.__dict__.get("store")
        if store is not None:
            store.close()

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            s = self.settings
            self._embedder = make_embedder(
                s.embedder, s.embed_model, api_key=s.openai_api_key, base_url=s.openai_base_url
            )
        return self._embedder

    @property
    def llm(self) -> LLM | None:
        if self._llm is None and self.settings.llm_enabled:
            s = self.settings
            assert s.openai_api_key is not None
            self._llm = OpenAIChat(
                s.chat_model, api_key=s.openai_api_key, base_url=s.openai_base_url,
                timeout=min(60.0, s.answer_timeout),
            )  # fmt: skip
        return self._llm

    @cached_property
    def reranker(self) -> Reranker | None:
        """The rerank step when ``DOCBOT_RERANK=llm``, or None: off, or no chat model
        (logged: the setting then changes nothing)."""
        if self.settings.rerank != "llm":
            return None
        if self.llm is None:
            log.warning(
                "DOCBOT_RERANK=llm needs a chat model (OPENAI_API_KEY): answering in the "
                "fused order"
            )
            return None
        return self.make_reranker()

    def make_reranker(self) -> Reranker:
        """A rerank with the configured chat model, whatever ``DOCBOT_RERANK`` says
        (``docbot eval --rerank`` measures it before it is switched on).

        It has client options of its own (:meth:`LLM.tuned`): no retries (a rerank
        retried after a 429 only delays the answer; the fused order is there at once),
        the rerank's timeout, temperature 0 and room for a list of numbers only."""
        s = self.settings
        llm = self.llm
        if llm is None:
            raise ConfigError(
                "the rerank needs a chat model: set OPENAI_API_KEY (and OPENAI_BASE_URL for "
                "an OpenAI-compatible server) and DOCBOT_CHAT_MODEL"
            )
        llm = llm.tuned(timeout=s.rerank_timeout, max_tokens=rerank_max_tokens(s.rerank_candidates))
        return Reranker(llm, candidates=s.rerank_candidates, timeout=s.rerank_timeout)

    @cached_property
    def metrics(self) -> Metrics:
        return Metrics()

    @cached_property
    def prices(self) -> PriceTable:
        return PriceTable()

    @cached_property
    def records(self) -> Records:
        return Records(self.store)

    @cached_property
    def observer(self) -> Observer:
        """Where every finished question and sync is recorded, counted and logged."""
        return Observer(self.records, self.metrics, self.prices)

    @cached_property
    def limiter(self) -> RateLimiter:
        """One budget for Slack and the JSON API (see :mod:`bot.ops.ratelimit`)."""
        return RateLimiter(self.settings.rate_limit_per_user, self.settings.rate_limit_global)

    @cached_property
    def answer_cache(self) -> AnswerCache:
        s = self.settings
        return AnswerCache(
            self.store, max_entries=s.answer_cache_size, ttl_seconds=s.answer_cache_ttl
        )

    @cached_property
    def metered_embedder(self) -> Embedder:
        """The embedder as retrieval and sync use it: calls counted in metrics."""
        return MeteredEmbedder(self.embedder, self.metrics)

    @cached_property
    def multilingual_embedder(self) -> Embedder | None:
        """The second embedder, for questions not in English (``ingest/multilingual.py``):
        None when ``DOCBOT_MULTILINGUAL_MODEL=off``, when the configured embedder reads
        every language itself (an OpenAI-compatible model), or when the store cannot
        keep a second vector set (PostgreSQL, for now: logged once)."""
        if getattr(self.embedder, "multilingual", True):
            return None
        if not isinstance(self.store, MultilingualVectors):
            if self.settings.multilingual_model != "off":
                log.warning(
                    "the %s store keeps no multilingual vectors yet: questions in other "
                    "languages are ranked with the English model and BM25",
                    self.store.backend,
                )
            return None
        inner = make_multilingual_embedder(self.settings.multilingual_model)
        return MeteredEmbedder(inner, self.metrics) if inner is not None else None

    @cached_property
    def retriever(self) -> Retriever:
        return Retriever(self.store, self.metered_embedder, multilingual=self.multilingual_embedder)

    @cached_property
    def answerer(self) -> Answerer:
        return CachingAnswerer(
            self.retriever, self.llm, self.answer_cache, on_lookup=self.metrics.observe_cache,
            context_tokens=self.settings.context_tokens, timeout=self.settings.answer_timeout,
            reranker=self.reranker,
        )  # fmt: skip

    def decide(self, audience: Audience) -> Decision:
        """Which documents an answer for ``audience`` may come from (``bot/access.py``).

        While no stored document is restricted, the asker's identity changes nothing,
        so it is left out: DM answers then share the answer cache with everyone."""
        decision = decide(self.settings, audience)
        if decision.scope.reader and not self.store.has_restricted():
            decision = replace(decision, scope=replace(decision.scope, reader=None))
        return decision

    def status(self) -> dict[str, Any]:
        """What ``docbot status``, App Home and ``/ask status`` show."""
        return collect_status(self.settings, self.store, self.records, self.answer_cache)

    def sources(self, name: str | None = None) -> list[Source]:
        configs = [self.settings.source(name)] if name else list(self.settings.sources)
        return [build_source(config, self.settings) for config in configs]

    def sync(
        self,
        name: str | None = None,
        *,
        full: bool = False,
        rebuild: bool = False,
        allow_mass_delete: bool = False,
        progress: Progress | None = None,
    ) -> list[SyncReport]:
        """Sync one or every configured source; a failing source does not stop the rest.

        ``rebuild`` builds a new index of every given source beside the live one and
        switches to it at the end (``ingest/rebuild.py``). Each run is counted in
        metrics and logged; cached answers whose cited chunks changed are purged
        afterwards (they would not be served anyway).
        """
        configs = [self.settings.source(name)] if name else list(self.settings.sources)
        unbuilt: dict[str, SyncReport] = {}
        sources: list[Source] = []
        for config in configs:
            try:
                sources.append(build_source(config, self.settings))
            except Exception as exc:  # reported and recorded per source, like a failed run
                unbuilt[config.name] = report = SyncReport(source=config.name, error=str(exc))
                self._record_unbuilt(report)
        guard = DeleteGuard(self.settings.mass_delete_share, allow=allow_mass_delete)
        synced = sync_sources(
            self.store, sources, self.metered_embedder, full=full, rebuild=rebuild,
            progress=progress, guard=guard, pii=self.settings.redact_pii,
            multilingual=self.multilingual_embedder,
        )  # fmt: skip
        by_name = {r.source: r for r in synced}
        reports = [unbuilt.get(c.name) or by_name.pop(c.name) for c in configs]
        reports += [r for r in by_name.values() if r.source not in unbuilt]  # carried over
        for report in reports:
            self.observer.finish_sync(report, purged=self._purge_cache(report))
        return reports

    def _record_unbuilt(self, report: SyncReport) -> None:
        """Record a source whose configuration could not be built as a failed run, so
        `docbot status`, App Home and alerts show it instead of its last good run."""
        try:
            run_id = self.store.start_run(report.source)
            self.store.finish_run(
                run_id, status=report.status, counts={}, seconds=0.0, error=report.error
            )
        except Exception:  # the report still reaches the caller
            log.warning("could not record the failed run of %s", report.source, exc_info=True)

    def _purge_cache(self, report: SyncReport) -> int:
        changed = report.added or report.updated or report.deleted or report.rebuild
        if not changed or not self.answer_cache.enabled:
            return 0
        try:
            purged = self.answer_cache.purge()
        except Exception:  # stale entries are never served; purging only saves space
            log.warning("could not purge the answer cache", exc_info=True)
            return 0
        self.metrics.cache_purged.inc(purged)
        return purged

    def on_sync_outcome(self, outcome: SyncOutcome) -> None:
        """The scheduler's ``on_result`` hook: reports were counted by :meth:`sync`;
        a run that raised instead is counted and logged here."""
        if outcome.exception is not None:
            self.metrics.observe_sync_error(outcome.source, outcome.seconds)
            log.error(
                "scheduled sync of source %s raised: %s", outcome.source, outcome.error,
                extra={"event": "sync", "source": outcome.source, "status": "error",
                       "seconds": round(outcome.seconds, 3), "error": outcome.error},
            )  # fmt: skip


def build(
    settings: Settings, *, embedder: Embedder | None = None, llm: LLM | None = None
) -> Docbot:
    """Wire docbot from settings; tests may pass their own embedder or LLM."""
    return Docbot(settings, _embedder=embedder, _llm=llm)


def rerank_max_tokens(candidates: int) -> int:
    """Room for a JSON array of every candidate's number (about three tokens each)."""
    return 8 * candidates + 32
