"""Measure what docs/scaling.md reports about the Galera cluster of scripts/galera-cluster.sh.

    scripts/galera-cluster.sh up
    PYTHONPATH=src python scripts/galera_probe.py reads      # stale reads across nodes
    PYTHONPATH=src python scripts/galera_probe.py stall      # writes while a node is SIGKILLed

``reads``: insert a row on node 1, then at once read it (SELECT) and compare-and-set it (a
conditional UPDATE) on node 2, with ``wsrep_sync_wait`` 0 (the server default) and 3 (what
sessionward sets), counting how often node 2 did not see the row.

``stall``: one writer per surviving node commits single-row UPDATEs back to back while node 3 is
killed with SIGKILL, then restarted; prints the longest commit on each survivor, and how long the
restart and rejoin (IST) took. It drives the cluster script, so run it only on the test cluster.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pymysql

SCRIPT = Path(__file__).resolve().parent / "galera-cluster.sh"
BASH = shutil.which("bash") or "/bin/bash"
PORTS = (23061, 23062, 23063)
DATABASE = os.environ.get("SESSIONWARD_GALERA_DATABASE", "sessionward_test")


def cluster(*args: str) -> None:
    """Run the cluster script (a fixed path of this repository, fixed arguments)."""
    subprocess.run([BASH, str(SCRIPT), *args], check=True)  # noqa: S603


def connect(port: int, sync_wait: int | None = None) -> Any:
    conn = pymysql.connect(
        host="127.0.0.1", port=port, user="root", database=DATABASE, autocommit=True
    )
    if sync_wait is not None:
        with conn.cursor() as cur:
            cur.execute(f"SET SESSION wsrep_sync_wait = {sync_wait}")
    return conn


def probe_reads(rounds: int) -> None:
    """Each round inserts one row on node 1, then at once either reads it or compare-and-sets it
    on node 2 (never both: the second statement would get the first one's time to catch up)."""
    writer = connect(PORTS[0])
    with writer.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS probe_rw")
        cur.execute("CREATE TABLE probe_rw (k INT PRIMARY KEY, v INT NOT NULL)")
    statements = {
        "SELECT": "SELECT v FROM probe_rw WHERE k = %s",
        "conditional UPDATE": "UPDATE probe_rw SET v = 1 WHERE k = %s AND v = 0",
    }
    for sync_wait in (0, 3):
        reader = connect(PORTS[1], sync_wait)
        for kind, statement in statements.items():
            missed = 0
            started = time.perf_counter()
            for i in range(rounds):
                with writer.cursor() as cur:
                    cur.execute("INSERT INTO probe_rw VALUES (%s, 0)", (i,))
                with reader.cursor() as cur:
                    matched = cur.execute(statement, (i,))
                    missed += matched == 0
            elapsed = time.perf_counter() - started
            print(
                f"wsrep_sync_wait={sync_wait}: {kind} on node 2 right after the INSERT on "
                f"node 1: {missed} of {rounds} ({100 * missed / rounds:.0f} %) missed the row; "
                f"{1000 * elapsed / rounds:.2f} ms per round"
            )
            with writer.cursor() as cur:
                cur.execute("DELETE FROM probe_rw")
        reader.close()
    with writer.cursor() as cur:
        cur.execute("DROP TABLE probe_rw")
    writer.close()


def probe_stall(kill_node: int) -> None:
    survivors = [p for n, p in enumerate(PORTS, 1) if n != kill_node]
    setup = connect(survivors[0])
    with setup.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS probe_stall")
        cur.execute("CREATE TABLE probe_stall (k INT PRIMARY KEY, v INT NOT NULL)")
        cur.execute("INSERT INTO probe_stall VALUES (1, 0), (2, 0)")
    stop = threading.Event()
    worst: dict[int, float] = {}
    errors: dict[int, list[str]] = {}

    def write(port: int, key: int) -> None:
        conn = connect(port, 3)
        worst[port], errors[port] = 0.0, []
        while not stop.is_set():
            started = time.perf_counter()
            try:
                with conn.cursor() as cur:
                    cur.execute("UPDATE probe_stall SET v = v + 1 WHERE k = %s", (key,))
            except pymysql.MySQLError as exc:
                errors[port].append(f"{exc.args[0]}")
                time.sleep(0.05)
            worst[port] = max(worst[port], time.perf_counter() - started)
        conn.close()

    threads = [threading.Thread(target=write, args=(p, k)) for k, p in enumerate(survivors, 1)]
    for thread in threads:
        thread.start()
    time.sleep(2)
    before = dict(worst)
    for port in worst:
        worst[port] = 0.0
    killed = time.perf_counter()
    cluster("kill", str(kill_node))
    time.sleep(8)
    stop.set()
    for thread in threads:
        thread.join()
    print(
        f"node {kill_node} SIGKILLed: longest commit before, per survivor: "
        + ", ".join(f"{1000 * v:.0f} ms" for v in before.values())
        + "; in the 8 s after the kill: "
        + ", ".join(f"{v:.2f} s" for v in worst.values())
        + f"; errors: {errors}"
    )
    restart = time.perf_counter()
    cluster("start", str(kill_node))
    print(
        f"restart to Synced (recovery + IST): {time.perf_counter() - restart:.1f} s; "
        f"{time.perf_counter() - killed:.1f} s since the kill"
    )
    with setup.cursor() as cur:
        cur.execute("DROP TABLE probe_stall")
    setup.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("what", choices=["reads", "stall"])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--kill-node", type=int, default=3, choices=[1, 2, 3])
    args = parser.parse_args()
    if args.what == "reads":
        probe_reads(args.rounds)
    else:
        probe_stall(args.kill_node)
    return 0


if __name__ == "__main__":
    sys.exit(main())
