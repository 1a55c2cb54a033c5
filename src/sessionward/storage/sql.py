"""The SQL stores: one for a sync ``Engine``, one for an ``AsyncEngine``, same statements.

Each method is one short transaction. Writes on SQLite begin with ``BEGIN IMMEDIATE`` so that two
writers queue on the busy timeout instead of failing on a lock upgrade; on MySQL/MariaDB and
PostgreSQL the row lock comes from ``SELECT … FOR UPDATE``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sessionward.errors import GeneralError
from sessionward.models import SessionRow, SessionSummary
from sessionward.storage.base import (
    D,
    async_retry_once_if_connection_lost,
    database_errors,
    retry_once_if_connection_lost,
    row_from,
    summaries_from,
    update_parameters,
)
from sessionward.storage.engines import LOCK_OPTION, install_sqlite_locking
from sessionward.storage.schema import Statements


def _prepare(engine: Engine) -> bool:
    """Set SQLite up for sessionward's locking; True if the engine is SQLite."""
    if engine.dialect.name != "sqlite":
        return False
    install_sqlite_locking(engine)
    return True


class SyncSqlStore:
    """Sessions and keys in any SQLAlchemy-supported SQLite, MySQL/MariaDB or PostgreSQL."""

    def __init__(self, engine: Engine, statements: Statements) -> None:
        self._sqlite = _prepare(engine)
        self.engine = engine
        self._s = statements

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Connection]:
        with database_errors(), self.engine.connect() as conn:
            if write and self._sqlite:
                conn.execution_options(**{LOCK_OPTION: True})
            with conn.begin():
                yield conn

    @retry_once_if_connection_lost
    def create_tables(self) -> None:
        with database_errors():
            try:
                self._s.metadata.create_all(self.engine, checkfirst=True)
            except (OperationalError, ProgrammingError, IntegrityError):
                # Another process created them between our check and our CREATE: check again.
                self._s.metadata.create_all(self.engine, checkfirst=True)

    @retry_once_if_connection_lost
    def insert_session(self, values: dict[str, Any]) -> None:
        with self._transaction(write=True) as conn:
            conn.execute(self._s.insert_session, values)

    @retry_once_if_connection_lost
    def decide_locked(self, handle: str, decide: Callable[[SessionRow | None], D]) -> D:
        with self._transaction(write=True) as conn:
            row = row_from(conn.execute(self._s.lock_session, {"handle": handle}).first())
            decision = decide(row)
            change = decision.change
            if change.delete:
                conn.execute(self._s.delete_session, {"handle": handle})
            elif change.new_hash_2 is not None:
                conn.execute(self._s.update_parent, update_parameters(handle, change))
            return decision

    @retry_once_if_connection_lost
    def session_alive(self, handle: str, now_ms: int) -> bool:
        with self._transaction(write=False) as conn:
            params = {"handle": handle, "now": now_ms}
            return conn.execute(self._s.session_alive, params).first() is not None

    @retry_once_if_connection_lost
    def delete_session(self, handle: str) -> bool:
        with self._transaction(write=True) as conn:
            return conn.execute(self._s.delete_session, {"handle": handle}).rowcount > 0

    @retry_once_if_connection_lost
    def delete_user_sessions(self, user_id: str) -> int:
        with self._transaction(write=True) as conn:
            return int(conn.execute(self._s.delete_user_sessions, {"user_id": user_id}).rowcount)

    @retry_once_if_connection_lost
    def list_user_sessions(self, user_id: str, now_ms: int) -> list[SessionSummary]:
        with self._transaction(write=False) as conn:
            params = {"user_id": user_id, "now": now_ms}
            return summaries_from(conn.execute(self._s.list_user_sessions, params))

    @retry_once_if_connection_lost
    def get_session_data(self, handle: str, now_ms: int) -> tuple[bool, str | None]:
        with self._transaction(write=False) as conn:
            params = {"handle": handle, "now": now_ms}
            row = conn.execute(self._s.get_session_data, params).first()
            return (False, None) if row is None else (True, row[0])

    @retry_once_if_connection_lost
    def update_session_data(self, handle: str, data_json: str, now_ms: int) -> bool:
        with self._transaction(write=True) as conn:
            params = {"handle": handle, "now": now_ms, "session_info": data_json}
            return conn.execute(self._s.update_session_data, params).rowcount > 0

    @retry_once_if_connection_lost
    def purge_expired(self, now_ms: int) -> int:
        with self._transaction(write=True) as conn:
            return int(conn.execute(self._s.purge_expired, {"now": now_ms}).rowcount)

    @retry_once_if_connection_lost
    def load_keys(self) -> list[tuple[str, str]]:
        with self._transaction(write=False) as conn:
            return [(name, value) for name, value in conn.execute(self._s.select_keys)]

    @retry_once_if_connection_lost
    def insert_key_if_absent(self, name: str, value: str, now_ms: int) -> bool:
        row = {"key_name": name, "key_value": value, "created_at_time": now_ms}
        try:
            with self._transaction(write=True) as conn:
                conn.execute(self._s.insert_key, row)
        except GeneralError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                return False  # another process won the race; its key is the key
            raise
        return True

    @retry_once_if_connection_lost
    def delete_keys(self, names: list[str]) -> int:
        if not names:
            return 0
        with self._transaction(write=True) as conn:
            return int(conn.execute(self._s.delete_keys, {"names": names}).rowcount)

    def close(self) -> None:
        self.engine.dispose()


