"""Prometheus metrics: what docbot is doing, for dashboards and alerts.

Each :class:`~bot.app.Docbot` owns one :class:`Metrics` with its own
``CollectorRegistry`` (never the process-global one), so two apps in one process,
or two tests, never share counts. Exposed on ``GET /metrics`` in HTTP mode and on
``DOCBOT_METRICS_PORT`` (prometheus_client's own server) when set.

Everything a request counts is taken from its finished
:class:`~bot.records.AnswerRecord`, the same row ``docbot status`` and ``docbot
feedback`` read, so the three never disagree about what happened. Names:

- ``docbot_questions_total{surface,outcome}``: answered | abstained | failed;
  ``docbot_question_errors_total{surface,error}``: why the failed ones failed;
  ``docbot_question_duration_seconds{surface}``: end to end, Slack posts included;
- ``docbot_retrieval_duration_seconds``; ``docbot_rerank_duration_seconds`` (with
  ``DOCBOT_RERANK=llm``: the rerank step, fallbacks included);
  ``docbot_llm_response_duration_seconds{model}``
  and ``docbot_llm_first_token_seconds{model}``;
- ``docbot_llm_tokens_total{model,kind}`` (prompt | completion),
  ``docbot_llm_cost_usd_total{model}``, ``docbot_llm_price_known{model}``;
- ``docbot_embedding_calls_total{kind}``, ``docbot_embedding_texts_total{kind}``,
  ``docbot_embedding_tokens_total{kind}`` (kind: query | document; tokens estimated
  as characters / 4);
- ``docbot_sync_runs_total{source,status}`` (ok | partial | held | skipped | failed |
  error), ``docbot_sync_duration_seconds{source}``,
  ``docbot_sync_documents_total{source,change}``, ``docbot_sync_chunks_embedded_total``,
  ``docbot_sync_held_deletions_total{source}`` (documents the mass-deletion guard kept),
  ``docbot_sync_last_success_timestamp_seconds{source}``;
- ``docbot_answer_cache_lookups_total{result}`` (hit | miss | stale),
  ``docbot_answer_cache_purged_total``; ``docbot_rate_limited_total{surface,scope}``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import prometheus_client
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from bot.records import AnswerRecord
from ingest.embedding import Embedder
from ingest.sync import SyncReport

# ``*_created`` series double every counter and nobody graphs them.
prometheus_client.disable_created_metrics()

QUESTION_BUCKETS = (0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)
RETRIEVAL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
LLM_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60)
SYNC_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 3 * 3600)
CHARS_PER_TOKEN = 4


class Metrics:
    """Every docbot metric, registered in a registry of its own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.questions = Counter(
            "docbot_questions", "Questions by surface and outcome (answered, abstained, failed).",
            ["surface", "outcome"], registry=r,
        )  # fmt: skip
        self.question_errors = Counter(
            "docbot_question_errors", "Failed questions by surface and error kind.",
            ["surface", "error"], registry=r,
        )  # fmt: skip
        self.question_seconds = Histogram(
            "docbot_question_duration_seconds", "Time from question to finished answer.",
            ["surface"], buckets=QUESTION_BUCKETS, registry=r,
        )  # fmt: skip
        self.retrieval_seconds = Histogram(
            "docbot_retrieval_duration_seconds", "Hybrid retrieval time per question.",
            buckets=RETRIEVAL_BUCKETS, registry=r,
        )  # fmt: skip
        self.rerank_seconds = Histogram(
            "docbot_rerank_duration_seconds",
            "Rerank time per question (DOCBOT_RERANK=llm), fallbacks included.",
            buckets=LLM_BUCKETS, registry=r,
        )  # fmt: skip
        self.llm_seconds = Histogram(
            "docbot_llm_response_duration_seconds", "Chat model time per answer.",
            ["model"], buckets=LLM_BUCKETS, registry=r,
        )  # fmt: skip
        self.llm_first_token = Histogram(
            "docbot_llm_first_token_seconds", "Time to the chat model's first token.",
            ["model"], buckets=LLM_BUCKETS, registry=r,
        )  # fmt: skip
        self.llm_tokens = Counter(
            "docbot_llm_tokens", "Chat model tokens by model and kind (prompt, completion).",
            ["model", "kind"], registry=r,
        )  # fmt: skip
        self.llm_cost = Counter(
            "docbot_llm_cost_usd", "Estimated chat model cost in US dollars (list prices).",
            ["model"], registry=r,
        )  # fmt: skip
        self.llm_price_known = Gauge(
            "docbot_llm_price_known", "1 if the model has a list price, 0 if counted as $0.",
            ["model"], registry=r,
        )  # fmt: skip
        self.embed_calls = Counter(
            "docbot_embedding_calls", "Embedding batches sent to the embedder.",
            ["kind"], registry=r,
        )  # fmt: skip
        self.embed_texts = Counter(
            "docbot_embedding_texts", "Texts embedded (query or document chunks).",
            ["kind"], registry=r,
        )  # fmt: skip
        self.embed_tokens = Counter(
            "docbot_embedding_tokens", "Estimated tokens embedded (characters / 4).",
            ["kind"], registry=r,
        )  # fmt: skip
        self.sync_runs = Counter(
            "docbot_sync_runs", "Sync runs by source and status (ok, partial, failed, error).",
            ["source", "status"], registry=r,
        )  # fmt: skip
        self.sync_seconds = Histogram(
            "docbot_sync_duration_seconds", "Sync run time per source.",
            ["source"], buckets=SYNC_BUCKETS, registry=r,
        )  # fmt: skip
        self.sync_documents = Counter(
            "docbot_sync_documents",
            "Documents per sync by change (added, updated, deleted, unchanged, failed).",
            ["source", "change"], registry=r,
        )  # fmt: skip
        self.sync_chunks = Counter(
            "docbot_sync_chunks_embedded", "Chunks embedded by syncs.", ["source"], registry=r
        )
        self.sync_held_deletions = Counter(
            "docbot_sync_held_deletions",
            "Documents a sync would have deleted but kept (the mass-deletion guard held it).",
            ["source"], registry=r,
        )  # fmt: skip
        self.sync_last_success = Gauge(
            "docbot_sync_last_success_timestamp_seconds",
            "Unix time of the source's last successful sync.", ["source"], registry=r,
        )  # fmt: skip
        self.cache_lookups = Counter(
            "docbot_answer_cache_lookups", "Answer cache lookups by result (hit, miss, stale).",
            ["result"], registry=r,
        )  # fmt: skip
        self.cache_purged = Counter(
            "docbot_answer_cache_purged", "Cached answers dropped as stale, expired or excess.",
            registry=r,
        )  # fmt: skip
        self.rate_limited = Counter(
            "docbot_rate_limited", "Questions refused by a rate limit (scope: user, global).",
            ["surface", "scope"], registry=r,
        )  # fmt: skip

    # --- what requests report ------------------------------------------------------

    def observe_answer(self, record: AnswerRecord, *, cost_known: bool = True) -> None:
        """Count one finished question from its record (see the module docstring)."""
        surface = record.surface
        self.questions.labels(surface, record.outcome).inc()
        if record.outcome == "failed":
            self.question_errors.labels(surface, record.error or "unknown").inc()
        if record.latency_ms is not None:
            self.question_seconds.labels(surface).observe(record.latency_ms / 1000)
        timings = record.timings
        if "retrieve_ms" in timings:
            self.retrieval_seconds.observe(timings["retrieve_ms"] / 1000)
        if "rerank_ms" in timings:
            self.rerank_seconds.observe(timings["rerank_ms"] / 1000)
        model = record.model
        if not model:
            return
        if "generate_ms" in timings:
            self.llm_seconds.labels(model).observe(timings["generate_ms"] / 1000)
        if timings.get("first_token_ms") is not None:
            self.llm_first_token.labels(model).observe(timings["first_token_ms"] / 1000)
        if record.prompt_tokens or record.completion_tokens:
            self.llm_tokens.labels(model, "prompt").inc(record.prompt_tokens or 0)
            self.llm_tokens.labels(model, "completion").inc(record.completion_tokens or 0)
            self.llm_cost.labels(model).inc(record.cost_usd or 0.0)
            self.llm_price_known.labels(model).set(1 if cost_known else 0)

    def observe_rate_limited(self, surface: str, scope: str) -> None:
        self.rate_limited.labels(surface, scope).inc()

    def observe_cache(self, result: str) -> None:
        self.cache_lookups.labels(result).inc()

    def observe_embedding(self, kind: str, texts: Sequence[str], calls: int = 1) -> None:
        self.embed_calls.labels(kind).inc(calls)
        self.embed_texts.labels(kind).inc(len(texts))
        chars = sum(len(t) for t in texts)
        self.embed_tokens.labels(kind).inc(math.ceil(chars / CHARS_PER_TOKEN))

    def observe_sync(self, report: SyncReport) -> None:
        source = report.source
        self.sync_runs.labels(source, report.status).inc()
        self.sync_seconds.labels(source).observe(report.seconds)
        for change in ("added", "updated", "deleted", "unchanged", "failed"):
            self.sync_documents.labels(source, change).inc(getattr(report, change))
        self.sync_documents.labels(source, "skipped").inc(len(report.refused))
        self.sync_chunks.labels(source).inc(report.chunks_embedded)
        if report.held:
            self.sync_held_deletions.labels(source).inc(report.would_delete)
        if report.status in ("ok", "partial"):
            self.sync_last_success.labels(source).set(time.time())

    def observe_sync_error(self, source: str, seconds: float) -> None:
        """A scheduled sync that raised instead of returning a report."""
        self.sync_runs.labels(source, "error").inc()
        self.sync_seconds.labels(source).observe(seconds)

    # --- exposition --------------------------------------------------------------------

    def render(self) -> bytes:
        """The text exposition format, for ``GET /metrics``."""
        return generate_latest(self.registry)

    content_type = CONTENT_TYPE_LATEST

    def serve(self, port: int, addr: str = "0.0.0.0") -> Callable[[], None]:
        """Serve ``/metrics`` on ``port`` in a daemon thread; returns a stop function."""
        server, thread = prometheus_client.start_http_server(port, addr, registry=self.registry)

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(5)

        return stop


