"""The SQL stores: each runs one statement at a time on a pooled connection, and nothing else.

Everything a store does beyond the three primitives of ``storage/execution.py`` (which statement,
with what, how to read it, when to retry) is written once in flows. What is left here differs
only in whether it waits: :class:`SyncSqlStore` (a SQLAlchemy ``Engine``, for the sync manager),
:class:`AsyncSqlStore` (an ``AsyncEngine``: asyncmy, aiomysql, psycopg), and
:class:`ThreadedStore` (a sync store run on a thread pool the store owns, for the async manager
on SQLite, whose async driver would run every statement on a thread of its own anyway).

The lean path: SQLAlchemy compiles each statement once per dialect (:class:`CompiledStatement`),
and the store runs the SQL text on the DB-API connection it checks out of SQLAlchemy's pool, with
no per-call compile, execution context or result wrapper. SQLAlchemy still provides the schema,
the dialects, the URLs and the pool.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, MetaData, PoolProxiedConnection
from sqlalchemy.exc import (
    IntegrityError,
    MissingGreenlet,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool
from sqlalchemy.sql.expression import Executable
from sqlalchemy.util import greenlet_spawn

from sessionward._storage.engines import prepare_sqlite
from sessionward._storage.execution import Result
from sessionward._storage.failures import connection_failed, database_error
from sessionward._storage.upgrade import add_missing_columns, add_missing_indexes

CREATE_ATTEMPTS = 5  # concurrent first starts: each attempt skips the tables that now exist
_CREATE_RACE = (OperationalError, ProgrammingError, IntegrityError)


class CompiledStatement:
    """A statement compiled for one dialect: its SQL text, and how to lay out its parameters
    (a tuple in bind order for positional paramstyles, a dict for named ones)."""

    __slots__ = ("_names", "_positional", "sql")

    def __init__(self, statement: Executable, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        self.sql: str = compiled.string
        self._positional: bool = bool(compiled.positional)
        self._names: tuple[str, ...] = tuple(
            compiled.positiontup if compiled.positional else compiled.binds
        )

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        if self._positional:
            return tuple([values[name] for name in self._names])
        return {name: values[name] for name in self._names}


class _Compiler:
    """Each statement compiled once, on first use, for the engine's dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._cache: dict[int, tuple[Executable, CompiledStatement]] = {}

    def __call__(self, statement: Executable) -> CompiledStatement:
        found = self._cache.get(id(statement))
        if found is None:
            # The statement is kept alongside, so that its id cannot be reused by another.
            found = (statement, CompiledStatement(statement, self._dialect))
            self._cache[id(statement)] = found
        return found[1]


def create_schema(conn: Connection, metadata: MetaData) -> None:
    """Create missing tables and columns; concurrent first starts race harmlessly."""
    for attempt in range(CREATE_ATTEMPTS):
        try:
            metadata.create_all(conn, checkfirst=True)
            conn.commit()
            add_missing_columns(conn, metadata)
            add_missing_indexes(conn, metadata)
            return
        except _CREATE_RACE:
            # Another process created a table between our check and our CREATE; what exists
            # is skipped on the next attempt, so each attempt makes progress.
            conn.rollback()
            if attempt == CREATE_ATTEMPTS - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


class SyncSqlStore:
    """Sessions and keys in SQLite, MySQL/MariaDB or PostgreSQL, through a sync ``Engine``."""

    def __init__(self, engine: Engine, metadata: MetaData, *, autocommit: bool = False) -> None:
        """``autocommit``: the engine commits every statement itself (as the engines that
        sessionward creates do), so no COMMIT round trip is needed; False for any other."""
        if engine.dialect.name == "sqlite":
            prepare_sqlite(engine)
        self.engine = engine
        self._metadata = metadata
        self._autocommit = autocommit
        self._compile = _Compiler(engine.dialect)
        # Connections kept out of the pool between statements, on engines this store made only:
        # SQLAlchemy's checkout and checkin (its lock, queue, events and bookkeeping) were a
        # fifth of a SQLite rotation's time, and such an engine has nothing to do at either (no
        # ping, no reset, no recycling: see ``engines.py``). At most as many are kept as the
        # pool would keep idle; an application's own engine gets every connection back.
        self._idle: list[PoolProxiedConnection] = []
        self._keep = _pool_size(engine) if autocommit else 0

    def attempt(self, statement: Executable, parameters: Mapping[str, Any]) -> Result:
        compiled = self._compile(statement)
        idle = self._idle
        try:
            connection = idle.pop()
        except IndexError:  # none kept idle (or another thread took the last one)
            connection = self.engine.raw_connection()
        try:
            cursor = connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(compiled.sql, compiled.parameters(parameters))
                rows = cursor.fetchall() if cursor.description else ()
                result = Result(cursor.rowcount, rows)
            finally:
                cursor.close()
            if not self._autocommit:
                connection.commit()
        except BaseException as exc:
            lost = connection_failed(exc)
            if lost or not isinstance(exc, Exception):
                connection.invalidate()  # its state is unknown: never hand it out again
            if lost:
                # The server went away, most likely for every connection kept with this one:
                # discard them too, so that the retry opens a fresh one (as SQLAlchemy's own
                # engine invalidates its whole pool on a disconnect).
                self._discard_idle(invalidate=True)
            connection.close()
            raise
        if len(idle) < self._keep:
            idle.append(connection)  # list.append and pop are atomic: no lock
        else:
            connection.close()
        return result

    def _discard_idle(self, *, invalidate: bool) -> None:
        idle = self._idle
        while idle:
            try:
                connection = idle.pop()
            except IndexError:  # another thread took the last one
                return
            if invalidate:
                connection.invalidate()
            connection.close()

    def backoff(self, seconds: float) -> None:
        time.sleep(seconds)

    def create_tables(self) -> None:
        try:
            with self.engine.connect() as conn:
                create_schema(conn, self._metadata)
        except SQLAlchemyError as exc:
            raise database_error(exc) from exc

    def close(self) -> None:
        self._discard_idle(invalidate=False)
        self.engine.dispose()


