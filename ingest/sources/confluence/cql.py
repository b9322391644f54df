"""CQL for the Confluence source: quoting, and the incremental sync window.

The window is the subtle part. CQL dates have minute precision and are read in the
*user's* time zone (the site's default if the user set none), not in UTC, so the
literal for "changed since the last run" must be written in that zone. When
``user/current`` does not report the zone (Data Center), the literal is moved back by
12 hours, which is early enough in every zone (UTC-12 is the farthest behind UTC);
fetching a page twice costs little, because sync skips unchanged content by hash.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

log = logging.getLogger(__name__)

UNKNOWN_ZONE_MARGIN = timedelta(hours=12)
CQL_DATE = "%Y-%m-%d %H:%M"


def quote_cql(value: str) -> str:
    """A CQL string literal: double quotes, with quotes and backslashes escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class Cursor:
    """What a scan hands the next one: when it started, and when the last full scan did."""

    since: datetime
    full_at: datetime

    def dump(self) -> str:
        return json.dumps({"since": self.since.isoformat(), "full_at": self.full_at.isoformat()})

    @classmethod
    def load(cls, raw: str | None) -> Cursor | None:
        """The stored cursor, or None when absent or unreadable (then a full scan runs)."""
        if not raw:
            return None
        try:
            data = json.loads(raw) if raw.lstrip().startswith("{") else {"since": raw}
            since = datetime.fromisoformat(data["since"])
            full_at = datetime.fromisoformat(data.get("full_at") or data["since"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring an unreadable Confluence cursor %r; doing a full scan", raw[:80])
            return None
        if since.tzinfo is None or full_at.tzinfo is None:
            return None
        return cls(since, full_at)


def cql_since(moment: datetime, zone: tzinfo | None) -> str:
    """A CQL date literal at or before ``moment`` however the server reads it.

    With the user's zone known, the wall-clock time there (the earlier reading when a
    DST fall-back makes it ambiguous); without it, UTC minus ``UNKNOWN_ZONE_MARGIN``.
    """
    if zone is None:
        return (moment.astimezone(UTC) - UNKNOWN_ZONE_MARGIN).strftime(CQL_DATE)
    local = moment.astimezone(zone).replace(tzinfo=None)
    latest = max(local.replace(tzinfo=zone, fold=f).astimezone(UTC) for f in (0, 1))
    if latest > moment:  # ambiguous wall time: step back until both readings are early enough
        local -= latest - moment
    return local.strftime(CQL_DATE)
