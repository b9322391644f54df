"""The end of every question and every sync: recorded, counted and logged in one place.

Slack (all surfaces), ``POST /api/ask`` and ``docbot ask`` call
:meth:`Observer.finish_question` with the question's :class:`~bot.records.AnswerRecord`;
the row in ``answers``, the Prometheus counters and the one log line per request are
all made from that record, so ``docbot status``, ``/metrics`` and the logs agree on
what happened. The composition root (``bot.app``) owns one ``Observer`` per app, built
from its records, metrics and price table; nothing here needs the composed app.

The request line (logger ``bot.requests``, event ``answer``) carries ids, never
names or question text: ``request_id``, ``surface``, ``outcome``, ``error``,
``user_id``, ``channel``, ``mode``, ``model``, ``cache``, ``tokens_in``,
``tokens_out``, ``cost_usd``, ``cost_known``, ``sources`` (cited URLs) and
``timings_ms`` (``retrieve_ms``, ``generate_ms``, ``first_token_ms``, ``post_ms``,
``total_ms``, ...). Sync runs log event ``sync`` on logger ``bot.sync``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from bot.ops.metrics import Metrics
from bot.ops.pricing import PriceTable
from bot.records import AnswerRecord, Records
from ingest.errors import DocbotError
from ingest.sync import SyncReport

log = logging.getLogger(__name__)
request_log = logging.getLogger("bot.requests")
sync_log = logging.getLogger("bot.sync")


def cited_urls(record: AnswerRecord) -> list[str]:
    try:
        return [str(s.get("url")) for s in json.loads(record.sources or "[]") if s.get("url")]
    except (ValueError, AttributeError):
        return []


class Observer:
    """Records, counts and logs what happened, from one record or report each."""

    def __init__(self, records: Records, metrics: Metrics, prices: PriceTable) -> None:
        self.records = records
        self.metrics = metrics
        self.prices = prices

    def finish_question(self, record: AnswerRecord) -> None:
        """Price, store, count and log one finished question. Never raises: the asker
        already has their answer (or error), and bookkeeping must not take it away."""
        cost_known = True
        if record.model:
            cost = self.prices.cost(
                record.model, record.prompt_tokens or 0, record.completion_tokens or 0
            )
            record.cost_usd, cost_known = cost.usd, cost.known
        try:
            self.records.record_answer(record)
        except DocbotError as exc:  # the store's own one-line reason (a full disk, say)
            log.warning("could not record answer %s: %s", record.id, exc)
        except Exception:
            log.exception("could not record answer %s", record.id)
        try:
            self.metrics.observe_answer(record, cost_known=cost_known)
        except Exception:
            log.exception("could not count answer %s in metrics", record.id)
        # Bad input (an empty or oversized question) is the asker's to fix and was told
        # them; only real failures are warnings (a CLI user then sees one line, not two).
        failed = record.outcome == "failed" and record.error != "input"
        level = logging.WARNING if failed else logging.INFO
        timings = {k: round(v, 1) for k, v in record.timings.items() if v is not None}
        if record.latency_ms is not None:
            timings["total_ms"] = record.latency_ms
        fields: dict[str, Any] = {
            "event": "answer",
            "request_id": record.id,
            "surface": record.surface,
            "outcome": record.outcome,
            "error": record.error,
            "user_id": record.user_id,
            "channel": record.channel,
            "mode": record.mode,
            "model": record.model,
            "cache": record.cache,
            "tokens_in": record.prompt_tokens or 0,
            "tokens_out": record.completion_tokens or 0,
            "cost_usd": record.cost_usd,
            "cost_known": cost_known if record.model else None,
            "sources": cited_urls(record),
            "timings_ms": timings,
        }
        request_log.log(
            level,
            "%s question %s%s in %.0f ms (request %s)",
            record.surface,
            record.outcome,
            f" ({record.error})" if record.error else "",
            record.latency_ms or 0.0,
            record.id,
            extra=fields,
        )

    def finish_sync(self, report: SyncReport, *, purged: int = 0) -> None:
        """Count and log one source's sync run."""
        try:
            self.metrics.observe_sync(report)
        except Exception:
            log.exception("could not count the sync of %s in metrics", report.source)
        # INFO even for failures (the scheduler and the CLI already report those loudly);
        # WARNING when the mass-deletion guard held a run: nobody else says so.
        level = logging.WARNING if report.status == "held" else logging.INFO
        sync_log.log(
            level,
            "sync of source %s: %s in %.1fs (+%d ~%d -%d =%d, %d chunks embedded)%s",
            report.source, report.status, report.seconds, report.added, report.updated,
            report.deleted, report.unchanged, report.chunks_embedded,
            f": {report.reason}" if report.reason else "",
            extra={
                "event": "sync", "source": report.source, "status": report.status,
                "added": report.added, "updated": report.updated, "deleted": report.deleted,
                "unchanged": report.unchanged, "failed": report.failed,
                "chunks_embedded": report.chunks_embedded, "seconds": round(report.seconds, 3),
                "error": report.error, "reason": report.reason, "rebuild": report.rebuild,
                "would_delete": report.would_delete, "answers_purged": purged,
                "skipped": len(report.refused),
            },
        )  # fmt: skip
