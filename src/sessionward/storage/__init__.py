"""Storage of sessions and keys: one interface, SQL stores for SQLite, MySQL/MariaDB, PostgreSQL."""

from sessionward.storage.base import AsyncSessionStore, SessionStore
from sessionward.storage.engines import create_async_sql_engine, create_sync_engine
from sessionward.storage.schema import Statements, build_statements
from sessionward.storage.sql import AsyncSqlStore, SyncSqlStore

__all__ = [
    "AsyncSessionStore",
    "AsyncSqlStore",
    "SessionStore",
    "Statements",
    "SyncSqlStore",
    "build_statements",
    "create_async_sql_engine",
    "create_sync_engine",
]
