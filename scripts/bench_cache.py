"""Answer-cache hit rate under three staleness rules, on a replayed question log.

    python scripts/bench_cache.py [DOCS_DIR] [--questions N] [--sync-every N]
                                  [--edits N] [--json]

Default DOCS_DIR is ../shared/data/markdown/sourcegraph-handbook (884 pages). The
folder is copied and indexed once with the configured (default: offline) embedder;
then the same question log is replayed three times, each from a copy of that index,
while syncs that touch a few documents happen:

- the log: the 74 judged handbook questions (benchmarks/handbook-qa), drawn with a
  Zipf-like popularity (weight 1/rank^1.1, seeded), N questions in all;
- every ``--sync-every`` questions, a sync after ``--edits`` pages were edited (a
  line appended) and one page was copied to a new page (a page split or a draft: a
  new page that competes with the old one in retrieval); the same edits every time.

The rules, all with the cited-chunks check (a cited section that changed is stale):

- ``cited``: the rule before issue 13, cited chunks unchanged, nothing else;
- ``generation``: any sync that changed a document in the answer's scope makes it
  stale (no re-check);
- ``recheck`` (docbot's rule, ``bot/freshness.py``): after such a sync the entry is
  served only if retrieval, run again, returns the same passages.

Reported per rule: hit rate, and *wrong hits*: hits whose passages are no longer what
retrieval returns now (an answer made from sources the question would not get today).
Results go in docs/BENCHMARKS.md by hand, with the command and the machine.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.answer import Answer  # noqa: E402
from bot.answer_cache import CachingAnswerer  # noqa: E402
from bot.app import Docbot, build  # noqa: E402
from bot.freshness import Freshness, Scope, same_passages  # noqa: E402
from ingest.settings import load_settings  # noqa: E402

DEFAULT_DOCS = REPO.parent / "shared" / "data" / "markdown" / "sourcegraph-handbook"
QUERIES = REPO / "benchmarks" / "handbook-qa" / "queries.jsonl"


class NoStamps(Freshness):
    """The rule before: no stamps, every index counts as complete."""

    def stamp(self, scope: Scope = None) -> str:
        return "-"

    def complete(self, scope: Scope = None) -> bool:
        return True


class NoRecheck(CachingAnswerer):
    """Generation stamps without the re-check: a moved stamp is stale."""

    def _recheck(
        self, key: str, question: str, cached: Answer, stamp: str
    ) -> tuple[str, Answer | None]:
        self.cache.drop(key)
        return "stale", None


def answerer(app: Docbot, rule: str) -> CachingAnswerer:
    kinds = {"cited": CachingAnswerer, "generation": NoRecheck, "recheck": CachingAnswerer}
    made = kinds[rule](
        app.retriever, app.llm, app.answer_cache, context_tokens=app.settings.context_tokens
    )
    if rule == "cited":
        made.freshness = NoStamps(app.store)
    return made


def question_log(count: int, seed: int) -> list[str]:
    texts = [json.loads(line)["text"] for line in QUERIES.open(encoding="utf-8")]
    rng = random.Random(seed)
    rng.shuffle(texts)
    weights = [1 / (rank + 1) ** 1.1 for rank in range(len(texts))]
    return rng.choices(texts, weights=weights, k=count)


def edit(docs: Path, rng: random.Random, edits: int, round_: int) -> None:
    pages = sorted(p for p in docs.rglob("*.md") if "-copy-" not in p.name)
    for page in rng.sample(pages, edits):
        with page.open("a", encoding="utf-8") as fh:
            fh.write(f"\n\nUpdated in round {round_}: see the team channel for what changed.\n")
    source = rng.choice(pages)
    text = source.read_text(encoding="utf-8")
    (source.parent / f"{source.stem}-copy-{round_}.md").write_text(
        text.replace("# ", "# Draft: ", 1), encoding="utf-8"
    )


def fresh_sources(made: CachingAnswerer, question: str) -> list[Any]:
    result = made.retriever.search(question, k=made.k)
    relevant = made._relevant(result)
    return relevant[:3] if made.llm is None else made._fit_budget(relevant, question, [])


def replay(
    base: Path, pristine: Path, work: Path, rule: str, log: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    docs = work / "docs"
    shutil.copytree(pristine, docs)
    db = work / "docbot.db"
    shutil.copy(base, db)
    app = build(load_settings({"DOCBOT_DB": str(db), "DOCBOT_DOCS": str(docs)}))
    made = answerer(app, rule)
    rng = random.Random(args.seed)
    hits = wrong = 0
    hit_ms: list[float] = []
    miss_ms: list[float] = []
    sync_seconds = 0.0
    for i, question in enumerate(log):
        if i and i % args.sync_every == 0:
            edit(docs, rng, args.edits, i // args.sync_every)
            started = time.perf_counter()
            app.sync()
            sync_seconds += time.perf_counter() - started
        started = time.perf_counter()
        answer = made.ask(question).answer
        elapsed = (time.perf_counter() - started) * 1000
        if answer.cached:
            hits += 1
            hit_ms.append(elapsed)
            if not same_passages(answer.sources, fresh_sources(made, question)):
                wrong += 1
        else:
            miss_ms.append(elapsed)
    return {
        "rule": rule,
        "questions": len(log),
        "hits": hits,
        "hit_rate": round(hits / len(log), 4),
        "wrong_hits": wrong,
        "hit_ms_p50": round(statistics.median(hit_ms), 1) if hit_ms else None,
        "miss_ms_p50": round(statistics.median(miss_ms), 1) if miss_ms else None,
        "syncs": (len(log) - 1) // args.sync_every,
        "sync_seconds": round(sync_seconds, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("docs", nargs="?", type=Path, default=DEFAULT_DOCS)
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--sync-every", type=int, default=100)
    parser.add_argument("--edits", type=int, default=3)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.docs.is_dir():
        print(f"no docs folder at {args.docs}", file=sys.stderr)
        return 2
    log = question_log(args.questions, args.seed)
    with tempfile.TemporaryDirectory(prefix="docbot-bench-cache-") as tmp:
        root = Path(tmp)
        pristine = root / "pristine"
        shutil.copytree(args.docs, pristine)
        base = root / "base.db"
        started = time.perf_counter()
        (report,) = build(
            load_settings({"DOCBOT_DB": str(base), "DOCBOT_DOCS": str(pristine)})
        ).sync()
        index_seconds = time.perf_counter() - started
        if report.error:
            print(f"indexing failed: {report.error}", file=sys.stderr)
            return 1
        results = []
        for rule in ("cited", "generation", "recheck"):
            work = root / rule
            work.mkdir()
            results.append(replay(base, pristine, work, rule, log, args))
            if not args.json:
                print(json.dumps(results[-1]), flush=True)
    summary = {
        "docs": str(args.docs),
        "documents": report.added,
        "chunks": report.chunks_embedded,
        "index_seconds": round(index_seconds, 1),
        "distinct_questions": len(set(log)),
        "sync_every": args.sync_every,
        "edits_per_sync": args.edits,
        "results": results,
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
