"""Several replicas on one PostgreSQL: two real ``docbot serve --http`` processes behind
no load balancer but the test, sharing one database, the fake Slack Web API and the
fake OpenAI-compatible API (embeddings and chat).

- **One source, one sync at a time.** Both replicas run their start-up sync of the
  same source at once; the first embedding request is held for seconds by the fake
  API, so the other replica finds the source's advisory lock taken: it skips, and the
  store records exactly one run, never two overlapping.
- **One event, one answer.** Slack delivers one event to both replicas (a retry that a
  load balancer sent elsewhere); the claim in the database lets exactly one answer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ingest.settings import load_settings
from ingest.store import open_store
from tests.fakes import slack_payloads as P
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_server import FakeSlack
from tests.http_helpers import free_port, signed_event
from tests.slack_helpers import DOCS_URL, SECRET, VPN_QUESTION, is_final_answer, write_docs

pytestmark = pytest.mark.slow  # two server processes: about 15 s on a loaded 2-core box
REPO = Path(__file__).resolve().parent.parent
HOLD_SECONDS = 4.0


@pytest.fixture
def replicas(
    tmp_path: Path, pg_url: str, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> Iterator[list[tuple[str, Path]]]:
    """Two ``docbot serve --http`` processes on one database: [(base URL, log file)]."""
    docs = write_docs(tmp_path / "docs")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DOCBOT_", "SLACK_"))},
        "DOCBOT_DATABASE_URL": pg_url,
        "DOCBOT_DOCS": str(docs),
        "DOCBOT_DOCS_URL": DOCS_URL,
        "DOCBOT_SYNC_INTERVAL": "1h",  # the start-up sync only
        "DOCBOT_EMBEDDER": "openai",
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": fake_openai.base_url,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake_slack.api_url,
        "DOCBOT_HOST": "127.0.0.1",
    }
    # The first embedding request (the start-up sync that took the lock) is held, so the
    # other replica's start-up sync meets the lock.
    fake_openai.fail_next(delay=HOLD_SECONDS, path="/v1/embeddings")
    started: list[tuple[subprocess.Popen[bytes], str, Path]] = []
    for n in (1, 2):
        port, log = free_port(), tmp_path / f"replica{n}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--http", "--port", str(port)],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"),
        )  # fmt: skip
        started.append((process, f"http://127.0.0.1:{port}", log))
    try:
        for process, base, log in started:
            _wait_healthy(process, base, log)
        yield [(base, log) for _, base, log in started]
    finally:
        for process, _, _ in started:
            process.terminate()
        for process, _, _ in started:
            process.wait(20)


def _wait_healthy(process: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            return
        except httpx.HTTPError:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"replica did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)


def _sync_outcomes(replicas: list[tuple[str, Path]]) -> list[str]:
    """The status of every sync the replicas logged (their JSON log lines)."""
    found = []
    for _, log in replicas:
        for line in log.read_text().splitlines():
            if line.startswith("{") and (entry := json.loads(line)).get("event") == "sync":
                found.append(entry["status"])
    return found


def test_two_replicas_sync_a_source_once_and_answer_an_event_once(
    replicas: list[tuple[str, Path]], pg_url: str, fake_slack: FakeSlack
) -> None:
    store = open_store(load_settings({"DOCBOT_DATABASE_URL": pg_url}))
    try:
        deadline = time.monotonic() + 60
        while not (store.last_runs().get("docs") and not store.running_runs()):
            assert time.monotonic() < deadline, "the start-up sync did not finish"
            time.sleep(0.2)
        while len(outcomes := _sync_outcomes(replicas)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        runs = store.recent_runs("docs", 10)
    finally:
        store.close()
    (run,) = runs  # one sync, by one replica
    assert run.status == "ok" and run.added == 3
    assert sorted(outcomes) == ["ok", "skipped"]  # the other replica met the lock

    mention = P.app_mention(f"<@{P.BOT_USER_ID}> {VPN_QUESTION}")
    fake_slack.seed_event(mention)
    statuses: list[int] = []

    def deliver(base: str) -> None:
        statuses.append(httpx.post(f"{base}/slack/events", **signed_event(mention)).status_code)

    threads = [threading.Thread(target=deliver, args=(base,)) for base, _ in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert statuses == [200, 200]  # both acked: Slack must not retry
    fake_slack.wait_for(is_final_answer, timeout=30)
    time.sleep(2.0)  # room for a second answer, were one coming
    answered = {
        (c.response.get("channel") or c.params["channel"], c.response.get("ts") or c.params["ts"])
        for c in fake_slack.calls()
        if is_final_answer(c)
    }
    assert len(answered) == 1  # one answer message, from one replica
    ((channel, ts),) = answered
    message = fake_slack.message(channel, ts)
    assert message is not None and message.get("thread_ts") == mention["event"]["ts"]
    posts = [c for c in fake_slack.calls("chat.postMessage") if c.ok]
    assert len(posts) == 1  # and nothing else was posted (no second placeholder)
