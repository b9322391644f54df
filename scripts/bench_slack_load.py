"""Slack acks, ``/healthz`` and first reactions while slow ``POST /api/ask`` calls run.

    python scripts/bench_slack_load.py [--api-calls 50] [--events 100] [--model-seconds 20]
                                       [--rate 20] [--json]

Runs ``docbot serve --http`` for real (``bot.server.serve.run``: uvicorn on 127.0.0.1)
against the fake Slack and the fake OpenAI API of ``tests/fakes``, with a model that
does not answer until the measurement is over (at most ``--model-seconds``). It starts
``--api-calls`` concurrent ``/api/ask`` calls, waits until they are in flight, then
sends ``--events`` signed ``app_mention`` events to ``/slack/events`` at ``--rate`` per
second from distinct users (each from its own thread, as Slack would) while polling
``/healthz`` every 0.2 s. Reported:

- ack latency (event POST to HTTP response) p50 / p95 / max, and how many took > 3 s
  (Slack's limit; past it Slack retries and, eventually, disables the app);
- ``/healthz`` latency p50 / p95 / max;
- the first visible reaction per mention (placeholder, stream or status in its thread,
  or a busy / rate-limit reply), measured from the event: how many had one within
  1 s and 3 s, and its p50 / p95 / max;
- what the API calls got (status counts), and what became of the mentions once the
  model was released (answered, busy, …; those still unfinished after
  ``--model-seconds`` + 10 s are missing from the counts).

Only the fakes' own code comes from ``tests/``; the bot is the real one. Results go in
docs/BENCHMARKS.md by hand, with the command and the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from bot.server.serve import run  # noqa: E402
from tests.fakes import slack_payloads as P  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI, echo_reply  # noqa: E402
from tests.fakes.slack_server import FakeSlack  # noqa: E402
from tests.slack_helpers import SECRET, VPN_QUESTION, make_bot  # noqa: E402

API_TOKEN = "bench-api-token"
REACTIONS = ("chat.postMessage", "chat.startStream", "assistant.threads.setStatus")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": round(percentile(values, 0.5), 3),
        "p95": round(percentile(values, 0.95), 3),
        "max": round(max(values), 3) if values else float("nan"),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit(f"the server did not come up on port {port}")


def measure(args: argparse.Namespace, tmp: Path, slack: FakeSlack, model: FakeOpenAI) -> dict:
    release = threading.Event()
    model.reply = lambda request: (release.wait(args.model_seconds), echo_reply(request))[1]
    env = {
        "DOCBOT_API_TOKEN": API_TOKEN,
        "DOCBOT_RATE_LIMIT_PER_USER": "0",
        "DOCBOT_RATE_LIMIT_GLOBAL": "0",
        "DOCBOT_SYNC_INTERVAL": "24h",
        "DOCBOT_HOST": "127.0.0.1",
    }
    bot = make_bot(tmp, slack, openai=model, env=env)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    stop = threading.Event()
    server = threading.Thread(target=lambda: run(bot.docbot, http=True, port=port, stop=stop))
    server.start()
    wait_port(port)
    pool = ThreadPoolExecutor(max_workers=args.api_calls + args.events + 4)
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    # one client per role: creating a client per request costs ~0.1 s of CPU, which
    # on 2 cores would be measured as server latency
    limits = httpx.Limits(max_connections=args.api_calls + args.events + 10)
    api_client = httpx.Client(base_url=base, timeout=args.model_seconds * 4 + 60, limits=limits)
    slack_client = httpx.Client(base_url=base, timeout=60, limits=limits)
    health_client = httpx.Client(base_url=base, timeout=60)

    def api_call(i: int) -> int:
        try:
            question = {"question": f"{VPN_QUESTION} ({i})"}
            return api_client.post("/api/ask", json=question, headers=headers).status_code
        except httpx.HTTPError:
            return -1

    api = [pool.submit(api_call, i) for i in range(args.api_calls)]
    deadline = time.monotonic() + 10
    while len(model.chat_requests()) < min(4, args.api_calls) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)  # let every call that will be admitted reach the model
    in_flight = len(model.chat_requests())

    healthz: list[float] = []
    polling = threading.Event()

    def poll_healthz() -> None:
        while not polling.is_set():
            started = time.perf_counter()
            with contextlib.suppress(httpx.HTTPError):
                health_client.get("/healthz")
            healthz.append(time.perf_counter() - started)
            polling.wait(0.2)

    poller = threading.Thread(target=poll_healthz)
    poller.start()

    sent: dict[str, float] = {}

    def send_event(i: int) -> float:
        mention = P.app_mention(f"<@{P.BOT_USER_ID}> {VPN_QUESTION} #{i}", user=f"U{i:06d}")
        slack.seed_event(mention)
        body = json.dumps(mention)
        signed = P.sign(SECRET, body)
        sent[mention["event"]["ts"]] = time.time()
        started = time.perf_counter()
        with contextlib.suppress(httpx.HTTPError):
            headers = {**signed, "Content-Type": "application/json"}
            slack_client.post("/slack/events", content=body, headers=headers)
        return time.perf_counter() - started

    futures = []
    for i in range(args.events):
        futures.append(pool.submit(send_event, i))
        time.sleep(1 / args.rate)
    acks = [f.result() for f in futures]
    time.sleep(3)  # give the last events their three seconds to show something
    polling.set()
    poller.join()

    first: dict[str, float] = {}
    for call in slack.calls():
        thread = call.params.get("thread_ts")
        if call.method in REACTIONS and thread in sent and thread not in first:
            first[thread] = call.at - sent[thread]
    reactions = list(first.values())
    release.set()
    statuses = Counter(f.result() for f in api)
    drain = time.monotonic() + args.model_seconds + 10  # let queued answers finish

    def outcomes() -> list[tuple[str, str | None]]:
        rows = bot.rows("SELECT outcome, error FROM answers WHERE surface = 'mention'")
        return [(str(outcome), error) for outcome, error in rows]

    while time.monotonic() < drain and len(outcomes()) < args.events:
        time.sleep(0.2)
    mention_outcomes = Counter(f"{o} ({e})" if e else o for o, e in outcomes())
    stop.set()
    server.join(30)
    pool.shutdown(wait=False, cancel_futures=True)
    for client in (api_client, slack_client, health_client):
        client.close()
    bot.docbot.store.close()
    return {
        "api_calls": args.api_calls,
        "api_calls_at_the_model_when_events_started": in_flight,
        "events": args.events,
        "model_seconds": args.model_seconds,
        "ack_seconds": summary(acks),
        "acks_over_3s": sum(1 for a in acks if a > 3),
        "healthz_seconds": summary(healthz),
        "first_reaction_seconds": summary(reactions),
        "reacted_within_1s": sum(1 for r in reactions if r <= 1),
        "reacted_within_3s": sum(1 for r in reactions if r <= 3),
        "api_statuses": dict(statuses),
        "mention_outcomes_after_drain": dict(mention_outcomes),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--api-calls", type=int, default=50)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--model-seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=20.0, help="events per second")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeSlack() as slack,
        FakeOpenAI() as model,
    ):
        result = measure(args, Path(tmp), slack, model)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        print(f"{key:45} {value}")


if __name__ == "__main__":
    main()
