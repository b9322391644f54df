"""Admission control: bounded pools, so a flood waits a little and is then refused
visibly, instead of piling up where nobody sees it.

A :class:`BoundedPool` runs work on ``workers`` threads with at most ``queue`` more
items waiting. A place is *reserved* first (:meth:`BoundedPool.reserve`, never
blocking) and the work handed over later (:meth:`BoundedPool.run`): Slack's ack path
reserves a question's place the moment the event arrives, so "busy, try again
shortly" is said at once; the first visible reaction is then posted on another pool,
and only after it does the question join the answer workers, without ever losing
count of its place. Each surface has its own pools (Slack answers, short Slack calls,
``POST /api/ask``), so one surface's load cannot starve another.

Also here: how much of a refused question is kept (:func:`stored_question`): a
240 KB question that is refused for its length must not cost 240 KB of store.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

from bot.answer import MAX_QUESTION_CHARS

log = logging.getLogger(__name__)

STORED_PREFIX_CHARS = 500  # what is kept of a question too long to be answered


def stored_question(question: str) -> str:
    """The question as the answers table keeps it: whole when it can be answered (up to
    :data:`~bot.answer.MAX_QUESTION_CHARS` once spaces are collapsed), else a prefix
    marked as truncated, with the original length."""
    if len(question) <= MAX_QUESTION_CHARS:
        return question
    compact = " ".join(question.split())
    if len(compact) <= MAX_QUESTION_CHARS:
        return compact
    return f"{compact[:STORED_PREFIX_CHARS]} … [truncated: {len(compact):,} characters]"


class Slot:
    """A reserved place in a :class:`BoundedPool`; released exactly once, however often
    :meth:`release` is called (the work's end, a failure before it started, …)."""

    def __init__(self, pool: BoundedPool) -> None:
        self._pool = pool
        self._released = False
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        self._pool._give_back()


class BoundedPool:
    """``workers`` threads, at most ``workers + queue`` items admitted and not finished.

    ``executor`` replaces the threads (tests pass one that runs work at once). Work
    that raises is logged here: a Future nobody waits for would swallow it.
    """

    def __init__(
        self, workers: int, queue: int, *, name: str, executor: Executor | None = None
    ) -> None:
        if workers < 1 or queue < 0:
            raise ValueError(f"{name}: needs at least one worker and a queue of 0 or more")
        self.name = name
        self.workers = workers
        self.capacity = workers + queue
        self._executor = executor or ThreadPoolExecutor(workers, thread_name_prefix=name)
        self._lock = threading.Lock()
        self._taken = 0

    @property
    def pending(self) -> int:
        """Items admitted and not finished (running or waiting)."""
        with self._lock:
            return self._taken

    def reserve(self) -> Slot | None:
        """A place for one item, or None when the pool is full. Never blocks."""
        with self._lock:
            if self._taken >= self.capacity:
                return None
            self._taken += 1
        return Slot(self)

    def run(self, slot: Slot, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        """Run ``fn(*args)`` on the pool in the reserved place, freed when it ends."""

        def work() -> Any:
            try:
                return fn(*args)
            except Exception:
                log.exception("%s: work failed", self.name)
                return None
            finally:
                slot.release()

        try:
            return self._executor.submit(work)
        except RuntimeError:  # shut down: the place is not going to be used
            slot.release()
            raise

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any] | None:
        """Reserve and run in one step; None (and nothing runs) when the pool is full."""
        slot = self.reserve()
        if slot is None:
            log.warning("%s is full (%d waiting or running); work dropped", self.name,
                        self.capacity)  # fmt: skip
            return None
        return self.run(slot, fn, *args)

    def shutdown(self) -> None:
        """Stop taking work; what is running finishes on its own threads."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _give_back(self) -> None:
        with self._lock:
            self._taken -= 1
