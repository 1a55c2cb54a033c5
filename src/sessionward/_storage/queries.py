"""Every database operation as a typed flow: a statement of ``schema.py``, its parameters, and
how its result is read. The protocol's flows ``yield from`` these; the stores only run them.

Each is one statement, so one round trip, except :meth:`Queries.delete_keys` (one per key; keys
are few and deleted rarely).
"""

from __future__ import annotations

import uuid
from typing import Any, NamedTuple

from sessionward._models import ClientContext, SessionSummary
from sessionward._protocol import RowUpdate
from sessionward._revocations import Revocation
from sessionward._rows import KeyRow, SessionRow
from sessionward._storage.execution import Result, StoreFlow, execute
from sessionward._storage.schema import Statements


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _one_changed(result: Result) -> bool:
    return result.rowcount == 1


def _some_changed(result: Result) -> bool:
    return result.rowcount > 0


def _count(result: Result) -> int:
    return max(0, int(result.rowcount))


def _nothing(_result: Result) -> None:
    return None


def _any_row(result: Result) -> bool:
    return bool(result.rows)


def _session_row(result: Result) -> SessionRow | None:
    if not result.rows:
        return None
    (
        handle,
        user_id,
        hash_2,
        expires_at,
        payload,
        created_at,
        parent_issued_at,
        child_issued_at,
        refreshed_at,
        refreshed_ip,
        refreshed_user_agent,
        pop_thumbprint,
        payload_version,
        authenticated_at,
        tenant_id,
        actor_id,
    ) = result.rows[0]
    return SessionRow(
        handle,
        user_id,
        hash_2,
        int(expires_at),
        payload,
        _int_or_none(created_at),
        _int_or_none(parent_issued_at),
        _int_or_none(child_issued_at),
        _int_or_none(refreshed_at),
        refreshed_ip,
        refreshed_user_agent,
        pop_thumbprint,
        _int_or_none(payload_version),
        _int_or_none(authenticated_at),
        tenant_id,
        actor_id,
    )


def _summaries(result: Result) -> list[SessionSummary]:
    """Listing rows: the last activity and client are the last refresh's, or the login's."""
    summaries = []
    for row in result.rows:
        (handle, user_id, created, expires, refreshed, ip, agent, last_ip, last_agent) = row[:9]
        tenant_id, actor_id = row[9:]
        if refreshed is not None:
            ip, agent = last_ip, last_agent
        summaries.append(
            SessionSummary(
                handle,
                user_id,
                _int_or_none(created),
                int(expires),
                _int_or_none(refreshed if refreshed is not None else created),
                ip,
                agent,
                tenant_id=tenant_id,
                impersonated_by=actor_id,
            )
        )
    return summaries


def _handles(result: Result) -> list[str]:
    return [str(row[0]) for row in result.rows]


def _revocations(result: Result) -> list[Revocation]:
    return [
        Revocation(
            handle,
            user_id,
            _int_or_none(not_before),
            int(revoked_at),
            int(drop_after),
            tenant,
            retired_kid,
        )
        for handle, user_id, not_before, revoked_at, drop_after, tenant, retired_kid in result.rows
    ]


def _owner(result: Result) -> Owner | None:
    if not result.rows:
        return None
    user_id, tenant_id, actor_id = result.rows[0]
    return Owner(str(user_id), str(tenant_id), actor_id)


def _tenant_sessions(result: Result) -> list[tuple[str, str, str | None]]:
    return [(str(handle), str(user), actor) for handle, user, actor in result.rows]


def _session_data(result: Result) -> tuple[bool, str | None]:
    return (True, result.rows[0][0]) if result.rows else (False, None)


def _key_rows(result: Result) -> list[KeyRow]:
    return [
        KeyRow(
            str(name),
            str(value),
            None if material is None else str(material),
            int(created),
            _int_or_none(window),
        )
        for name, value, material, created, window in result.rows
    ]


class Owner(NamedTuple):
    """Whose a session is: its user, tenant and actor (impersonation), for the revoked event."""

    user_id: str
    tenant_id: str
    actor_id: str | None


