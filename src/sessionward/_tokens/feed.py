"""The revocation feed as a signed document (docs/microservices.md#revocations): its entries,
its cursors, signing it with the deployment's key and checking it with a JWK Set's.

Its own module because the format is what the issuer and every verifier must agree on, and it
is pure: revocations and a key in, a compact JWS out, and back. Neither HTTP nor a cache is
needed to test it.

The feed is one JWS (RFC 7515, compact) with the header ``{"alg", "kid", "typ":
"revocations+jwt"}`` (the ``typ`` keeps it from ever passing for an access token, whose header
is another, and the other way round) and the claims:

- ``iss`` the issuer's origin, ``iat`` (seconds) and ``iat_ms``, the moment it was made: a
  verifier refuses a feed older than the last it took (a replay), and measures its staleness
  by it;
- ``since`` the cursor it answers (None: a full read), ``next`` the cursor to read from next;
- ``hashed``: whether user ids are :func:`user_id_hash` values instead of the ids;
- ``revocations``: the entries, each one revocation in compact form: ``{"sid": handle}`` (every
  token of the session), ``{"sub": user, "tId": tenant, "nbf": ms}`` (every session of the
  user in the tenant created up to ``nbf``), ``{"tId": tenant, "nbf": ms}`` (every session of
  the tenant created up to ``nbf``), with ``at`` (when it was revoked, ms) and ``until`` (ms:
  after it no access token it concerns can be alive, so it may be forgotten).

Each entry is a CAEP ``session-revoked`` event in an RFC 8417 Security Event Token in a
smaller form; :func:`security_event` gives that SET, by the mapping of docs/microservices.md, for
receivers that take SETs (RFC 8935 push delivery).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any, TypeGuard

from sessionward._encoding import b64url, from_b64url, from_b64url_canonical
from sessionward._errors import _InternalError
from sessionward._models import DEFAULT_TENANT
from sessionward._revocations import Revocation
from sessionward._tokens.keys import KeyRing, SigningKey

FEED_TYPE = "revocations+jwt"
CAEP_SESSION_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
SESSIONWARD_NOT_BEFORE = "sessionward_sessions_created_until"  # an extension member of the event
MAX_CURSOR_LENGTH = 64
# <log instance>-<position in its log>-<the time its process had read revocations from, ms>
_CURSOR = re.compile(r"^([0-9a-f]{16})-([0-9]{1,15})-([0-9]{1,15})$")


class FeedError(_InternalError):
    """A feed that is not a valid, correctly signed revocation feed (the message says why)."""


class UnknownFeedKey(FeedError):
    """A feed signed by a ``kid`` the JWK Set at hand does not hold (a key rotated since)."""


class CursorError(ValueError):
    """A ``since`` that is not one of the feed's cursors (the issuer answers 400)."""


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a read of the feed left off: a position in one issuer process's log, and, for any
    other process, the time from which that process had not yet read revocations."""

    instance: str
    position: int
    read_since_ms: int

    def __str__(self) -> str:
        return f"{self.instance}-{self.position}-{self.read_since_ms}"


def parse_cursor(text: str) -> Cursor:
    """A ``since`` query value as a :class:`Cursor`; :class:`CursorError` if it is not one."""
    match = _CURSOR.match(text) if len(text) <= MAX_CURSOR_LENGTH else None
    if match is None:
        raise CursorError("since must be a cursor returned by this feed (its 'next')")
    return Cursor(match.group(1), int(match.group(2)), int(match.group(3)))


def user_id_hash(tenant_id: str, user_id: str) -> str:
    """What a feed with ``hashed`` publishes for a user: SHA-256 over the tenant and the user
    id, base64url. It keeps ids out of plain sight, not out of reach: ids that can be guessed
    (e-mail addresses, small numbers) can be confirmed by hashing guesses; a bearer secret
    (``revocation_feed_token``) keeps the feed itself private."""
    material = b"sessionward-user\x00" + tenant_id.encode() + b"\x00" + user_id.encode()
    return b64url(hashlib.sha256(material).digest())


def _entry(revocation: Revocation, hashed: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if revocation.session_handle is not None:
        entry["sid"] = revocation.session_handle
    if revocation.not_before is not None:
        tenant = revocation.tenant_id or DEFAULT_TENANT
        if revocation.user_id is not None:
            user = revocation.user_id
            entry["sub"] = user_id_hash(tenant, user) if hashed else user
            entry["tId"] = tenant
            entry["nbf"] = revocation.not_before
        elif revocation.tenant_id is not None:
            entry["tId"] = tenant
            entry["nbf"] = revocation.not_before
    entry["at"] = revocation.revoked_at
    entry["until"] = revocation.drop_after
    return entry


def sign_feed(
    key: SigningKey,
    revocations: list[Revocation],
    *,
    issuer: str,
    now_ms: int,
    since: str | None,
    next_cursor: str,
    hashed: bool,
) -> str:
    """The feed as a compact JWS signed with ``key`` (an asymmetric key that signs)."""
    if key.sign is None or key.public is None:
        raise ValueError(f"the key {key.kid!r} cannot sign a feed")
    header = {"alg": key.algorithm, "kid": key.kid, "typ": FEED_TYPE}
    claims = {
        "iss": issuer,
        "iat": now_ms // 1000,
        "iat_ms": now_ms,
        "since": since,
        "next": next_cursor,
        "hashed": hashed,
        "revocations": [_entry(r, hashed) for r in revocations if r.drop_after > now_ms],
    }
    segments = [
        b64url(json.dumps(header, separators=(",", ":")).encode()),
        b64url(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()),
    ]
    signing_input = ".".join(segments)
    return f"{signing_input}.{b64url(key.sign(signing_input.encode()))}"


@dataclass(frozen=True, slots=True)
class Feed:
    """A verified feed: its time, the cursor it answers and the next one, and its entries."""

    issued_ms: int
    since: str | None
    next_cursor: str
    hashed: bool
    revocations: list[Revocation]


def _decode_json(segment: str, what: str) -> Any:
    try:
        return json.loads(from_b64url(segment))
    except (ValueError, RecursionError):
        raise FeedError(f"the feed's {what} is not base64url JSON") from None


def verify_feed(document: str, ring: KeyRing) -> Feed:
    """The feed ``document`` checked with ``ring``'s keys (a JWK Set's): header, signature,
    claims, every entry; :class:`FeedError` for anything wrong. The algorithm is the key's; a
    header naming another, or its own key, is refused."""
    parts = document.strip().split(".")
    if len(parts) != 3:
        raise FeedError("the feed is not a compact JWS")
    header = _decode_json(parts[0], "header")
    if type(header) is not dict or set(header) != {"alg", "kid", "typ"}:
        raise FeedError("the feed's header is not a revocation feed's")
    if header["typ"] != FEED_TYPE or type(header["kid"]) is not str:
        raise FeedError("the feed's header is not a revocation feed's")
    key = ring.by_kid(header["kid"])
    if key is None or key.public is None:
        raise UnknownFeedKey("the feed is signed by a key that is not in the JWK Set")
    if header["alg"] != key.algorithm:
        raise FeedError("the feed's alg is not its key's")
    try:
        signature = from_b64url_canonical(parts[2])
    except ValueError:
        raise FeedError("the feed's signature is not base64url") from None
    if not key.verify(f"{parts[0]}.{parts[1]}".encode(), signature):
        raise FeedError("the feed's signature is not valid")
    return _read_claims(_decode_json(parts[1], "claims"))


def _int(value: object) -> TypeGuard[int]:
    return type(value) is int and 0 <= value < 2**53


def _text(value: object) -> bool:
    return type(value) is str and 0 < len(value) <= 255


def _read_claims(claims: Any) -> Feed:
    if type(claims) is not dict:
        raise FeedError("the feed's claims are not an object")
    issued, since, next_cursor = claims.get("iat_ms"), claims.get("since"), claims.get("next")
    hashed, entries = claims.get("hashed"), claims.get("revocations")
    if not _int(issued) or type(next_cursor) is not str or type(hashed) is not bool:
        raise FeedError("the feed's claims are incomplete")
    if (since is not None and type(since) is not str) or type(entries) is not list:
        raise FeedError("the feed's claims are incomplete")
    revocations = [_revocation(entry) for entry in entries]
    return Feed(issued, since, next_cursor, hashed, revocations)


def _revocation(entry: Any) -> Revocation:
    """One entry as a :class:`Revocation`; :class:`FeedError` if it is not one of the three."""
    if type(entry) is not dict or not _int(entry.get("at")) or not _int(entry.get("until")):
        raise FeedError("a feed entry has no times")
    handle, user, tenant, not_before = (entry.get(k) for k in ("sid", "sub", "tId", "nbf"))
    if handle is not None and not _text(handle):
        raise FeedError("a feed entry's session handle is not text")
    if not_before is not None:
        if not _int(not_before) or not _text(tenant) or (user is not None and not _text(user)):
            raise FeedError("a feed entry's user or tenant revocation is malformed")
    elif handle is None or user is not None or tenant is not None:
        raise FeedError("a feed entry names neither a session, a user nor a tenant")
    if set(entry) - {"sid", "sub", "tId", "nbf", "at", "until"}:
        raise FeedError("a feed entry has members this version does not know")
    stored_tenant = tenant
    if user is not None and tenant == DEFAULT_TENANT:
        stored_tenant = None  # as the issuer stores it: the cache reads None as the default
    return Revocation(handle, user, not_before, entry["at"], entry["until"], stored_tenant)


def security_event(revocation: Revocation, issuer: str, *, hashed: bool = False) -> dict[str, Any]:
    """The revocation as the claims of an RFC 8417 Security Event Token carrying one CAEP
    ``session-revoked`` event (to be signed as a JWT with ``typ: secevent+jwt`` for RFC 8935
    push delivery). The subject is an RFC 9493 ``complex`` identifier of the session, or of the
    user and its tenant, or of the tenant; for the last two, the event's
    ``sessionward_sessions_created_until`` (ms) says which sessions it revokes."""
    tenant = revocation.tenant_id or DEFAULT_TENANT
    subject: dict[str, Any] = {"format": "complex"}
    event: dict[str, Any] = {"event_timestamp": revocation.revoked_at // 1000}
    if revocation.session_handle is not None:
        subject["session"] = {"format": "opaque", "id": revocation.session_handle}
    if revocation.not_before is not None:
        if revocation.user_id is not None:
            user = revocation.user_id
            user_id = user_id_hash(tenant, user) if hashed else user
            subject["user"] = {"format": "opaque", "id": user_id}
        subject["tenant"] = {"format": "opaque", "id": tenant}
        event[SESSIONWARD_NOT_BEFORE] = revocation.not_before
    return {
        "iss": issuer,
        "iat": revocation.revoked_at // 1000,
        "jti": str(uuid.uuid4()),
        "sub_id": subject,
        "events": {CAEP_SESSION_REVOKED: event},
    }


SET_TYPE = "secevent+jwt"  # RFC 8417 §2.3: the typ of a Security Event Token


def sign_security_event(key: SigningKey, claims: dict[str, Any]) -> str:
    """A Security Event Token: ``claims`` (from :func:`security_event`) as a compact JWS signed
    with ``key``, ``typ: secevent+jwt``, as RFC 8935 push delivery POSTs it."""
    if key.sign is None or key.public is None:
        raise ValueError(f"the key {key.kid!r} cannot sign a security event")
    header = {"alg": key.algorithm, "kid": key.kid, "typ": SET_TYPE}
    segments = [
        b64url(json.dumps(header, separators=(",", ":")).encode()),
        b64url(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()),
    ]
    signing_input = ".".join(segments)
    return f"{signing_input}.{b64url(key.sign(signing_input.encode()))}"


__all__ = [
    "CAEP_SESSION_REVOKED",
    "FEED_TYPE",
    "SET_TYPE",
    "Cursor",
    "CursorError",
    "Feed",
    "FeedError",
    "UnknownFeedKey",
    "parse_cursor",
    "security_event",
    "sign_feed",
    "sign_security_event",
    "user_id_hash",
    "verify_feed",
]
