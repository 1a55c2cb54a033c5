"""The jwt payload changed mid-session (``update_jwt_payload``, ``merge_into_jwt_payload``,
``mark_fresh``): the flow side of ``protocol.next_payload_version`` and of
``validation.merged_payload``.

A change writes a new payload version by compare-and-set; the session's next refresh carries
it, and the caller's own access token is re-signed with it at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from sessionward._errors import InvalidArgumentError, TryRefreshTokenError, UnauthorisedError
from sessionward._models import DEFAULT_TENANT, JSON, Session, Token, VerifiedSession
from sessionward._operations import listing, minting
from sessionward._operations.context import MAX_DECISION_ATTEMPTS, Context, Emissions, contention
from sessionward._protocol import next_payload_version
from sessionward._storage.execution import StoreFlow
from sessionward._tokens.access import AccessContent, InvalidAccessToken, verify_access_token
from sessionward._validation import (
    MAX_JWT_PAYLOAD_BYTES,
    check_identifier,
    check_user_id,
    merged_payload,
    to_json,
)


def update_jwt_payload(
    context: Context,
    emissions: Emissions,
    session_handle: str,
    payload: JSON,
    access_token: object | None,
) -> StoreFlow[VerifiedSession]:
    return change_jwt_payload(
        context, session_handle, lambda _: payload, fresh=False, access_token=access_token
    )


def merge_into_jwt_payload(
    context: Context,
    emissions: Emissions,
    session_handle: str,
    changes: object,
    access_token: object | None,
) -> StoreFlow[VerifiedSession]:
    merged_payload({}, changes)  # refuse ill-typed changes before any I/O

    def merge(stored: JSON) -> JSON:
        return merged_payload(stored, changes)

    return change_jwt_payload(
        context, session_handle, merge, fresh=False, access_token=access_token
    )


def merge_into_jwt_payload_for_user(
    context: Context,
    emissions: Emissions,
    user_id: str,
    changes: object,
    except_handle: str | None,
    tenant_id: str = DEFAULT_TENANT,
) -> StoreFlow[int]:
    """Merge ``changes`` into each live session of ``user_id`` in ``tenant_id`` (but
    ``except_handle``); returns how many. Each picks the change up at its next refresh."""
    user_id = check_user_id(user_id)
    merged_payload({}, changes)
    sessions = yield from listing.list_sessions_for_user(context, emissions, user_id, tenant_id)
    changed = 0
    for session in sessions:
        if session.handle == except_handle:
            continue
        try:
            yield from merge_into_jwt_payload(context, emissions, session.handle, changes, None)
        except UnauthorisedError:
            continue  # it ended meanwhile
        changed += 1
    return changed


def mark_fresh(
    context: Context, emissions: Emissions, session_handle: str, access_token: object | None
) -> StoreFlow[VerifiedSession]:
    return change_jwt_payload(context, session_handle, None, fresh=True, access_token=access_token)


def change_jwt_payload(
    context: Context,
    session_handle: str,
    change: Callable[[JSON], JSON] | None,
    *,
    fresh: bool,
    access_token: object | None,
) -> StoreFlow[VerifiedSession]:
    """Store a new jwt payload (``change`` applied to the stored one; None keeps it) and,
    with ``fresh``, a re-authentication now: compare-and-set on the payload version, so
    concurrent changes are applied one after the other, none lost. The session's next
    refresh carries it; ``access_token`` (the caller's own) is re-signed with it at once."""
    handle = check_identifier(session_handle, "session_handle")
    yield from context.ready()
    queries = context.queries
    for _ in range(MAX_DECISION_ATTEMPTS):
        now = context.now_ms()
        row = yield from queries.read_session(handle)
        if row is None or row.expires_at <= now:
            raise UnauthorisedError("the session does not exist or has expired")
        stored = None if row.jwt_payload_json is None else json.loads(row.jwt_payload_json)
        payload = stored if change is None else change(stored)
        payload_json = to_json(payload, "jwt_payload", MAX_JWT_PAYLOAD_BYTES)
        authenticated = now if fresh else row.authenticated_at
        version = next_payload_version(row.payload_version, now)
        if (yield from queries.update_payload(row, payload_json, version, authenticated, now)):
            break
    else:
        raise contention()
    since = authenticated if authenticated is not None else row.created_at
    session = Session(
        handle, row.user_id, json.loads(payload_json), since, row.tenant_id, row.actor_id
    )
    if access_token is None:
        return VerifiedSession(session)
    token, persistent = yield from _reissued(
        context, access_token, handle, payload_json, authenticated, now
    )
    session.persistent = persistent
    return VerifiedSession(session, token)


def _reissued(
    context: Context,
    access_token: object,
    handle: str,
    payload_json: str,
    authenticated: int | None,
    now: int,
) -> StoreFlow[tuple[Token, bool]]:
    """``access_token`` signed again with a new payload: every other claim, and the expiry,
    as they were; and whether its session outlives the browser."""
    try:
        claims = verify_access_token(access_token, context.keys.ring, now - context.leeway_ms)
    except InvalidAccessToken:
        raise TryRefreshTokenError("the access token to re-issue is invalid or expired") from None
    if claims.handle != handle:
        raise InvalidArgumentError("the access token belongs to another session")
    key = yield from context.keys.signing_key(now)
    content = AccessContent(
        claims.handle,
        claims.user_id,
        claims.refresh_hash_1,
        claims.parent_hash_1,
        claims.anti_csrf,
        payload_json,
        claims.created_at_ms,
        authenticated,
        claims.tenant_id,
        claims.actor,
        claims.persistent,
        claims.ttl_ms,
    )
    token = minting.access_token(context, key, content, now, not_after=claims.expires_ms)
    return token, claims.persistent


__all__ = [
    "change_jwt_payload",
    "mark_fresh",
    "merge_into_jwt_payload",
    "merge_into_jwt_payload_for_user",
    "update_jwt_payload",
]
