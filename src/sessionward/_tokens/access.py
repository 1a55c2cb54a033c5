"""Access tokens: standard JWTs (RFC 7519) checked on the hot path without a database.

Verification never parses the header on the fast path: every header this library writes is known
byte for byte, so the header segment is looked up in the key ring and yields the key (and thus
``alg``, which is never taken from the token). HS256 signatures are compared in constant time
against the canonical base64url encoding of the expected MAC, so non-canonical encodings are
refused; asymmetric signatures are decoded canonically and checked with the key's public half.
An asymmetric token verified once is remembered by the key ring (bounded), so the many requests
that present one access token pay for one signature check. Any JWT library can verify these
tokens given the key: ``jwt.decode(t, key, ["HS256"])``, or the JWK Set for the others.

Claims: ``sid`` session handle, ``sub`` user id, ``rt`` H1 of the refresh token issued with it,
``prt`` H1 of that token's parent while the pair is unconfirmed, ``csrf`` the anti-CSRF token,
``cat`` when the session began (milliseconds; for user-wide revocation), ``aat`` when the user
last re-authenticated (``mark_fresh``; milliseconds, absent until then), ``pld`` the
application's jwt payload, ``exp`` expiry (seconds, RFC 7519 NumericDate), ``tId`` the tenant
(as supertokens names it; absent in older tokens: the default tenant), ``act`` the actor of an
impersonation session (RFC 8693: ``{"sub": actor_id}``), ``per`` false for a session that ends
with the browser, ``ttl`` a session's own lifetime (milliseconds from ``cat``; impersonation).
"""

from __future__ import annotations

import contextlib
import hmac
import json
from typing import Any, NamedTuple

from sessionward._config import ALGORITHMS
from sessionward._encoding import (
    b64url,
    b64url_bytes,
    from_b64url,
    from_b64url_canonical,
    from_signed_b64url,
    json_string,
)
from sessionward._errors import _InternalError
from sessionward._models import DEFAULT_TENANT, Session
from sessionward._tokens.keys import VERIFIED_CACHE_SIZE, KeyRing, SigningKey
from sessionward._validation import parse_finite_float, refuse_non_finite

MAX_ACCESS_TOKEN_LENGTH = 8192  # longer input is refused before any decoding work
MAX_COOKIE_TOKEN_LENGTH = 4000  # browsers drop cookies over 4 KiB (name + value): refuse such

_hmac_digest = hmac.digest
_compare = hmac.compare_digest
# NaN, ±Infinity and numbers too large for a float (1e999) are refused in every claim: they are
# not JSON, and NaN slips through any comparison. The hooks run only on those literals and on
# numbers with a fraction or exponent, none of which the claims we write hold (only an
# application's payload may), so the hot path pays nothing for them.
_decoder = json.JSONDecoder(parse_constant=refuse_non_finite, parse_float=parse_finite_float)
_decode = _decoder.decode
_DEFAULT_TENANT_JSON = json_string(DEFAULT_TENANT)
_raw_decode = _decoder.raw_decode


class AccessClaims:
    """The verified content of an access token."""

    __slots__ = (
        "actor",
        "anti_csrf",
        "authenticated_at_ms",
        "created_at_ms",
        "expires_ms",
        "handle",
        "parent_hash_1",
        "payload",
        "persistent",
        "refresh_hash_1",
        "tenant_id",
        "ttl_ms",
        "user_id",
    )

    def __init__(
        self,
        handle: str,
        user_id: str,
        refresh_hash_1: str,
        parent_hash_1: str | None,
        anti_csrf: str | None,
        payload: Any,
        expires_ms: int,
        created_at_ms: int | None = None,
        authenticated_at_ms: int | None = None,
        tenant_id: str = DEFAULT_TENANT,
        actor: str | None = None,
        persistent: bool = True,
        ttl_ms: int | None = None,
    ) -> None:
        self.handle = handle
        self.user_id = user_id
        self.refresh_hash_1 = refresh_hash_1
        self.parent_hash_1 = parent_hash_1
        self.anti_csrf = anti_csrf
        self.payload = payload
        self.expires_ms = expires_ms
        self.created_at_ms = created_at_ms  # when the session began (None: an older token)
        self.authenticated_at_ms = authenticated_at_ms  # the latest mark_fresh, if any
        self.tenant_id = tenant_id
        self.actor = actor  # who acts as the user (impersonation), else None
        self.persistent = persistent  # False: the session ends with the browser
        self.ttl_ms = ttl_ms  # the session's own lifetime from created_at (impersonation)

    def session(self) -> Session:
        """The session these claims describe, as verify hands it to the application."""
        return Session(
            self.handle,
            self.user_id,
            self.payload,
            self.authenticated_at,
            self.tenant_id,
            self.actor,
            self.persistent,
        )

    @property
    def authenticated_at(self) -> int | None:
        """When the user last proved who they are: the latest mark_fresh, else the login."""
        return self.created_at_ms if self.authenticated_at_ms is None else self.authenticated_at_ms


