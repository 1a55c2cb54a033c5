"""``run.py --galera``: the rotation on a 3-node Galera cluster next to one MariaDB, same run.

    scripts/galera-cluster.sh up
    PYTHONPATH=src python benchmarks/run.py --galera

A rotation is a refresh and the first verify that promotes the new pair (two conditional UPDATEs).
Sequential (one client) and 32 in flight, for the sync and the async manager, on one MariaDB
(``single``) and on the cluster routed three ways (``ROUTES``): every call to the next node
(``cluster_rr``, a load balancer without affinity: each rotation crosses nodes), each client on
one node (``cluster_sticky``), every client on node 1 (``cluster_one``, a proxy's single writer).
The cluster's URLs come from ``SESSIONWARD_BENCH_GALERA_URLS``, or else from
``scripts/galera-cluster.sh urls`` (database ``sessionward_bench``); the single server is
``SESSIONWARD_BENCH_MYSQL_URL``, as for the rest of the runner.

Caution when reading the figures: the three nodes here share one machine (2 vCPU in the runs of
docs/scaling.md) with the benchmark itself, and every node applies every write. A cluster adds
write capacity only when its nodes have machines of their own; even then each write is applied on
every node, so Galera scales reads, connections and availability rather than write throughput.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from itertools import count
from pathlib import Path
from typing import Any, Generic, TypeVar

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # as in run.py: the benchmarks package, however this file is run
    sys.path.insert(0, str(REPO))

from sqlalchemy.engine import make_url  # noqa: E402

from benchmarks.common import prepare_database, sample_tasks, sample_threads  # noqa: E402
from sessionward import AsyncSessionManager, SessionManager  # noqa: E402
from sessionward._models import SessionTokens, VerifiedSession  # noqa: E402

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


Route = Callable[[int, int], int]  # (worker, its k-th call) -> node index

ROUTES: dict[str, Route] = {
    # every call to the next node: a load balancer without affinity; each rotation crosses nodes
    "cluster_rr": lambda worker, call: worker + call,
    # each client always on the same node (a load balancer with affinity)
    "cluster_sticky": lambda worker, call: worker,
    # every client on node 1, the others only replicate: the single-writer set-up of a proxy
    "cluster_one": lambda worker, call: 0,
}


M = TypeVar("M", SessionManager, AsyncSessionManager)


class _Chain(Generic[M]):
    """One worker's rotation chain: which node serves its next call, and its refresh token."""

    def __init__(self, managers: list[M], worker: int, route: Route) -> None:
        self.managers: list[M] = managers
        self.worker = worker
        self.route = route
        self.calls = count()
        self.refresh_token = ""

    def next_manager(self) -> M:
        return self.managers[self.route(self.worker, next(self.calls)) % len(self.managers)]

    def advance(self, tokens: SessionTokens, verified: VerifiedSession) -> None:
        """Keep the new refresh token, once the verify has promoted the new pair."""
        if verified.new_access_token is None:
            raise AssertionError("the first verify after a refresh did not promote")
        self.refresh_token = tokens.refresh_token.value


def _sync_cycles(
    managers: list[SessionManager], workers: int, route: Route
) -> list[Callable[[], None]]:
    """One rotation loop per worker: a refresh, then the verify that promotes the new pair."""
    cycles: list[Callable[[], None]] = []
    for i in range(workers):
        chain = _Chain(managers, i, route)
        chain.refresh_token = (
            chain.next_manager().create_new_session(f"g{i}", {"w": i}).refresh_token.value
        )

        def cycle(chain: _Chain[SessionManager] = chain) -> None:
            tokens = chain.next_manager().refresh_session(chain.refresh_token)
            access, csrf = tokens.access_token.value, tokens.anti_csrf_token
            chain.advance(tokens, chain.next_manager().get_session(access, csrf))

        cycles.append(cycle)
    return cycles


async def _async_cycles(
    managers: list[AsyncSessionManager], workers: int, route: Route
) -> list[Callable[[], Awaitable[None]]]:
    """:func:`_sync_cycles` for the async manager."""
    cycles: list[Callable[[], Awaitable[None]]] = []
    for i in range(workers):
        chain = _Chain(managers, i, route)
        first = await chain.next_manager().create_new_session(f"ag{i}", {"w": i})
        chain.refresh_token = first.refresh_token.value

        async def cycle(chain: _Chain[AsyncSessionManager] = chain) -> None:
            tokens = await chain.next_manager().refresh_session(chain.refresh_token)
            access, csrf = tokens.access_token.value, tokens.anti_csrf_token
            chain.advance(tokens, await chain.next_manager().get_session(access, csrf))

        cycles.append(cycle)
    return cycles


async def _measure_async(
    urls: list[str], settings: dict[str, Any], workers: int, route: Route, mode: Any
) -> list[float]:
    managers = [AsyncSessionManager(database_url=u, **settings) for u in urls]
    try:
        cycles = await _async_cycles(managers, workers, route)
        for cycle in cycles:  # keys loaded, connections open: the steady state
            await cycle()
        return await sample_tasks(cycles, mode)
    finally:
        for manager in managers:
            await manager.close()


def _measure_sync(
    urls: list[str], settings: dict[str, Any], workers: int, route: Route, mode: Any
) -> list[float]:
    managers = [SessionManager(database_url=u, **settings) for u in urls]
    try:
        cycles = _sync_cycles(managers, workers, route)
        for cycle in cycles:
            cycle()
        return sample_threads(cycles, mode)
    finally:
        for manager in managers:
            manager.close()


def rows(inflight: int) -> list[str]:
    """Every row of a ``--galera`` run, in order."""
    out = []
    for mode_name in ("sync", "async"):
        for kind in ("seq", f"c{inflight}"):
            targets = ["single", *ROUTES]
            if kind == "seq":
                targets.remove("cluster_sticky")  # one client: the same as cluster_one
            out += [f"galera.rotation_{kind}.{target}.{mode_name}" for target in targets]
    return out


def run(res: Any, mode: Any, single_url: str, tables: dict[str, str], inflight: int) -> None:
    """Rows ``galera.rotation_{seq,c32}.{single,cluster_rr,cluster_sticky,cluster_one}.{sync,
    async}``; a cluster row has the single server's as its baseline: the table shows the ratio."""
    nodes = cluster_urls()
    for url in [single_url, *nodes]:
        prepare_database("mysql", url)
    settings: dict[str, Any] = {"refresh_path": "/session/refresh", **tables}
    for row in rows(inflight):
        _, operation, target, mode_name = row.split(".")
        kind = operation.removeprefix("rotation_")
        workers = 1 if kind == "seq" else inflight
        urls = [single_url] if target == "single" else nodes
        route = ROUTES.get(target, ROUTES["cluster_one"])
        base = None if target == "single" else f"galera.rotation_{kind}.single.{mode_name}"
        if mode_name == "sync":
            rates = _measure_sync(urls, settings, workers, route, mode)
        else:
            rates = asyncio.run(_measure_async(urls, settings, workers, route, mode))
        res.add(row, rates, base)
