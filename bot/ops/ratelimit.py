"""Questions per user (and overall) per minute, so one person or a runaway
integration cannot spend the whole LLM budget (``DOCBOT_RATE_LIMIT_PER_USER``,
``DOCBOT_RATE_LIMIT_GLOBAL``; 0 turns a limit off). In memory: a limit that resets
on restart is fine for politeness, and needs no shared state.

One limiter per process (``Docbot.limiter``) serves Slack and ``POST /api/ask``, so
the global limit is one budget for both; API clients are keyed by client address,
Slack askers by user id.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass

WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class Limited:
    """Why a question was refused, and when asking again will work."""

    scope: str  # "user" | "global"
    message: str  # polite, for the asker
    retry_after: int  # whole seconds, for an HTTP Retry-After header


class RateLimiter:
    def __init__(
        self,
        per_user: int,
        overall: int = 0,
        *,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_user = per_user
        self.overall = overall
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._users: defaultdict[str, deque[float]] = defaultdict(deque)
        self._all: deque[float] = deque()

    def limit(self, user: str | None) -> Limited | None:
        """Count a question; when a limit is reached, don't, and say why."""
        now = self._clock()
        with self._lock:
            key = user or "-"
            mine = self._users[key]
            for q in (mine, self._all):
                while q and q[0] <= now - self.window:
                    q.popleft()
            if self.per_user and len(mine) >= self.per_user:
                return Limited(
                    "user",
                    f"You've asked {self.per_user} questions in the last minute, which is my "
                    "limit per person. Please wait a moment and ask again.",
                    self._retry_after(mine, now),
                )
            if self.overall and len(self._all) >= self.overall:
                if not mine:
                    del self._users[key]  # keep the map from growing under a flood
                return Limited(
                    "global",
                    "I'm answering a lot of questions right now. Please ask again in a minute.",
                    self._retry_after(self._all, now),
                )
            mine.append(now)
            self._all.append(now)
            if len(self._users) > 10_000:
                self._forget_idle(now)
            return None

    def check(self, user: str | None) -> str | None:
        """:meth:`limit`'s message only (None when the question may go ahead)."""
        limited = self.limit(user)
        return limited.message if limited else None

    def _retry_after(self, times: deque[float], now: float) -> int:
        return max(1, math.ceil(times[0] + self.window - now)) if times else 1

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, q in self._users.items() if not q or q[-1] <= now - self.window]:
            del self._users[key]
