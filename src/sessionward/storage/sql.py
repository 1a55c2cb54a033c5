"""The SQL stores: one for a sync ``Engine``, one for an ``AsyncEngine``, same statements.

Every statement is a transaction of its own, and no lock is ever held across a round trip. The
read-decide-write of a refresh or a promotion (PROTOCOL §4) is serialised by compare-and-set:
the row is read, the protocol decides, and the write names the hash and anchor it read in its
``WHERE`` clause. The database executes that single statement under its own row lock, so it
either applies to exactly the row that was decided on, or changes nothing; then the row is read
again and the decision taken again. This is the same serialisation as ``SELECT … FOR UPDATE``
inside a transaction, in two round trips instead of four, and it cannot deadlock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sessionward.errors import GeneralError
from sessionward.models import SessionRow, SessionSummary
from sessionward.protocol import RowUpdate
from sessionward.storage.base import (
    D,
    async_retry_once_if_connection_lost,
    database_errors,
    retry_once_if_connection_lost,
    row_from,
    summaries_from,
    update_parameters,
)
from sessionward.storage.engines import prepare_sqlite
from sessionward.storage.schema import Statements, add_missing_columns

CREATE_ATTEMPTS = 5  # concurrent first starts: each attempt skips the tables that now exist
_CREATE_RACE = (OperationalError, ProgrammingError, IntegrityError)
MAX_DECISION_ATTEMPTS = 10  # each lost compare-and-set means another request moved the row on


def _prepare(engine: Engine) -> None:
    if engine.dialect.name == "sqlite":
        prepare_sqlite(engine)


def _conditional_write(
    statements: Statements, handle: str, row: SessionRow, change: RowUpdate
) -> tuple[Any, dict[str, Any]]:
    """The compare-and-set statement for ``change`` to a row as it was read, and its values."""
    guard = {"old_hash_2": row.refresh_token_hash_2, "old_child_issued_at": row.child_issued_at}
    if change.delete:
        return statements.delete_if_unchanged, {"handle": handle, **guard}
    return statements.update_if_unchanged, {**update_parameters(handle, change), **guard}


def _contention() -> GeneralError:
    return GeneralError("the session kept changing under concurrent requests; try again")


class SyncSqlStore:
    """Sessions and keys in any SQLAlchemy-supported SQLite, MySQL/MariaDB or PostgreSQL."""

    def __init__(self, engine: Engine, statements: Statements, *, autocommit: bool = False) -> None:
        """``autocommit``: the engine commits every statement itself (as the engines that
        sessionward creates do), so no COMMIT round trip is needed; False for any other."""
        _prepare(engine)
        self.engine = engine
        self._s = statements
        self._autocommit = autocommit

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """A connection whose statements are committed when the block ends."""
        with database_errors(), self.engine.connect() as conn:
            if self._autocommit:
                yield conn
            else:
                with conn.begin():
                    yield conn

    @retry_once_if_connection_lost
    def create_tables(self) -> None:
        with database_errors():
            for attempt in range(CREATE_ATTEMPTS):
                try:
                    self._s.metadata.create_all(self.engine, checkfirst=True)
                    with self.engine.connect() as conn:
                        add_missing_columns(conn, self._s.metadata)
                    return
                except _CREATE_RACE:
                    # Another process created a table between our check and our CREATE; what
                    # exists is skipped on the next attempt, so each attempt makes progress.
                    if attempt == CREATE_ATTEMPTS - 1:
                        raise
                    time.sleep(0.05 * (attempt + 1))

    @retry_once_if_connection_lost
    def insert_session(self, values: dict[str, Any]) -> None:
        with self._transaction() as conn:
            conn.execute(self._s.insert_session, values)

    @retry_once_if_connection_lost
    def decide_and_apply(self, handle: str, decide: Callable[[SessionRow | None], D]) -> D:
        """Read the row, decide, and write the decision if the row is still as read."""
        with database_errors(), self.engine.connect() as conn:
            for _ in range(MAX_DECISION_ATTEMPTS):
                row = row_from(conn.execute(self._s.read_session, {"handle": handle}).first())
                self._end_statement(conn)
                decision = decide(row)
                change = decision.change
                if row is None or (change.new_hash_2 is None and not change.delete):
                    return decision
                statement, values = _conditional_write(self._s, handle, row, change)
                written = conn.execute(statement, values).rowcount
                self._end_statement(conn)
                if written == 1:
                    return decision
        raise _contention()

    def _end_statement(self, conn: Connection) -> None:
        """Commit, so that the next read sees what others committed (autocommit: already)."""
        if not self._autocommit:
            conn.commit()

    @retry_once_if_connection_lost
    def session_alive(self, handle: str, now_ms: int) -> bool:
        with self._transaction() as conn:
            params = {"handle": handle, "now": now_ms}
            return conn.execute(self._s.session_alive, params).first() is not None

    @retry_once_if_connection_lost
    def delete_session(self, handle: str) -> bool:
        with self._transaction() as conn:
            return conn.execute(self._s.delete_session, {"handle": handle}).rowcount > 0

    @retry_once_if_connection_lost
    def delete_user_sessions(self, user_id: str) -> int:
        with self._transaction() as conn:
            return int(conn.execute(self._s.delete_user_sessions, {"user_id": user_id}).rowcount)

    @retry_once_if_connection_lost
    def list_user_sessions(self, user_id: str, now_ms: int) -> list[SessionSummary]:
        with self._transaction() as conn:
            params = {"user_id": user_id, "now": now_ms}
            return summaries_from(conn.execute(self._s.list_user_sessions, params))

    @retry_once_if_connection_lost
    def get_session_data(self, handle: str, now_ms: int) -> tuple[bool, str | None]:
        with self._transaction() as conn:
            params = {"handle": handle, "now": now_ms}
            row = conn.execute(self._s.get_session_data, params).first()
            return (False, None) if row is None else (True, row[0])

    @retry_once_if_connection_lost
    def update_session_data(self, handle: str, data_json: str, now_ms: int) -> bool:
        with self._transaction() as conn:
            params = {"handle": handle, "now": now_ms, "session_info": data_json}
            return conn.execute(self._s.update_session_data, params).rowcount > 0

    @retry_once_if_connection_lost
    def purge_expired(self, now_ms: int) -> int:
        with self._transaction() as conn:
            return int(conn.execute(self._s.purge_expired, {"now": now_ms}).rowcount)

    @retry_once_if_connection_lost
    def load_keys(self) -> list[tuple[str, str]]:
        with self._transaction() as conn:
            return [(name, value) for name, value in conn.execute(self._s.select_keys)]

    @retry_once_if_connection_lost
    def insert_key_if_absent(self, name: str, value: str, now_ms: int) -> bool:
        row = {"key_name": name, "key_value": value, "created_at_time": now_ms}
        try:
            with self._transaction() as conn:
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
        with self._transaction() as conn:
            return int(conn.execute(self._s.delete_keys, {"names": names}).rowcount)

    def close(self) -> None:
        self.engine.dispose()


class AsyncSqlStore:
    """The same store over an ``AsyncEngine`` (aiosqlite, asyncmy, psycopg async)."""

    def __init__(
        self, engine: AsyncEngine, statements: Statements, *, autocommit: bool = False
    ) -> None:
        _prepare(engine.sync_engine)
        self.engine = engine
        self._s = statements
        self._autocommit = autocommit

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection whose statements are committed when the block ends."""
        with database_errors():
            async with self.engine.connect() as conn:
                if self._autocommit:
                    yield conn
                else:
                    async with conn.begin():
                        yield conn

    @async_retry_once_if_connection_lost
    async def create_tables(self) -> None:
        with database_errors():
            for attempt in range(CREATE_ATTEMPTS):
                try:
                    async with self.engine.begin() as conn:
                        await conn.run_sync(self._s.metadata.create_all, checkfirst=True)
                    async with self.engine.connect() as conn:
                        await conn.run_sync(add_missing_columns, self._s.metadata)
                    return
                except _CREATE_RACE:
                    if attempt == CREATE_ATTEMPTS - 1:
                        raise
                    await asyncio.sleep(0.05 * (attempt + 1))

    @async_retry_once_if_connection_lost
    async def insert_session(self, values: dict[str, Any]) -> None:
        async with self._transaction() as conn:
            await conn.execute(self._s.insert_session, values)

    @async_retry_once_if_connection_lost
    async def decide_and_apply(self, handle: str, decide: Callable[[SessionRow | None], D]) -> D:
        """Read the row, decide, and write the decision if the row is still as read."""
        with database_errors():
            async with self.engine.connect() as conn:
                for _ in range(MAX_DECISION_ATTEMPTS):
                    result = await conn.execute(self._s.read_session, {"handle": handle})
                    row = row_from(result.first())
                    await self._end_statement(conn)
                    decision = decide(row)
                    change = decision.change
                    if row is None or (change.new_hash_2 is None and not change.delete):
                        return decision
                    statement, values = _conditional_write(self._s, handle, row, change)
                    written = (await conn.execute(statement, values)).rowcount
                    await self._end_statement(conn)
                    if written == 1:
                        return decision
        raise _contention()

    async def _end_statement(self, conn: AsyncConnection) -> None:
        """Commit, so that the next read sees what others committed (autocommit: already)."""
        if not self._autocommit:
            await conn.commit()

    @async_retry_once_if_connection_lost
    async def session_alive(self, handle: str, now_ms: int) -> bool:
        async with self._transaction() as conn:
            params = {"handle": handle, "now": now_ms}
            return (await conn.execute(self._s.session_alive, params)).first() is not None

    @async_retry_once_if_connection_lost
    async def delete_session(self, handle: str) -> bool:
        async with self._transaction() as conn:
            return (await conn.execute(self._s.delete_session, {"handle": handle})).rowcount > 0

    @async_retry_once_if_connection_lost
    async def delete_user_sessions(self, user_id: str) -> int:
        async with self._transaction() as conn:
            result = await conn.execute(self._s.delete_user_sessions, {"user_id": user_id})
            return int(result.rowcount)

    @async_retry_once_if_connection_lost
    async def list_user_sessions(self, user_id: str, now_ms: int) -> list[SessionSummary]:
        async with self._transaction() as conn:
            params = {"user_id": user_id, "now": now_ms}
            return summaries_from(await conn.execute(self._s.list_user_sessions, params))

    @async_retry_once_if_connection_lost
    async def get_session_data(self, handle: str, now_ms: int) -> tuple[bool, str | None]:
        async with self._transaction() as conn:
            params = {"handle": handle, "now": now_ms}
            row = (await conn.execute(self._s.get_session_data, params)).first()
            return (False, None) if row is None else (True, row[0])

    @async_retry_once_if_connection_lost
    async def update_session_data(self, handle: str, data_json: str, now_ms: int) -> bool:
        async with self._transaction() as conn:
            params = {"handle": handle, "now": now_ms, "session_info": data_json}
            return (await conn.execute(self._s.update_session_data, params)).rowcount > 0

    @async_retry_once_if_connection_lost
    async def purge_expired(self, now_ms: int) -> int:
        async with self._transaction() as conn:
            return int((await conn.execute(self._s.purge_expired, {"now": now_ms})).rowcount)

    @async_retry_once_if_connection_lost
    async def load_keys(self) -> list[tuple[str, str]]:
        async with self._transaction() as conn:
            return [(name, value) for name, value in await conn.execute(self._s.select_keys)]

    @async_retry_once_if_connection_lost
    async def insert_key_if_absent(self, name: str, value: str, now_ms: int) -> bool:
        row = {"key_name": name, "key_value": value, "created_at_time": now_ms}
        try:
            async with self._transaction() as conn:
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
        async with self._transaction() as conn:
            return int((await conn.execute(self._s.delete_keys, {"names": names})).rowcount)

    async def close(self) -> None:
        await self.engine.dispose()
