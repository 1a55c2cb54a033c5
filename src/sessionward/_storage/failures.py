"""What a database error means for the statement that raised it, the same for every driver.

The stores run statements on the drivers' own connections (``storage/sql.py``), so driver
exceptions arrive as they are: PyMySQL, mysqlclient, asyncmy and aiomysql raise MySQL error
codes; psycopg raises SQLSTATEs; sqlite3 raises messages. :func:`classify` maps them to the four
things the retry rule (``storage/execution.py``) needs to know.
"""

from __future__ import annotations

import asyncio
import enum

from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from sessionward._errors import GeneralError

_DRIVER_MODULES = ("pymysql", "MySQLdb", "asyncmy", "aiomysql", "psycopg", "sqlite3", "_sqlite3")

# MySQL/MariaDB error codes. Conflicts: the statement lost to another transaction (InnoDB
# deadlock or lock wait; a Galera certification failure is reported as a deadlock) and may simply
# run again. Connection: the connection is gone or the node cannot serve (Galera's 1047 "WSREP has
# not yet prepared node for application use"); a fresh connection may work.
_MYSQL_CONFLICT = {1205, 1213, 1020}
_MYSQL_DUPLICATE = {1062}
_MYSQL_CONNECTION = {1047, 1053, 1927, 2002, 2003, 2006, 2013, 2055, 4031}
_PG_CONFLICT = {"40001", "40P01"}
_PG_DUPLICATE = {"23505"}


class Failure(enum.Enum):
    CONFLICT = "conflict"  # lost to a concurrent transaction: run the statement again
    CONNECTION = "connection"  # the connection (or the node) failed: retry on a fresh one, once
    DUPLICATE = "duplicate"  # a unique key exists already
    OTHER = "other"  # anything else the database said: a GeneralError


def _driver_error(exc: BaseException) -> BaseException:
    """The driver's own exception: SQLAlchemy wraps those raised while connecting."""
    return exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc


def is_database_error(exc: BaseException) -> bool:
    """Whether ``exc`` came from the database, the pool or the network, rather than a bug."""
    if isinstance(exc, OSError | TimeoutError | asyncio.TimeoutError | SQLAlchemyError):
        return True
    return any(c.__module__.split(".")[0] in _DRIVER_MODULES for c in type(exc).__mro__)


def _mysql_code(exc: BaseException) -> int | None:
    code = exc.args[0] if exc.args else None
    return code if isinstance(code, int) else None


def classify(exc: BaseException) -> Failure:
    """What ``exc``, raised by a driver while running one statement, means."""
    exc = _driver_error(exc)
    if isinstance(exc, OSError | TimeoutError | asyncio.TimeoutError):
        return Failure.CONNECTION  # refused, reset, timed out (an errno is not a MySQL code)
    code = _mysql_code(exc)
    if code is not None:  # MySQL/MariaDB: server errors below 2000, client errors from 2000
        if code in _MYSQL_CONFLICT:
            return Failure.CONFLICT
        if code in _MYSQL_DUPLICATE:
            return Failure.DUPLICATE
        if code in _MYSQL_CONNECTION or code >= 2000 or code == 0:
            return Failure.CONNECTION
        return Failure.OTHER
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str):  # psycopg
        if sqlstate in _PG_CONFLICT:
            return Failure.CONFLICT
        if sqlstate in _PG_DUPLICATE:
            return Failure.DUPLICATE
        if sqlstate.startswith("08") or sqlstate in {"57P01", "57P02", "57P03"}:
            return Failure.CONNECTION
        return Failure.OTHER
    names = {c.__name__ for c in type(exc).__mro__}
    if "IntegrityError" in names:
        return Failure.DUPLICATE if "UNIQUE constraint failed" in str(exc) else Failure.OTHER
    if "database is locked" in str(exc):  # SQLite, after its busy timeout
        return Failure.CONFLICT
    if names & {"OperationalError", "InterfaceError"} and "sqlite3" not in type(exc).__module__:
        return Failure.CONNECTION  # a closed or broken connection (pymysql: InterfaceError(0))
    return Failure.OTHER


def connection_failed(exc: BaseException) -> bool:
    """Whether the connection that raised ``exc`` must be discarded, not returned to the pool."""
    return is_database_error(exc) and classify(exc) is Failure.CONNECTION


def database_error(exc: BaseException) -> GeneralError:
    """The error the application sees: the driver's class name, never the statement's values."""
    error = GeneralError(f"database error: {type(_driver_error(exc)).__name__}")
    error.__cause__ = exc
    return error
