"""Two runs of the runner side by side: every row both have, before and after.

    python benchmarks/compare_runs.py before.json after.json [--worse 0.9]

Each run writes its rows with ``--json`` (``benchmarks/run.py``). A row is compared by its ratio
to the baseline it was measured beside in its own run (sessionward over the driver floor, the
protected GET over the unprotected one, ...), not by its ops/s: two runs minutes apart on a
shared 2-core machine differ by more than most changes, and the baseline moves with them. A
row without a baseline is compared by ops/s and marked so. Rows whose ratio fell below
``--worse`` times the earlier one are listed at the end as regressions; the exit status is 1 if
there are any.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def load(path: Path) -> dict[str, dict[str, Any]]:
    """The rows of one run, by name."""
    document = json.loads(path.read_text())
    return {row["name"]: row for row in document["rows"]}


def compare(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]], worse: float
) -> tuple[list[str], list[str]]:
    """The table's lines (Markdown) and the names of the rows that regressed."""
    lines = [
        "| row | baseline | ops/s before | ops/s after | ratio before | ratio after "
        "| after/before |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    regressed = []
    for name in sorted(before.keys() & after.keys()):
        old, new = before[name], after[name]
        by_ratio = old.get("ratio") is not None and new.get("ratio") is not None
        if by_ratio:
            change = new["ratio"] / old["ratio"]
            ratios = f"{old['ratio']:.3f} | {new['ratio']:.3f}"
        elif old["ops_per_s"]:
            change = new["ops_per_s"] / old["ops_per_s"]
            ratios = "(ops/s) | (ops/s)"
        else:
            continue
        if change < worse:
            regressed.append(name)
        lines.append(
            f"| {name} | {new.get('baseline') or ''} | {old['ops_per_s']:,.0f} | "
            f"{new['ops_per_s']:,.0f} | {ratios} | {change:.2f} |"
        )
    return lines, regressed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument(
        "--worse",
        type=float,
        default=0.9,
        help="a row regressed if its ratio is below this times the earlier one (default 0.9)",
    )
    args = parser.parse_args(argv)
    before, after = load(args.before), load(args.after)
    lines, regressed = compare(before, after, args.worse)
    print("\n".join(lines))
    gone, new = len(before.keys() - after.keys()), len(after.keys() - before.keys())
    print(f"\n{len(lines) - 2} rows in both; only before: {gone}; only after: {new}")
    if regressed:
        print(f"below {args.worse} of before: {', '.join(regressed)}")
        return 1
    print(f"no row below {args.worse} of before")
    return 0


if __name__ == "__main__":
    sys.exit(main())
