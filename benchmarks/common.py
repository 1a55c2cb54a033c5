"""What the runner and its parts share: the bench databases, the run's modes, the measuring loops
and the table of results.

:mod:`benchmarks.run` and :mod:`benchmarks.galera` both import from here, so neither imports the
other for them.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

MYSQL_URL = os.environ.get(
    "SESSIONWARD_BENCH_MYSQL_URL", "mysql://root@127.0.0.1:3306/sessionward_bench"
)
POSTGRES_URL = os.environ.get(
    "SESSIONWARD_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/sessionward_bench"
)
TABLES = {
    "signing_key_table": "sw_bench_signing_key",
    "refresh_token_table": "sw_bench_refresh_token",
    "revocation_table": "sw_bench_revocation",
}


class Mode:
    def __init__(self, seconds: float, reps: int, warm: float) -> None:
        self.seconds, self.reps, self.warm = seconds, reps, warm


MODES = {
    "full": Mode(1.0, 5, 0.3),
    "quick": Mode(0.2, 3, 0.1),
    "tiny": Mode(0.1, 1, 0.05),
}


# --- measuring ---------------------------------------------------------------------------------


def loop_sync(fn: Callable[[], Any], mode: Mode) -> list[float]:
    """A CPU-bound call back to back; n calibrated so that one repetition lasts mode.seconds."""
    n, dt = 1, 0.0
    while True:
        t = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t
        if dt > mode.seconds / 5:
            break
        n *= 4
    n = max(1, round(n * mode.seconds / dt))
    rates = []
    for _ in range(mode.reps):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        rates.append(n / (time.perf_counter() - t))
    return rates


async def loop_async(fn: Callable[[], Awaitable[Any]], mode: Mode) -> list[float]:
    n, dt = 1, 0.0
    while True:
        t = time.perf_counter()
        for _ in range(n):
            await fn()
        dt = time.perf_counter() - t
        if dt > mode.seconds / 5:
            break
        n *= 4
    n = max(1, round(n * mode.seconds / dt))
    rates = []
    for _ in range(mode.reps):
        t = time.perf_counter()
        for _ in range(n):
            await fn()
        rates.append(n / (time.perf_counter() - t))
    return rates


def sample_threads(fns: list[Callable[[], Any]], mode: Mode) -> list[float]:
    """One thread per worker, each repeating its op; completed ops sampled per repetition."""
    counts = [0] * len(fns)
    stop = threading.Event()
    errors: list[BaseException] = []

    def run(i: int, fn: Callable[[], Any]) -> None:
        try:
            while not stop.is_set():
                fn()
                counts[i] += 1
        except BaseException as exc:  # reported below, the figure would be wrong
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, f), daemon=True) for i, f in enumerate(fns)]
    for th in threads:
        th.start()
    time.sleep(mode.warm)
    rates = []
    for _ in range(mode.reps):
        c0, t0 = sum(counts), time.perf_counter()
        time.sleep(mode.seconds)
        rates.append((sum(counts) - c0) / (time.perf_counter() - t0))
    stop.set()
    for th in threads:
        th.join()
    if errors:
        raise errors[0]
    return rates


async def sample_tasks(fns: list[Callable[[], Awaitable[Any]]], mode: Mode) -> list[float]:
    """One asyncio task per worker; the same sampling as sample_threads."""
    counts = [0] * len(fns)
    stop = False

    async def run(i: int, fn: Callable[[], Awaitable[Any]]) -> None:
        while not stop:
            await fn()
            counts[i] += 1

    tasks = [asyncio.create_task(run(i, f)) for i, f in enumerate(fns)]
    await asyncio.sleep(mode.warm)
    rates = []
    for _ in range(mode.reps):
        c0, t0 = sum(counts), time.perf_counter()
        await asyncio.sleep(mode.seconds)
        rates.append((sum(counts) - c0) / (time.perf_counter() - t0))
    stop = True
    await asyncio.gather(*tasks)
    return rates


class Results:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.notes: list[str] = []

    def add(self, name: str, rates: list[float], baseline: str | None = None, **info: Any) -> None:
        """Record a row; measured again (another pass), its repetitions are pooled."""
        earlier = self.rows.get(name, {}).get("reps", [])
        reps = [*earlier, *(round(r, 1) for r in rates)]
        self.rows[name] = {
            "name": name,
            "ops_per_s": statistics.median(reps),
            "reps": reps,
            "baseline": baseline,
            **info,
        }
        print(f"  {name:<42} {statistics.median(rates):>11,.0f} /s", file=sys.stderr, flush=True)

    def ratio(self, a: str, b: str | None) -> float | None:
        if b is None or a not in self.rows or b not in self.rows:
            return None
        if not self.rows[b]["ops_per_s"]:
            return None
        return self.rows[a]["ops_per_s"] / self.rows[b]["ops_per_s"]


# --- the bench databases -------------------------------------------------------------------------


def backend_url(backend: str, tmp: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp}/bench.sqlite3"
    return MYSQL_URL if backend == "mysql" else POSTGRES_URL


def prepare_database(backend: str, url: str) -> None:
    """Create the bench database if missing and drop the bench tables of earlier runs."""
    from sqlalchemy import create_engine, text

    from sessionward._storage.engines import resolve_url

    parsed = resolve_url(url, asynchronous=False)
    if backend != "sqlite":
        admin_db = "postgres" if backend == "postgres" else "mysql"
        admin = create_engine(parsed.set(database=admin_db), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            name = parsed.database
            if backend == "mysql":
                conn.execute(text(f"CREATE DATABASE IF NOT EXISTS `{name}`"))
            elif (
                conn.execute(
                    text("SELECT 1 FROM pg_database WHERE datname=:n"), {"n": name}
                ).first()
                is None
            ):
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    engine = create_engine(parsed)
    with engine.begin() as conn:
        for table in TABLES.values():
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
    engine.dispose()
