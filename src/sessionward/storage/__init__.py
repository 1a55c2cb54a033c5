"""Storage of sessions and keys: typed queries run by SQL stores for SQLite, MySQL/MariaDB and
PostgreSQL (see ``execution.py`` for how a statement runs, ``queries.py`` for which)."""

from sessionward.storage.engines import make_async_engine, make_sync_engine, prepare_galera
from sessionward.storage.execution import AsyncStore, SyncStore
from sessionward.storage.queries import Queries
from sessionward.storage.schema import Statements, build_statements
from sessionward.storage.sql import AsyncSqlStore, SyncSqlStore, ThreadedStore

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
