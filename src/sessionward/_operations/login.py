"""Create a session (docs/protocol.md#operations-and-errors, ``create_new_session``): a new
handle, a new token set, one new row; then the purge if it is due and the eviction beyond
``max_sessions_per_user``. The pure parts it runs: the checks of :mod:`sessionward._validation`
and the proof of :mod:`sessionward._proof` that binds the session to a key.

An impersonation session (``create_impersonation_session``: support staff acting as a user) is
the same flow with an actor and its own lifetime: its tokens carry ``act`` (RFC 8693), it is
never refreshed past its ``ttl``, and it neither counts against nor evicts the user's sessions.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from sessionward import _telemetry as telemetry
from sessionward._clients import clean_client
from sessionward._errors import ConfigError, InvalidArgumentError
from sessionward._events import Emission, SessionCreated
from sessionward._models import DEFAULT_TENANT, JSON, ClientContext, SessionTokens
from sessionward._operations import listing, minting, revocation
from sessionward._operations.context import Context, Emissions
from sessionward._proof import InvalidProof, ProofOfPossession, verify_proof
from sessionward._protocol import sha256_hex
from sessionward._storage.execution import StoreFlow
from sessionward._tokens.refresh import RefreshClaims
from sessionward._validation import (
    MAX_JWT_PAYLOAD_BYTES,
    MAX_SESSION_DATA_BYTES,
    MAX_USER_ID_LENGTH,
    check_identifier,
    check_tenant_id,
    check_user_id,
    to_json,
)

MAX_IMPERSONATION_TTL = 86_400  # seconds: support work is a day at most, then log in again


def create_new_session(
    context: Context,
    emissions: Emissions,
    user_id: str,
    jwt_payload: JSON,
    session_data: JSON,
    client: ClientContext | None,
    proof: ProofOfPossession | None,
    tenant_id: str = DEFAULT_TENANT,
    persistent: bool = True,
) -> StoreFlow[SessionTokens]:
    if type(persistent) is not bool:
        raise InvalidArgumentError(f"persistent must be True or False; got {persistent!r}")
    config = context.config
    if not persistent and config.session_idle_timeout <= config.access_token_validity:
        raise ConfigError(
            f"session_idle_timeout ({config.session_idle_timeout} s) must be longer than "
            f"access_token_validity ({config.access_token_validity} s) for sessions with "
            "persistent=False: an active client refreshes only when its access token expires, "
            "so a shorter idle limit would end sessions in use"
        )
    terms = _Terms(check_tenant_id(tenant_id), None, persistent, None)
    return (
        yield from _create(
            context, emissions, user_id, jwt_payload, session_data, client, proof, terms
        )
    )


def create_impersonation_session(
    context: Context,
    emissions: Emissions,
    actor_id: str,
    user_id: str,
    jwt_payload: JSON,
    session_data: JSON,
    client: ClientContext | None,
    tenant_id: str = DEFAULT_TENANT,
    ttl: int = 3600,
) -> StoreFlow[SessionTokens]:
    actor_id = check_identifier(actor_id, "actor_id", MAX_USER_ID_LENGTH)
    if type(ttl) is not int or not 60 <= ttl <= MAX_IMPERSONATION_TTL:
        raise InvalidArgumentError(
            f"ttl must be a whole number of seconds from 60 to {MAX_IMPERSONATION_TTL}; got {ttl!r}"
        )
    terms = _Terms(check_tenant_id(tenant_id), actor_id, True, ttl * 1000)
    return (
        yield from _create(
            context, emissions, user_id, jwt_payload, session_data, client, None, terms
        )
    )


@dataclass(frozen=True, slots=True)
class _Terms:
    """What kind of session a login makes: its tenant, its actor (impersonation), whether it
    outlives the browser, and its own lifetime (milliseconds) if it has one."""

    tenant_id: str
    actor: str | None
    persistent: bool
    ttl_ms: int | None


def _create(
    context: Context,
    emissions: Emissions,
    user_id: str,
    jwt_payload: JSON,
    session_data: JSON,
    client: ClientContext | None,
    proof: ProofOfPossession | None,
    terms: _Terms,
) -> StoreFlow[SessionTokens]:
    """The login, in its span (``sessionward.create_session``) and counted."""
    impersonation = terms.actor is not None
    tenant = terms.tenant_id
    with telemetry.operation(
        "create_session", "create", tenant=tenant, impersonation=impersonation
    ) as span:
        tokens = yield from _insert(
            context, emissions, user_id, jwt_payload, session_data, client, proof, terms
        )
        session = tokens.session
        span.set(telemetry.HANDLE, session.handle)
        span.set_user(session.user_id, context.config.telemetry_user_ids)
    telemetry.session_created()
    return tokens


def _insert(
    context: Context,
    emissions: Emissions,
    user_id: str,
    jwt_payload: JSON,
    session_data: JSON,
    client: ClientContext | None,
    proof: ProofOfPossession | None,
    terms: _Terms,
) -> StoreFlow[SessionTokens]:
    user_id = check_user_id(user_id)
    payload_json = to_json(jwt_payload, "jwt_payload", MAX_JWT_PAYLOAD_BYTES)
    data_json = to_json(session_data, "session_data", MAX_SESSION_DATA_BYTES)
    client = clean_client(client)
    now = context.now_ms()
    thumbprint = None
    if proof is not None:
        try:
            thumbprint = verify_proof(proof, now_s=now / 1000).thumbprint
        except InvalidProof as exc:
            raise InvalidArgumentError(f"the DPoP proof is invalid: {exc}") from None
    key = yield from context.keys.signing_key(now)
    yield from listing.purge_if_due(context, emissions, now)
    handle = str(uuid.uuid4())
    claims = RefreshClaims(
        handle,
        user_id,
        None,
        0,
        now,
        payload_json,
        None,
        tenant_id=terms.tenant_id,
        actor=terms.actor,
        persistent=terms.persistent,
        ttl_ms=terms.ttl_ms,
    )
    expires = minting.session_expiry(context, now, claims)
    claims = replace(claims, expires_ms=expires)
    refresh_token = context.keys.refresh.cipher.seal(claims, now)
    tokens = minting.token_set(
        context,
        key,
        refresh_token=refresh_token,
        claims=claims,
        parent_hash_1=None,
        session_expires=expires,
        now=now,
    )
    yield from context.queries.insert_session(
        dict(
            session_handle=handle,
            user_id=user_id,
            refresh_token_hash_2=sha256_hex(sha256_hex(refresh_token)),
            session_info=data_json,
            expires_at=expires,
            jwt_user_payload=payload_json,
            created_at=now,
            parent_issued_at=None,
            child_issued_at=None,
            created_ip=client.ip if client else None,
            created_user_agent=client.user_agent if client else None,
            refreshed_at=None,
            refreshed_ip=None,
            refreshed_user_agent=None,
            pop_key_thumbprint=thumbprint,
            payload_version=None,
            authenticated_at=None,
            tenant_id=terms.tenant_id,
            actor_id=terms.actor,
        )
    )
    emissions.append(
        Emission(
            context.hooks.on_session_created,
            SessionCreated(
                handle, user_id, client, thumbprint is not None, terms.tenant_id, terms.actor
            ),
        )
    )
    if terms.actor is None:  # an impersonation never takes one of the user's places
        yield from revocation.evict_beyond_cap(context, emissions, user_id, terms.tenant_id)
    return tokens


__all__ = ["create_impersonation_session", "create_new_session"]
