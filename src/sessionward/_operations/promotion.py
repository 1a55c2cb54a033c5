"""Verify an access token (docs/protocol.md#verifying-a-request), and confirm the new refresh
token it was issued with: the flow side of ``protocol.csrf_matches`` and
``protocol.decide_promotion``.

:func:`quick_get_session` answers the common case with no I/O and no flow (one HMAC, one base64
decode, one JSON parse): both managers and the web transport ask it before they start
:func:`get_session`.
"""

from __future__ import annotations

from sessionward import _telemetry as telemetry
from sessionward._errors import ANTI_CSRF_MISMATCH, TryRefreshTokenError, UnauthorisedError
from sessionward._models import Token, VerifiedSession
from sessionward._operations import minting, revocation
from sessionward._operations.context import MAX_DECISION_ATTEMPTS, Context, Emissions, contention
from sessionward._protocol import PromotionOutcome, csrf_matches, decide_promotion, sha256_hex
from sessionward._storage.execution import StoreFlow
from sessionward._tokens.access import (
    AccessClaims,
    AccessContent,
    ExpiredAccessToken,
    InvalidAccessToken,
    UnknownSigningKey,
    verify_access_token,
)
from sessionward._validation import MAX_JWT_PAYLOAD_BYTES, to_json


def verified_claims(
    context: Context, access_token: object, anti_csrf_token: str | None, now: int
) -> AccessClaims:
    try:
        claims = verify_access_token(access_token, context.keys.ring, now - context.leeway_ms)
    except UnknownSigningKey:
        raise
    except InvalidAccessToken as exc:
        telemetry.verify_failed("expired" if isinstance(exc, ExpiredAccessToken) else "invalid")
        raise TryRefreshTokenError("the access token is invalid or expired") from None
    if context.config.anti_csrf and not csrf_matches(claims.anti_csrf, anti_csrf_token):
        telemetry.verify_failed(ANTI_CSRF_MISMATCH)
        raise TryRefreshTokenError("the anti-CSRF token does not match", reason=ANTI_CSRF_MISMATCH)
    return claims


def _revoked() -> UnauthorisedError:
    """The error for a revoked session's access token, counted (a verify failure)."""
    telemetry.verify_failed("revoked")
    return UnauthorisedError("the session was revoked")


def quick_get_session(
    context: Context, access_token: object, anti_csrf_token: str | None
) -> VerifiedSession | None:
    """``get_session`` when it needs no I/O (the common case), else None: run the flow."""
    now = context.now_ms()
    try:
        claims = verified_claims(context, access_token, anti_csrf_token, now)
    except UnknownSigningKey:
        return None
    if claims.parent_hash_1 is not None:
        return None
    mode = context.revocation_mode
    if mode == "cached":
        revocations = context.revocations
        if revocations.due(now):
            return None  # the flow reads the new revocations first
        if revocations.revoked(
            claims.handle, claims.user_id, claims.created_at_ms, claims.tenant_id
        ):
            raise _revoked()
    elif mode == "exact":
        return None
    return VerifiedSession(claims.session())


def _verified_reloading(
    context: Context, access_token: object, anti_csrf_token: str | None, now: int
) -> StoreFlow[AccessClaims]:
    """The token's claims; a key this process does not know is looked up in the key table
    first (another process rotated), and refused if it is not there (retired, or never ours)."""
    try:
        return verified_claims(context, access_token, anti_csrf_token, now)
    except UnknownSigningKey as exc:
        yield from context.keys.reload_for_unknown_key(exc.header_segment, now)
        try:
            return verified_claims(context, access_token, anti_csrf_token, now)
        except UnknownSigningKey:
            telemetry.verify_failed("invalid")
            raise TryRefreshTokenError("the access token's signing key is unknown") from None


