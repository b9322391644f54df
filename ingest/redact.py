"""Secrets found in documents are replaced before anything else sees the text.

Docs carry pasted credentials more often than anyone likes (an AWS key in a runbook, a
Slack token in a how-to, a private key in a setup page). Anything docbot stores, quotes
or sends to a model comes from the stored text, so redacting once at sync, before
chunking, keeps them out of the index, the answers, the prompts and the answers table.
A marker (``[secret removed: AWS Access Key]``) says what was there.

The patterns are those of Yelp's detect-secrets (the token formats of AWS, Azure,
GitHub, GitLab, Slack, Stripe, Twilio, OpenAI, JWTs, private keys, basic-auth URLs, ...,
kept up to date by that project), applied to whole documents with ``re``; its keyword
detector (``password: ...``, ``api_key = "..."``) runs on the lines that name a
secret-like word. Its file scanner itself is not used: it is built for code
repositories and cost ~11 ms per line here (about 2 minutes for an 884-page handbook),
where this costs ~1 ms per page. Its entropy detectors are left out: in prose they flag
ordinary words. Optional PII patterns (US social security numbers, payment card
numbers passing the Luhn check) are off unless ``DOCBOT_REDACT_PII`` is set.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cache

from ingest.models import Document

MARKER = "[secret removed: {kind}]"
PII_MARKER = "[personal data removed: {kind}]"
SKIPPED_DETECTORS = frozenset(
    {
        "Base64HighEntropyString",  # ordinary words in prose
        "HexHighEntropyString",  # commit hashes, colours
        "IPPublicDetector",  # addresses in docs are not secrets
        "KeywordDetector",  # run line by line below
    }
)
_KEYWORD_LINE = re.compile(
    r"pass(word|wd|phrase)?|secret|token|api[_-]?key|apikey|private[_-]?key|credential",
    re.IGNORECASE,
)
_PEM = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----.*?"
    r"(-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----|\Z)",
    re.DOTALL,
)
"""A whole private key block: detect-secrets flags its first line only, and the lines
after it are the key."""
_PLACEHOLDER = re.compile(r"^(?:[A-Z][A-Z0-9_]*|<[^>]*>|\{\{.*\}\}|\$.*|x{3,}|\*{3,}|REDACTED)$")
_SSN = re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b")
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")


@dataclass(frozen=True)
class _Detector:
    kind: str
    patterns: tuple[re.Pattern[str], ...]


@cache
def _detectors() -> tuple[tuple[_Detector, ...], object]:
    """detect-secrets' token patterns, and its keyword detector (built once)."""
    from detect_secrets.core.scan import get_plugins
    from detect_secrets.plugins.keyword import KeywordDetector
    from detect_secrets.settings import default_settings

    with default_settings():
        detectors = tuple(
            _Detector(plugin.secret_type, tuple(plugin.denylist))
            for plugin in get_plugins()
            if type(plugin).__name__ not in SKIPPED_DETECTORS and getattr(plugin, "denylist", None)
        )
    return detectors, KeywordDetector()


def _placeholder(value: str, line: str) -> bool:
    """A keyword's value that names a secret rather than being one: ``$TOKEN``,
    ``<password>``, ``SOURCEGRAPH_ADMIN_TOKEN``, ``{{ .secret }}``, ``REDACTED``
    (detect-secrets' own heuristics, plus the all-caps names of environment variables)."""
    from detect_secrets.filters import heuristic

    return bool(
        _PLACEHOLDER.match(value)
        or heuristic.is_templated_secret(value)
        or heuristic.is_prefixed_with_dollar_sign(value)
        or heuristic.is_indirect_reference(line)
        or heuristic.is_sequential_string(value)
    )


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _spans(text: str, pii: bool) -> list[tuple[int, int, str]]:
    """(start, end, marker) of everything to remove, overlaps merged, in order."""
    from detect_secrets.util.code_snippet import get_code_snippet

    detectors, keyword = _detectors()
    found: list[tuple[int, int, str]] = []
    for detector in detectors:
        for pattern in detector.patterns:
            for match in pattern.finditer(text):
                if match.end() > match.start():
                    found.append((match.start(), match.end(), MARKER.format(kind=detector.kind)))
    offset = 0
    for line in text.splitlines(keepends=True):
        if _KEYWORD_LINE.search(line):
            snippet = get_code_snippet([line.rstrip("\n")], 1)
            secrets = keyword.analyze_line(  # type: ignore[attr-defined]
                filename="config.yaml", line=line.rstrip("\n"), line_number=1, context=snippet
            )
            for secret in secrets or ():
                value = (secret.secret_value or "").strip("()\"'")
                if _placeholder(value, line):
                    continue
                at = line.find(value) if len(value) >= 6 else -1
                if at >= 0:
                    kind = MARKER.format(kind="Secret Keyword")
                    found.append((offset + at, offset + at + len(value), kind))
        offset += len(line)
    found += [(m.start(), m.end(), MARKER.format(kind="Private Key")) for m in _PEM.finditer(text)]
    if pii:
        found += [(m.start(), m.end(), PII_MARKER.format(kind="SSN")) for m in _SSN.finditer(text)]
        for match in _CARD.finditer(text):
            digits = re.sub(r"\D", "", match.group())
            if 13 <= len(digits) <= 19 and _luhn(digits):
                found.append((match.start(), match.end(), PII_MARKER.format(kind="card number")))
    found.sort()
    merged: list[tuple[int, int, str]] = []
    for start, end, marker in found:
        if merged and start < merged[-1][1]:
            last = merged[-1]
            merged[-1] = (last[0], max(last[1], end), last[2])
        else:
            merged.append((start, end, marker))
    return merged


def redact_text(text: str, *, pii: bool = False) -> tuple[str, list[str]]:
    """``text`` with secrets (and, with ``pii``, personal data) replaced by markers, and
    the kinds removed."""
    spans = _spans(text, pii)
    if not spans:
        return text, []
    out, kinds, last = [], [], 0
    for start, end, marker in spans:
        out.append(text[last:start])
        out.append(marker)
        kinds.append(marker)
        last = end
    out.append(text[last:])
    return "".join(out), kinds


def redact_document(doc: Document, *, pii: bool = False) -> tuple[Document, list[str]]:
    """The document with secrets removed from its title and body."""
    body, found = redact_text(doc.body, pii=pii)
    title, in_title = redact_text(doc.title, pii=pii)
    if not found and not in_title:
        return doc, []
    return replace(doc, body=body, title=title), found + in_title


def kinds_summary(kinds: Iterable[str]) -> str:
    """'2 × AWS Access Key, 1 × Slack Token' for a log line or a sync report."""
    counts: dict[str, int] = {}
    for marker in kinds:
        name = marker.split(": ", 1)[-1].rstrip("]")
        counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{n} × {k}" for k, n in sorted(counts.items()))
