"""How many questions' first results change with ``k``, per fusion method, on a kept store.

For each question, ``search(q, k=SHALLOW, per_document=SHALLOW)`` against the first
SHALLOW hits of ``search(q, k=DEEP, per_document=DEEP)``, ids and scores; the rankings
should agree whatever k is asked (docs/BENCHMARKS.md, "Rankings independent of k").
Questions are read from JSONL files (``question`` or ``text``, as in the handbook sets).

    python scripts/check_k_independence.py STORE.db QUESTIONS.jsonl [...] [--methods ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.fusion import FUSION_METHODS
from bot.retrieve import Fusion, Retriever
from ingest.embedding import make_embedder
from ingest.settings import Settings
from ingest.store import Store


def questions(paths: list[Path]) -> list[str]:
    out = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                out.append(row.get("question") or row["text"])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path)
    parser.add_argument("questions", type=Path, nargs="+")
    parser.add_argument(
        "--methods", nargs="+", default=["zscore", "minmax"], choices=FUSION_METHODS
    )
    parser.add_argument("--shallow", type=int, default=5)
    parser.add_argument("--deep", type=int, default=50)
    args = parser.parse_args()
    settings = Settings()
    embedder = make_embedder(settings.embedder, settings.embed_model)
    store = Store(args.store)
    asked = questions(args.questions)
    for method in args.methods:
        retriever = Retriever(store, embedder, Fusion(method=method))
        differ = 0
        for q in asked:
            shallow = retriever.search(q, k=args.shallow, per_document=args.shallow).hits
            deep = retriever.search(q, k=args.deep, per_document=args.deep).hits
            first = [(h.chunk_id, h.score) for h in deep[: args.shallow]]
            differ += [(h.chunk_id, h.score) for h in shallow] != first
        print(f"{method}: {differ} of {len(asked)} questions' first {args.shallow} differ")
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
