"""The judged handbook questions (benchmarks/handbook-qa) stay well formed, and the
dataset built from them is one ``docbot eval`` reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bot.eval.evaluate import load_dataset
from tests.conftest import shared_path

REPO = Path(__file__).resolve().parent.parent
JUDGED = REPO / "benchmarks" / "handbook-qa"


def _qrels() -> list[tuple[str, str, int]]:
    lines = (JUDGED / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "query-id\tcorpus-id\tscore"
    return [(q, d, int(g)) for q, d, g in (line.split("\t") for line in lines[1:])]


def test_every_question_is_judged_and_every_judgment_has_a_question() -> None:
    queries = [json.loads(line) for line in (JUDGED / "queries.jsonl").open(encoding="utf-8")]
    ids = [q["_id"] for q in queries]
    assert len(ids) == len(set(ids)) >= 70
    assert all(q["text"].strip() and q["metadata"]["evidence"].strip() for q in queries)
    qrels = _qrels()
    assert {q for q, _, _ in qrels} == set(ids)
    assert all(g in (1, 2) for _, _, g in qrels)
    best = {q for q, _, g in qrels if g == 2}
    assert best == set(ids)  # every question has a page that answers it fully
    assert all(d.startswith("content/") and d.endswith(".md") for _, d, _ in qrels)


def test_the_built_dataset_loads_with_every_judged_page(shared_data: Path, tmp_path: Path) -> None:
    handbook = shared_path("markdown", "sourcegraph-handbook")
    out = tmp_path / "handbook-qa"
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "build_handbook_eval.py"), str(handbook), str(out)],
        check=True,
        capture_output=True,
    )
    dataset = load_dataset(out)
    assert len(dataset.scored_queries()) == len({q for q, _, _ in _qrels()})
    corpus = {json.loads(line)["_id"] for line in (out / "corpus.jsonl").open(encoding="utf-8")}
    assert len(corpus) == 884 and {d for _, d, _ in _qrels()} <= corpus
