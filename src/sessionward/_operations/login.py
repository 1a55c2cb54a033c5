"""Create a session (docs/protocol.md#operations-and-errors, ``create_new_session``): a new
handle, a new token set, one new row; then the purge if it is due and the eviction beyond
``max_sessions_per_user``. The pure parts it runs: the checks of :mod:`sessionward._validation`
and the proof of :mod:`sessionward._proof` that binds the session to a key.
"""

from __future__ import annotations

import uuid

from sessionward._clients import clean_client
from sessionward._errors import InvalidArgumentError
from sessionward._events import Emission, SessionCreated
from sessionward._models import JSON, ClientContext, SessionTokens
from sessionward._operations import listing, minting, revocation
from sessionward._operations.context import Context, Emissions
from sessionward._proof import InvalidProof, ProofOfPossession, verify_proof
from sessionward._protocol import sha256_hex
from sessionward._storage.execution import StoreFlow
from sessionward._tokens.refresh import RefreshClaims
from sessionward._validation import (
    MAX_JWT_PAYLOAD_BYTES,
    MAX_SESSION_DATA_BYTES,
    check_user_id,
    to_json,
)


def create_new_session(
    context: Context,
    emissions: Emissions,
    user_id: str,
    jwt_payload: JSON,
    session_data: JSON,
    client: ClientContext | None,
    proof: ProofOfPossession | None,
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
    expires = now + context.config.refresh_token_validity_ms
    if context.lifetime_ms is not None:
        expires = min(expires, now + context.lifetime_ms)
    claims = RefreshClaims(handle, user_id, None, expires, now, payload_json, None)
    refresh_token = context.keys.cipher.seal(claims)
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
        )
    )
    emissions.append(
        Emission(
            context.hooks.on_session_created,
            SessionCreated(handle, user_id, client, thumbprint is not None),
        )
    )
    yield from revocation.evict_beyond_cap(context, emissions, user_id)
    return tokens


__all__ = ["create_new_session"]
