"""``run.py --galera``: the rotation on a 3-node Galera cluster next to one MariaDB, same run.

    scripts/galera-cluster.sh up
    PYTHONPATH=src python benchmarks/run.py --galera

A rotation is a refresh and the first verify that promotes the new pair (two conditional UPDATEs).
On the cluster, each call goes to the next node in turn (round-robin, no affinity: the refresh on
one node, its promotion on the next), as behind a load balancer that spreads requests; so every
rotation also crosses nodes, which is what ``wsrep_sync_wait`` costs. Sequential (one client)
and 32 in flight, for the sync and the async manager. The cluster's URLs come from
``SESSIONWARD_BENCH_GALERA_URLS`` or else from ``scripts/galera-cluster.sh urls`` (database
``sessionward_bench``); the single server is ``SESSIONWARD_BENCH_MYSQL_URL`` as for the rest of the
runner.

Caution when reading the figures: the three nodes here share one machine (2 vCPU in the runs of
docs/scaling.md) with the benchmark itself, and every node applies every write. A cluster adds
write capacity only when its nodes have machines of their own; even then each write is applied on
every node, so Galera scales reads, connections and availability rather than write throughput.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Awaitable, Callable
from itertools import count
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from sessionward import AsyncSessionManager, SessionManager

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "galera-cluster.sh"
DATABASE = "sessionward_bench"


def cluster_urls() -> list[str]:
    """The three node URLs: from the environment, or from the cluster script."""
    raw = os.environ.get("SESSIONWARD_BENCH_GALERA_URLS", "").strip()
    if not raw:
        done = subprocess.run(  # a fixed script of this repository
            ["/bin/bash", str(SCRIPT), "urls"], check=True, capture_output=True, text=True
        )
        raw = ",".join(
            make_url(u).set(database=DATABASE).render_as_string(hide_password=False)
            for u in done.stdout.strip().split(",")
        )
    return [u.strip() for u in raw.split(",") if u.strip()]


def _sync_cycles(managers: list[SessionManager], workers: int) -> list[Callable[[], None]]:
    """One rotation loop per worker; call k of worker i goes to node (i + k) mod n."""
    cycles = []
    for i in range(workers):
        calls = count(i)
        first = managers[i % len(managers)].create_new_session(f"g{i}", {"w": i})
        state = {"rt": first.refresh_token.value}

        def cycle(calls: Any = calls, state: dict[str, str] = state) -> None:
            tokens = managers[next(calls) % len(managers)].refresh_session(state["rt"])
            verified = managers[next(calls) % len(managers)].get_session(
                tokens.access_token.value, tokens.anti_csrf_token
            )
            if verified.new_access_token is None:
                raise AssertionError("the first verify after a refresh did not promote")
            state["rt"] = tokens.refresh_token.value

        cycles.append(cycle)
    return cycles


async def _async_cycles(
    managers: list[AsyncSessionManager], workers: int
) -> list[Callable[[], Awaitable[None]]]:
    cycles = []
    for i in range(workers):
        calls = count(i)
        first = await managers[i % len(managers)].create_new_session(f"ag{i}", {"w": i})
        state = {"rt": first.refresh_token.value}

        async def cycle(calls: Any = calls, state: dict[str, str] = state) -> None:
            tokens = await managers[next(calls) % len(managers)].refresh_session(state["rt"])
            verified = await managers[next(calls) % len(managers)].get_session(
                tokens.access_token.value, tokens.anti_csrf_token
            )
            if verified.new_access_token is None:
                raise AssertionError("the first verify after a refresh did not promote")
            state["rt"] = tokens.refresh_token.value

        cycles.append(cycle)
    return cycles


async def _measure_async(
    urls: list[str], settings: dict[str, Any], workers: int, mode: Any
) -> list[float]:
    from benchmarks.run import sample_tasks

    managers = [AsyncSessionManager(database_url=u, **settings) for u in urls]
    try:
        cycles = await _async_cycles(managers, workers)
        for cycle in cycles:
            await cycle()
        return await sample_tasks(cycles, mode)
    finally:
        for manager in managers:
            await manager.close()


def run(res: Any, mode: Any, single_url: str, tables: dict[str, str], inflight: int) -> None:
    """Rows ``galera.rotation_{seq,c32}.{single,cluster}.{sync,async}``; the cluster's rows have
    the single server's as their baseline, so the table shows cluster / single."""
    from benchmarks.run import prepare_database, sample_threads

    targets = {"single": [single_url], "cluster": cluster_urls()}
    for urls in targets.values():
        for url in dict.fromkeys(urls):
            prepare_database("mysql", url)
    for mode_name in ("sync", "async"):
        for kind, workers in (("seq", 1), (f"c{inflight}", inflight)):
            for target, urls in targets.items():
                row = f"galera.rotation_{kind}.{target}.{mode_name}"
                base = None if target == "single" else f"galera.rotation_{kind}.single.{mode_name}"
                settings: dict[str, Any] = {"refresh_path": "/session/refresh", **tables}
                if mode_name == "sync":
                    managers = [SessionManager(database_url=u, **settings) for u in urls]
                    try:
                        cycles = _sync_cycles(managers, workers)
                        for cycle in cycles:  # keys loaded, connections open: the steady state
                            cycle()
                        res.add(row, sample_threads(cycles, mode), base)
                    finally:
                        for manager in managers:
                            manager.close()
                else:
                    res.add(row, asyncio.run(_measure_async(urls, settings, workers, mode)), base)
