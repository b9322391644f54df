"""Which questions changed between two ``docbot eval --answers --run`` files, and is the
change larger than the noise?

Per answerable question: all key facts found, a right page cited, abstained; the mean
of each in both runs and the paired difference with its standard error, then every
question whose outcome changed. Unanswerable questions: how many changed abstention.

    python scripts/compare_answer_runs.py BASELINE.jsonl OTHER.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

Row = dict[str, Any]


def load(path: Path) -> dict[str, Row]:
    rows = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line)
    return {row["id"]: row for row in rows}


def all_facts(row: Row) -> float:
    found, wanted = (int(n) for n in (row.get("facts") or "0/0").split("/"))
    return float(wanted > 0 and found == wanted)


FIGURES: dict[str, Callable[[Row], float]] = {
    "all key facts": all_facts,
    "right page cited": lambda row: float(bool(row.get("page_cited"))),
    "abstained": lambda row: float(bool(row["abstained"])),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("baseline", type=Path)
    parser.add_argument("other", type=Path)
    args = parser.parse_args()
    base, other = load(args.baseline), load(args.other)
    answerable = [q for q in base if base[q]["answerable"] and q in other]
    for name, figure in FIGURES.items():
        diffs = [figure(other[q]) - figure(base[q]) for q in answerable]
        se = statistics.stdev(diffs) / len(diffs) ** 0.5
        print(
            f"{name} ({len(answerable)} answerable): "
            f"{statistics.fmean(figure(base[q]) for q in answerable):.3f} -> "
            f"{statistics.fmean(figure(other[q]) for q in answerable):.3f}, "
            f"paired {statistics.fmean(diffs):+.4f} (SE {se:.4f})"
        )
    unanswerable = [q for q in base if not base[q]["answerable"] and q in other]
    changed = sum(base[q]["abstained"] != other[q]["abstained"] for q in unanswerable)
    print(f"unanswerable ({len(unanswerable)}): abstention changed on {changed}")
    for q in answerable:
        before = (base[q]["facts"], base[q].get("page_cited"), base[q]["abstained"])
        after = (other[q]["facts"], other[q].get("page_cited"), other[q]["abstained"])
        if before != after:
            print(f"  {q} ({base[q]['kind']}): facts / cited / abstained {before} -> {after}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
