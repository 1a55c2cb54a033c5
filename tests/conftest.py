"""Shared fixtures: real databases (SQLite, MariaDB/MySQL, PostgreSQL), a fake clock, managers.

Backends come from ``SESSIONWARD_TEST_BACKENDS`` (default ``sqlite,mysql,postgres``). The server
URLs come from ``SESSIONWARD_TEST_MYSQL_URL`` and ``SESSIONWARD_TEST_POSTGRES_URL`` and default to
the local servers. A listed backend whose server does not answer fails its tests: it is never
skipped silently. Every manager gets tables of its own (random names), so test runs may share a
database, even concurrently, and leave nothing behind.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from sessionward import AsyncSessionManager, Config, SessionManager
from sessionward._storage.engines import resolve_url

MYSQL_URL = os.environ.get(
    "SESSIONWARD_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/sessionward_test"
)
POSTGRES_URL = os.environ.get(
    "SESSIONWARD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/sessionward_test"
)
BACKENDS = [
    b.strip()
    for b in os.environ.get("SESSIONWARD_TEST_BACKENDS", "sqlite,mysql,postgres").split(",")
    if b.strip()
]
SERVER_URLS = {"mysql": MYSQL_URL, "postgres": POSTGRES_URL}
_ENV_NAMES = {"mysql": "SESSIONWARD_TEST_MYSQL_URL", "postgres": "SESSIONWARD_TEST_POSTGRES_URL"}
_prepared: set[str] = set()


class FakeClock:
    """A clock the test moves by hand; seconds since the epoch, like ``time.time``."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def ensure_database(backend: str) -> str:
    """The URL of the backend's test database, created if missing; fails loudly if unreachable."""
    url = SERVER_URLS[backend]
    if backend in _prepared:
        return url
    parsed = resolve_url(url, asynchronous=False)
    name = parsed.database
    admin_db = "postgres" if backend == "postgres" else "mysql"
    admin = create_engine(parsed.set(database=admin_db), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if backend == "mysql":
                conn.execute(text(f"CREATE DATABASE IF NOT EXISTS `{name}`"))
            else:
                found = conn.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
                ).first()
                if found is None:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.fail(
            f"{backend} test server unreachable at {make_url(url).render_as_string()} "
            f"({type(exc).__name__}: {exc}). Start it, set {_ENV_NAMES[backend]}, or leave "
            f"{backend} out of SESSIONWARD_TEST_BACKENDS.",
            pytrace=False,
        )
    finally:
        admin.dispose()
    _prepared.add(backend)
    return url


def backend_url(backend: str, tmp_path: Any) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path}/sessions.sqlite3"
    return ensure_database(backend)


def unique_tables() -> dict[str, str]:
    suffix = secrets.token_hex(4)
    return {
        "signing_key_table": f"sk_{suffix}",
        "refresh_token_table": f"rt_{suffix}",
        "revocation_table": f"rv_{suffix}",
    }


def drop_tables(url: str, tables: dict[str, str]) -> None:
    engine = create_engine(resolve_url(url, asynchronous=False))
    try:
        with engine.begin() as conn:
            for name in tables.values():
                conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
    finally:
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Any) -> str:
    return backend_url(backend, tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def telemetry() -> Any:
    """What sessionward records through OpenTelemetry's SDK during the test
    (``tests.support.telemetry.Recorded``), or None when the SDK is not installed."""
    try:
        import opentelemetry.sdk  # noqa: F401
    except ImportError:
        return None
    from tests.support.telemetry import Recorded

    return Recorded()


ConfigFactory = Callable[..., Config]


@pytest.fixture
def make_config(database_url: str) -> Iterator[ConfigFactory]:
    """Build Configs on the current backend, each with fresh tables; drops them afterwards."""
    made: list[dict[str, str]] = []

    def factory(**settings: Any) -> Config:
        tables = settings.pop("tables", None) or unique_tables()
        if tables not in made:
            made.append(tables)
        settings.setdefault("refresh_path", "/session/refresh")
        return Config(database_url=database_url, **tables, **settings)

    yield factory
    for tables in made:
        drop_tables(database_url, tables)


@pytest.fixture
def make_manager(
    make_config: ConfigFactory, clock: FakeClock
) -> Iterator[Callable[..., SessionManager]]:
    managers: list[SessionManager] = []

    def factory(**settings: Any) -> SessionManager:
        config = make_config(**settings)
        manager = SessionManager(config, clock=clock)
        managers.append(manager)
        return manager

    yield factory
    for manager in managers:
        manager.close()


@pytest.fixture
def manager(make_manager: Callable[..., SessionManager]) -> SessionManager:
    return make_manager()


@pytest.fixture
async def make_async_manager(
    make_config: ConfigFactory, clock: FakeClock
) -> AsyncIterator[Callable[..., AsyncSessionManager]]:
    managers: list[AsyncSessionManager] = []

    def factory(**settings: Any) -> AsyncSessionManager:
        manager = AsyncSessionManager(make_config(**settings), clock=clock)
        managers.append(manager)
        return manager

    yield factory
    for manager in managers:
        await manager.close()


@pytest.fixture
async def async_manager(
    make_async_manager: Callable[..., AsyncSessionManager],
) -> AsyncSessionManager:
    return make_async_manager()


class Db:
    """A database for the CLI: URL and table options, plus a manager to set up and inspect."""

    def __init__(self, url: str, tables: dict[str, str]) -> None:
        self.url = url
        self.tables = tables
        self.options = [
            "--database-url",
            url,
            "--signing-key-table",
            tables["signing_key_table"],
            "--refresh-token-table",
            tables["refresh_token_table"],
            "--revocation-table",
            tables["revocation_table"],
        ]

    def manager(self, **settings: Any) -> SessionManager:
        return SessionManager(
            refresh_path="/refresh", database_url=self.url, **self.tables, **settings
        )


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Db]:
    tables = unique_tables()
    url = backend_url(str(request.param), tmp_path)
    yield Db(url, tables)
    drop_tables(url, tables)