class InvalidAccessToken(_InternalError):
    """Internal: the token is not a valid, unexpired access token of this deployment."""


class ExpiredAccessToken(InvalidAccessToken):
    """Internal: a valid token of this deployment, past its expiry (and the leeway)."""


class UnknownSigningKey(InvalidAccessToken):
    """Internal: well-formed, but signed with a key this process does not know (yet)."""

    def __init__(self, header_segment: str) -> None:
        super().__init__("unknown signing key")
        self.header_segment = header_segment


class AccessContent(NamedTuple):
    """What an access token says, before it is signed (its expiry is given at signing)."""

    handle: str
    user_id: str
    refresh_hash_1: str
    parent_hash_1: str | None
    anti_csrf: str | None
    payload_json: str  # the application's payload, already serialised
    created_at_ms: int | None  # when the session began (checked against user-wide revocations)
    authenticated_at_ms: int | None = None  # the latest mark_fresh (None: the login)
    tenant_id: str = DEFAULT_TENANT
    actor: str | None = None
    persistent: bool = True
    ttl_ms: int | None = None


def sign_access_token(key: SigningKey, content: AccessContent, expires_ms: int) -> str:
    """Mint a JWT that says ``content`` and expires at ``expires_ms`` (whole seconds)."""
    (
        handle,
        user_id,
        refresh_hash_1,
        parent_hash_1,
        anti_csrf,
        payload_json,
        created,
        fresh,
        tenant,
        actor,
        persistent,
        ttl,
    ) = content
    exp = expires_ms // 1000
    parts = [
        '{"sid":',
        json_string(handle),
        ',"sub":',
        json_string(user_id),
        ',"rt":"',
        refresh_hash_1,
        '"',
    ]
    if parent_hash_1 is not None:
        parts += [',"prt":"', parent_hash_1, '"']
    if anti_csrf is not None:
        parts += [',"csrf":"', anti_csrf, '"']
    if created is not None:
        parts += [',"cat":', str(created)]
    if fresh is not None:
        parts += [',"aat":', str(fresh)]
    parts += [',"tId":', _DEFAULT_TENANT_JSON if tenant == DEFAULT_TENANT else json_string(tenant)]
    if actor is not None:
        parts += [',"act":{"sub":', json_string(actor), "}"]
    if not persistent:
        parts.append(',"per":false')
    if ttl is not None:
        parts += [',"ttl":', str(ttl)]
    parts += [',"pld":', payload_json, ',"exp":', str(exp), "}"]
    signing_input = f"{key.header_segment}.{b64url(''.join(parts).encode())}"
    if key.secret is not None:
        signature = b64url(_hmac_digest(key.secret, signing_input.encode(), "sha256"))
    elif key.sign is not None:
        signature = b64url(key.sign(signing_input.encode()))
    else:
        raise ValueError(f"the key {key.kid!r} can only verify")
    return f"{signing_input}.{signature}"


def verify_access_token(token: object, ring: KeyRing, now_ms: int) -> AccessClaims:
    """Check signature, structure and expiry; raise :class:`InvalidAccessToken` on any failure."""
    if type(token) is not str or len(token) > MAX_ACCESS_TOKEN_LENGTH:
        raise InvalidAccessToken("not a token")
    header, _, rest = token.partition(".")
    body, _, signature = rest.partition(".")
    key = ring.by_header.get(header)
    if key is None:
        if header and body and signature:
            raise UnknownSigningKey(header)
        raise InvalidAccessToken("malformed")
    input_length = len(header) + 1 + len(body)
    try:
        secret = key.secret
        if secret is not None:
            expected = b64url_bytes(_hmac_digest(secret, token[:input_length].encode(), "sha256"))
            if not _compare(expected, signature.encode()):
                raise InvalidAccessToken("bad signature")
        elif token not in ring.verified:
            _verify_signature(token, key, ring, input_length)
        # Claims are parsed on every use, so that no request sees another's changes to them.
        return _read_claims(body, now_ms)
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise InvalidAccessToken("malformed") from exc


