"""Managers on several database servers at once (a cluster's nodes, or one failover URL), sync or
async, callable from any thread: the helper of the Galera and failover tests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event

from sessionward import AsyncSessionManager, Config, SessionManager
from tests.support.race_worker import classify as outcome_of


class Nodes:
    """One manager per node, sync or async, sharing tables; callable from any thread.

    The async managers live on one event loop, run by a thread of its own: a call from a test
    thread is a coroutine submitted to that loop, so concurrent calls interleave on it as they
    would in an asyncio application.
    """

    def __init__(
        self,
        mode: str,
        urls: list[str],
        tables: dict[str, str],
        *,
        session_sql: tuple[str, ...] = (),
        **settings: Any,
    ) -> None:
        self.mode = mode
        self.configs = [
            Config(refresh_path="/refresh", database_url=url, **tables, **settings) for url in urls
        ]
        self.loop: asyncio.AbstractEventLoop | None = None
        if mode == "sync":
            self.managers: list[Any] = [SessionManager(c) for c in self.configs]
            engines = [m.store.engine for m in self.managers]
        else:
            self.loop = asyncio.new_event_loop()
            threading.Thread(target=self.loop.run_forever, daemon=True).start()
            self.managers = [AsyncSessionManager(c) for c in self.configs]
            engines = [m.store.engine.sync_engine for m in self.managers]
        for engine in engines:
            for statement in session_sql:  # before any connection is opened
                event.listen(engine, "connect", _run_on_connect(statement))

    def call(self, node: int, name: str, *args: Any) -> Any:
        method = getattr(self.managers[node], name)
        if self.loop is None:
            return method(*args)
        return asyncio.run_coroutine_threadsafe(method(*args), self.loop).result(timeout=120)

    def race(self, calls: list[tuple[int, str, tuple[Any, ...]]]) -> list[dict[str, Any]]:
        """Run the calls released together (threads at a barrier, or tasks of one gather);
        each gives a record: ``kind`` ("ok" or an error kind), ``result``, ``start``, ``end``."""
        records: list[dict[str, Any]] = [{"node": node} for node, _, _ in calls]
        if self.loop is None:
            barrier = threading.Barrier(len(calls))

            def run(i: int) -> None:
                node, name, args = calls[i]
                barrier.wait(timeout=60)
                records[i]["start"] = time.time()
                try:
                    records[i].update(kind="ok", result=self.call(node, name, *args))
                except Exception as exc:
                    records[i].update(kind=outcome_of(exc), error=exc)
                records[i]["end"] = time.time()

            threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return records

        async def one(i: int) -> None:
            node, name, args = calls[i]
            records[i]["start"] = time.time()
            try:
                result = await getattr(self.managers[node], name)(*args)
                records[i].update(kind="ok", result=result)
            except Exception as exc:
                records[i].update(kind=outcome_of(exc), error=exc)
            records[i]["end"] = time.time()

        async def together() -> None:
            await asyncio.gather(*(one(i) for i in range(len(calls))))

        asyncio.run_coroutine_threadsafe(together(), self.loop).result(timeout=300)
        return records

    def count_backoffs(self) -> list[int]:
        """From now on, count the conflict retries of each node's store (its Backoff steps)."""
        counts = [0] * len(self.managers)
        for node, manager in enumerate(self.managers):
            original = manager.store.backoff
            if self.loop is None:

                def backoff(seconds: float, node: int = node, original: Any = original) -> None:
                    counts[node] += 1
                    original(seconds)

            else:

                async def backoff(  # type: ignore[misc]
                    seconds: float, node: int = node, original: Any = original
                ) -> None:
                    counts[node] += 1
                    await original(seconds)

            manager.store.backoff = backoff
        return counts

    def close(self) -> None:
        if self.loop is None:
            for manager in self.managers:
                manager.close()
            return
        for manager in self.managers:
            asyncio.run_coroutine_threadsafe(manager.close(), self.loop).result(timeout=60)
        self.loop.call_soon_threadsafe(self.loop.stop)


def _run_on_connect(statement: str) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(statement)
        finally:
            cursor.close()

    return on_connect
