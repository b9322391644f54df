"""What docbot asks Slack about people and channels, cached for a few minutes.

- An asker's email (``users.info``, scope ``users:read.email``): the one identity a
  Slack user shares with Confluence, so restricted pages can be shown, in private,
  to the people allowed to read them. Only looked up where the answer is private.
- Whether a channel is shared with another organisation (Slack Connect): the event
  envelope says so (``is_ext_shared_channel``); a slash command does not, so
  ``conversations.info`` is asked. A channel Slack will not describe is taken as
  shared: it then gets only shareable sources, never more than it should.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.stream import slack_error

log = logging.getLogger(__name__)

TTL_SECONDS = 600.0
MAX_ENTRIES = 10_000


class SlackDirectory:
    """Cached answers to "what is this user's email" and "is this channel shared"."""

    def __init__(
        self, ttl: float = TTL_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, str], tuple[float, Any]] = OrderedDict()

    def _cached(self, key: tuple[str, str], fetch: Callable[[], Any]) -> Any:
        now = self.clock()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] > now:
                return hit[1]
        value = fetch()
        with self._lock:
            self._cache[key] = (now + self.ttl, value)
            self._cache.move_to_end(key)
            while len(self._cache) > MAX_ENTRIES:
                self._cache.popitem(last=False)
        return value

    def email(self, client: WebClient, user: str | None) -> str | None:
        """The user's email as Slack knows it, lower-cased; None if unknown."""
        if not user:
            return None

        def fetch() -> str | None:
            try:
                response = client.users_info(user=user)
            except SlackApiError as exc:
                log.warning("users.info failed (%s); answering from public pages only",
                            slack_error(exc))  # fmt: skip
                return None
            profile = (response.get("user") or {}).get("profile") or {}
            email = str(profile.get("email") or "").strip().lower()
            return email or None

        result: str | None = self._cached(("email", user), fetch)
        return result

    def is_shared(self, client: WebClient, channel: str, hint: bool | None = None) -> bool:
        """Is the channel shared with another organisation? ``hint`` is what the event
        envelope said, when it said anything."""
        if hint is not None:
            return hint

        def fetch() -> bool:
            try:
                info = client.conversations_info(channel=channel).get("channel") or {}
            except SlackApiError as exc:
                log.warning("conversations.info failed (%s); treating %s as shared with "
                            "another organisation", slack_error(exc), channel)  # fmt: skip
                return True
            return bool(info.get("is_ext_shared") or info.get("is_pending_ext_shared"))

        result: bool = self._cached(("shared", channel), fetch)
        return result