def _verify_signature(token: str, key: SigningKey, ring: KeyRing, input_length: int) -> None:
    """Check an asymmetric signature, and remember the token as verified by ``ring``."""
    if not key.verify(
        token[:input_length].encode(), from_b64url_canonical(token[input_length + 1 :])
    ):
        raise InvalidAccessToken("bad signature")
    verified = ring.verified
    if len(verified) >= VERIFIED_CACHE_SIZE:
        # The oldest goes; another thread may have taken it already.
        with contextlib.suppress(KeyError, StopIteration, RuntimeError):
            del verified[next(iter(verified))]
    verified[token] = True


def _read_claims(body: str, now_ms: int) -> AccessClaims:
    """The claims of a token whose signature is valid; expired or ill-typed claims raise
    :class:`InvalidAccessToken`."""
    text = from_signed_b64url(body).decode()
    claims, end = _raw_decode(text)  # the body is ours (signed), so no whitespace to skip
    if end != len(text) or type(claims) is not dict:
        raise InvalidAccessToken("bad claims")
    exp = claims["exp"]
    if type(exp) is not int or exp * 1000 <= now_ms:
        raise ExpiredAccessToken("expired")
    handle = claims["sid"]
    user_id = claims["sub"]
    rt = claims["rt"]
    prt = claims.get("prt")
    csrf = claims.get("csrf")
    created = claims.get("cat")
    fresh = claims.get("aat")
    if type(handle) is not str or type(user_id) is not str or type(rt) is not str:
        raise InvalidAccessToken("bad claims")
    if (
        (prt is not None and type(prt) is not str)
        or (csrf is not None and type(csrf) is not str)
        or (created is not None and type(created) is not int)
        or (fresh is not None and type(fresh) is not int)
    ):
        raise InvalidAccessToken("bad claims")
    payload = claims.get("pld")
    tenant = claims.get("tId", DEFAULT_TENANT)
    if type(tenant) is not str:
        raise InvalidAccessToken("bad claims")
    # The claims every token has (sid, sub, rt, pld, exp, tId) and the optional ones read above:
    # a token with no more than those is an ordinary session's (the common case), so the rare
    # claims of impersonation and non-persistent sessions cost it no lookup.
    usual = 6 + (prt is not None) + (csrf is not None) + (created is not None) + (fresh is not None)
    if len(claims) == usual:
        return AccessClaims(
            handle, user_id, rt, prt, csrf, payload, exp * 1000, created, fresh, tenant
        )
    actor = None
    act = claims.get("act")
    if act is not None:
        actor = act.get("sub") if type(act) is dict else None
        if type(actor) is not str:
            raise InvalidAccessToken("bad claims")
    persistent = claims.get("per")
    ttl = claims.get("ttl")
    if (persistent is not None and persistent is not False) or (
        ttl is not None and type(ttl) is not int
    ):
        raise InvalidAccessToken("bad claims")
    return AccessClaims(
        handle,
        user_id,
        rt,
        prt,
        csrf,
        payload,
        exp * 1000,
        created,
        fresh,
        tenant,
        actor,
        persistent is None,
        ttl,
    )


def read_header(header_segment: str) -> tuple[str, object] | None:
    """``(alg, kid)`` of an unknown header (slow path only); None if it is not our kind of
    header: JSON with only ``alg`` (one we sign with), ``kid`` and ``typ``. No ``jwk``, ``jku``
    or ``x5u`` header is ever honoured: a token naming its own key is refused outright."""
    if len(header_segment) > 200:
        return None
    try:
        header = _decode(from_b64url(header_segment).decode())
    except (ValueError, TypeError, RecursionError):
        return None
    if (
        type(header) is not dict
        or header.get("alg") not in ALGORITHMS
        or set(header) - {"alg", "kid", "typ"}
    ):
        return None
    return header["alg"], header.get("kid")


def read_header_kid(header_segment: str) -> object:
    """The ``kid`` of an unknown header (slow path only); None if it is not our kind of header."""
    fields = read_header(header_segment)
    return None if fields is None else fields[1]
