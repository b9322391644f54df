"""Build a BEIR-format dataset from a Markdown handbook and docbot's judged questions.

dbpedia's documents are one short abstract each, so it cannot measure what matters for
company docs: how long pages are cut into chunks. This pairs the Sourcegraph handbook
(884 real pages, Apache-2.0, in ``../shared/data/markdown``) with questions written for
it, each judged against the pages that answer it (``benchmarks/handbook-qa/``):

    python scripts/build_handbook_eval.py ../shared/data/markdown/sourcegraph-handbook \\
        /tmp/handbook-qa
    docbot eval /tmp/handbook-qa [--chunk-chars N] [--overlap N]

Pages are read by docbot's own Markdown source (front matter, titles), so the corpus is
what ``docbot sync`` would index; a document id is the page's path in the handbook.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest.sources.markdown import MarkdownSource

JUDGMENTS = Path(__file__).resolve().parent.parent / "benchmarks" / "handbook-qa"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("handbook", type=Path, help="the handbook folder")
    parser.add_argument("out", type=Path, help="the dataset folder to write")
    args = parser.parse_args()
    if not args.handbook.is_dir():
        sys.exit(f"{args.handbook} is not a folder (the handbook lives in ../shared/data)")
    scan = MarkdownSource("handbook", args.handbook).scan(full=True)
    (args.out / "qrels").mkdir(parents=True, exist_ok=True)
    ids = set()
    with (args.out / "corpus.jsonl").open("w", encoding="utf-8") as corpus:
        for doc in scan.documents:
            ids.add(doc.doc_id)
            row = {"_id": doc.doc_id, "title": doc.title, "text": doc.body}
            corpus.write(json.dumps(row, ensure_ascii=False) + "\n")
    if scan.failures:
        print(f"{len(scan.failures)} pages could not be read: {scan.failures[:3]}", file=sys.stderr)
    qrels = (JUDGMENTS / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]
    missing = {line.split("\t")[1] for line in qrels} - ids
    if missing:
        sys.exit(f"judged pages not in this handbook: {sorted(missing)[:5]}")
    shutil.copy(JUDGMENTS / "queries.jsonl", args.out / "queries.jsonl")
    shutil.copy(JUDGMENTS / "qrels" / "test.tsv", args.out / "qrels" / "test.tsv")
    print(f"{len(ids)} pages, {len(qrels)} judgments -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
