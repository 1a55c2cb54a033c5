"""Verify, rotation and create of two source trees, alternating, in one run: the before/after
check of a change to the hot paths (docs/benchmarks.md). Each round starts one process per tree
and mode, so both trees see the same machine state; the figures are medians over the rounds.

    python benchmarks/compare_trees.py /path/to/base/src /path/to/new/src --rounds 5
    python benchmarks/compare_trees.py BASE NEW --database-url mysql://root@127.0.0.1/sw_bench

Without ``--database-url`` each process writes to a SQLite file of its own; with one, the two
trees' processes take turns on that database (its sessionward tables are shared, each process's
users are its own).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

_CHILD = "--child"


def child(mode: str, database_url: str) -> None:
    """One measurement: the best of 7 x 20,000 verifies, of 5 x 200 rotation cycles and of
    5 x 200 creates."""
    from sessionward import SessionManager

    if not database_url:
        database_url = f"sqlite:///{tempfile.mkdtemp()}/b.sqlite3"
    manager = SessionManager(refresh_path="/r", database_url=database_url, revocation_check=mode)
    tokens = manager.create_new_session("alice", {"role": "user"})
    access, csrf = tokens.access_token.value, tokens.anti_csrf_token
    verified = manager.get_session(access, csrf)
    if verified.new_access_token is not None:
        access = verified.new_access_token.value
    verify = manager.get_session
    best = float("inf")
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(20_000):
            verify(access, csrf)
        best = min(best, (time.perf_counter() - start) / 20_000)
    refresh = tokens.refresh_token.value
    best_cycle = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(200):
            new = manager.refresh_session(refresh)
            refresh = new.refresh_token.value
            manager.get_session(new.access_token.value, new.anti_csrf_token)
        best_cycle = min(best_cycle, (time.perf_counter() - start) / 200)
    best_create = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(200):
            manager.create_new_session("bob", {"role": "user"})
        best_create = min(best_create, (time.perf_counter() - start) / 200)
    manager.revoke_all_sessions_for_user("bob")
    manager.close()
    print(f"{best * 1e6:.3f} {best_cycle * 1e6:.1f} {best_create * 1e6:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base_src")
    parser.add_argument("new_src")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", default="", help="default: a SQLite file per process")
    args = parser.parse_args()
    backend = args.database_url.split(":", 1)[0] or "sqlite"
    figures: dict[tuple[str, str, str], list[float]] = {}
    for _ in range(args.rounds):
        for tree, src in (("base", args.base_src), ("new", args.new_src)):
            for mode in ("none", "cached"):
                env = {**os.environ, "PYTHONPATH": src}
                out = subprocess.run(
                    [sys.executable, __file__, _CHILD, mode, args.database_url],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.split()
                figures.setdefault((tree, mode, "verify"), []).append(float(out[0]))
                figures.setdefault((tree, mode, "rotation"), []).append(float(out[1]))
                figures.setdefault((tree, mode, "create"), []).append(float(out[2]))
    print("| row | base µs | new µs | new/base |")
    print("|---|---|---|---|")
    for mode in ("none", "cached"):
        for row in ("verify", "rotation", "create"):
            base = statistics.median(figures[("base", mode, row)])
            new = statistics.median(figures[("new", mode, row)])
            unit = {"verify": "per verify", "rotation": "per cycle", "create": "per create"}[row]
            unit = unit if row == "verify" else f"{unit} ({backend})"
            print(
                f"| {row}, revocation_check={mode} ({unit}) | {base:.2f} | {new:.2f} "
                f"| {new / base:.3f} |"
            )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == _CHILD:
        child(sys.argv[2], sys.argv[3])
    else:
        main()
