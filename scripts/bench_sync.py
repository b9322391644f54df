"""Sync and search benchmark on a real Markdown handbook.

    python scripts/bench_sync.py [DOCS_DIR] [--queries N] [--json]

Default DOCS_DIR is ../shared/data/markdown/sourcegraph-handbook (884 pages). Reports,
all measured in this one process with the configured (default: offline) embedder:

- full sync: documents, chunks, seconds, chunks/s;
- re-sync of the unchanged folder: seconds and its ratio to the full sync
  (target < 5%), chunks embedded (target 0);
- a 1% change (every 100th file edited): seconds, ratio to the full sync, chunks embedded;
- ``docbot search`` query latency p50/p95 (question -> ranked chunks, embedding included)
  over questions made from the handbook's own headings, after a warm-up.

Results go in docs/BENCHMARKS.md by hand, with the command and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.app import build  # noqa: E402
from ingest.settings import load_settings  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, load {load:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "docs",
        nargs="?",
        default=str(REPO.parent / "shared" / "data" / "markdown" / "sourcegraph-handbook"),
    )
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    source_dir = Path(args.docs)
    if not source_dir.is_dir():
        print(f"no docs at {source_dir}", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"
        shutil.copytree(source_dir, docs)
        env = dict(os.environ, DOCBOT_DB=str(Path(tmp) / "bench.db"), DOCBOT_DOCS=str(docs))
        app = build(load_settings(env))
        app.embedder  # noqa: B018 - load the model outside the timings

        (full,) = app.sync()
        (again,) = app.sync()
        files = sorted(p for p in docs.rglob("*.md"))
        changed = files[::100]
        for path in changed:
            path.write_text(path.read_text(encoding="utf-8") + "\n\nEdited for the benchmark.\n")
        (partial,) = app.sync()
        chunks = app.store.stats()["chunks"]

        headings = [
            row[0]
            for row in app.store.conn.execute(
                "SELECT DISTINCT json_extract(heading_path, '$[#-1]') FROM chunks"
            )
            if row[0]
        ]
        random.Random(7).shuffle(headings)
        questions = [f"How does {h.lower()} work?" for h in headings[: args.queries]]
        for q in questions[:10]:
            app.retriever.search(q, k=5)
        latencies = []
        for q in questions:
            started = time.perf_counter()
            app.retriever.search(q, k=5)
            latencies.append((time.perf_counter() - started) * 1000)

    result = {
        "machine": machine(),
        "embedder": app.embedder.model_id,
        "documents": full.added,
        "chunks": chunks,
        "full_sync_seconds": round(full.seconds, 2),
        "chunks_per_second": round(full.chunks_embedded / full.seconds, 1),
        "resync_seconds": round(again.seconds, 3),
        "resync_ratio": round(again.seconds / full.seconds, 4),
        "resync_chunks_embedded": again.chunks_embedded,
        "one_percent_files": len(changed),
        "one_percent_seconds": round(partial.seconds, 3),
        "one_percent_ratio": round(partial.seconds / full.seconds, 4),
        "one_percent_chunks_embedded": partial.chunks_embedded,
        "queries": len(latencies),
        "search_p50_ms": round(statistics.median(latencies), 2),
        "search_p95_ms": round(percentile(latencies, 95), 2),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:30} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
