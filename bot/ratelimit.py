"""Questions per user (and overall) per minute, so one person or a runaway
integration cannot spend the whole LLM budget (``DOCBOT_RATE_LIMIT_PER_USER``,
``DOCBOT_RATE_LIMIT_GLOBAL``; 0 turns a limit off). In memory: a limit that resets
on restart is fine for politeness, and needs no shared state."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0


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

    def check(self, user: str | None) -> str | None:
        """Count a question; when a limit is reached, don't, and say why (for the user)."""
        now = self._clock()
        with self._lock:
            mine = self._users[user or "-"]
            for q in (mine, self._all):
                while q and q[0] <= now - self.window:
                    q.popleft()
            if self.per_user and len(mine) >= self.per_user:
                return (
                    f"You've asked {self.per_user} questions in the last minute, which is my "
                    "limit per person. Please wait a moment and ask again."
                )
            if self.overall and len(self._all) >= self.overall:
                return "I'm answering a lot of questions right now. Please ask again in a minute."
            mine.append(now)
            self._all.append(now)
            return None
