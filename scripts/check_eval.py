"""Check ``docbot eval``'s nDCG figures against an independent scorer.

Reads the dataset's qrels, the TREC run file ``docbot eval --run`` wrote and the
``--json`` report, then recomputes, without importing docbot:
- standard nDCG@10 with ``ir_measures`` (pytrec_eval / trec_eval underneath);
- the leaderboard variant with the short reimplementation below, written from the
  description in agentset-ai/embedding-leaderboard's evaluation (ideal DCG = the
  retrieved top-10's relevances sorted; the qrels' first line always skipped).
Exits non-zero when a figure differs by more than 1e-4.

Run it with a Python that has ir-measures, kept apart from docbot's:

    python -m venv /tmp/scorer-venv && /tmp/scorer-venv/bin/pip install ir-measures
    docbot eval DATASET --run out.run --json > report.json
    /tmp/scorer-venv/bin/python scripts/check_eval.py DATASET out.run report.json
"""

from __future__ import annotations

import json
import math
import sys
from collections import defaultdict
from pathlib import Path


def read_run(path: Path) -> dict[str, list[str]]:
    scored: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for line in path.read_text(encoding="utf-8").splitlines():
        qid, _, doc, _, score, _ = line.split()
        scored[qid].append((float(score), doc))
    return {q: [d for _, d in sorted(rows, key=lambda r: -r[0])] for q, rows in scored.items()}


def leaderboard_ndcg(qrels_path: Path, queries: set[str], run: dict[str, list[str]]) -> float:
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    for line in qrels_path.read_text(encoding="utf-8").splitlines()[1:]:  # always skip line 1
        parts = line.strip().split("\t")
        qid, doc, grade = (parts[0], parts[2], parts[3]) if len(parts) == 4 else parts
        qrels[qid][doc] = int(grade)
    values = []
    for qid in queries:
        if not qrels.get(qid):
            continue
        gains = [qrels[qid].get(doc, 0) for doc in run.get(qid, [])[:10]]
        dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
        idcg = sum(g / math.log2(i + 2) for i, g in enumerate(sorted(gains, reverse=True)))
        values.append(dcg / idcg if idcg > 0 else 0.0)
    return sum(values) / len(values)


def standard_ndcg(qrels_path: Path, queries: set[str], run_path: Path) -> float:
    import ir_measures

    qrels = []
    for line in qrels_path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        qid, doc, grade = (parts[0], parts[2], parts[3]) if len(parts) == 4 else parts
        if grade.lstrip("-").isdigit() and qid in queries:  # a header row is skipped
            qrels.append(ir_measures.Qrel(qid, doc, int(grade)))
    judged = {q.query_id for q in qrels}
    run = list(ir_measures.read_trec_run(str(run_path)))
    measure = ir_measures.nDCG @ 10
    per_query = {m.query_id: m.value for m in ir_measures.iter_calc([measure], qrels, run)}
    return sum(per_query.get(q, 0.0) for q in judged) / len(judged)


def main() -> int:
    dataset, run_path, report_path = (Path(a) for a in sys.argv[1:4])
    qrels_path = dataset / "qrels" / "test.tsv"
    queries = {
        json.loads(line)["_id"] for line in (dataset / "queries.jsonl").open() if line.strip()
    }
    report = json.loads(report_path.read_text())
    run = read_run(run_path)
    figures = {
        "ndcg@10": standard_ndcg(qrels_path, queries, run_path),
        "ndcg@10_leaderboard": leaderboard_ndcg(qrels_path, queries, run),
    }
    ok = True
    for key, value in figures.items():
        same = abs(value - report[key]) <= 1e-4
        ok &= same
        verdict = "match" if same else "DIFFER"
        print(f"{key:22s} docbot {report[key]:.4f}  independent {value:.4f}  {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
