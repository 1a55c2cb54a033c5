"""Turning ``database_url`` into SQLAlchemy engines, sync or async, with the right drivers.

One URL serves both managers. ``mysql://…`` means, for the sync manager, mysqlclient if it is
installed (compiled, and SQLAlchemy's own default) or else PyMySQL, and asyncmy for the async
one; ``postgresql://…`` means psycopg 3 for both; ``sqlite:///file`` means the standard
library's sqlite3 for both (the async manager runs it on a thread pool, see ``storage/sql.py``).
An explicit driver in the URL is kept when it fits the mode. The stores run statements on the
drivers' own connections, so only drivers with DB-API cursors are supported (asyncpg is not).

Every statement the stores run is a transaction of its own (see ``storage/sql.py``), so the
engines sessionward creates run in autocommit mode: no ``BEGIN``/``COMMIT`` round trips. SQLite
also gets WAL journaling and a busy timeout, so that concurrent writers queue instead of failing.
On a MariaDB Galera node, each new connection asks for causal reads (``wsrep_sync_wait``), so that
a node never answers from before a write that another node has committed (:func:`prepare_galera`).
"""

from __future__ import annotations

import functools
import importlib.util
import time
import weakref
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from sessionward._errors import ConfigError

_SQLITE_PREPARED: weakref.WeakSet[Engine] = weakref.WeakSet()
SQLITE_BUSY_TIMEOUT_MS = 10_000
"""How long a SQLite connection waits for another one's lock before it fails."""

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
    "postgresql": ({"psycopg", "psycopg2", "pg8000"}, {"psycopg"}),
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
        if default == "pymysql" and _mysqlclient_installed():
            default = "mysqldb"  # SQLAlchemy's own default, and faster: prefer it when present
        url = url.set(drivername=f"{backend}+{default}")
    return url


@functools.cache
def _mysqlclient_installed() -> bool:
    return importlib.util.find_spec("MySQLdb") is not None


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def _engine_options(url: URL) -> dict[str, Any]:
    # Autocommit: each statement commits itself. Parameters hidden: session data never reaches
    # logs. For servers, no ping before each checkout and no ROLLBACK on return (each costs a
    # round trip per statement), and no recycling: a connection found dead (a server's idle
    # timeout) is discarded and the statement retried once by the store instead, so the async
    # store can take an idle connection from the pool without the greenlet bridge.
    options: dict[str, Any] = {
        "hide_parameters": True,
        "isolation_level": "AUTOCOMMIT",
        "skip_autocommit_rollback": True,  # nothing to roll back: every statement committed
    }
    if not is_sqlite(url):
        options.update(pool_recycle=-1, pool_reset_on_return=None)
        # A timeout given in the URL (``?connect_timeout=2``) is the operator's: keep it.
        timeouts = _TIMEOUTS.get(url.get_driver_name(), {})
        options["connect_args"] = {k: v for k, v in timeouts.items() if k not in url.query}
    return options


# A server that accepts connections but never answers must not hang a request forever. (Pass
# ``engine=`` with other ``connect_args`` to choose differently.)
_TIMEOUTS: dict[str, dict[str, Any]] = {
    "pymysql": {"connect_timeout": 10, "read_timeout": 30, "write_timeout": 30},
    "mysqldb": {"connect_timeout": 10, "read_timeout": 30, "write_timeout": 30},
    "asyncmy": {"connect_timeout": 10},
    "aiomysql": {"connect_timeout": 10},
    "psycopg": {
        "connect_timeout": 10,
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
    },
}


def make_sync_engine(database_url: str) -> Engine:
    """A sync engine for ``database_url`` with sessionward's settings (autocommit, timeouts)."""
    url = resolve_url(database_url, asynchronous=False)
    engine = create_engine(url, **_engine_options(url))
    if is_sqlite(url):
        prepare_sqlite(engine)
    elif _is_mysql(url):
        prepare_galera(engine)
    return engine


def make_async_engine(database_url: str) -> AsyncEngine:
    """An async engine for a server ``database_url`` (MySQL/MariaDB, PostgreSQL)."""
    url = resolve_url(database_url, asynchronous=True)
    engine = create_async_engine(url, **_engine_options(url))
    if is_sqlite(url):
        prepare_sqlite(engine.sync_engine)
    elif _is_mysql(url):
        prepare_galera(engine.sync_engine)
    return engine


def _is_mysql(url: URL) -> bool:
    return url.get_backend_name() in {"mysql", "mariadb"}


# wsrep_sync_wait bits: 1 = reads (SELECT, SHOW, BEGIN), 2 = UPDATE and DELETE, 4 = INSERT and
# REPLACE. Every read and every compare-and-set of the stores must see all writes committed
# anywhere in the cluster before it started; a new session's INSERT needs no wait (its key is new).
GALERA_SYNC_WAIT = 3


def prepare_galera(engine: Engine) -> None:
    """On a MariaDB Galera node, make every new connection wait for causality (``wsrep_sync_wait``
    with at least the bits of :data:`GALERA_SYNC_WAIT`); on other servers, do nothing.

    Why: Galera certifies a commit on every node before it returns, but each node applies other
    nodes' writes in the background. Without the wait, a node answers from before a write that
    another node has committed: a session created on one node and verified (exact check) on
    another at once is refused, a revoked one accepted, updated session data read old
    (docs/scaling.md has the measured rates; ``tests/test_galera.py`` shows each). Bits set by the
    operator are kept. Costs one round trip per new connection on Galera (elsewhere one, on the
    engine's first connection only), none per statement. Idempotent, so an application may call
    it on its own engine (``engine=``) too.
    """
    if engine in _GALERA_PREPARED:
        return
    _GALERA_PREPARED.add(engine)
    galera: list[bool] = []  # what the engine's first connection found: asked once per engine

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if not galera:
                cursor.execute("SHOW VARIABLES LIKE 'wsrep_on'")
                rows = cursor.fetchall()
                # Not Galera: wsrep_on OFF (MariaDB) or no such variable (MySQL).
                galera.append(bool(rows) and _text(rows[0][1]).upper() == "ON")
            if galera[0]:
                cursor.execute(
                    f"SET SESSION wsrep_sync_wait = @@session.wsrep_sync_wait | {GALERA_SYNC_WAIT}"
                )
        finally:
            cursor.close()


_GALERA_PREPARED: weakref.WeakSet[Engine] = weakref.WeakSet()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


def prepare_sqlite(engine: Engine) -> None:
    """WAL journaling (readers never block the writer) and a busy timeout (writers queue).

    Idempotent, so an application may pass its own SQLite engine, prepared or not.
    """
    if engine in _SQLITE_PREPARED:
        return
    _SQLITE_PREPARED.add(engine)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            _switch_to_wal(cursor)
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """Turn WAL journaling on, waiting while another connection holds the lock it needs.

    The switch takes an exclusive lock, and SQLite does not always call the busy handler for it:
    when several processes open a new database file at the same moment, all but one may get
    "database is locked" at once. WAL is recorded in the file, so once one connection has
    switched, the others find it on and need no lock; until then they retry, within the busy
    timeout.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode")
            (mode,) = cursor.fetchone()
            if str(mode).lower() != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except Exception as exc:  # sqlite3's error, or the async adapter's own class for it
            if "database is locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)
