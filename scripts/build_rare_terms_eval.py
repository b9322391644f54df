"""Build a BEIR dataset where every question turns on a rare identifier (issue 14).

Questions with error codes, config keys, product names and flags are where a decisive
keyword match can lose to a weak vector match: the embedder blurs ``QZT-4471`` and
``QZT-4472`` alike, BM25 does not. This plants such identifiers into real pages of the
Sourcegraph handbook (``../shared/data/markdown``), each in one target page, with a
near-twin identifier planted in another page as a decoy, and asks about each in plain
words plus the identifier:

    python scripts/build_rare_terms_eval.py ../shared/data/markdown/sourcegraph-handbook \\
        /tmp/rare-terms [--count 120] [--seed 14]
    docbot eval /tmp/rare-terms

The result is deterministic for a seed. A good retriever puts the target page in its
top 10 for every question (recall@10 1.0): BM25 alone does, by construction.
"""

from __future__ import annotations

import argparse
import json
import random
import string
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest.sources.markdown import MarkdownSource

SYLLABLES = ["vor", "lix", "tran", "dle", "quo", "mera", "zan", "pith", "ulo", "brex", "nid", "sel"]
KINDS = ("error", "config", "product", "flag")
SENTENCES = {
    "error": (
        "If a run stops with error {id}, clear the worker's cache and start it again.",
        "What should I do when I get error {id}?",
    ),
    "config": (
        "To change how long idle connections stay open, set {id} in the site configuration.",
        "Which setting is {id} and where do I set it?",
    ),
    "product": (
        "Requests for new {id} licences go through the IT help desk.",
        "How do I get a licence for {id}?",
    ),
    "flag": (
        "Pass {id} to the command when the import keeps timing out.",
        "When should I use the {id} option?",
    ),
}


def identifier(kind: str, rng: random.Random) -> tuple[str, str]:
    """An identifier and its near twin (the decoy), e.g. ``QZT-4471`` / ``QZT-4472``."""
    if kind == "error":
        head = "".join(rng.choices(string.ascii_uppercase, k=3))
        n = rng.randrange(1000, 9998)
        return f"{head}-{n}", f"{head}-{n + 1}"
    if kind == "config":
        a, b, c = rng.sample(SYLLABLES, 3)
        return f"{a}{b}.idle{c.capitalize()}Ms", f"{a}{b}.idle{c.capitalize()}Sec"
    if kind == "product":
        a, b = rng.sample(SYLLABLES, 2)
        name = (a + b).capitalize()
        return name, name + "o"
    a, b = rng.sample(SYLLABLES, 2)
    return f"--{a}{b}-retries", f"--{a}{b}-retry"


def plant(body: str, sentence: str, rng: random.Random) -> str:
    """Insert ``sentence`` as its own paragraph somewhere in the page."""
    paragraphs = body.split("\n\n")
    at = rng.randrange(1, len(paragraphs) + 1) if len(paragraphs) > 1 else 1
    return "\n\n".join([*paragraphs[:at], sentence, *paragraphs[at:]])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("handbook", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=120)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    if not args.handbook.is_dir():
        sys.exit(f"{args.handbook} is not a folder (the handbook lives in ../shared/data)")
    rng = random.Random(args.seed)
    docs = sorted(MarkdownSource("handbook", args.handbook).scan(full=True).documents,
                  key=lambda d: d.doc_id)  # fmt: skip
    pages = {d.doc_id: [d.title, d.body] for d in docs}
    candidates = [d.doc_id for d in docs if len(d.body) > 800]
    targets = rng.sample(candidates, args.count)
    decoys = rng.sample([c for c in candidates if c not in targets], args.count)
    queries, qrels, used = [], [], set()
    for i, (target, decoy) in enumerate(zip(targets, decoys, strict=True)):
        kind = KINDS[i % len(KINDS)]
        ident, twin = identifier(kind, rng)
        while ident in used or twin in used:
            ident, twin = identifier(kind, rng)
        used |= {ident, twin}
        statement, question = SENTENCES[kind]
        pages[target][1] = plant(pages[target][1], statement.format(id=ident), rng)
        pages[decoy][1] = plant(pages[decoy][1], statement.format(id=twin), rng)
        queries.append({"_id": f"r{i + 1}", "text": question.format(id=ident)})
        qrels.append(f"r{i + 1}\t{target}\t1")
    (args.out / "qrels").mkdir(parents=True, exist_ok=True)
    with (args.out / "corpus.jsonl").open("w", encoding="utf-8") as out:
        for doc_id, (title, body) in pages.items():
            out.write(json.dumps({"_id": doc_id, "title": title, "text": body}) + "\n")
    with (args.out / "queries.jsonl").open("w", encoding="utf-8") as out:
        out.writelines(json.dumps(q) + "\n" for q in queries)
    (args.out / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "\n".join(qrels) + "\n", encoding="utf-8"
    )
    print(f"{len(pages)} pages, {len(queries)} rare-term questions -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
