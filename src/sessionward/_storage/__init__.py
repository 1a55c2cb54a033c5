"""Storage of sessions and keys: typed queries run by SQL stores for SQLite, MySQL/MariaDB and
PostgreSQL (see ``execution.py`` for how a statement runs, ``queries.py`` for which)."""

from sessionward._storage.engines import make_async_engine, make_sync_engine, prepare_galera
from sessionward._storage.execution import AsyncStore, SyncStore
from sessionward._storage.queries import Queries
from sessionward._storage.schema import Statements, build_statements
from sessionward._storage.sql import AsyncSqlStore, SyncSqlStore, ThreadedStore

__all__ = [
    "AsyncSqlStore",
    "AsyncStore",
    "Queries",
    "Statements",
    "SyncSqlStore",
    "SyncStore",
    "ThreadedStore",
    "build_statements",
    "make_async_engine",
    "make_sync_engine",
    "prepare_galera",
]
