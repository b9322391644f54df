"""``docbot feedback [--since 7d] [--json]``: what the docs are missing, for doc owners.

Built from the ``answers`` and ``feedback`` tables (every surface records there):

- **pages downvoted**: pages cited by 👎 answers, most downvoted first, with the
  questions they failed, so an owner sees which page to fix;
- **unanswered questions**: abstentions grouped by normalised question, most frequent
  first, with the closest pages docbot found, so an owner sees which page to write;
- then each 👎 answer and each abstention with its question, time, surface and
  sources, and failed questions separately (those are operational problems, not
  gaps in the docs; questions refused by a rate limit are only counted).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from bot.answer_cache import normalise_question
from bot.records import Records
from ingest.errors import InputError

_AGE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_QUESTIONS_PER_PAGE = 5
REFUSALS = frozenset({"not_shareable"})
"""Questions docbot declined on purpose (counted with the rate-limited ones)."""


def parse_since(text: str) -> timedelta:
    """'90m', '24h', '7d' or '2w'; InputError (one clear line) otherwise."""
    match = _AGE.match(text or "")
    if not match or int(match.group(1)) == 0:
        raise InputError(
            f"--since {text!r} is not an age; use a number and a unit: 90m, 24h, 7d or 2w"
        )
    return timedelta(**{_UNITS[match.group(2).lower()]: int(match.group(1))})


def _pages(sources_json: str | None) -> list[dict[str, str]]:
    try:
        sources = json.loads(sources_json or "[]")
    except ValueError:
        return []
    return [
        {"title": str(s.get("section") or s.get("title") or ""), "url": str(s.get("url") or "")}
        for s in sources
        if isinstance(s, dict)
    ]


def build_report(records: Records, since: datetime, until: datetime) -> dict[str, Any]:
    """The report as a plain dict (the ``--json`` shape)."""
    votes = records.votes_since(since)
    answers = records.answers_since(since, ("abstained", "failed"))
    downvoted: dict[str, dict[str, Any]] = {}
    for vote, surface in votes:
        if vote.vote != "down":
            continue
        entry = downvoted.setdefault(vote.answer_id, {
            "answer_id": vote.answer_id, "question": vote.question, "when": vote.created_at,
            "surface": surface, "downvotes": 0, "sources": _pages(vote.sources),
        })  # fmt: skip
        entry["downvotes"] += 1
    pages: dict[str, dict[str, Any]] = {}
    for entry in downvoted.values():
        for page in entry["sources"]:
            item = pages.setdefault(page["url"], {**page, "downvotes": 0, "questions": []})
            item["downvotes"] += entry["downvotes"]
            if entry["question"] and entry["question"] not in item["questions"]:
                item["questions"].append(entry["question"])
    for item in pages.values():
        item["questions"] = item["questions"][:MAX_QUESTIONS_PER_PAGE]

    abstained = [a for a in answers if a.outcome == "abstained"]
    groups: dict[str, list[Any]] = defaultdict(list)
    for a in abstained:
        groups[normalise_question(a.question)].append(a)
    unanswered = [
        {
            "question": rows[-1].question,
            "count": len(rows),
            "last_asked": rows[-1].created_at,
            "surfaces": sorted({r.surface for r in rows}),
            "closest": _pages(rows[-1].sources),
        }
        for rows in groups.values()
    ]
    unanswered.sort(key=lambda u: u["last_asked"], reverse=True)  # ties: most recent first
    unanswered.sort(key=lambda u: u["count"], reverse=True)
    failed = [a for a in answers if a.outcome == "failed"]
    refused = [a for a in failed if (a.error or "").endswith("_limit") or a.error in REFUSALS]
    failed = [a for a in failed if a not in refused]
    return {
        "since": since.isoformat(timespec="seconds"),
        "until": until.isoformat(timespec="seconds"),
        "summary": {
            "upvotes": sum(1 for v, _ in votes if v.vote == "up"),
            "downvotes": sum(1 for v, _ in votes if v.vote == "down"),
            "abstained": len(abstained),
            "failed": len(failed),
            "rate_limited": len(refused),
        },
        "pages_downvoted": sorted(pages.values(), key=lambda p: (-p["downvotes"], p["url"])),
        "unanswered_questions": unanswered,
        "downvoted": sorted(downvoted.values(), key=lambda d: d["when"], reverse=True),
        "abstained": [
            {
                "question": a.question,
                "when": a.created_at,
                "surface": a.surface,
                "closest": _pages(a.sources),
            }
            for a in reversed(abstained)
        ],
        "failed": [
            {"question": a.question, "when": a.created_at, "surface": a.surface, "error": a.error}
            for a in reversed(failed)
        ],
    }


def _when(iso: str | None) -> str:
    return (iso or "")[:16].replace("T", " ")


def _quote(text: str | None, limit: int = 120) -> str:
    text = " ".join((text or "").split())
    return f"“{text[:limit]}{'…' if len(text) > limit else ''}”"


def render_report(report: dict[str, Any], since_text: str) -> str:
    s = report["summary"]
    lines = [
        f"docbot feedback, last {since_text} (since {_when(report['since'])} UTC)",
        f"{s['upvotes']} 👍 · {s['downvotes']} 👎 · {s['abstained']} unanswered · "
        f"{s['failed']} failed · {s['rate_limited']} rate-limited",
    ]

    def section(title: str, body: list[str]) -> None:
        lines.extend(["", title, *(body or ["  none"])])

    section("Most downvoted pages", [
        line
        for p in report["pages_downvoted"]
        for line in [f"  {p['downvotes']} 👎  {p['title']} — {p['url']}",
                     *(f"        {_quote(q)}" for q in p["questions"])]
    ])  # fmt: skip
    section("Most frequent unanswered questions", [
        line
        for u in report["unanswered_questions"]
        for line in [
            f"  {u['count']}×  {_quote(u['question'])}  (last {_when(u['last_asked'])}, "
            f"{', '.join(u['surfaces'])})",
            *(f"        closest: {c['title']} — {c['url']}" for c in u["closest"][:3]),
        ]
    ])  # fmt: skip
    section("👎 answers", [
        line
        for d in report["downvoted"]
        for line in [
            f"  {_when(d['when'])}  {d['surface'] or '?'}  {_quote(d['question'])}"
            + (f"  ({d['downvotes']} 👎)" if d["downvotes"] > 1 else ""),
            *(f"        source: {p['title']} — {p['url']}" for p in d["sources"]),
        ]
    ])  # fmt: skip
    section("Failed questions (operational, not missing docs)", [
        f"  {_when(f['when'])}  {f['surface']}  {f['error']}  {_quote(f['question'])}"
        for f in report["failed"]
    ])  # fmt: skip
    return "\n".join(lines)
