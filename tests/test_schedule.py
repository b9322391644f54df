"""The scheduler and the store lock, driven without waiting for real intervals.

Every job is due at once (first run at start-up) or made due with
``SyncScheduler.trigger`` (``modify_job(next_run_time=now)``, which wakes
APScheduler's thread); intervals are an hour, so nothing fires by itself during a
test. Syncs that must be "in progress" block on a ``threading.Event`` the test
releases. Runs go through the real ``Docbot.sync`` into a real SQLite store with
``HashEmbedder``, so they land in ``docbot status``.
"""

from __future__ import annotations

import logging
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_SUBMITTED,
)

from bot.app import Docbot, build
from bot.retrieve import fts_query
from ingest.errors import ConfigError
from ingest.locks import SourceBusy, lock_path, source_lock
from ingest.models import Chunk, Document
from ingest.schedule import JOB_PREFIX, SyncOutcome, SyncScheduler, sync_intervals
from ingest.settings import Settings, SourceConfig
from ingest.store import Store
from tests.fakes.embedders import HashEmbedder

HOUR = 3600.0
WAIT = 5.0  # seconds a test waits for something that should take milliseconds

REPO = Path(__file__).resolve().parent.parent


# --- helpers ----------------------------------------------------------------


def write_docs(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def make_settings(tmp_path: Path, *, sync_interval: float | None = 2 * HOUR) -> Settings:
    """Three sources: one with its own ``every``, one on the global interval, and
    one with neither when ``sync_interval`` is None."""
    handbook = write_docs(
        tmp_path / "handbook",
        {
            "expenses.md": "# Expenses\n\nThe meal allowance is 40 euros per day.\n",
            "travel.md": "# Travel\n\nBook trains through the travel desk.\n",
        },
    )
    runbooks = write_docs(
        tmp_path / "runbooks", {"deploy.md": "# Deploy\n\nRun the deploy pipeline.\n"}
    )
    return Settings(
        db_path=tmp_path / "docbot.db",
        sources=(
            SourceConfig(name="handbook", type="markdown", path=str(handbook), every=HOUR),
            SourceConfig(name="runbooks", type="markdown", path=str(runbooks)),
        ),
        sync_interval=sync_interval,
    )


class Outcomes:
    """An ``on_result`` hook that a test can wait on.

    ``on_result`` is called inside the job, so a run is over (and a new trigger
    will not be skipped as an overlap) only once APScheduler reports the job
    executed; :meth:`next` waits for both.
    """

    def __init__(self) -> None:
        self._outcomes: queue.Queue[SyncOutcome] = queue.Queue()
        self._finished: queue.Queue[object] = queue.Queue()

    def __call__(self, outcome: SyncOutcome) -> None:
        self._outcomes.put(outcome)

    def attach(self, sched: SyncScheduler) -> SyncScheduler:
        sched.scheduler.add_listener(self._finished.put, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        return sched

    def next(self) -> SyncOutcome:
        outcome = self._outcomes.get(timeout=WAIT)
        self._finished.get(timeout=WAIT)
        return outcome

    def take(self, n: int) -> dict[str, SyncOutcome]:
        outcomes = [self.next() for _ in range(n)]
        return {o.source: o for o in outcomes}


class GatedSync:
    """``run_sync`` that can be held at its start, counting calls and overlap."""

    def __init__(self, sync: Callable[[str], object]) -> None:
        self.sync = sync
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.calls: list[str] = []
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def __call__(self, name: str) -> object:
        with self._lock:
            self.calls.append(name)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            self.entered.set()
            assert self.release.wait(WAIT), "the test never released the sync"
            return self.sync(name)
        finally:
            with self._lock:
                self.active -= 1


@pytest.fixture
def app(tmp_path: Path) -> Docbot:
    return build(make_settings(tmp_path), embedder=HashEmbedder())


@pytest.fixture
def schedulers() -> Iterator[list[SyncScheduler]]:
    """Schedulers a test started; shut down even when the test fails."""
    started: list[SyncScheduler] = []
    yield started
    for sched in started:
        sched.shutdown(wait=False)


def texts(app: Docbot, query: str) -> list[str]:
    """The passages ``docbot ask`` would get for ``query``, best first."""
    return [hit.text for hit in app.retriever.search(query, k=3).hits]


def keyword_hits(app: Docbot, word: str) -> int:
    """How many chunks contain ``word`` (FTS5; the hybrid search always returns some)."""
    return len(app.store.fts_search(fts_query(word), 10))


# --- configuration ------------------------------------------------------------


def test_intervals_come_from_every_else_the_global_interval(tmp_path: Path) -> None:
    assert sync_intervals(make_settings(tmp_path)) == {"handbook": HOUR, "runbooks": 2 * HOUR}
    assert sync_intervals(make_settings(tmp_path, sync_interval=None)) == {
        "handbook": HOUR,
        "runbooks": None,
    }


def test_one_job_per_scheduled_source_with_its_interval(
    tmp_path: Path, schedulers: list[SyncScheduler], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ingest.schedule")
    app = build(make_settings(tmp_path, sync_interval=None), embedder=HashEmbedder())
    sched = SyncScheduler(sync_intervals(app.settings), app.sync)
    schedulers.append(sched)
    before = datetime.now(UTC)
    sched.start(paused=True)  # jobs are added but none runs

    jobs = {job.id: job for job in sched.scheduler.get_jobs()}
    assert list(jobs) == [JOB_PREFIX + "handbook"]
    job = jobs[JOB_PREFIX + "handbook"]
    assert job.trigger.interval == timedelta(seconds=HOUR)
    assert before <= job.next_run_time <= datetime.now(UTC)  # first run: at start-up
    assert (job.max_instances, job.coalesce, job.misfire_grace_time) == (1, True, None)
    assert sched.unscheduled == ["runbooks"]
    assert "source runbooks is not synced on a schedule" in caplog.text
    with pytest.raises(ConfigError, match="'runbooks' is not scheduled"):
        sched.trigger("runbooks")


# --- runs -------------------------------------------------------------------


def test_first_run_at_start_up_lands_in_status(
    app: Docbot, schedulers: list[SyncScheduler]
) -> None:
    outcomes = Outcomes()
    sched = SyncScheduler(sync_intervals(app.settings), app.sync, on_result=outcomes)
    schedulers.append(outcomes.attach(sched).start())

    got = outcomes.take(2)
    assert set(got) == {"handbook", "runbooks"}
    assert got["handbook"].status == "ok"
    assert [r.added for r in got["handbook"].reports] == [2]
    assert got["handbook"].error is None

    status = {s["name"]: s for s in app.status()["sources"]}
    assert status["handbook"]["last_run"]["status"] == "ok"
    assert status["handbook"]["documents"] == 2
    assert status["runbooks"]["last_run"]["added"] == 1
    assert "40 euros" in texts(app, "meal allowance")[0]


def test_a_second_trigger_while_a_sync_runs_is_skipped_not_overlapped(
    app: Docbot, schedulers: list[SyncScheduler]
) -> None:
    gated = GatedSync(app.sync)
    gated.release.clear()
    outcomes = Outcomes()
    sched = SyncScheduler({"handbook": HOUR}, gated, on_result=outcomes)
    skipped = threading.Event()
    sched.scheduler.add_listener(lambda event: skipped.set(), EVENT_JOB_MAX_INSTANCES)
    schedulers.append(outcomes.attach(sched).start())

    assert gated.entered.wait(WAIT)
    sched.trigger("handbook")  # due now, but the first run is still going
    assert skipped.wait(WAIT)
    assert sched.skipped["handbook"] == 1
    gated.release.set()
    assert outcomes.next().status == "ok"

    job = sched.scheduler.get_job(JOB_PREFIX + "handbook")
    assert job.next_run_time > datetime.now(UTC) + timedelta(minutes=59)  # nothing queued
    assert gated.calls == ["handbook"]

    sched.trigger()  # once the run is over, a trigger runs it again
    assert outcomes.next().status == "ok"
    assert gated.calls == ["handbook", "handbook"]
    assert gated.max_active == 1


def test_missed_runs_collapse_into_one_late_run(
    app: Docbot, schedulers: list[SyncScheduler]
) -> None:
    outcomes = Outcomes()
    gated = GatedSync(app.sync)
    sched = SyncScheduler({"handbook": HOUR}, gated, on_result=outcomes)
    schedulers.append(outcomes.attach(sched).start(paused=True))
    # As if the machine had slept through five runs: all due, the oldest 5 h late.
    sched.scheduler.modify_job(
        JOB_PREFIX + "handbook", next_run_time=datetime.now(UTC) - timedelta(hours=5)
    )
    sched.scheduler.resume()

    assert outcomes.next().status == "ok"  # run, however late (no misfire drop)
    job = sched.scheduler.get_job(JOB_PREFIX + "handbook")
    assert job.next_run_time > datetime.now(UTC)
    assert gated.calls == ["handbook"]  # coalesced: once, not five times


def test_an_exception_in_one_run_does_not_stop_later_runs(
    app: Docbot, schedulers: list[SyncScheduler], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ingest.schedule")
    calls: list[str] = []

    def flaky(name: str) -> object:
        calls.append(name)
        if len(calls) == 1:
            raise RuntimeError("embedding server fell over")
        return app.sync(name)

    def hook(outcome: SyncOutcome) -> None:
        outcomes(outcome)
        if len(calls) == 1:
            raise ValueError("a broken hook must not stop the schedule either")

    outcomes = Outcomes()
    sched = SyncScheduler({"handbook": HOUR}, flaky, on_result=hook)
    schedulers.append(outcomes.attach(sched).start())

    first = outcomes.next()
    assert (first.status, first.result) == ("error", None)
    assert first.error == "RuntimeError: embedding server fell over"
    assert "scheduled sync of source handbook raised" in caplog.text
    assert sched.running

    sched.trigger("handbook")
    second = outcomes.next()
    assert second.status == "ok"
    assert calls == ["handbook", "handbook"]
    assert "on_result hook failed for source handbook" in caplog.text  # logged, survived


def test_a_failed_sync_is_reported_and_logged_as_a_warning(
    app: Docbot, schedulers: list[SyncScheduler], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ingest.schedule")
    app.sync("handbook")
    for file in Path(app.settings.source("handbook").path or "").iterdir():
        file.unlink()
    Path(app.settings.source("handbook").path or "").rmdir()
    outcomes = Outcomes()
    sched = SyncScheduler({"handbook": HOUR}, app.sync, on_result=outcomes)
    schedulers.append(outcomes.attach(sched).start())

    outcome = outcomes.next()
    assert outcome.status == "failed"
    assert "does not exist" in (outcome.error or "")
    line = next(r for r in caplog.records if r.getMessage().startswith("scheduled sync"))
    assert line.levelno == logging.WARNING
    assert "source handbook: failed" in line.getMessage()
    assert "40 euros" in texts(app, "meal allowance")[0]  # the last good state stays


# --- shutdown -----------------------------------------------------------------


def test_shutdown_waits_for_the_running_sync(app: Docbot, schedulers: list[SyncScheduler]) -> None:
    gated = GatedSync(app.sync)
    gated.release.clear()
    outcomes = Outcomes()
    sched = SyncScheduler({"handbook": HOUR}, gated, on_result=outcomes)
    schedulers.append(outcomes.attach(sched).start())
    assert gated.entered.wait(WAIT)

    stopper = threading.Thread(target=sched.shutdown, kwargs={"wait": True})
    stopper.start()
    stopper.join(0.2)
    assert stopper.is_alive()  # still waiting for the sync
    gated.release.set()
    stopper.join(WAIT)
    assert not stopper.is_alive()
    assert not sched.running
    assert outcomes.next().status == "ok"
    sched.shutdown()  # a second call is harmless


def test_shutdown_without_waiting_returns_at_once_and_queued_syncs_never_start(
    app: Docbot, schedulers: list[SyncScheduler]
) -> None:
    gated = GatedSync(app.sync)
    gated.release.clear()
    sched = SyncScheduler(sync_intervals(app.settings), gated, max_concurrent=1)
    submitted: queue.Queue[object] = queue.Queue()
    sched.scheduler.add_listener(submitted.put, EVENT_JOB_SUBMITTED)
    before = set(threading.enumerate())
    schedulers.append(sched.start())
    submitted.get(timeout=WAIT)
    submitted.get(timeout=WAIT)
    assert gated.entered.wait(WAIT)  # one source syncs, the other waits for its turn
    workers = [t for t in set(threading.enumerate()) - before if t.name.startswith("docbot-")]
    assert len(workers) == 2
    assert all(t.daemon for t in workers)  # cannot hold up process exit

    sched.shutdown(wait=False)
    assert not sched.running
    gated.release.set()
    for worker in workers:
        worker.join(WAIT)
    assert len(gated.calls) == 1  # the waiting source was not started after shutdown


# --- readers during a sync ------------------------------------------------------


class GatedStore(Store):
    """A real Store whose document writes can be held open before they commit."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.hold = False
        self.inside = threading.Event()
        self.release = threading.Event()

    def replace_document(
        self, doc: Document, chunks: Sequence[Chunk], vectors: Sequence[bytes]
    ) -> None:
        with self.transaction():  # the real write nests inside: uncommitted until we leave
            super().replace_document(doc, chunks, vectors)
            if self.hold:
                self.inside.set()
                assert self.release.wait(WAIT), "the test never released the write"


def test_readers_see_the_last_good_state_until_the_sync_commits(
    app: Docbot, schedulers: list[SyncScheduler]
) -> None:
    store = GatedStore(app.settings.db_path)
    app.store = store  # type: ignore[misc]  # the writer: the scheduler's Docbot
    app.sync("handbook")
    reader = build(app.settings, embedder=HashEmbedder())  # like the Slack side
    assert "40 euros" in texts(reader, "meal allowance")[0]

    expenses = Path(app.settings.source("handbook").path or "") / "expenses.md"
    expenses.write_text("# Expenses\n\nThe meal allowance is 55 euros per day.\n")
    store.hold = True
    outcomes = Outcomes()
    sched = SyncScheduler({"handbook": HOUR}, app.sync, on_result=outcomes)
    schedulers.append(outcomes.attach(sched).start())
    assert store.inside.wait(WAIT)  # the new version is written, not yet committed

    assert "40 euros" in texts(reader, "meal allowance")[0]
    assert keyword_hits(reader, "55") == 0
    running = {s["name"]: s for s in reader.status()["sources"]}["handbook"]
    assert running["last_run"]["status"] == "running"

    store.release.set()
    assert outcomes.next().status == "ok"
    assert "55 euros" in texts(reader, "meal allowance")[0]
    assert keyword_hits(reader, "40") == 0


# --- the cross-process lock -----------------------------------------------------


def test_source_lock_excludes_a_second_holder_in_the_same_process(tmp_path: Path) -> None:
    db = tmp_path / "docbot.db"
    with source_lock(db, "handbook"):
        busy = r"'handbook' is already being synced \(process"
        with pytest.raises(SourceBusy, match=busy), source_lock(db, "handbook"):
            pass
        with source_lock(db, "runbooks"):  # other sources are independent
            pass
        with pytest.raises(SourceBusy), source_lock(db, "handbook", timeout=0.2):
            pass
    with source_lock(db, "handbook"):  # released on exit
        pass
    assert lock_path(db, "handbook") == tmp_path / ".docbot.db.sync-handbook.lock"


HOLDER = """
import sys
from ingest.errors import ConfigError
from ingest.locks import source_lock
with source_lock(sys.argv[1], "handbook"):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_source_lock_excludes_another_process_and_dies_with_it(tmp_path: Path) -> None:
    db = tmp_path / "docbot.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(SourceBusy, match=f"process {holder.pid}"), source_lock(db, "handbook"):
            pass
        holder.kill()  # even SIGKILL releases it: no stale lock to clean up
        holder.wait(WAIT)
        with source_lock(db, "handbook", timeout=WAIT):
            pass
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(WAIT)
        for stream in (holder.stdin, holder.stdout):
            if stream is not None:
                stream.close()