class MeteredEmbedder(Embedder):
    """The configured embedder, counting its calls in :class:`Metrics`.

    A wrapper (not a change to each embedder) because embedders live in ``ingest``,
    which knows nothing of metrics. Query vectors are cached here (the base class's
    LRU), so a counted query call is one that really reached the model.
    """

    def __init__(self, inner: Embedder, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics
        self.model_id = inner.model_id
        self.batch_size = inner.batch_size

    @property
    def min_similarity(self) -> float:  # type: ignore[override]
        """The wrapped embedder's, read live (tests and tuning set it there)."""
        return self.inner.min_similarity

    def __getattr__(self, name: str) -> Any:
        """Anything else (``dim``, ``multilingual``, ...) is the wrapped embedder's."""
        if name == "inner":  # not yet set: avoid recursing during construction
            raise AttributeError(name)
        return getattr(self.inner, name)

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        self.metrics.observe_embedding("document", texts)
        return self.inner.embed_batch(texts)

    def embed(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        if texts:
            calls = math.ceil(len(texts) / max(self.inner.batch_size, 1))
            self.metrics.observe_embedding("document", texts, calls=calls)
        return self.inner.embed(texts, progress)

    def embed_query_uncached(self, text: str) -> np.ndarray:
        self.metrics.observe_embedding("query", [text])
        return self.inner.embed_query(text)