class Queries:
    """The operations on one deployment's two tables."""

    def __init__(self, statements: Statements) -> None:
        self.statements = statements

    def insert_session(self, values: dict[str, Any]) -> StoreFlow[None]:
        """One new row. A duplicate handle can only be this very insert repeated after its
        answer was lost (handles are random), so it reads as done."""
        return execute(
            self.statements.insert_session, values, _nothing, duplicate_reads_as_nothing=True
        )

    def read_session(self, handle: str) -> StoreFlow[SessionRow | None]:
        return execute(self.statements.read_session, {"handle": handle}, _session_row)

    def refresh_by_parent(
        self,
        *,
        handle: str,
        hash_2: str,
        user_id: str,
        now: int,
        grace_cutoff: int,
        payload_version: int | None,
        pop_thumbprint: str | None,
        client: ClientContext | None,
    ) -> StoreFlow[bool]:
        """The common refresh, decided and recorded in one statement: the presented token is the
        session's current parent, not presented within the grace window before, the session is
        alive and its payload is the one the token carries. Records the child's anchor (now)
        and the client. False: not that case; read the row and decide
        (docs/protocol.md#refresh-and-rotation)."""
        return execute(
            self.statements.refresh_by_parent,
            {
                "handle": handle,
                "hash_2": hash_2,
                "user_id": user_id,
                "now": now,
                "grace_cutoff": grace_cutoff,
                "payload_version": payload_version,
                "pop_thumbprint": pop_thumbprint,
                "refreshed_ip": client.ip if client else None,
                "refreshed_user_agent": client.user_agent if client else None,
            },
            _one_changed,
        )

    def promote_child(
        self,
        handle: str,
        user_id: str,
        parent_hash_2: str,
        child_hash_2: str,
        now: int,
        expires_at: int,
        lifetime_ms: int | None,
    ) -> StoreFlow[bool]:
        """The common promotion in one statement: the row still holds the child's parent. The
        child becomes the parent and the session's expiry is renewed (within its absolute
        lifetime). False: not that case; read the row and decide."""
        return execute(
            self.statements.promote_child,
            {
                "handle": handle,
                "parent_hash_2": parent_hash_2,
                "child_hash_2": child_hash_2,
                "user_id": user_id,
                "now": now,
                "expires_at": expires_at,
                "lifetime_ms": lifetime_ms,
            },
            _one_changed,
        )

    def apply_change(self, row: SessionRow, change: RowUpdate) -> StoreFlow[bool]:
        """Write ``change`` if the row is still as ``row`` was read (compare-and-set)."""
        guard = {
            "handle": row.handle,
            "old_hash_2": row.refresh_token_hash_2,
            "old_child_issued_at": row.child_issued_at,
        }
        if change.delete:
            return execute(self.statements.delete_if_unchanged, guard, _one_changed)
        client = change.new_refreshed_client
        values = {
            **guard,
            "new_hash_2": change.new_hash_2,
            "new_expires_at": change.new_expires_at,
            "new_parent_issued_at": change.new_parent_issued_at,
            "new_child_issued_at": change.new_child_issued_at,
            "new_refreshed_at": change.new_refreshed_at,
            "new_refreshed_ip": client.ip if client else None,
            "new_refreshed_user_agent": client.user_agent if client else None,
        }
        return execute(self.statements.update_if_unchanged, values, _one_changed)

    def update_payload(
        self,
        row: SessionRow,
        payload_json: str,
        new_version: int,
        authenticated_at: int | None,
        now: int,
    ) -> StoreFlow[bool]:
        """Write a new jwt payload and version if the row still has the version ``row`` was read
        with, and is alive (compare-and-set); False: read it again."""
        values = {
            "handle": row.handle,
            "now": now,
            "old_payload_version": row.payload_version,
            "jwt_user_payload": payload_json,
            "new_payload_version": new_version,
            "authenticated_at": authenticated_at,
        }
        return execute(self.statements.update_payload, values, _one_changed)

    def session_alive(self, handle: str, now: int) -> StoreFlow[bool]:
        return execute(self.statements.session_alive, {"handle": handle, "now": now}, _any_row)

    def delete_session(self, handle: str) -> StoreFlow[bool]:
        return execute(self.statements.delete_session, {"handle": handle}, _some_changed)

    def read_owner(self, handle: str) -> StoreFlow[Owner | None]:
        return execute(self.statements.read_owner, {"handle": handle}, _owner)

    def delete_user_sessions(self, tenant_id: str, user_id: str) -> StoreFlow[int]:
        parameters = {"tenant_id": tenant_id, "user_id": user_id}
        return execute(self.statements.delete_user_sessions, parameters, _count)

    def delete_tenant_sessions(self, tenant_id: str) -> StoreFlow[int]:
        parameters = {"tenant_id": tenant_id}
        return execute(self.statements.delete_tenant_sessions, parameters, _count)

    def list_tenant_sessions(self, tenant_id: str) -> StoreFlow[list[tuple[str, str, str | None]]]:
        """Handle, user id and actor of every session of the tenant, live or not."""
        parameters = {"tenant_id": tenant_id}
        return execute(self.statements.list_tenant_sessions, parameters, _tenant_sessions)

    def list_user_sessions(
        self, tenant_id: str, user_id: str, now: int
    ) -> StoreFlow[list[SessionSummary]]:
        parameters = {"tenant_id": tenant_id, "user_id": user_id, "now": now}
        return execute(self.statements.list_user_sessions, parameters, _summaries)

    def get_session_data(self, handle: str, now: int) -> StoreFlow[tuple[bool, str | None]]:
        parameters = {"handle": handle, "now": now}
        return execute(self.statements.get_session_data, parameters, _session_data)

    def update_session_data(self, handle: str, data_json: str, now: int) -> StoreFlow[bool]:
        parameters = {"handle": handle, "now": now, "session_info": data_json}
        return execute(self.statements.update_session_data, parameters, _some_changed)

    def purge_expired(self, now: int) -> StoreFlow[int]:
        return execute(self.statements.purge_expired, {"now": now}, _count)

    def load_keys(self) -> StoreFlow[list[KeyRow]]:
        return execute(self.statements.select_keys, {}, _key_rows)

    def insert_key(
        self,
        name: str,
        value: str,
        now: int,
        material: str | None = None,
        verify_window_ms: int | None = None,
    ) -> StoreFlow[bool]:
        """True if inserted; False if the key exists (another process won the race)."""
        values = {
            "key_name": name,
            "key_value": value,
            "created_at_time": now,
            "key_material": material,
            "verify_window_ms": verify_window_ms,
        }
        return execute(
            self.statements.insert_key, values, _one_changed, duplicate_reads_as_nothing=True
        )

    def list_other_sessions(self, tenant_id: str, user_id: str, keep: str) -> StoreFlow[list[str]]:
        """Handles of the user's sessions (live or not) other than ``keep``."""
        parameters = {"tenant_id": tenant_id, "user_id": user_id, "keep": keep}
        return execute(self.statements.list_other_sessions, parameters, _handles)

    def insert_revocation(self, revocation: Revocation) -> StoreFlow[None]:
        values = {
            "revocation_id": str(uuid.uuid4()),
            "session_handle": revocation.session_handle,
            "user_id": revocation.user_id,
            "not_before": revocation.not_before,
            "revoked_at": revocation.revoked_at,
            "drop_after": revocation.drop_after,
            "tenant_id": revocation.tenant_id,
            "retired_kid": revocation.retired_kid,
        }
        return execute(self.statements.insert_revocation, values, _nothing)

    def revocations_since(self, since: int, now: int) -> StoreFlow[list[Revocation]]:
        """Revocations written from ``since`` on that still concern a live access token."""
        parameters = {"since": since, "now": now}
        return execute(self.statements.revocations_since, parameters, _revocations)

    def purge_revocations(self, now: int) -> StoreFlow[int]:
        return execute(self.statements.purge_revocations, {"now": now}, _count)

    def widen_key_window(self, name: str, verify_window_ms: int) -> StoreFlow[bool]:
        """Record that key ``name`` must verify ``verify_window_ms`` after it stops signing,
        unless a longer window is recorded already."""
        parameters = {"key_name": name, "verify_window_ms": verify_window_ms}
        return execute(self.statements.widen_key_window, parameters, _one_changed)

    def reseal_key(self, name: str, value: str, material: str | None) -> StoreFlow[bool]:
        """Write key ``name``'s stored values again (sealed with another key-encryption key)."""
        parameters = {"key_name": name, "key_value": value, "key_material": material}
        return execute(self.statements.reseal_key, parameters, _one_changed)

    def delete_keys(self, names: list[str]) -> StoreFlow[int]:
        deleted = 0
        for name in names:
            deleted += yield from execute(self.statements.delete_key, {"key_name": name}, _count)
        return deleted