class DriverStatements:
    """Records what engines send to the database, counted at the driver (not in SQLAlchemy,
    which the stores bypass): one entry per round trip.

    - PyMySQL: every command the connection sends (``Connection._execute_command``);
    - mysqlclient: every query (``Connection.query``);
    - psycopg: every ``execute`` of a sync or async cursor, and every ``commit``;
    - SQLite: every statement, through the connection's trace callback.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch
        self._patched: set[str] = set()
        self._lists: list[list[str]] = []

    def _record(self, text: Any) -> None:
        for seen in self._lists:
            seen.append(text.decode(errors="replace") if isinstance(text, bytes) else str(text))

    def watch(self, target: Any) -> list[str]:
        """A list that receives every statement sent from now on. ``target``: a manager's store
        (its kept connections are let go, so that SQLite's trace reaches every connection it
        uses next) or an engine."""
        seen: list[str] = []
        self._lists.append(seen)
        sync_store = getattr(target, "store", target)  # a ThreadedStore runs a sync store
        if hasattr(sync_store, "_discard_idle"):
            sync_store._discard_idle(invalidate=False)
        engine = getattr(target, "engine", target)
        engine = getattr(
            engine, "sync_engine", engine
        )  # an AsyncEngine's events are its sync one's
        driver = engine.dialect.driver
        if driver == "pysqlite":
            engine.dispose()  # new connections get the trace callback
            from sqlalchemy import event

            def trace(sql: str) -> None:
                if not sql.startswith("PRAGMA"):
                    self._record(sql)

            event.listen(engine, "connect", lambda dbapi, _record: dbapi.set_trace_callback(trace))
        elif driver == "mysqldb" and "mysqldb" not in self._patched:
            import MySQLdb.connections

            self._patch_sync(MySQLdb.connections.Connection, "query", self._record)
            self._patched.add("mysqldb")
        elif driver == "pymysql" and "pymysql" not in self._patched:
            import pymysql

            original = pymysql.connections.Connection._execute_command
            record = self._record

            def execute_command(conn: Any, command: int, sql: Any) -> Any:
                record(sql)
                return original(conn, command, sql)

            self._monkeypatch.setattr(
                pymysql.connections.Connection, "_execute_command", execute_command
            )
            self._patched.add("pymysql")
        elif driver == "psycopg" and "psycopg" not in self._patched:
            import psycopg

            record = self._record
            for cls, name in ((psycopg.Cursor, "execute"), (psycopg.Connection, "commit")):
                self._patch_sync(cls, name, record)
            for cls, name in (
                (psycopg.AsyncCursor, "execute"),
                (psycopg.AsyncConnection, "commit"),
            ):
                self._patch_async(cls, name, record)
            self._patched.add("psycopg")
        return seen

    def _patch_sync(self, cls: Any, name: str, record: Any) -> None:
        original = getattr(cls, name)

        def wrapper(obj: Any, *args: Any, **kwargs: Any) -> Any:
            record(args[0] if args else name.upper())
            return original(obj, *args, **kwargs)

        self._monkeypatch.setattr(cls, name, wrapper)

    def _patch_async(self, cls: Any, name: str, record: Any) -> None:
        original = getattr(cls, name)

        async def wrapper(obj: Any, *args: Any, **kwargs: Any) -> Any:
            record(args[0] if args else name.upper())
            return await original(obj, *args, **kwargs)

        self._monkeypatch.setattr(cls, name, wrapper)


@pytest.fixture
def driver_statements(monkeypatch: pytest.MonkeyPatch) -> DriverStatements:
    return DriverStatements(monkeypatch)


def read_row(manager: Any, handle: str) -> Any:
    """The session row as stored (a SessionRow, or None), read through the manager's store."""
    from sessionward._flows import run_flow

    return run_flow(manager._context.queries.read_session(handle), manager.store)
