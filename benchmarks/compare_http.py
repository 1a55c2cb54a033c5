"""The runner's HTTP rows (``examples/fastapi_app.py`` under uvicorn, wrk) for two source trees,
alternating, in one run: the before/after check of the protected GET over HTTP.

    PYTHONPATH=src python benchmarks/compare_http.py /path/to/base/src --passes 3

Each pass serves the example once from each tree (the order alternating between passes) and
measures ``GET /ping``, the same GET behind an empty dependency, and ``GET /ping/protected``,
interleaved; each row's repetitions are pooled over the passes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

from benchmarks import httpbench  # noqa: E402
from benchmarks.common import MODES, Results  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("base", help="the base tree's src directory")
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--mode", choices=sorted(MODES), default="quick")
    args = parser.parse_args(argv)
    trees = {"before": str(Path(args.base).resolve()), "after": str(HERE.parent / "src")}
    results = {tree: Results() for tree in trees}
    for pass_ in range(args.passes):
        for tree in list(trees) if pass_ % 2 == 0 else list(reversed(trees)):
            with tempfile.TemporaryDirectory() as tmp:
                httpbench.run(
                    results[tree],
                    MODES[args.mode],
                    Path(tmp),
                    open_path=None,
                    protected_path=None,
                    src=trees[tree],
                )
    print(f"{'row':18} {'before':>10} {'after':>10}   (requests/s; over http.open)")
    for row in ("http.open", "http.dependency", "http.protected"):
        cells = []
        for tree in trees:
            rows = results[tree].rows
            rate = statistics.median(rows[row]["reps"])
            over = statistics.median(rows["http.open"]["reps"]) / rate - 1
            cells.append(f"{rate:7,.0f} {over:+4.0%}" if row != "http.open" else f"{rate:10,.0f}")
        print(f"{row:18} " + " ".join(f"{cell:>10}" for cell in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
