"""``docbot eval`` end to end on a tiny BEIR dataset written here, with the
deterministic test embedder: the JSON contract, one ranked entry per document, and
a TREC run file that scores the same when read back."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from bot.app import build
from bot.cli.commands import evaluate as run_cli
from bot.eval.evaluate import load_dataset, read_run, score_run, write_run
from ingest import chunking
from ingest.errors import InputError
from ingest.settings import Settings
from tests.fakes.embedders import HashEmbedder

CORPUS = [
    {"_id": "vpn", "title": "VPN", "text": "Connect to the VPN with TunnelGate before deploying."},
    {"_id": "meals", "title": "Meals", "text": "The meal allowance is 75 dollars per travel day."},
    {"_id": "pto", "title": "Time off", "text": "Employees get 25 paid vacation days each year."},
    {
        "_id": "laptop",
        "title": "Laptops",
        "text": "Request a new laptop from IT every three years.",
    },
    {
        "_id": "long",
        "title": "Handbook",
        # Three paragraphs of ~600 characters: more than one chunk; the match is in the last.
        "text": "\n\n".join(
            [("General company history and values. " * 16).strip()] * 2
            + ["The parking garage code is kestrel and visitors sign in at reception. " * 8]
        ),
    },
    {"_id": "noise", "title": "Kitchen", "text": "Please clean the kitchen after lunch."},
]
QUERIES = [
    {"_id": "q1", "text": "TunnelGate VPN"},
    {"_id": "q2", "text": "meal allowance travel"},
    {"_id": "q3", "text": "parking garage code kestrel"},
    {"_id": "q4", "text": "a question nobody judged"},
]
QRELS = [
    ("q1", "vpn", 2),
    ("q1", "laptop", 0),
    ("q2", "meals", 1),
    ("q2", "pto", 1),
    ("q3", "long", 2),
]


def write_dataset(tmp_path: Path) -> Path:
    """The tiny BEIR-format set above, in ``tmp_path / "tiny"``."""
    root = tmp_path / "tiny"
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in CORPUS) + "\n")
    (root / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in QUERIES) + "\n")
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, d, s in QRELS]
    (root / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def dataset_dir(tmp_path: Path) -> Path:
    return write_dataset(tmp_path)


def _eval(
    dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], **flags: object
) -> dict:
    app = build(Settings(db_path=tmp_path / "unused.db"), embedder=HashEmbedder())
    args = argparse.Namespace(
        dataset=str(dataset_dir), k=10, run=None, json=True, chunk_chars=None, overlap=None
    )
    vars(args).update(flags)
    assert run_cli(args, app) == 0
    return json.loads(capsys.readouterr().out)


def test_eval_reports_the_contract_keys(
    dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = _eval(dataset_dir, tmp_path, capsys)
    assert set(report) >= {
        "ndcg@10",
        "ndcg@10_leaderboard",
        "recall@10",
        "mrr@10",
        "queries",
        "documents",
        "chunks",
        "index_seconds",
        "chunks_per_second",
        "latency_ms",
        "config",
    }
    assert set(report["latency_ms"]) == {"p50", "p95"}
    assert set(report["config"]) == {"embedder", "multilingual", "backend", "fusion", "chunking"}
    assert report["config"]["backend"] == "sqlite"
    assert report["config"]["embedder"] == "test:hash64"
    assert report["config"]["multilingual"] is None  # the fake embedder reads every language
    assert report["queries"] == 3  # q4 has no judgments
    assert report["documents"] == len(CORPUS)
    assert report["chunks"] > len(CORPUS)  # the long document was split
    # Every judged query finds its best document first on this easy set.
    assert report["mrr@10"] == 1.0
    assert 0 < report["ndcg@10"] <= report["ndcg@10_leaderboard"] <= 1
    assert not (tmp_path / "unused.db").exists()  # the bot's own store is never touched


def test_run_file_round_trips(
    dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_path = tmp_path / "out.run"
    app = build(Settings(db_path=tmp_path / "unused.db"), embedder=HashEmbedder())
    args = argparse.Namespace(
        dataset=str(dataset_dir), k=10, run=str(run_path), json=True, chunk_chars=None, overlap=None
    )
    assert run_cli(args, app) == 0
    report = json.loads(capsys.readouterr().out)

    lines = [line.split() for line in run_path.read_text().splitlines()]
    assert all(len(parts) == 6 and parts[1] == "Q0" and parts[5] == "docbot" for parts in lines)
    by_query: dict[str, list[list[str]]] = {}
    for parts in lines:
        by_query.setdefault(parts[0], []).append(parts)
    assert set(by_query) == {"q1", "q2", "q3"}
    for rows in by_query.values():
        assert [int(r[3]) for r in rows] == list(range(1, len(rows) + 1))
        scores = [float(r[4]) for r in rows]
        assert scores == sorted(scores, reverse=True) and len(set(scores)) == len(scores)
        docs = [r[2] for r in rows]
        assert len(docs) == len(set(docs))  # one entry per document (best chunk)
    assert by_query["q3"][0][2] == "long"

    run = read_run(run_path)
    scores = score_run(
        {q: [d for d, _ in r] for q, r in run.items()}, load_dataset(dataset_dir), 10
    )
    assert round(scores["ndcg"], 4) == report["ndcg@10"]
    assert round(scores["ndcg_leaderboard"], 4) == report["ndcg@10_leaderboard"]
    assert round(scores["recall"], 4) == report["recall@10"]
    assert round(scores["mrr"], 4) == report["mrr@10"]


def test_tied_scores_stay_in_rank_order_in_the_run_file(tmp_path: Path) -> None:
    path = tmp_path / "ties.run"
    write_run(path, {"q": [("a", 0.5), ("b", 0.5), ("c", 0.5), ("d", 0.1)]})
    assert [d for d, _ in read_run(path)["q"]] == ["a", "b", "c", "d"]


def test_qrels_without_a_header_and_trec_style_work(tmp_path: Path, dataset_dir: Path) -> None:
    qrels = dataset_dir / "qrels" / "test.tsv"
    qrels.write_text("q1 0 vpn 2\nq2 0 meals 1\n")
    dataset = load_dataset(dataset_dir)
    assert dataset.qrels == {"q1": {"vpn": 2}, "q2": {"meals": 1}}
    # The leaderboard always drops the first line, header or not.
    assert dataset.leaderboard_qrels == {"q2": {"meals": 1}}


def test_a_folder_without_the_files_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"corpus\.jsonl is missing"):
        load_dataset(tmp_path)
    with pytest.raises(InputError, match="not a folder"):
        load_dataset(tmp_path / "nope")


def test_chunk_size_and_overlap_can_be_measured(
    dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    default = _eval(dataset_dir, tmp_path, capsys)
    assert default["config"]["chunking"]["overlap_chars"] == chunking.DEFAULT_OVERLAP_CHARS
    # The long page's three ~570-character paragraphs: [1] [2] [3] by default (two
    # do not fit in 1,000); with 1,400-character chunks and 700 of overlap, [1, 2] [2, 3].
    other = _eval(dataset_dir, tmp_path, capsys, chunk_chars=1400, overlap=700)
    assert other["config"]["chunking"]["chunk_chars"] == 1400
    assert other["config"]["chunking"]["overlap_chars"] == 700
    assert other["chunks"] == default["chunks"] - 1
    assert other["mrr@10"] == 1.0  # the long page is still found by its best chunk


@pytest.mark.parametrize("flags", [{"chunk_chars": 50}, {"chunk_chars": 500, "overlap": 500}])
def test_impossible_chunking_is_one_clear_error(
    dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: dict
) -> None:
    with pytest.raises(InputError, match="--chunk-chars"):
        _eval(dataset_dir, tmp_path, capsys, **flags)
