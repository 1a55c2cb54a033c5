"""The tables of docs/protocol.md#storage and every SQL statement on them, defined once for all
backends.

Columns match the original so its data can be read; the others (creation time, grace anchors,
client context, the proof-of-possession key, the tenant and the actor) and the indexes on
``(tenant_id, user_id)`` and ``expires_at`` are additions, all nullable or with a default so
that ``create_tables`` can add them to an older table (whose rows then belong to the default
tenant; the upgrade is :mod:`~sessionward._storage.upgrade`). Times are
milliseconds since the epoch; JSON values are stored as text (MEDIUMTEXT on MySQL/MariaDB, so
that the 1 MiB session-data limit holds there too). Statements use bound parameters only and are
compiled once per dialect by SQLAlchemy's cache.

Identifiers and hashes compare byte for byte on every backend: on MySQL/MariaDB that needs a
binary, no-pad collation (:class:`ExactString`); the default ``utf8mb4_general_ci`` would make
``ALICE``, ``Alíce`` and ``alice `` the same user.

Writes that depend on what was read are compare-and-set: they name the session's current hash
and anchor in their ``WHERE`` clause and so change nothing if another request changed the row in
between (the store then reads again and decides again).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

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
    case,
    delete,
    insert,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.compiler import compiles

from sessionward._models import DEFAULT_TENANT

MAX_USER_AGENT_COLUMN = 512
MAX_TENANT_COLUMN = 64


class ExactString(String):
    """A VARCHAR compared byte for byte: SQLite and PostgreSQL already do; MySQL/MariaDB get
    ``utf8mb4`` with a binary collation that also keeps trailing spaces significant."""

    cache_ok = True


@compiles(ExactString, "mysql")
@compiles(ExactString, "mariadb")
def _exact_string_mysql(type_: ExactString, compiler: Any, **_kw: Any) -> str:
    dialect = compiler.dialect
    if getattr(dialect, "is_mariadb", False):
        collation = "utf8mb4_nopad_bin"  # MariaDB's utf8mb4_bin pads: 'a' = 'a '
    elif (getattr(dialect, "server_version_info", None) or (0,)) >= (8, 0):
        collation = "utf8mb4_0900_bin"  # MySQL 8: binary and no-pad
    else:
        collation = "utf8mb4_bin"  # MySQL 5.7: binary; trailing spaces still pad
    return f"VARCHAR({type_.length}) CHARACTER SET utf8mb4 COLLATE {collation}"


def _long_text() -> Any:
    """TEXT, but MEDIUMTEXT on MySQL/MariaDB whose TEXT stops at 64 KiB."""
    return Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


class Tables(NamedTuple):
    metadata: MetaData
    keys: Table
    sessions: Table
    revocations: Table


def build_tables(
    signing_key_table: str,
    refresh_token_table: str,
    revocation_table: str = "session_revocation",
) -> Tables:
    """The key, session and revocation tables under the configured names."""
    metadata = MetaData()
    keys = Table(
        signing_key_table,
        metadata,
        Column("key_name", ExactString(128), primary_key=True),
        Column("key_value", String(255), nullable=False),
        Column("created_at_time", BigInteger, nullable=False),
        # An asymmetric key's PEM private key (key_value then names its algorithm).
        Column("key_material", Text, nullable=True),
        # How long after it stops signing the key must verify: the signers' access-token
        # validity plus leeway, recorded so that purge needs no setting (and cannot guess wrong).
        Column("verify_window_ms", BigInteger, nullable=True),
    )
    sessions = Table(
        refresh_token_table,
        metadata,
        Column("session_handle", ExactString(255), primary_key=True),
        Column("user_id", ExactString(128), nullable=False),
        Column("refresh_token_hash_2", ExactString(128), nullable=False),
        Column("session_info", _long_text(), nullable=True),
        Column("expires_at", BigInteger, nullable=False),
        Column("jwt_user_payload", _long_text(), nullable=True),
        Column("created_at", BigInteger, nullable=True),
        # The grace window for duplicate refreshes (see protocol.py): when the current parent
        # and its child were first issued. Times, not token material.
        Column("parent_issued_at", BigInteger, nullable=True),
        Column("child_issued_at", BigInteger, nullable=True),
        # Client context (docs/protocol.md#the-grace-window): the client that logged in, and the
        # one that presented the current parent first (the grace window serves its child to that
        # client only).
        Column("created_ip", String(64), nullable=True),
        Column("created_user_agent", String(MAX_USER_AGENT_COLUMN), nullable=True),
        Column("refreshed_at", BigInteger, nullable=True),
        Column("refreshed_ip", String(64), nullable=True),
        Column("refreshed_user_agent", String(MAX_USER_AGENT_COLUMN), nullable=True),
        # Proof of possession: RFC 7638 thumbprint of the client's key, if the session is bound.
        Column("pop_key_thumbprint", ExactString(64), nullable=True),
        # Which version of jwt_user_payload the session has: refresh tokens carry the payload
        # they were issued with and its version, so a refresh reads the row only after a change.
        Column("payload_version", BigInteger, nullable=True),
        # When the user last re-authenticated (mark_fresh); NULL: at the login (created_at).
        Column("authenticated_at", BigInteger, nullable=True),
        # The tenant: a user id is unique within its tenant only. Rows written before tenants
        # existed (or by the original) get the default one from the column's default.
        Column(
            "tenant_id",
            ExactString(MAX_TENANT_COLUMN),
            nullable=False,
            server_default=DEFAULT_TENANT,
        ),
        # Who acts as the user (impersonation); NULL: the user's own session.
        Column("actor_id", ExactString(128), nullable=True),
    )
    # Every per-user query names the tenant too, so one index serves them and the per-tenant
    # ones (tables of earlier versions keep their index on user_id alone, which serves the
    # per-user queries as well: a user has few rows).
    Index(f"{refresh_token_table}_tenant_user_idx", sessions.c.tenant_id, sessions.c.user_id)
    Index(f"{refresh_token_table}_expires_at_idx", sessions.c.expires_at)
    # Revocations for the "cached" revocation check (docs/protocol.md#revocation): one row per
    # revoked session, or per user whose sessions were all revoked ("created before not_before").
    # Processes read the rows newer than their last read; a row is useless, and purged, once every
    # access token it could concern has expired (drop_after).
    revocations = Table(
        revocation_table,
        metadata,
        Column("revocation_id", ExactString(36), primary_key=True),
        Column("session_handle", ExactString(255), nullable=True),
        Column("user_id", ExactString(128), nullable=True),
        # With not_before: the user's sessions in this tenant (NULL: the default tenant), or
        # without a user id every session of the tenant.
        Column("tenant_id", ExactString(MAX_TENANT_COLUMN), nullable=True),
        Column("not_before", BigInteger, nullable=True),
        Column("revoked_at", BigInteger, nullable=False),
        Column("drop_after", BigInteger, nullable=False),
        # A retired signing key (sessionward keys retire): every process drops it from its ring
        # when it reads this row, so the tokens it signed are refused everywhere (the other
        # columns are then NULL: no session is concerned).
        Column("retired_kid", ExactString(128), nullable=True),
    )
    Index(f"{revocation_table}_revoked_at_idx", revocations.c.revoked_at)
    Index(f"{revocation_table}_drop_after_idx", revocations.c.drop_after)
    return Tables(metadata, keys, sessions, revocations)


@dataclass(frozen=True)
class Statements:
    """Every statement the stores run. Parameters are the ``bindparam`` names; the stores compile
    each statement once per dialect and run it on a pooled DB-API connection."""

    metadata: MetaData
    sessions: Table
    keys: Table
    revocations: Table
    insert_session: Insert
    read_session: Select[Any]
    # The two writes of a rotation's common case, each a whole decision in one statement:
    refresh_by_parent: Update  # the current parent is presented, first time (or after the window)
    promote_child: Update  # an access token confirms its refresh token: the child becomes parent
    # Compare-and-set of a decision taken on a row as read (the uncommon cases):
    update_if_unchanged: Update
    delete_if_unchanged: Delete
    update_payload: Update
    session_alive: Select[Any]
    delete_session: Delete
    delete_user_sessions: Delete
    delete_tenant_sessions: Delete
    list_user_sessions: Select[Any]
    list_tenant_sessions: Select[Any]
    read_owner: Select[Any]
    get_session_data: Select[Any]
    update_session_data: Update
    purge_expired: Delete
    select_keys: Select[Any]
    insert_key: Insert
    delete_key: Delete
    widen_key_window: Update
    reseal_key: Update
    list_other_sessions: Select[Any]
    insert_revocation: Insert
    revocations_since: Select[Any]
    purge_revocations: Delete


def build_statements(
    signing_key_table: str,
    refresh_token_table: str,
    revocation_table: str = "session_revocation",
) -> Statements:
    metadata, keys, s, revocations = build_tables(
        signing_key_table, refresh_token_table, revocation_table
    )
    by_handle = s.c.session_handle == bindparam("handle")
    alive = s.c.expires_at > bindparam("now")
    of_tenant = s.c.tenant_id == bindparam("tenant_id")
    of_user = (of_tenant, s.c.user_id == bindparam("user_id"))  # the index's order

    def current(hash_parameter: str) -> tuple[Any, ...]:
        """The live row of the token's session and user, whose current parent hashes so."""
        return (
            by_handle,
            s.c.refresh_token_hash_2 == bindparam(hash_parameter),
            s.c.user_id == bindparam("user_id"),
            alive,
        )

    unchanged = (
        by_handle,
        s.c.refresh_token_hash_2 == bindparam("old_hash_2"),
        s.c.child_issued_at.is_not_distinct_from(
            bindparam("old_child_issued_at", type_=BigInteger)
        ),
    )
    # A promotion renews the session's expiry, but never past its absolute lifetime (NULL when
    # there is none, and then the comparison is NULL and the plain expiry wins).
    capped_expiry = case(
        (
            s.c.created_at + bindparam("lifetime_ms", type_=BigInteger)
            < bindparam("expires_at", type_=BigInteger),
            s.c.created_at + bindparam("lifetime_ms", type_=BigInteger),
        ),
        else_=bindparam("expires_at", type_=BigInteger),
    )
    r = revocations
    return Statements(
        metadata=metadata,
        sessions=s,
        keys=keys,
        revocations=revocations,
        insert_session=insert(s).values({c.name: bindparam(c.name) for c in s.columns}),
        read_session=select(*(s.c[name] for name in SESSION_ROW_COLUMNS)).where(by_handle),
        refresh_by_parent=update(s)
        .where(
            *current("hash_2"),
            or_(
                s.c.child_issued_at.is_(None),
                s.c.child_issued_at <= bindparam("grace_cutoff", type_=BigInteger),
            ),
            s.c.payload_version.is_not_distinct_from(
                bindparam("payload_version", type_=BigInteger)
            ),
            s.c.pop_key_thumbprint.is_not_distinct_from(
                bindparam("pop_thumbprint", type_=ExactString(64))
            ),
        )
        .values(
            child_issued_at=bindparam("now", type_=BigInteger),
            refreshed_at=bindparam("now", type_=BigInteger),
            refreshed_ip=bindparam("refreshed_ip"),
            refreshed_user_agent=bindparam("refreshed_user_agent"),
        ),
        # MySQL assigns left to right, each seeing the ones before: the anchor moves to
        # parent_issued_at before child_issued_at is cleared (others evaluate all at once).
        promote_child=update(s)
        .where(*current("parent_hash_2"))
        .ordered_values(
            (s.c.parent_issued_at, s.c.child_issued_at),
            (s.c.child_issued_at, null()),
            (s.c.refresh_token_hash_2, bindparam("child_hash_2")),
            (s.c.expires_at, capped_expiry),
        ),
        update_if_unchanged=update(s)
        .where(*unchanged)
        .values(
            refresh_token_hash_2=bindparam("new_hash_2"),
            expires_at=bindparam("new_expires_at"),
            parent_issued_at=bindparam("new_parent_issued_at"),
            child_issued_at=bindparam("new_child_issued_at"),
            refreshed_at=bindparam("new_refreshed_at"),
            refreshed_ip=bindparam("new_refreshed_ip"),
            refreshed_user_agent=bindparam("new_refreshed_user_agent"),
        ),
        delete_if_unchanged=delete(s).where(*unchanged),
        # A new jwt payload (or re-authentication), by compare-and-set on its version.
        update_payload=update(s)
        .where(
            by_handle,
            alive,
            s.c.payload_version.is_not_distinct_from(
                bindparam("old_payload_version", type_=BigInteger)
            ),
        )
        .values(
            jwt_user_payload=bindparam("jwt_user_payload"),
            payload_version=bindparam("new_payload_version", type_=BigInteger),
            authenticated_at=bindparam("authenticated_at", type_=BigInteger),
        ),
        session_alive=select(s.c.session_handle).where(by_handle, alive),
        delete_session=delete(s).where(by_handle),
        delete_user_sessions=delete(s).where(*of_user),
        delete_tenant_sessions=delete(s).where(of_tenant),
        list_user_sessions=select(*(s.c[name] for name in SUMMARY_COLUMNS))
        .where(*of_user, alive)
        .order_by(s.c.created_at, s.c.session_handle),
        list_tenant_sessions=select(s.c.session_handle, s.c.user_id, s.c.actor_id).where(of_tenant),
        read_owner=select(s.c.user_id, s.c.tenant_id, s.c.actor_id).where(by_handle),
        list_other_sessions=select(s.c.session_handle).where(
            *of_user, s.c.session_handle != bindparam("keep")
        ),
        get_session_data=select(s.c.session_info).where(by_handle, alive),
        update_session_data=update(s)
        .where(by_handle, alive)
        .values(session_info=bindparam("session_info")),
        purge_expired=delete(s).where(s.c.expires_at <= bindparam("now")),
        select_keys=select(
            keys.c.key_name,
            keys.c.key_value,
            keys.c.key_material,
            keys.c.created_at_time,
            keys.c.verify_window_ms,
        ),
        insert_key=insert(keys).values(
            key_name=bindparam("key_name"),
            key_value=bindparam("key_value"),
            created_at_time=bindparam("created_at_time"),
            key_material=bindparam("key_material"),
            verify_window_ms=bindparam("verify_window_ms", type_=BigInteger),
        ),
        widen_key_window=update(keys)
        .where(
            keys.c.key_name == bindparam("key_name"),
            or_(
                keys.c.verify_window_ms.is_(None),
                keys.c.verify_window_ms < bindparam("verify_window_ms", type_=BigInteger),
            ),
        )
        .values(verify_window_ms=bindparam("verify_window_ms", type_=BigInteger)),
        # A key sealed anew (its secret unchanged): rows never change their secret, so two
        # processes resealing one row at once both write a value that opens to the same key.
        reseal_key=update(keys)
        .where(keys.c.key_name == bindparam("key_name"))
        .values(key_value=bindparam("key_value"), key_material=bindparam("key_material")),
        delete_key=delete(keys).where(keys.c.key_name == bindparam("key_name")),
        insert_revocation=insert(r).values({c.name: bindparam(c.name) for c in r.columns}),
        revocations_since=select(
            r.c.session_handle,
            r.c.user_id,
            r.c.not_before,
            r.c.revoked_at,
            r.c.drop_after,
            r.c.tenant_id,
            r.c.retired_kid,
        ).where(r.c.revoked_at >= bindparam("since"), r.c.drop_after > bindparam("now")),
        purge_revocations=delete(r).where(r.c.drop_after <= bindparam("now")),
    )


# The columns a session listing reads, in this order.
SUMMARY_COLUMNS = (
    "session_handle",
    "user_id",
    "created_at",
    "expires_at",
    "refreshed_at",
    "created_ip",
    "created_user_agent",
    "refreshed_ip",
    "refreshed_user_agent",
    "tenant_id",
    "actor_id",
)

# The columns of a SessionRow, in its field order.
SESSION_ROW_COLUMNS = (
    "session_handle",
    "user_id",
    "refresh_token_hash_2",
    "expires_at",
    "jwt_user_payload",
    "created_at",
    "parent_issued_at",
    "child_issued_at",
    "refreshed_at",
    "refreshed_ip",
    "refreshed_user_agent",
    "pop_key_thumbprint",
    "payload_version",
    "authenticated_at",
    "tenant_id",
    "actor_id",
)