class AsyncSqlStore:
    """The same store over an ``AsyncEngine`` (aiosqlite, asyncmy, psycopg async)."""

    def __init__(self, engine: AsyncEngine, statements: Statements) -> None:
        self._sqlite = _prepare(engine.sync_engine)
        self.engine = engine
        self._s = statements

    @asynccontextmanager
    async def _transaction(self, *, write: bool) -> AsyncIterator[AsyncConnection]:
        with database_errors():
            async with self.engine.connect() as conn:
                if write and self._sqlite:
                    await conn.execution_options(**{LOCK_OPTION: True})
                async with conn.begin():
                    yield conn

    @async_retry_once_if_connection_lost
    async def create_tables(self) -> None:
        with database_errors():
            try:
                async with self.engine.begin() as conn:
                    await conn.run_sync(self._s.metadata.create_all, checkfirst=True)
            except (OperationalError, ProgrammingError, IntegrityError):
                async with self.engine.begin() as conn:
                    await conn.run_sync(self._s.metadata.create_all, checkfirst=True)

    @async_retry_once_if_connection_lost
    async def insert_session(self, values: dict[str, Any]) -> None:
        async with self._transaction(write=True) as conn:
            await conn.execute(self._s.insert_session, values)

    @async_retry_once_if_connection_lost
    async def decide_locked(self, handle: str, decide: Callable[[SessionRow | None], D]) -> D:
        async with self._transaction(write=True) as conn:
            result = await conn.execute(self._s.lock_session, {"handle": handle})
            decision = decide(row_from(result.first()))
            change = decision.change
            if change.delete:
                await conn.execute(self._s.delete_session, {"handle": handle})
            elif change.new_hash_2 is not None:
                await conn.execute(self._s.update_parent, update_parameters(handle, change))
            return decision

    @async_retry_once_if_connection_lost
    async def session_alive(self, handle: str, now_ms: int) -> bool:
        async with self._transaction(write=False) as conn:
            params = {"handle": handle, "now": now_ms}
            return (await conn.execute(self._s.session_alive, params)).first() is not None

    @async_retry_once_if_connection_lost
    async def delete_session(self, handle: str) -> bool:
        async with self._transaction(write=True) as conn:
            return (await conn.execute(self._s.delete_session, {"handle": handle})).rowcount > 0

    @async_retry_once_if_connection_lost
    async def delete_user_sessions(self, user_id: str) -> int:
        async with self._transaction(write=True) as conn:
            result = await conn.execute(self._s.delete_user_sessions, {"user_id": user_id})
            return int(result.rowcount)

    @async_retry_once_if_connection_lost
    async def list_user_sessions(self, user_id: str, now_ms: int) -> list[SessionSummary]:
        async with self._transaction(write=False) as conn:
            params = {"user_id": user_id, "now": now_ms}
            return summaries_from(await conn.execute(self._s.list_user_sessions, params))

    @async_retry_once_if_connection_lost
    async def get_session_data(self, handle: str, now_ms: int) -> tuple[bool, str | None]:
        async with self._transaction(write=False) as conn:
            params = {"handle": handle, "now": now_ms}
            row = (await conn.execute(self._s.get_session_data, params)).first()
            return (False, None) if row is None else (True, row[0])

    @async_retry_once_if_connection_lost
    async def update_session_data(self, handle: str, data_json: str, now_ms: int) -> bool:
        async with self._transaction(write=True) as conn:
            params = {"handle": handle, "now": now_ms, "session_info": data_json}
            return (await conn.execute(self._s.update_session_data, params)).rowcount > 0

    @async_retry_once_if_connection_lost
    async def purge_expired(self, now_ms: int) -> int:
        async with self._transaction(write=True) as conn:
            return int((await conn.execute(self._s.purge_expired, {"now": now_ms})).rowcount)

    @async_retry_once_if_connection_lost
    async def load_keys(self) -> list[tuple[str, str]]:
        async with self._transaction(write=False) as conn:
            return [(name, value) for name, value in await conn.execute(self._s.select_keys)]

    @async_retry_once_if_connection_lost
    async def insert_key_if_absent(self, name: str, value: str, now_ms: int) -> bool:
        row = {"key_name": name, "key_value": value, "created_at_time": now_ms}
        try:
            async with self._transaction(write=True) as conn:
                await conn.execute(self._s.insert_key, row)
        except GeneralError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                return False
            raise
        return True

    @async_retry_once_if_connection_lost
    async def delete_keys(self, names: list[str]) -> int:
        if not names:
            return 0
        async with self._transaction(write=True) as conn:
            return int((await conn.execute(self._s.delete_keys, {"names": names})).rowcount)

    async def close(self) -> None:
        await self.engine.dispose()
