"""Sync and search benchmark on a real Markdown handbook.

    python scripts/bench_sync.py [DOCS_DIR] [--queries N] [--pages N] [--json]
    python scripts/bench_sync.py [DOCS_DIR] --compare OLD_TREE [--rounds R] [--pages N]

Default DOCS_DIR is ../shared/data/markdown/sourcegraph-handbook (884 pages). Reports,
all measured in this one process with the configured (default: offline) embedder:

- full sync: documents, chunks, seconds, chunks/s;
- re-sync of the unchanged folder: seconds and its ratio to the full sync
  (target < 5%), chunks embedded (target 0);
- a 1% change (every 100th file edited): seconds, ratio to the full sync, chunks embedded;
- ``docbot search`` query latency p50/p95 (question -> ranked chunks, embedding included)
  over questions made from the handbook's own headings, after a warm-up;
- the first sync as a whole (``first_sync_*``): wall and CPU seconds (all threads) of
  the first ``sync`` call, the multilingual fill after the English pass included, and
  CPU ms per chunk; ``multilingual_fill_seconds`` is the part after the English pass.

``--pages N`` syncs only the first N pages (sorted by path), to keep a comparison short.
``--compare OLD_TREE`` runs this script R times each (interleaved: old, new, old, new)
in fresh processes, once with docbot imported from ``OLD_TREE`` (e.g. a ``git archive``
of main) and once from this tree, and prints both medians and new/old ratios: a
same-run comparison of whole syncs. The old tree runs without ``threadpoolctl``
importable, as main was installed before this change needed it.

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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if "--repo" in sys.argv:  # measure another tree's docbot (see --compare)
    REPO = Path(sys.argv[sys.argv.index("--repo") + 1]).resolve()
    if "--no-threadpoolctl" in sys.argv:
        sys.modules["threadpoolctl"] = None  # type: ignore[assignment]  # import fails
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
    parser.add_argument("--pages", type=int, default=0, help="sync only the first N pages")
    parser.add_argument("--compare", type=Path, help="old tree: run old and new, interleaved")
    parser.add_argument("--rounds", type=int, default=2, help="with --compare")
    parser.add_argument("--repo", type=Path, help="import docbot from this tree (internal)")
    parser.add_argument("--no-threadpoolctl", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    source_dir = Path(args.docs)
    if not source_dir.is_dir():
        print(f"no docs at {source_dir}", file=sys.stderr)
        return 2
    if args.compare:
        return compare(args)

    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"
        if args.pages:
            for path in sorted(source_dir.rglob("*.md"))[: args.pages]:
                target = docs / path.relative_to(source_dir)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
        else:
            shutil.copytree(source_dir, docs)
        env = dict(os.environ, DOCBOT_DB=str(Path(tmp) / "bench.db"), DOCBOT_DOCS=str(docs))
        app = build(load_settings(env))
        app.embedder  # noqa: B018 - load the models outside the timings
        app.multilingual_embedder  # noqa: B018

        started, cpu_started = time.perf_counter(), time.process_time()
        (full,) = app.sync()
        first_wall = time.perf_counter() - started
        first_cpu = time.process_time() - cpu_started
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
        "first_sync_seconds": round(first_wall, 2),
        "first_sync_cpu_seconds": round(first_cpu, 2),
        "first_sync_cpu_ms_per_chunk": round(1000 * first_cpu / max(full.chunks_embedded, 1), 1),
        "multilingual_fill_seconds": round(first_wall - full.seconds, 2),
        "multilingual": getattr(app.multilingual_embedder, "model_id", None),
        "repo": str(REPO),
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


COMPARED = (
    "full_sync_seconds",
    "chunks_per_second",
    "first_sync_seconds",
    "first_sync_cpu_seconds",
    "first_sync_cpu_ms_per_chunk",
    "multilingual_fill_seconds",
    "search_p50_ms",
)


def compare(args: argparse.Namespace) -> int:
    """Old tree and this one, ``rounds`` times each, interleaved, in fresh processes."""
    here = Path(__file__).resolve().parent.parent
    trees = {"old": (args.compare.resolve(), ["--no-threadpoolctl"]), "new": (here, [])}
    runs: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
    for _ in range(args.rounds):
        for name, (tree, extra) in trees.items():
            command = [sys.executable, __file__, args.docs, "--repo", str(tree), "--json"]
            command += ["--queries", str(args.queries), "--pages", str(args.pages), *extra]
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            runs[name].append(json.loads(out))
            print(f"{name}: {runs[name][-1]['first_sync_cpu_seconds']} CPU s", file=sys.stderr)
    result: dict[str, object] = {"machine": machine(), "rounds": args.rounds}
    for name, rows in runs.items():
        result[name] = {k: statistics.median(float(r[k]) for r in rows) for k in COMPARED}
        result[name + "_runs"] = rows
    old, new = result["old"], result["new"]
    assert isinstance(old, dict) and isinstance(new, dict)
    result["new_over_old"] = {
        "chunks_per_second": round(new["chunks_per_second"] / old["chunks_per_second"], 2),
        "first_sync_speed": round(old["first_sync_seconds"] / new["first_sync_seconds"], 2),
        "first_sync_cpu": round(old["first_sync_cpu_seconds"] / new["first_sync_cpu_seconds"], 2),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key in COMPARED:
            print(f"{key:30} old {old[key]:10.2f}  new {new[key]:10.2f}")
        for key, value in result["new_over_old"].items():  # type: ignore[attr-defined]
            print(f"new/old {key:22} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
