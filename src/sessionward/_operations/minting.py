"""Token minting: the access token, the child refresh token, and the set issued with a refresh
token (the flow side of :mod:`sessionward._tokens`: ``access.sign_access_token`` and
``refresh.RefreshTokenCipher``).

No I/O: every function here is called by a flow that already holds the signing key.
"""

from __future__ import annotations

import json

from sessionward._encoding import b64url
from sessionward._errors import InvalidArgumentError
from sessionward._models import Session, SessionTokens, Token
from sessionward._operations.context import Context
from sessionward._protocol import Timing, sha256_hex
from sessionward._tokens.access import (
    MAX_COOKIE_TOKEN_LENGTH,
    AccessClaims,
    AccessContent,
    sign_access_token,
)
from sessionward._tokens.keys import SigningKey
from sessionward._tokens.refresh import RefreshClaims


def idle_validity_ms(context: Context, persistent: bool) -> int:
    """How long after its last refresh a session ends: the refresh-token validity, or for a
    session that ends with the browser the (shorter) ``session_idle_timeout``."""
    validity = context.config.refresh_token_validity_ms
    return validity if persistent else min(validity, context.config.session_idle_timeout_ms)


def lifetime_ms(context: Context, ttl_ms: int | None) -> int | None:
    """How long after its creation a session ends whatever its activity: the absolute lifetime,
    or a session's own shorter one (an impersonation's ``ttl``); None: not bounded."""
    if ttl_ms is None:
        return context.lifetime_ms
    return ttl_ms if context.lifetime_ms is None else min(ttl_ms, context.lifetime_ms)


def session_expiry(context: Context, now: int, claims: RefreshClaims) -> int:
    """When the session of ``claims`` ends if it is not refreshed again: its idle validity from
    ``now``, within its lifetime."""
    expires = now + idle_validity_ms(context, claims.persistent)
    lifetime = lifetime_ms(context, claims.ttl_ms)
    if lifetime is not None and claims.created_at_ms is not None:
        expires = min(expires, claims.created_at_ms + lifetime)
    return expires


def timing(
    context: Context, now: int, persistent: bool = True, ttl_ms: int | None = None
) -> Timing:
    """The durations a decision on one session depends on (its kind decides two of them)."""
    return Timing(
        now_ms=now,
        refresh_validity_ms=idle_validity_ms(context, persistent),
        grace_window_ms=context.config.refresh_grace_window * 1000,
        absolute_lifetime_ms=lifetime_ms(context, ttl_ms),
    )


def access_token(
    context: Context,
    key: SigningKey,
    content: AccessContent,
    now: int,
    not_after: int | None = None,
) -> Token:
    """Sign ``content``; it expires after the validity, but never after ``not_after`` (the
    session's end), so no access token outlives its session."""
    expires = now + context.config.access_token_validity_ms
    if not_after is not None:
        expires = min(expires, not_after)
    expires = expires // 1000 * 1000
    value = sign_access_token(key, content, expires)
    if len(value) > MAX_COOKIE_TOKEN_LENGTH:
        raise InvalidArgumentError(
            f"the access token would be {len(value)} characters, more than browsers keep in "
            "a cookie: shorten jwt_payload (keep large values in session_data)"
        )
    return Token(value, expires)


def child_refresh_token(
    context: Context, parent: RefreshClaims, parent_hash_1: str, anchor: int
) -> str:
    """The one child of a parent for an anchor time (see :mod:`sessionward._protocol`);
    random when the grace window is off.

    Its own expiry is an upper bound (anchor + twice the validity): the row's expiry, which
    promotion extends, is what actually ends the session. ``parent`` supplies what the child
    carries on (creation time, payload and its version, re-authentication time).
    """
    config, cipher = context.config, context.keys.refresh.cipher
    # Built field by field rather than by dataclasses.replace, which costs several
    # microseconds on every rotation.
    claims = RefreshClaims(
        parent.handle,
        parent.user_id,
        parent_hash_1,
        anchor + 2 * idle_validity_ms(context, parent.persistent),
        parent.created_at_ms,
        parent.payload_json,
        parent.payload_version,
        parent.authenticated_at_ms,
        parent.tenant_id,
        parent.actor,
        parent.persistent,
        parent.ttl_ms,
    )
    if config.refresh_grace_window == 0:  # the original: every child is random
        return cipher.seal(claims, anchor)
    seed = f"{parent_hash_1}:{anchor}"
    if parent.payload_version is not None:
        # Each payload version its own seed: one nonce never seals two contents.
        seed += f":v{parent.payload_version}"
    return cipher.seal(claims, anchor, seed=seed)


def id_refresh_token(context: Context, refresh_hash_1: str) -> str:
    """The id-refresh token that goes with a refresh token: derived, so it is the same
    whenever that refresh token is issued again, and only this deployment can compute it."""
    return b64url(context.keys.refresh.derivation.derive("id-refresh", refresh_hash_1)[:24])


def token_set(
    context: Context,
    key: SigningKey,
    *,
    refresh_token: str,
    claims: RefreshClaims,
    parent_hash_1: str | None,
    session_expires: int,
    now: int,
    access_not_after: int | None = None,
) -> SessionTokens:
    """Everything issued with ``refresh_token``; anti-CSRF and id-refresh tokens derive from it,
    so that a re-issued refresh token comes with the very same companions. The access token
    expires after its validity, but not after the session, nor after ``access_not_after``."""
    refresh_hash_1 = sha256_hex(refresh_token)
    anti_csrf = None
    if context.config.anti_csrf:
        anti_csrf = b64url(context.keys.refresh.derivation.derive("anti-csrf", refresh_hash_1))
    payload_json = claims.payload_json or "null"
    content = AccessContent(
        claims.handle,
        claims.user_id,
        refresh_hash_1,
        parent_hash_1,
        anti_csrf,
        payload_json,
        claims.created_at_ms,
        claims.authenticated_at_ms,
        claims.tenant_id,
        claims.actor,
        claims.persistent,
        claims.ttl_ms,
    )
    not_after = session_expires
    if access_not_after is not None:
        not_after = min(not_after, access_not_after)
    access = access_token(context, key, content, now, not_after=not_after)
    authenticated_at = claims.authenticated_at_ms or claims.created_at_ms
    return SessionTokens(
        session=Session(
            claims.handle,
            claims.user_id,
            json.loads(payload_json),
            authenticated_at,
            claims.tenant_id,
            claims.actor,
            claims.persistent,
        ),
        access_token=access,
        refresh_token=Token(refresh_token, session_expires),
        id_refresh_token=Token(id_refresh_token(context, refresh_hash_1), session_expires),
        anti_csrf_token=anti_csrf,
        persistent=claims.persistent,
    )


def session_end(context: Context, claims: AccessClaims) -> int | None:
    """When the absolute lifetime (or the session's own) ends the session of ``claims`` (None:
    not bounded)."""
    lifetime = lifetime_ms(context, claims.ttl_ms)
    if lifetime is None or claims.created_at_ms is None:
        return None
    return claims.created_at_ms + lifetime


__all__ = [
    "access_token",
    "child_refresh_token",
    "id_refresh_token",
    "idle_validity_ms",
    "lifetime_ms",
    "session_end",
    "session_expiry",
    "timing",
    "token_set",
]