def _pool_size(engine: Engine) -> int:
    """How many idle connections the store may keep: as many as a ``QueuePool`` keeps idle, whose
    connections any thread may use. None for any other pool: ``SingletonThreadPool`` (an
    in-memory SQLite database) gives each thread a connection of its own, which another thread
    must not be handed."""
    pool = engine.pool
    return pool.size() if isinstance(pool, QueuePool) else 0


class AsyncSqlStore:
    """The same over an ``AsyncEngine``, on the driver's native async connection."""

    def __init__(
        self, engine: AsyncEngine, metadata: MetaData, *, autocommit: bool = False
    ) -> None:
        if engine.dialect.name == "sqlite":
            prepare_sqlite(engine.sync_engine)
        self.engine = engine
        self._metadata = metadata
        self._autocommit = autocommit
        self._compile = _Compiler(engine.dialect)
        # Checkouts still to take through the greenlet bridge, because a connection this store
        # discarded is back in the pool without a link and will be reopened on checkout.
        self._reopenings = 0

    async def attempt(self, statement: Executable, parameters: Mapping[str, Any]) -> Result:
        compiled = self._compile(statement)
        connection = await self._checkout()
        native: Any = connection.driver_connection
        try:
            async with native.cursor() as cursor:
                await cursor.execute(compiled.sql, compiled.parameters(parameters))
                rows = await cursor.fetchall() if cursor.description else ()
                result = Result(cursor.rowcount, rows)
            if not self._autocommit:
                await native.commit()
        except BaseException as exc:
            if connection_failed(exc) or not isinstance(exc, Exception):
                # Cancelled mid-statement, or broken: discard it, even while being cancelled.
                pool: Any = self.engine.sync_engine.pool
                self._reopenings = pool.size() + max(0, pool.overflow()) + 1
                await asyncio.shield(greenlet_spawn(connection.invalidate))
            else:
                await greenlet_spawn(connection.close)  # back to the pool (rolled back if needed)
            raise
        await self._checkin(connection)
        return result

    async def _checkout(self) -> PoolProxiedConnection:
        """A connection from the pool. An idle, open one is taken directly; opening one (or
        waiting for one) needs the greenlet bridge of SQLAlchemy's async dialects.

        Direct only on engines this store made (no recycling, no ping, no reset: a checkout
        of an idle connection does no I/O) and when it has discarded none lately."""
        pool: Any = self.engine.sync_engine.pool  # not kept: dispose() replaces it
        if self._autocommit and self._reopenings == 0 and pool.checkedin() > 0:
            try:
                return pool.connect()  # type: ignore[no-any-return]
            except MissingGreenlet:  # pragma: no cover - a reopening not foreseen above
                self._reopenings = pool.size() + 1  # the pool took the connection back
        connection = await self.engine.raw_connection()
        self._reopenings = max(0, self._reopenings - 1)  # one more connection known to be open
        return connection

    async def _checkin(self, connection: PoolProxiedConnection) -> None:
        """Back to the pool: directly, unless the checkin may do I/O (closing an overflow
        connection when the pool is full, or rolling back for an engine not in autocommit)."""
        pool: Any = self.engine.sync_engine.pool
        if self._autocommit and pool.checkedin() < pool.size():
            connection.close()
        else:
            await greenlet_spawn(connection.close)

    async def backoff(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def create_tables(self) -> None:
        try:
            async with self.engine.connect() as conn:
                await conn.run_sync(create_schema, self._metadata)
        except SQLAlchemyError as exc:
            raise database_error(exc) from exc

    async def close(self) -> None:
        await self.engine.dispose()


class ThreadedStore:
    """An async store that runs a :class:`SyncSqlStore` on a small thread pool of its own.

    For SQLite: its async driver runs each connection on a thread anyway, with a queue and a
    future per call; here a statement costs one hand-off to an idle thread instead.
    """

    def __init__(self, store: SyncSqlStore, threads: int | None = None) -> None:
        self.store = store
        self.engine = store.engine
        self._executor = ThreadPoolExecutor(
            max_workers=threads or min(8, (os.cpu_count() or 1) * 2),
            thread_name_prefix="sessionward-sqlite",
        )

    async def attempt(self, statement: Executable, parameters: Mapping[str, Any]) -> Result:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.store.attempt, statement, parameters)

    async def backoff(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def create_tables(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self.store.create_tables)

    async def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.store.close()
