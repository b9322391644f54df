"""The cross-lingual judged set (benchmarks/crosslingual) stays well formed: every question
has a language and a judged page, every translated page names its source, and the dataset
built from it loads in ``docbot eval`` with every judged page in the corpus."""

from __future__ import annotations

import collections
import json
import re
import subprocess
import sys
from pathlib import Path

from bot.eval.evaluate import load_dataset
from ingest.sources.markdown import split_front_matter
from tests.conftest import shared_path

REPO = Path(__file__).resolve().parent.parent
JUDGED = REPO / "benchmarks" / "crosslingual"
LANGS = {"de", "es", "ar", "zh"}
SCRIPT = {"ar": re.compile(r"[\u0600-\u06ff]"), "zh": re.compile(r"[\u4e00-\u9fff]")}


def _queries() -> list[dict]:
    lines = (JUDGED / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _qrels() -> list[tuple[str, str, int]]:
    lines = (JUDGED / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "query-id\tcorpus-id\tscore"
    return [(q, d, int(g)) for q, d, g in (line.split("\t") for line in lines[1:])]


def test_every_question_has_a_language_and_a_judged_page() -> None:
    queries = _queries()
    ids = [q["_id"] for q in queries]
    assert len(ids) == len(set(ids))
    kinds = collections.Counter((q["metadata"]["kind"], q["lang"]) for q in queries)
    for lang in LANGS:
        assert kinds["crosslingual", lang] >= 20
        assert kinds["page-native", lang] == kinds["page-english", "en"] // len(LANGS) == 8
    for q in queries:
        assert q["text"].strip() and q["metadata"]["evidence"].strip()
        if q["lang"] in SCRIPT:
            assert SCRIPT[q["lang"]].search(q["text"]), q["_id"]
    qrels = _qrels()
    assert {q for q, _, _ in qrels} == set(ids)
    assert all(g == 1 for _, _, g in qrels)
    judged = collections.defaultdict(set)
    for q, d, _ in qrels:
        judged[q].add(d)
    for q in queries:
        if q["metadata"]["kind"] == "crosslingual":
            assert all(d.startswith("content/") for d in judged[q["_id"]])
        else:  # the translated page and the English page it was written from
            assert {q["metadata"]["page"], q["metadata"]["source"]} <= judged[q["_id"]]


def test_every_translated_page_names_its_language_and_source() -> None:
    pages = sorted((JUDGED / "pages").rglob("*.md"))
    assert len(pages) == 32
    sources = set()
    for page in pages:
        meta, body = split_front_matter(page.read_text(encoding="utf-8"))
        lang = page.relative_to(JUDGED / "pages").parts[0]
        assert lang in LANGS and meta["lang"] == lang and meta["title"] and body.strip()
        assert meta["source"].startswith("content/") and "Apache-2.0" in meta["note"]
        sources.add(meta["source"])
    assert len(sources) == len(pages)  # each page is a different handbook section
    on_pages = {
        q["metadata"]["page"] for q in _queries() if q["metadata"]["kind"] != "crosslingual"
    }
    assert on_pages == {"crosslingual/" + p.relative_to(JUDGED / "pages").as_posix() for p in pages}


def test_the_built_dataset_loads_with_every_judged_page(shared_data: Path, tmp_path: Path) -> None:
    handbook = shared_path("markdown", "sourcegraph-handbook")
    out = tmp_path / "crosslingual"
    script = REPO / "scripts" / "build_crosslingual_eval.py"
    subprocess.run([sys.executable, str(script), str(handbook), str(out)], check=True)
    dataset = load_dataset(out)
    assert len(dataset.scored_queries()) == len(_queries())
    corpus = {json.loads(line)["_id"] for line in (out / "corpus.jsonl").open(encoding="utf-8")}
    assert len(corpus) == 884 + 32 and {d for _, d, _ in _qrels()} <= corpus
    assert (out / "docs" / "crosslingual" / "zh" / "okta.md").is_file()

    german = tmp_path / "german"
    subprocess.run(
        [sys.executable, str(script), str(handbook), str(german), "--lang", "de"], check=True
    )
    kept = {json.loads(line)["lang"] for line in (german / "queries.jsonl").open(encoding="utf-8")}
    assert kept == {"de"} and len(load_dataset(german).scored_queries()) == 28


def test_a_second_build_into_the_same_folder_is_refused(shared_data: Path, tmp_path: Path) -> None:
    handbook = shared_path("markdown", "sourcegraph-handbook")
    (tmp_path / "docs").mkdir()
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "build_crosslingual_eval.py"),
            str(handbook),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "already exists" in result.stderr
