"""Build a BEIR-format dataset that asks the handbook in German, Spanish, Arabic and Chinese.

The handbook is English, the people asking often are not. ``benchmarks/crosslingual/``
holds questions in four languages answered by English pages, 32 short pages written in
those languages (translated summaries of other handbook sections), and a question in the
page's language and one in English for each. This builds the corpus a team would sync
(the handbook plus the translated pages, one Markdown folder) and the judgments:

    python scripts/build_crosslingual_eval.py ../shared/data/markdown/sourcegraph-handbook \\
        /tmp/crosslingual [--lang de,en]
    docbot eval /tmp/crosslingual --json
    docbot sync  # with DOCBOT_DOCS=/tmp/crosslingual/docs, to ask the same corpus in Slack

``OUT/docs`` is the combined Markdown folder (the handbook as it is, the translated pages
under ``crosslingual/<lang>/``); ``OUT/corpus.jsonl`` is that folder read by docbot's own
Markdown source, so a document id is a page's path inside ``OUT/docs`` (handbook ids are
the same as in ``build_handbook_eval.py``). ``--lang`` keeps only the questions in those
languages (each question has a ``lang`` field), for a per-language figure.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest.sources.markdown import MarkdownSource

JUDGMENTS = Path(__file__).resolve().parent.parent / "benchmarks" / "crosslingual"
PAGES_FOLDER = "crosslingual"
"""Where the translated pages go inside ``OUT/docs``; their ids start with it."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("handbook", type=Path, help="the handbook folder")
    parser.add_argument("out", type=Path, help="the dataset folder to write")
    parser.add_argument("--lang", help="comma-separated languages to keep, e.g. de,en")
    args = parser.parse_args()
    if not args.handbook.is_dir():
        sys.exit(f"{args.handbook} is not a folder (the handbook lives in ../shared/data)")
    docs = args.out / "docs"
    if docs.exists():
        sys.exit(f"{docs} already exists; remove it or choose another output folder")
    queries = [
        json.loads(line)
        for line in (JUDGMENTS / "queries.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    if args.lang:
        wanted = {code.strip() for code in args.lang.split(",") if code.strip()}
        unknown = wanted - {q["lang"] for q in queries}
        if unknown:
            sys.exit(f"no questions in {sorted(unknown)}; the set has de, es, ar, zh and en")
        queries = [q for q in queries if q["lang"] in wanted]
    kept = {q["_id"] for q in queries}
    header, *rows = (JUDGMENTS / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()
    qrels = [row for row in rows if row.split("\t")[0] in kept]

    shutil.copytree(args.handbook, docs)
    shutil.copytree(JUDGMENTS / "pages", docs / PAGES_FOLDER)
    scan = MarkdownSource("docs", docs).scan(full=True)
    ids = set()
    with (args.out / "corpus.jsonl").open("w", encoding="utf-8") as corpus:
        for doc in scan.documents:
            ids.add(doc.doc_id)
            row = {"_id": doc.doc_id, "title": doc.title, "text": doc.body}
            corpus.write(json.dumps(row, ensure_ascii=False) + "\n")
    if scan.failures:
        print(f"{len(scan.failures)} pages could not be read: {scan.failures[:3]}", file=sys.stderr)
    missing = {row.split("\t")[1] for row in qrels} - ids
    if missing:
        sys.exit(f"judged pages not in the built corpus: {sorted(missing)[:5]}")
    (args.out / "qrels").mkdir(parents=True, exist_ok=True)
    with (args.out / "queries.jsonl").open("w", encoding="utf-8") as out:
        for query in queries:
            out.write(json.dumps(query, ensure_ascii=False) + "\n")
    (args.out / "qrels" / "test.tsv").write_text(
        "\n".join([header, *qrels]) + "\n", encoding="utf-8"
    )
    print(f"{len(ids)} pages, {len(queries)} questions, {len(qrels)} judgments -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
