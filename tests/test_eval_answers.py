"""``docbot eval --answers``: the real answer path over a judged set, its four figures,
the reused store, and one clear line for each bad input."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from bot.answer import Answer
from bot.app import build
from bot.cli.commands import evaluate as run_cli
from bot.cli.main import main
from bot.eval.answers import JudgedQuestion, answer_body, judge, load_answer_set, summarise
from ingest.errors import InputError
from ingest.models import Hit
from ingest.settings import Settings
from tests.fakes.embedders import HashEmbedder

PAGES = {
    "vpn.md": "# VPN\n\n## Connecting\n\nOpen TunnelGate and connect to vpn.acme.example.\n",
    "pto.md": "# Time off\n\n## PTO\n\nEmployees get 25 PTO days per year.\n",
    **{
        f"team-{n}.md": f"# Team {n}\n\n## Days\n\nThe team meets on Mondays and plans days.\n"
        for n in range(8)
    },
}
QUESTIONS = [
    {"id": "a1", "question": "How many PTO days per year?", "answerable": True,
     "pages": ["pto.md"], "key_facts": [["25 PTO days", "twenty-five"]], "kind": "number"},
    {"id": "a2", "question": "How do I connect to the VPN with TunnelGate?", "answerable": True,
     "pages": ["vpn.md"], "key_facts": [["TunnelGate"], ["vpn.acme.example"]],
     "kind": "procedure"},
    {"id": "u1", "question": "Which days does the Zorblax team meet?", "answerable": False},
]  # fmt: skip


@pytest.fixture
def judged_set(tmp_path: Path) -> tuple[Path, Path]:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in PAGES.items():
        (docs / name).write_text(text)
    questions = tmp_path / "questions.jsonl"
    questions.write_text("\n".join(json.dumps(q) for q in QUESTIONS) + "\n")
    return docs, questions


def _run(tmp_path: Path, capsys: pytest.CaptureFixture[str], **flags: object) -> dict:
    embedder = HashEmbedder()
    app = build(Settings(db_path=tmp_path / "unused.db"), embedder=embedder)
    args = argparse.Namespace(dataset=None, k=10, run=None, json=True, chunk_chars=None,
                              overlap=None, answers=None, docs=None, store=None)  # fmt: skip
    vars(args).update(flags)
    assert run_cli(args, app) == 0
    report = json.loads(capsys.readouterr().out)
    report["embedded"] = len(embedder.texts)
    return report


def test_answers_are_judged_on_the_real_answer_path(
    judged_set: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs, questions = judged_set
    store = tmp_path / "cache" / "answers.db"
    details = tmp_path / "answers.jsonl"
    report = _run(tmp_path, capsys, answers=str(questions), docs=str(docs), store=str(store),
                  run=str(details))  # fmt: skip
    assert set(report) >= {"all", "even", "odd", "by_kind", "documents", "chunks", "config"}
    everything = report["all"]
    assert everything["answerable"] == 2 and everything["unanswerable"] == 1
    assert everything["abstention_rate"] == 1.0  # "zorblax" is in no page
    assert everything["false_abstention_rate"] == 0.0
    assert everything["key_fact_rate"] == 1.0 and everything["page_cited_rate"] == 1.0
    assert report["documents"] == len(PAGES)
    rows = [json.loads(line) for line in details.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a1", "a2", "u1"]
    assert rows[2]["abstained"] is True and rows[0]["facts"] == "1/1"
    assert report["embedded"] > 0
    # The kept store is reused: the second run embeds the questions and no page.
    again = _run(tmp_path, capsys, answers=str(questions), docs=str(docs), store=str(store))
    assert again["embedded"] == len(QUESTIONS) < report["embedded"]
    assert again["all"] == everything


def test_judging_reads_facts_through_quote_marks_and_not_in_citation_lines() -> None:
    question = JudgedQuestion("a1", "q", True, ("p.md",), (("meal limit is 75",), ("Ledger",)))
    hit = Hit(chunk_id=1, source="s", doc_id="p.md", title="Ledger", url="u", text="t",
              heading_path=("Ledger",), anchor="", score=1.0)  # fmt: skip
    text = "Here is what the docs say:\n\n> The **meal limit** is\n> 75 dollars.\n— [1] [Ledger](u)"
    assert answer_body(text) == "here is what the docs say: the meal limit is 75 dollars."
    judged = judge(question, Answer(question="q", text=text, mode="extractive", sources=[hit]))
    assert judged.facts_found == 1 and not judged.all_facts and judged.page_cited
    figures = summarise([judged])
    assert figures["key_fact_rate"] == 0.0 and figures["fact_share"] == 0.5
    assert figures["abstention_rate"] is None  # no unanswerable question here


def test_bad_answer_sets_are_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a1", "question": "q", "answerable": true}\n{"id": "a2"}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:2: expected a JSON object"):
        load_answer_set(bad)
    with pytest.raises(InputError, match="is not a file"):
        load_answer_set(tmp_path / "missing.jsonl")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["eval"], "give a dataset folder"),
        (["eval", "--answers", "q.jsonl"], "--answers needs --docs"),
        (["eval", "some-dir", "--answers", "q.jsonl", "--docs", "d"], "do not give DATASET_DIR"),
        (["eval", "--answers", "q.jsonl", "--docs", "no-such-folder"], "is not a file"),
    ],
)
def test_eval_argument_errors_are_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOCBOT_DB", str(tmp_path / "kb.db"))
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
