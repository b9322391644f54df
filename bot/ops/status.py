"""``docbot status``: what the knowledge base holds, how its syncs went (the current
run's progress, and per source the last runs with the documents each added, changed,
deleted or failed to read, and why a run was held or interrupted), and how questions
fared (last 24 hours: outcomes, latency, answer cache; feedback of 7 days).

One function collects a plain dict (the ``--json`` shape, also used by the Slack
health view) and one renders it for a terminal. Question figures come from the
``answers`` table, so they cover every process that shares the store, not only the
one serving ``/metrics``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.answer_cache import AnswerCache
from bot.records import Records
from ingest.runs import settle_runs
from ingest.settings import Settings
from ingest.store import StoreContract, SyncRun
from ingest.store.contract import MultilingualVectors
from ingest.store.history import CHANGE_KINDS

QUESTION_WINDOW = timedelta(hours=24)
FEEDBACK_WINDOW = timedelta(days=7)
OUTCOMES = ("answered", "abstained", "failed")


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]


def question_summary(records: Records, now: datetime | None = None) -> dict[str, Any]:
    """Outcomes by surface, latency and answer-cache use over the last 24 hours."""
    now = now or datetime.now(UTC)
    rows = records.answers_since(now - QUESTION_WINDOW)
    totals = dict.fromkeys(OUTCOMES, 0)
    by_surface: dict[str, dict[str, int]] = {}
    for row in rows:
        totals[row.outcome] += 1
        surface = by_surface.setdefault(row.surface, dict.fromkeys(OUTCOMES, 0))
        surface[row.outcome] += 1
    latencies = [r.latency_ms for r in rows if r.outcome != "failed" and r.latency_ms is not None]
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    lookups = [r for r in rows if r.cache in ("hit", "miss", "stale")]
    hits = sum(1 for r in lookups if r.cache == "hit")
    return {
        "hours": int(QUESTION_WINDOW.total_seconds() // 3600),
        "total": len(rows),
        **totals,
        "rate_limited": sum(1 for r in rows if (r.error or "").endswith("_limit")),
        "latency_ms": {
            "p50": round(p50, 1) if p50 is not None else None,
            "p95": round(p95, 1) if p95 is not None else None,
        },
        "by_surface": dict(sorted(by_surface.items())),
        "cache": {
            "lookups": len(lookups),
            "hits": hits,
            "hit_rate": round(hits / len(lookups), 3) if lookups else None,
        },
        "cost_usd": round(sum(r.cost_usd or 0.0 for r in rows), 6),
    }


def feedback_summary(records: Records, now: datetime | None = None) -> dict[str, Any]:
    votes = records.votes_since((now or datetime.now(UTC)) - FEEDBACK_WINDOW)
    return {
        "days": FEEDBACK_WINDOW.days,
        "up": sum(1 for vote, _ in votes if vote.vote == "up"),
        "down": sum(1 for vote, _ in votes if vote.vote == "down"),
    }


RECENT_RUNS = 5
"""Runs per source in ``docbot status --json`` (the text shows the last three)."""


def run_json(run: SyncRun) -> dict[str, Any]:
    """One sync run as ``docbot status --json`` shows it, with the documents it changed."""
    return {
        "id": run.id,
        "kind": run.kind,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "status": run.status,
        "added": run.added,
        "updated": run.updated,
        "deleted": run.deleted,
        "unchanged": run.unchanged,
        "failed": run.failed,
        "chunks_embedded": run.chunks_embedded,
        "seconds": run.seconds,
        "error": run.error,
        "reason": run.reason,
        "progress": run.progress if run.status == "running" else None,
        "changes": {
            kind: [c.as_dict() for c in run.changes if c.change == kind] for kind in CHANGE_KINDS
        },
    }


def rebuild_json(store: StoreContract) -> dict[str, Any] | None:
    """The index being built beside the live one, if any (running, or left by a kill)."""
    state = store.build_state()
    if state is None:
        return None
    running = any(r.kind == "rebuild" for r in store.running_runs())
    return {
        "running": running,
        "embed_model": state.embed_model,
        "started_at": _iso(state.started_at),
        "documents": sum(state.documents.values()),
        "documents_per_source": state.documents,
    }


def collect_status(
    settings: Settings, store: StoreContract, records: Records, answer_cache: AnswerCache
) -> dict[str, Any]:
    """The ``docbot status --json`` shape (also App Home and ``/ask status``)."""
    settle_runs(store)  # runs whose process died are shown as interrupted, not running
    configured = {s.name: s for s in settings.sources}
    stats = store.stats()
    questions = question_summary(records)
    sources = []
    for name in sorted(set(configured) | set(store.last_runs())):
        runs = store.recent_runs(name, RECENT_RUNS)
        config = configured.get(name)
        current = next((r for r in runs if r.status == "running"), None)
        sources.append(
            {
                "name": name,
                "type": config.type if config else None,
                "configured": config is not None,
                "every_seconds": (config.every or settings.sync_interval) if config else None,
                "documents": stats["documents_per_source"].get(name, 0),
                "last_success_at": _iso(store.last_success(name)),
                "last_run": run_json(runs[0]) if runs else None,
                "running": run_json(current) if current else None,
                "runs": [run_json(r) for r in runs],
            }
        )
    return {
        "db": store.location,
        "backend": store.backend,
        "index": {
            "documents": stats["documents"],
            "chunks": stats["chunks"],
            "bytes": stats["bytes"],
            "embed_model": stats["embed_model"],
            "embed_dim": stats["embed_dim"],
            "vector_search": _vector_search(store),
            "multilingual": _multilingual(store, settings),
        },
        "rebuild": rebuild_json(store),
        "chat_model": settings.chat_model if settings.llm_enabled else None,
        "rerank": {
            "setting": settings.rerank,
            "active": settings.rerank == "llm" and settings.llm_enabled,
            "candidates": settings.rerank_candidates,
        },
        "sources": sources,
        "questions": questions,
        "feedback": feedback_summary(records),
        "answer_cache": {
            "hours": questions["hours"],
            "enabled": answer_cache.enabled,
            "entries": answer_cache.entries(),
            **questions["cache"],
        },
    }


def _multilingual(store: StoreContract, settings: Settings) -> dict[str, Any]:
    """The second vector set: its model and how many chunks it covers so far (an
    OpenAI-compatible embedder reads every language itself, so it has none; a store
    that cannot keep one, PostgreSQL for now, says ``supported: false``)."""
    setting = settings.multilingual_model if settings.embedder == "local" else "off"
    if not isinstance(store, MultilingualVectors):
        return {
            "setting": setting,
            "model": None,
            "chunks_covered": 0,
            "chunks": store.chunk_count(),
            "supported": False,
        }
    covered, chunks = store.multilingual_coverage()
    return {
        "setting": setting,
        "supported": True,
        "model": store.multilingual_model,
        "chunks_covered": covered,
        "chunks": chunks,
    }


def _vector_search(store: StoreContract) -> dict[str, Any]:
    plan = store.vector_plan()
    return {
        "mode": plan.mode,
        "pool_factor": plan.pool_factor,
        "coarse_recall_at_10": round(plan.recall, 3) if plan.recall is not None else None,
        "healthy": plan.healthy,
        "summary": plan.describe(),
    }


def _iso(value: Any) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


TEXT_RUNS = 3
TEXT_TITLES = 5


def progress_text(progress: dict[str, Any] | None) -> str:
    """``1,234/~5,000 chunks · 120/884 documents · ETA 1:12`` from a run's progress."""
    if not progress:
        return "starting"
    parts = []
    total, seen = progress.get("documents_total"), progress.get("documents_seen") or 0
    estimate = progress.get("chunks_estimate") or 0
    if estimate:
        approx = "~" if total and seen < total else ""
        parts.append(f"{progress.get('chunks_done', 0):,}/{approx}{estimate:,} chunks")
    parts.append(
        f"{progress.get('documents_done', 0):,}"
        + (f"/{total:,}" if total is not None else "")
        + " documents"
    )
    eta = progress.get("eta_seconds")
    if eta is not None:
        minutes, seconds = divmod(round(eta), 60)
        parts.append(f"ETA {minutes}:{seconds:02d}")
    return " · ".join(parts)


