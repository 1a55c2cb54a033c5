"""Listing a user's sessions, the server-side session data, the purge of what has expired
(``protocol.purge_due``), and the flows of the key rings (:mod:`sessionward._keyring`, and the
key table of :mod:`sessionward._key_table` for the rewrap) that the managers offer: rotation,
the deployed algorithm, the listing, the published keys.
"""

from __future__ import annotations

import json
from dataclasses import replace

from sessionward._config import Algorithm
from sessionward._devices import device_label
from sessionward._errors import UnauthorisedError
from sessionward._models import DEFAULT_TENANT, JSON, PublishedKeys, SessionSummary
from sessionward._operations.context import Context, Emissions
from sessionward._protocol import purge_due
from sessionward._storage.execution import StoreFlow
from sessionward._tokens.keys import SigningKey
from sessionward._validation import (
    MAX_SESSION_DATA_BYTES,
    check_identifier,
    check_tenant_id,
    check_user_id,
    to_json,
)


def list_sessions_for_user(
    context: Context, emissions: Emissions, user_id: str, tenant_id: str = DEFAULT_TENANT
) -> StoreFlow[list[SessionSummary]]:
    """The live sessions of ``user_id`` in ``tenant_id``, most recently active first (its
    impersonations included, marked ``impersonated_by``)."""
    user_id = check_user_id(user_id)
    tenant_id = check_tenant_id(tenant_id)
    yield from context.ready()
    rows = yield from context.queries.list_user_sessions(tenant_id, user_id, context.now_ms())
    # The column compares exactly on every backend; this guards tables not yet migrated.
    listed = [
        replace(row, device=device_label(row.user_agent))
        for row in rows
        if row.user_id == user_id and row.tenant_id == tenant_id
    ]
    listed.sort(key=lambda s: (s.last_refreshed_at or 0, s.created_at or 0), reverse=True)
    return listed


def get_all_session_handles_for_user(
    context: Context, emissions: Emissions, user_id: str, tenant_id: str = DEFAULT_TENANT
) -> StoreFlow[list[str]]:
    rows = yield from list_sessions_for_user(context, emissions, user_id, tenant_id)
    return [row.handle for row in rows]


def get_session_data(
    context: Context, emissions: Emissions, session_handle: str
) -> StoreFlow[JSON]:
    handle = check_identifier(session_handle, "session_handle")
    yield from context.ready()
    found, data_json = yield from context.queries.get_session_data(handle, context.now_ms())
    if not found:
        raise UnauthorisedError("the session does not exist or has expired")
    return None if data_json is None else json.loads(data_json)


def update_session_data(
    context: Context, emissions: Emissions, session_handle: str, session_data: JSON
) -> StoreFlow[None]:
    handle = check_identifier(session_handle, "session_handle")
    data_json = to_json(session_data, "session_data", MAX_SESSION_DATA_BYTES)
    yield from context.ready()
    queries = context.queries
    updated = yield from queries.update_session_data(handle, data_json, context.now_ms())
    if not updated:
        raise UnauthorisedError("the session does not exist or has expired")


def purge_expired(context: Context, emissions: Emissions) -> StoreFlow[int]:
    """Delete expired sessions and signing keys that can no longer verify anything."""
    yield from context.ready()
    now = context.now_ms()
    count = yield from context.queries.purge_expired(now)
    yield from context.queries.purge_revocations(now)
    yield from context.keys.purge(now)
    context.last_purge_ms = now
    return count


def purge_if_due(context: Context, emissions: Emissions, now: int) -> StoreFlow[None]:
    if purge_due(now, context.last_purge_ms, context.config.purge_interval * 1000):
        yield from purge_expired(context, emissions)


def rotate_signing_key(context: Context, emissions: Emissions) -> StoreFlow[str]:
    return context.keys.rotate()


def rotate_refresh_key(context: Context, emissions: Emissions, retire_now: bool) -> StoreFlow[str]:
    return context.keys.rotate_refresh_key(retire_now=retire_now)


def rewrap_keys(context: Context, emissions: Emissions) -> StoreFlow[int]:
    yield from context.keys.ready()
    return (yield from context.keys.table.reseal(rewrap=True))


def deployed_signing_algorithm(
    context: Context, emissions: Emissions
) -> StoreFlow[Algorithm | None]:
    return context.keys.deployed_algorithm()


def signing_keys(context: Context, emissions: Emissions) -> StoreFlow[list[SigningKey]]:
    return context.keys.listing()


def published_keys(context: Context, emissions: Emissions) -> StoreFlow[PublishedKeys]:
    yield from context.ready()
    jwk_set, max_age = yield from context.keys.published()
    return PublishedKeys(jwk_set, max_age)


__all__ = [
    "deployed_signing_algorithm",
    "get_all_session_handles_for_user",
    "get_session_data",
    "list_sessions_for_user",
    "published_keys",
    "purge_expired",
    "purge_if_due",
    "rotate_signing_key",
    "signing_keys",
    "update_session_data",
]
