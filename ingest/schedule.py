"""Keep the knowledge base fresh: one APScheduler interval job per source.

``docbot serve`` starts a :class:`SyncScheduler` beside the Slack app. Each source
is synced at its own interval (``every`` in docbot.toml, else
``DOCBOT_SYNC_INTERVAL``); a source with neither is only synced by hand. The
rules, and why:

- **First run at start-up** (``next_run_time=now``): a fresh deployment answers
  from current docs without waiting a whole interval; a restart over an unchanged
  source is cheap, since sync embeds nothing that has not changed.
- **Never two syncs of one source at once** (``max_instances=1``): a sync slower
  than its interval is not overlapped; the trigger that finds it still running is
  skipped and logged. Across processes (a manual ``docbot sync``) the lock in
  :mod:`ingest.locks` does the same job.
- **Missed runs collapse into one** (``coalesce=True``) and **a late run still
  runs** (``misfire_grace_time=None``): after a suspend, or while waiting behind
  another source's sync, the docs are synced once, late, rather than not at all.
  APScheduler's default grace of one second would silently drop such runs.
- **Syncs take turns** (``max_concurrent``, default 1): embedding is CPU-bound and
  shares the machine with the query path, so background syncs run one at a time.
- **A failing sync never stops the scheduler**: exceptions are caught in the job,
  logged with the source name and handed to ``on_result``; the next run is due as
  usual.
- Jobs run in daemon threads, one per running sync, so ``shutdown(wait=False)``
  lets the process exit at once (a ``ThreadPoolExecutor``'s threads are joined at
  interpreter exit, which would hold SIGTERM up until a long sync ends). Stopping
  mid-sync is safe: each document is replaced in its own transaction.

The sync itself is injected (``run_sync(name)``; ``bot`` passes
``lambda name: docbot.sync(name)``) because ``ingest`` never imports ``bot``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.executors.base import BaseExecutor, run_job
from apscheduler.schedulers.background import BackgroundScheduler

from ingest.errors import ConfigError
from ingest.settings import Settings
from ingest.sync import SyncReport

log = logging.getLogger(__name__)

RunSync = Callable[[str], object]
"""Syncs the named source; its return value (``list[SyncReport]``) goes to ``on_result``."""

JOB_PREFIX = "sync:"
DEFAULT_MAX_CONCURRENT = 1
_SEVERITY = {"ok": 0, "skipped": 0, "partial": 1, "held": 2, "failed": 3, "error": 4}


@dataclass(frozen=True)
class SyncOutcome:
    """What one scheduled run of one source came to (for logs, metrics, alerts)."""

    source: str
    started_at: datetime
    seconds: float
    result: object = None
    """What ``run_sync`` returned (``None`` when it raised)."""
    exception: Exception | None = None
    """What ``run_sync`` raised, if it did; sync failures are usually reports instead."""

    @property
    def reports(self) -> list[SyncReport]:
        """The :class:`SyncReport` objects in ``result`` (one, a list of them, or none)."""
        if isinstance(self.result, SyncReport):
            return [self.result]
        if isinstance(self.result, list | tuple):
            return [r for r in self.result if isinstance(r, SyncReport)]
        return []

    @property
    def status(self) -> str:
        """``error`` if ``run_sync`` raised, else the worst report status (``ok`` if none;
        ``skipped``, another sync holding the source, counts as ``ok``)."""
        if self.exception is not None:
            return "error"
        return max((r.status for r in self.reports), key=_SEVERITY.__getitem__, default="ok")

    @property
    def error(self) -> str | None:
        """One line saying what went wrong, or ``None``."""
        if self.exception is not None:
            return f"{type(self.exception).__name__}: {self.exception}"
        errors = [r.reason for r in self.reports if r.reason and r.status != "skipped"]
        return "; ".join(errors) or None


OnResult = Callable[[SyncOutcome], None]


def sync_intervals(settings: Settings) -> dict[str, float | None]:
    """Seconds between syncs of each configured source; ``None``: not scheduled."""
    return {s.name: s.every or settings.sync_interval for s in settings.sources}


class _DaemonThreadExecutor(BaseExecutor):
    """Runs each job in a daemon thread of its own (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self._threads: set[threading.Thread] = set()

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        def target() -> None:
            try:
                events = run_job(job, job._jobstore_alias, run_times, self._logger.name)
            except BaseException as exc:  # reported to the scheduler, like its own pool
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, events)
            finally:
                self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=target, name=f"docbot-{job.id}", daemon=True)
        self._threads.add(thread)
        thread.start()

    def shutdown(self, wait: bool = True) -> None:
        if wait:
            for thread in list(self._threads):
                thread.join()