def _titles(items: list[dict[str, Any]], limit: int = TEXT_TITLES) -> str:
    names = [
        str(i.get("title") or i["doc_id"]) + (f" ({i['reason']})" if i.get("reason") else "")
        for i in items[:limit]
    ]
    more = f" … and {len(items) - limit} more" if len(items) > limit else ""
    return "; ".join(names) + more


def _run_lines(run: dict[str, Any]) -> list[str]:
    kind = " rebuild" if run.get("kind") == "rebuild" else ""
    if run["status"] == "running":
        return [f"  {run['started_at']}{kind} running: {progress_text(run.get('progress'))}"]
    lines = [
        f"  {run['started_at']}{kind} {run['status']}: +{run['added']} ~{run['updated']} "
        f"-{run['deleted']} ={run['unchanged']}, {run['chunks_embedded']} chunks embedded, "
        f"{(run['seconds'] or 0):.1f}s"
    ]
    reason = run.get("reason") or run.get("error")
    if reason:
        lines.append(f"    {'why' if run['status'] != 'failed' else 'error'}: {reason}")
    for kind_name, label in (("added", "added"), ("updated", "changed"), ("deleted", "deleted"),
                             ("failed", "failed"), ("held", "kept (held)")):  # fmt: skip
        items = (run.get("changes") or {}).get(kind_name) or []
        if items:
            lines.append(f"    {label}: {_titles(items)}")
    return lines


