"""The two tables of PROTOCOL §6 and every SQL statement on them, defined once for all backends.

Columns match the original so its data can be read; ``created_at`` and the indexes on
``user_id`` and ``expires_at`` are additions. Times are milliseconds since the epoch; JSON values
are stored as text. Statements use bound parameters only and are compiled once per dialect by
SQLAlchemy's cache.

Writes that depend on what was read are compare-and-set: they name the session's current hash
and anchor in their ``WHERE`` clause and so change nothing if another request changed the row in
between (the store then reads again and decides again).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Delete,
    Index,
    Insert,
    MetaData,
    Select,
    String,
    Table,
    Text,
    Update,
    bindparam,
    delete,
    insert,
    select,
    update,
)


def build_tables(signing_key_table: str, refresh_token_table: str) -> tuple[MetaData, Table, Table]:
    """The key table and the session table under the configured names."""
    metadata = MetaData()
    keys = Table(
        signing_key_table,
        metadata,
        Column("key_name", String(128), primary_key=True),
        Column("key_value", String(255), nullable=False),
        Column("created_at_time", BigInteger, nullable=False),
    )
    sessions = Table(
        refresh_token_table,
        metadata,
        Column("session_handle", String(255), primary_key=True),
        Column("user_id", String(128), nullable=False),
        Column("refresh_token_hash_2", String(128), nullable=False),
        Column("session_info", Text, nullable=True),
        Column("expires_at", BigInteger, nullable=False),
        Column("jwt_user_payload", Text, nullable=True),
        Column("created_at", BigInteger, nullable=True),
        # The grace window for duplicate refreshes (see protocol.py): when the current parent
        # and its child were first issued. Times, not token material.
        Column("parent_issued_at", BigInteger, nullable=True),
        Column("child_issued_at", BigInteger, nullable=True),
    )
    Index(f"{refresh_token_table}_user_id_idx", sessions.c.user_id)
    Index(f"{refresh_token_table}_expires_at_idx", sessions.c.expires_at)
    return metadata, keys, sessions


@dataclass(frozen=True)
class Statements:
    """Every statement the stores run; parameters are named after the ``bindparam`` keys."""

    metadata: MetaData
    insert_session: Insert
    read_session: Select[str, str, str, int, str | None, int | None, int | None, int | None]
    session_alive: Select[str]
    update_if_unchanged: Update
    delete_if_unchanged: Delete
    delete_session: Delete
    delete_user_sessions: Delete
    list_user_sessions: Select[str, str, int | None, int]
    get_session_data: Select[str | None]
    update_session_data: Update
    purge_expired: Delete
    select_keys: Select[str, str]
    insert_key: Insert
    delete_keys: Delete


def build_statements(signing_key_table: str, refresh_token_table: str) -> Statements:
    metadata, keys, s = build_tables(signing_key_table, refresh_token_table)
    by_handle = s.c.session_handle == bindparam("handle")
    alive = s.c.expires_at > bindparam("now")
    unchanged = (
        by_handle,
        s.c.refresh_token_hash_2 == bindparam("old_hash_2"),
        s.c.child_issued_at.is_not_distinct_from(
            bindparam("old_child_issued_at", type_=BigInteger)
        ),
    )
    return Statements(
        metadata=metadata,
        insert_session=insert(s),
        read_session=select(
            s.c.session_handle,
            s.c.user_id,
            s.c.refresh_token_hash_2,
            s.c.expires_at,
            s.c.jwt_user_payload,
            s.c.created_at,
            s.c.parent_issued_at,
            s.c.child_issued_at,
        ).where(by_handle),
        session_alive=select(s.c.session_handle).where(by_handle, alive),
        update_if_unchanged=update(s)
        .where(*unchanged)
        .values(
            refresh_token_hash_2=bindparam("new_hash_2"),
            expires_at=bindparam("new_expires_at"),
            parent_issued_at=bindparam("new_parent_issued_at"),
            child_issued_at=bindparam("new_child_issued_at"),
        ),
        delete_if_unchanged=delete(s).where(*unchanged),
        delete_session=delete(s).where(by_handle),
        delete_user_sessions=delete(s).where(s.c.user_id == bindparam("user_id")),
        list_user_sessions=select(s.c.session_handle, s.c.user_id, s.c.created_at, s.c.expires_at)
        .where(s.c.user_id == bindparam("user_id"), alive)
        .order_by(s.c.created_at, s.c.session_handle),
        get_session_data=select(s.c.session_info).where(by_handle, alive),
        update_session_data=update(s)
        .where(by_handle, alive)
        .values(session_info=bindparam("session_info")),
        purge_expired=delete(s).where(s.c.expires_at <= bindparam("now")),
        select_keys=select(keys.c.key_name, keys.c.key_value),
        insert_key=insert(keys),
        delete_keys=delete(keys).where(keys.c.key_name.in_(bindparam("names", expanding=True))),
    )