class SyncScheduler:
    """Interval syncs of every scheduled source in background threads.

    ``intervals`` maps source names to seconds between syncs (``None``: never
    scheduled); :func:`sync_intervals` reads them from settings.
    """

    def __init__(
        self,
        intervals: Mapping[str, float | None],
        run_sync: RunSync,
        *,
        on_result: OnResult | None = None,
        max_concurrent: int = DEFAULT_MAX_CONCURRENT,
    ) -> None:
        self.intervals = {name: every for name, every in intervals.items() if every}
        self.unscheduled = [name for name, every in intervals.items() if not every]
        self.skipped: Counter[str] = Counter()
        """Triggers skipped per source because its previous sync was still running."""
        self._run_sync = run_sync
        self._on_result = on_result
        self._turns = threading.BoundedSemaphore(max_concurrent)
        self._stopping = threading.Event()
        self.scheduler = BackgroundScheduler(
            executors={"default": _DaemonThreadExecutor()}, timezone=UTC
        )
        self.scheduler.add_listener(self._on_skipped, EVENT_JOB_MAX_INSTANCES)

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    def start(self, *, paused: bool = False) -> SyncScheduler:
        """Add one job per scheduled source, each first due now, and start."""
        for name in self.unscheduled:
            log.info(
                "source %s is not synced on a schedule (set `every` in docbot.toml or "
                "DOCBOT_SYNC_INTERVAL); run `docbot sync --source %s` to sync it",
                name,
                name,
                extra={"source": name},
            )
        now = datetime.now(UTC)
        for name, every in self.intervals.items():
            self.scheduler.add_job(
                self._run,
                "interval",
                args=[name],
                id=JOB_PREFIX + name,
                name=f"sync {name}",
                seconds=every,
                next_run_time=now,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
                replace_existing=True,
            )
            log.info(
                "source %s: synced every %gs, first run now",
                name,
                every,
                extra={"source": name, "every_seconds": every},
            )
        self.scheduler.start(paused=paused)
        return self

    def trigger(self, name: str | None = None) -> None:
        """Make one source's (or every source's) next sync due now.

        A source whose sync is running is not run twice: the trigger is skipped.
        """
        names = [name] if name else list(self.intervals)
        for source in names:
            if source not in self.intervals:
                scheduled = ", ".join(self.intervals) or "none"
                raise ConfigError(f"source {source!r} is not scheduled (scheduled: {scheduled})")
            self.scheduler.modify_job(JOB_PREFIX + source, next_run_time=datetime.now(UTC))

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop scheduling. ``wait=True`` lets a running sync finish first;
        ``wait=False`` returns at once and does not hold up process exit.
        Syncs still waiting for their turn do not start. Safe to call twice."""
        self._stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)

    # --- inside the jobs ----------------------------------------------------

    def _run(self, name: str) -> None:
        """One scheduled sync: wait for a turn, run, log, report; never raise."""
        with self._turns:
            if self._stopping.is_set():
                log.info("sync of source %s not started: shutting down", name)
                return
            started_at, clock = datetime.now(UTC), time.monotonic()
            result: object = None
            exception: Exception | None = None
            try:
                result = self._run_sync(name)
            except Exception as exc:  # a failed run must not stop the schedule
                exception = exc
                log.exception("scheduled sync of source %s raised", name, extra={"source": name})
            outcome = SyncOutcome(name, started_at, time.monotonic() - clock, result, exception)
        _log_outcome(outcome)
        if self._on_result is not None:
            try:
                self._on_result(outcome)
            except Exception:  # a broken hook must not stop it either
                log.exception("on_result hook failed for source %s", name)

    def _on_skipped(self, event: JobSubmissionEvent) -> None:
        name = event.job_id.removeprefix(JOB_PREFIX)
        self.skipped[name] += 1
        log.info(
            "sync of source %s still running; this trigger was skipped",
            name,
            extra={"source": name},
        )


def _log_outcome(outcome: SyncOutcome) -> None:
    counts = ", ".join(
        f"+{r.added} ~{r.updated} -{r.deleted} ={r.unchanged}, {r.chunks_embedded} chunks embedded"
        for r in outcome.reports
    )
    status = outcome.status
    level = logging.INFO if status in ("ok", "skipped") else logging.WARNING
    log.log(
        level,
        "scheduled sync of source %s: %s in %.1fs%s%s",
        outcome.source,
        status,
        outcome.seconds,
        f" ({counts})" if counts else "",
        f": {outcome.error}" if outcome.error else "",
        extra={"source": outcome.source, "status": status, "seconds": outcome.seconds},
    )


def start_scheduler(
    settings: Settings,
    run_sync: RunSync,
    *,
    on_result: OnResult | None = None,
    max_concurrent: int = DEFAULT_MAX_CONCURRENT,
) -> SyncScheduler:
    """Build and start the scheduler for every configured source (``docbot serve``)."""
    return SyncScheduler(
        sync_intervals(settings), run_sync, on_result=on_result, max_concurrent=max_concurrent
    ).start()
