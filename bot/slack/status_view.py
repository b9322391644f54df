"""docbot's health in Slack: the App Home tab and ``/ask status`` (ephemeral).

Pure Block Kit builders over :func:`bot.ops.status.collect_status`'s dict, the same data
``docbot status --json`` prints, so the terminal and Slack never disagree. The store
path is left out: it is the server's business, not the workspace's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.ops.status import progress_text
from bot.slack import mrkdwn as md
from bot.slack import ui
from bot.slack.ui import Block

MAX_SOURCES = 20  # a home tab holds 100 blocks; a long source list is summarised


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value / 1000:.1f} s" if value >= 1000 else f"{value:.0f} ms"


def _questions(data: dict[str, Any]) -> str:
    q = data.get("questions") or {}
    if not q:
        return "*Questions*: no data"
    text = (
        f"*Questions, last {q['hours']} h*: {q['answered']} answered · "
        f"{q['abstained']} not found in the docs · {q['failed']} failed"
    )
    if q.get("rate_limited"):
        text += f" ({q['rate_limited']} over the rate limit)"
    latency = q.get("latency_ms") or {}
    text += f"\nLatency p50 {_ms(latency.get('p50'))}, p95 {_ms(latency.get('p95'))}"
    if q.get("by_surface"):
        parts = [f"{name} {sum(counts.values())}" for name, counts in q["by_surface"].items()]
        text += f"\nBy surface: {', '.join(parts)}"
    return text


def _feedback_and_cache(data: dict[str, Any]) -> str:
    fb = data.get("feedback") or {}
    cache = data.get("answer_cache") or {}
    lines = []
    if fb:
        lines.append(f"*Feedback, last {fb['days']} days*: {fb['up']} 👍 · {fb['down']} 👎")
    if cache:
        if not cache.get("enabled", True):
            lines.append("*Answer cache*: off")
        elif cache.get("hit_rate") is None:
            lines.append(f"*Answer cache*: no lookups yet · {cache['entries']} answers cached")
        else:
            lines.append(
                f"*Answer cache*: {cache['hit_rate']:.0%} hit rate ({cache['hits']} of "
                f"{cache['lookups']}) · {cache['entries']} answers cached"
            )
    return "\n".join(lines)


STATUS_MARKS = {"ok": "✅", "partial": "⚠️", "held": "✋", "failed": "❌", "interrupted": "⏹️"}
TITLES = 3


def _changed(run: dict[str, Any]) -> str:
    """``added: A, B · deleted: C`` (a few titles per kind) for one run."""
    parts = []
    for kind, label in (("added", "added"), ("updated", "changed"), ("deleted", "deleted"),
                        ("failed", "failed"), ("held", "kept")):  # fmt: skip
        items = (run.get("changes") or {}).get(kind) or []
        if items:
            names = ", ".join(md.escape(str(i.get("title") or i["doc_id"]))[:80]
                              for i in items[:TITLES])  # fmt: skip
            more = f" +{len(items) - TITLES}" if len(items) > TITLES else ""
            parts.append(f"{label}: {names}{more}")
    return " · ".join(parts)


def _source_line(source: dict[str, Any]) -> str:
    name = md.escape(str(source["name"]))
    line = f"• *{name}* ({source['type'] or 'no longer configured'}): {source['documents']} pages"
    running = source.get("running")
    if running:
        line += f"\n    ⏳ syncing now: {progress_text(running.get('progress'))}"
    runs = [r for r in source.get("runs") or [source.get("last_run")] if r]
    done = next((r for r in runs if r["status"] != "running"), None)
    if done is None:
        return line if running else line + " — never synced"
    status = STATUS_MARKS.get(done["status"], done["status"])
    line += (
        f"\n    last sync {status} {done['started_at']} UTC: +{done['added']} ~{done['updated']} "
    )
    line += f"-{done['deleted']}"
    reason = done.get("reason") or done.get("error")
    if reason:
        line += f"\n    {md.escape(str(reason))[:300]}"
    changed = _changed(done)
    if changed:
        line += f"\n    {changed}"
    return line


def _rebuild(data: dict[str, Any]) -> str:
    rebuild = data.get("rebuild")
    if not rebuild:
        return ""
    state = (
        "in progress" if rebuild["running"] else "unfinished (`docbot sync --rebuild` resumes it)"
    )
    return (
        f"*Rebuild {state}*: {rebuild['documents']} pages built so far; answers come from the "
        "current index until the new one is complete"
    )


def status_blocks(data: dict[str, Any], now: datetime | None = None) -> list[Block]:
    """The health summary as blocks (fits a home tab and an ephemeral message)."""
    index = data["index"]
    model = data.get("chat_model") or "quoted passages (no language model configured)"
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": "docbot status"}},
        ui.section(
            f"*Knowledge base*: {index['documents']} pages, {index['chunks']} passages\n"
            f"*Answers*: {md.escape(model)}"
        ),
        ui.section(_questions(data)),
    ]
    extra = _feedback_and_cache(data)
    if extra:
        blocks.append(ui.section(extra))
    rebuild = _rebuild(data)
    if rebuild:
        blocks.append(ui.section(rebuild))
    sources = data.get("sources") or []
    lines = [_source_line(s) for s in sources[:MAX_SOURCES]]
    if len(sources) > MAX_SOURCES:
        lines.append(f"… and {len(sources) - MAX_SOURCES} more (`docbot status` lists all)")
    blocks.append(ui.section("*Sources*\n" + ("\n".join(lines) or "none configured")))
    moment = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    blocks.append(ui.context(f"Updated {moment} · `docbot status` shows the same"))
    return blocks


def status_text(data: dict[str, Any]) -> str:
    """Plain-text fallback (notifications, screen readers)."""
    q = data.get("questions") or {}
    index = data["index"]
    text = f"docbot: {index['documents']} pages indexed"
    if q:
        text += (
            f"; last {q['hours']} h: {q['answered']} answered, {q['abstained']} abstained, "
            f"{q['failed']} failed"
        )
    return text


def home_view(data: dict[str, Any]) -> dict[str, Any]:
    return {"type": "home", "blocks": status_blocks(data)}
