"""Is a difference between two ``docbot eval --run`` files larger than the noise?

For each run: nDCG@10 (standard), recall@10, and against the first run the per-query
paired difference in nDCG@10 with its standard error. A difference under about two
standard errors is not evidence of anything.

    python scripts/compare_runs.py DATASET_DIR BASELINE.run OTHER.run [...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.eval import metrics_ir
from bot.eval.evaluate import load_dataset, read_run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args()
    dataset = load_dataset(args.dataset)
    judged = [q for q in dataset.scored_queries() if dataset.qrels.get(q)]
    baseline: list[float] | None = None
    for path in args.runs:
        run = {q: [doc for doc, _ in ranked] for q, ranked in read_run(path).items()}
        ndcg = [metrics_ir.ndcg_at_k(run.get(q, []), dataset.qrels[q], args.k) for q in judged]
        recall = [metrics_ir.recall_at_k(run.get(q, []), dataset.qrels[q], args.k) for q in judged]
        line = f"{path.name:28s} ndcg {statistics.fmean(ndcg):.4f}"
        line += f"  recall {statistics.fmean(recall):.4f}"
        if baseline is None:
            baseline = ndcg
        else:
            diff = [a - b for a, b in zip(ndcg, baseline, strict=True)]
            se = statistics.stdev(diff) / len(diff) ** 0.5
            line += f"  diff {statistics.fmean(diff):+.4f} (se {se:.4f})"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