def get_session(
    context: Context, emissions: Emissions, access_token: object, anti_csrf_token: str | None
) -> StoreFlow[VerifiedSession]:
    now = context.now_ms()
    claims = yield from _verified_reloading(context, access_token, anti_csrf_token, now)
    if context.revocation_mode == "cached":
        ring = context.keys.ring
        yield from revocation.read_revocations(context, now)
        if context.keys.ring is not ring:  # the read retired a key: maybe this token's
            claims = yield from _verified_reloading(context, access_token, anti_csrf_token, now)
        revocations = context.revocations
        if revocations.revoked(
            claims.handle, claims.user_id, claims.created_at_ms, claims.tenant_id
        ):
            raise _revoked()
    session = claims.session()
    if claims.parent_hash_1 is None:
        if context.revocation_mode == "exact":
            alive = yield from context.queries.session_alive(claims.handle, now)
            if not alive:
                telemetry.verify_failed("revoked")
                raise UnauthorisedError("the session was revoked or has expired")
        return VerifiedSession(session)
    yield from _confirm(context, claims, now)
    return VerifiedSession(session, (yield from _confirmed_token(context, claims, now)))


def _confirmed_token(context: Context, claims: AccessClaims, now: int) -> StoreFlow[Token]:
    """The replacement for a confirmed access token: the same claims without ``prt``, and
    the presented token's own expiry.

    Why the old expiry and not a fresh validity: the token carries the payload it was
    issued with, and the row may have changed since (``merge_into_jwt_payload_for_user``
    removing a role). Re-signing that payload with a new validity would let a removed claim
    live for up to two validities after the change. Keeping the expiry means no access
    token carries a claim longer than one validity plus leeway after its removal, at no
    cost: the confirmation stays the one ``UPDATE`` of :meth:`Queries.promote_child`, where
    putting the row's current payload in would need a read of the row on every
    confirmation (the access token carries no payload version to compare in the
    statement). A client that confirms late simply refreshes sooner; that refresh reads the
    row whenever the payload changed, so it carries the current payload.
    """
    key = yield from context.keys.signing_key(now)
    payload_json = to_json(claims.payload, "jwt_payload", MAX_JWT_PAYLOAD_BYTES)
    content = AccessContent(
        claims.handle,
        claims.user_id,
        claims.refresh_hash_1,
        None,
        claims.anti_csrf,
        payload_json,
        claims.created_at_ms,
        claims.authenticated_at_ms,
        claims.tenant_id,
        claims.actor,
        claims.persistent,
        claims.ttl_ms,
    )
    end = minting.session_end(context, claims)
    not_after = claims.expires_ms if end is None else min(end, claims.expires_ms)
    return minting.access_token(context, key, content, now, not_after=not_after)


def _confirm(context: Context, claims: AccessClaims, now: int) -> StoreFlow[None]:
    """docs/protocol.md#verifying-a-request step 5: the access token's refresh token is
    confirmed: promoted if the row still holds its parent (one statement), or already
    current."""
    assert claims.parent_hash_1 is not None
    parent_hash_2 = sha256_hex(claims.parent_hash_1)
    child_hash_2 = sha256_hex(claims.refresh_hash_1)
    renewed = now + minting.idle_validity_ms(context, claims.persistent)
    queries = context.queries
    promoted = yield from queries.promote_child(
        claims.handle,
        claims.user_id,
        parent_hash_2,
        child_hash_2,
        now,
        renewed,
        minting.lifetime_ms(context, claims.ttl_ms),
    )
    if promoted:
        return
    timing = minting.timing(context, now, claims.persistent, claims.ttl_ms)
    for _ in range(MAX_DECISION_ATTEMPTS):
        row = yield from queries.read_session(claims.handle)
        decision = decide_promotion(
            row,
            token_user_id=claims.user_id,
            refresh_hash_1=claims.refresh_hash_1,
            parent_refresh_hash_1=claims.parent_hash_1,
            timing=timing,
        )
        if decision.outcome is PromotionOutcome.UNAUTHORISED:
            telemetry.verify_failed("revoked")
            raise UnauthorisedError("the session was revoked, has expired, or moved on")
        if decision.outcome is PromotionOutcome.ALREADY_CURRENT:
            return
        assert row is not None
        if (yield from queries.apply_change(row, decision.change)):
            return
    raise contention()


__all__ = ["get_session", "quick_get_session", "verified_claims"]
