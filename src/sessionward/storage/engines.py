"""Turning ``database_url`` into SQLAlchemy engines, sync or async, with the right drivers.

One URL serves both managers: ``mysql://…`` means PyMySQL for the sync manager and asyncmy for
the async one; ``postgresql://…`` means psycopg 3 for both; ``sqlite:///file`` means the standard
library's sqlite3 and aiosqlite. An explicit driver in the URL is kept when it fits the mode.

SQLite gets WAL journaling, a busy timeout, and explicit ``BEGIN`` statements so that a locking
transaction can start as ``BEGIN IMMEDIATE`` (SQLite's equivalent of ``SELECT … FOR UPDATE``).
"""

from __future__ import annotations

import weakref
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from sessionward.errors import ConfigError

LOCK_OPTION = "sessionward_lock"  # execution option: begin this transaction with a write lock
_SQLITE_PREPARED: weakref.WeakSet[Engine] = weakref.WeakSet()

_SYNC_DRIVERS = {
    "sqlite": "pysqlite",
    "mysql": "pymysql",
    "mariadb": "pymysql",
    "postgresql": "psycopg",
}
_ASYNC_DRIVERS = {
    "sqlite": "aiosqlite",
    "mysql": "asyncmy",
    "mariadb": "asyncmy",
    "postgresql": "psycopg",
}
_KNOWN = {
    "sqlite": ({"pysqlite"}, {"aiosqlite"}),
    "mysql": ({"pymysql", "mysqldb", "mysqlconnector"}, {"asyncmy", "aiomysql"}),
    "mariadb": ({"pymysql", "mysqldb", "mysqlconnector"}, {"asyncmy", "aiomysql"}),
    "postgresql": ({"psycopg", "psycopg2", "pg8000"}, {"psycopg", "asyncpg"}),
}


def resolve_url(database_url: str, *, asynchronous: bool) -> URL:
    """The URL with a driver suited to the mode; ConfigError for an unsupported database."""
    try:
        url = make_url(database_url)
    except ArgumentError as exc:
        raise ConfigError(f"database_url is not a valid database URL: {exc}") from None
    backend = url.get_backend_name()
    if backend not in _KNOWN:
        raise ConfigError(
            f"database_url must name sqlite, mysql, mariadb or postgresql; got {backend!r}"
        )
    sync_drivers, async_drivers = _KNOWN[backend]
    wanted = async_drivers if asynchronous else sync_drivers
    driver = url.get_driver_name() if "+" in url.drivername else None
    if driver not in wanted:
        default = (_ASYNC_DRIVERS if asynchronous else _SYNC_DRIVERS)[backend]
        url = url.set(drivername=f"{backend}+{default}")
    return url


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def _engine_options(url: URL) -> dict[str, Any]:
    options: dict[str, Any] = {"hide_parameters": True}  # session data never reaches logs
    if not is_sqlite(url):
        # No ping before each checkout (a round trip per transaction): a connection found dead
        # is retried once by the store instead. No ROLLBACK on return either: every store
        # transaction ends itself, by COMMIT or ROLLBACK, before the connection goes back.
        options.update(pool_recycle=3600, pool_reset_on_return=None)
    return options


def create_sync_engine(database_url: str) -> Engine:
    url = resolve_url(database_url, asynchronous=False)
    engine = create_engine(url, **_engine_options(url))
    if is_sqlite(url):
        install_sqlite_locking(engine)
    return engine


def create_async_sql_engine(database_url: str) -> AsyncEngine:
    url = resolve_url(database_url, asynchronous=True)
    engine = create_async_engine(url, **_engine_options(url))
    if is_sqlite(url):
        install_sqlite_locking(engine.sync_engine)
    return engine


def install_sqlite_locking(engine: Engine) -> None:
    """Let sessionward control SQLite transactions: WAL, busy timeout, BEGIN [IMMEDIATE].

    Idempotent, so an application may pass its own SQLite engine, prepared or not.
    """
    if engine in _SQLITE_PREPARED:
        return
    _SQLITE_PREPARED.add(engine)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver must not issue BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 10000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        locking = connection.get_execution_options().get(LOCK_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if locking else "BEGIN")