def _multilingual_lines(ml: dict[str, Any] | None) -> list[str]:
    if not ml or ml["setting"] == "off":
        note = "DOCBOT_MULTILINGUAL_MODEL=off, or an embedder that reads every language"
        return [f"languages   no multilingual vector set ({note})"] if ml else []
    if not ml["model"]:
        return [f"languages   {ml['setting']}: not filled yet (the next sync fills it)"]
    return [
        f"languages   {ml['model']} for questions not in English, "
        f"{ml['chunks_covered']} of {ml['chunks']} chunks"
    ]


def render_status(data: dict[str, Any]) -> str:
    index = data["index"]
    lines = [
        f"store       {data['db']}  ({data.get('backend', 'sqlite')}, "
        f"{index['bytes'] / 1e6:.1f} MB)",
        f"index       {index['documents']} documents, {index['chunks']} chunks",
        f"embeddings  {index['embed_model'] or 'none yet (run docbot sync)'}",
        *(
            [f"vectors     {index['vector_search']['summary']}"]
            if index.get("vector_search") and index["embed_model"]
            else []
        ),
        *_multilingual_lines(index.get("multilingual")),
        f"answers     {data['chat_model'] or 'extractive (no OPENAI_API_KEY)'}"
        + _rerank_note(data.get("rerank")),
        *_activity_lines(data),
    ]
    rebuild = data.get("rebuild")
    if rebuild:
        state = "running" if rebuild["running"] else "unfinished (resume: docbot sync --rebuild)"
        lines.append(
            f"rebuild     {state}: {rebuild['documents']} documents built with "
            f"{rebuild['embed_model']} since {rebuild['started_at']}; answers come from the "
            "current index until it is complete"
        )
    lines.append("")
    if not data["sources"]:
        lines.append("sources     none configured (set DOCBOT_DOCS or add docbot.toml)")
    for s in data["sources"]:
        kind = s["type"] or "no longer configured"
        lines.append(f"source {s['name']} ({kind}): {s['documents']} documents")
        runs = s.get("runs") or ([s["last_run"]] if s.get("last_run") else [])
        if not runs:
            lines.append("  never synced")
            continue
        for run in runs[:TEXT_RUNS]:
            lines.extend(_run_lines(run))
        last = runs[0]
        if s["last_success_at"] and last["status"] in ("failed", "interrupted", "held"):
            lines.append(f"  last success {s['last_success_at']} (still searchable)")
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.1f} s" if value >= 1000 else f"{value:.0f} ms"


def _activity_lines(data: dict[str, Any]) -> list[str]:
    """Questions, feedback and cache lines (older JSON without them renders none)."""
    q, fb, cache = data.get("questions"), data.get("feedback"), data.get("answer_cache")
    if not q or not fb or not cache:
        return []
    limited = f" ({q['rate_limited']} rate-limited)" if q["rate_limited"] else ""
    lines = [
        f"questions   last {q['hours']} h: {q['answered']} answered, {q['abstained']} "
        f"abstained, {q['failed']} failed{limited}; latency p50 {_ms(q['latency_ms']['p50'])}, "
        f"p95 {_ms(q['latency_ms']['p95'])}; est. cost ${q['cost_usd']:.4f}",
    ]
    if q["by_surface"]:
        parts = [f"{name} {sum(c.values())}" for name, c in q["by_surface"].items()]
        lines.append(f"            by surface: {', '.join(parts)}")
    lines.append(f"feedback    last {fb['days']} days: {fb['up']} 👍, {fb['down']} 👎")
    if not cache["enabled"]:
        lines.append("cache       off (DOCBOT_ANSWER_CACHE_SIZE=0)")
    else:
        rate = (
            "no lookups"
            if cache["hit_rate"] is None
            else f"{cache['hit_rate']:.0%} hit rate ({cache['hits']} of {cache['lookups']} lookups)"
        )
        entries = cache["entries"]
        lines.append(f"cache       last {cache['hours']} h: {rate}; answers cached: {entries}")
    return lines


def _rerank_note(rerank: dict[str, Any] | None) -> str:
    """What ``DOCBOT_RERANK`` does, after the answers line (nothing when it is off)."""
    if not rerank or rerank["setting"] == "off":
        return ""
    if not rerank["active"]:
        return " (DOCBOT_RERANK=llm does nothing without a chat model)"
    return f", reranking the top {rerank['candidates']} (DOCBOT_RERANK=llm)"
