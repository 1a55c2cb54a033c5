"""Does the client's own work between two statements make the next statement slower?

    python benchmarks/idle_gap.py [--count 400]

One connection per server (the bench databases of ``benchmarks/common.py``), one autocommitted
single-row ``UPDATE`` at a time; before each, the client spins for a gap of 0, 50, 150, 300 or
1,000 µs (as a rotation's Python runs between its two statements). The figure is the median
time of the ``UPDATE`` alone, so a longer figure at a longer gap is time the server (or the
kernel between the two) takes to wake, which a replay of the statements back to back
(``floor.rotation_sql``) never pays. The gaps take turns statement by statement; two rounds,
to show how far one figure is from the next.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import MYSQL_URL, POSTGRES_URL

GAPS_US = (0, 50, 150, 300, 1000)
TABLE = "sw_bench_idle_gap"


def _connect(url: str) -> Any:
    """A DB-API connection of sessionward's own sync engine for ``url`` (its driver, autocommit)."""
    from sessionward._storage.engines import make_sync_engine

    return make_sync_engine(url).raw_connection().dbapi_connection


def measure(connection: Any, count: int) -> dict[int, float]:
    """Median µs of one UPDATE after each gap; the gaps take turns, statement by statement, so
    that a drift of the server's speed during the run is shared by every gap."""
    cursor = connection.cursor()
    times: dict[int, list[float]] = {gap: [] for gap in GAPS_US}
    for i in range(count * len(GAPS_US)):
        gap = GAPS_US[i % len(GAPS_US)]
        until = time.perf_counter() + gap / 1e6
        while time.perf_counter() < until:
            pass  # busy, as Python between two statements is
        start = time.perf_counter()
        cursor.execute(f"UPDATE {TABLE} SET e = %s WHERE k = 1", (i,))
        times[gap].append(time.perf_counter() - start)
    cursor.close()
    return {gap: statistics.median(seen) * 1e6 for gap, seen in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=400, help="UPDATEs per gap and round")
    args = parser.parse_args(argv)
    print("| server, round | " + " | ".join(f"gap {g} µs" for g in GAPS_US) + " |")
    print("|---|" + "---:|" * len(GAPS_US))
    for name, url in (("MariaDB", MYSQL_URL), ("PostgreSQL", POSTGRES_URL)):
        connection = _connect(url)
        cursor = connection.cursor()
        cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")
        cursor.execute(f"CREATE TABLE {TABLE} (k INT PRIMARY KEY, e BIGINT)")
        cursor.execute(f"INSERT INTO {TABLE} (k, e) VALUES (1, 0), (2, 0)")
        for round_ in (1, 2):
            figures = measure(connection, args.count)
            cells = " | ".join(f"{figures[g]:.0f}" for g in GAPS_US)
            print(f"| {name}, {round_} | {cells} |")
        cursor.execute(f"DROP TABLE {TABLE}")
        cursor.close()
        connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
