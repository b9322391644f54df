"""``docbot status``: what the knowledge base holds and how its syncs went.

One function collects a plain dict (the ``--json`` shape, also used by the Slack
health view) and one renders it for a terminal.
"""

from __future__ import annotations

from typing import Any

from bot.app import Docbot


def collect_status(app: Docbot) -> dict[str, Any]:
    store = app.store
    runs = store.last_runs()
    configured = {s.name: s for s in app.settings.sources}
    stats = store.stats()
    sources = []
    for name in sorted(set(configured) | set(runs)):
        run = runs.get(name)
        config = configured.get(name)
        sources.append(
            {
                "name": name,
                "type": config.type if config else None,
                "configured": config is not None,
                "every_seconds": (config.every or app.settings.sync_interval) if config else None,
                "documents": stats["documents_per_source"].get(name, 0),
                "last_success_at": _iso(store.last_success(name)),
                "last_run": None
                if run is None
                else {
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
                },
            }
        )
    return {
        "db": str(store.path),
        "index": {
            "documents": stats["documents"],
            "chunks": stats["chunks"],
            "bytes": stats["bytes"],
            "embed_model": stats["embed_model"],
            "embed_dim": stats["embed_dim"],
        },
        "chat_model": app.settings.chat_model if app.settings.llm_enabled else None,
        "sources": sources,
    }


def _iso(value: Any) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def render_status(data: dict[str, Any]) -> str:
    index = data["index"]
    lines = [
        f"store       {data['db']}  ({index['bytes'] / 1e6:.1f} MB)",
        f"index       {index['documents']} documents, {index['chunks']} chunks",
        f"embeddings  {index['embed_model'] or 'none yet (run docbot sync)'}",
        f"answers     {data['chat_model'] or 'extractive (no OPENAI_API_KEY)'}",
        "",
    ]
    if not data["sources"]:
        lines.append("sources     none configured (set DOCBOT_DOCS or add docbot.toml)")
    for s in data["sources"]:
        run = s["last_run"]
        kind = s["type"] or "no longer configured"
        lines.append(f"source {s['name']} ({kind}): {s['documents']} documents")
        if run is None:
            lines.append("  never synced")
            continue
        lines.append(
            f"  last run {run['started_at']}: {run['status']}; +{run['added']} ~{run['updated']} "
            f"-{run['deleted']} ={run['unchanged']}, {run['chunks_embedded']} chunks embedded, "
            f"{(run['seconds'] or 0):.1f}s"
        )
        if run["error"]:
            lines.append(f"  error: {run['error']}")
        if s["last_success_at"] and run["status"] == "failed":
            lines.append(f"  last success {s['last_success_at']} (still searchable)")
    return "\n".join(lines)
