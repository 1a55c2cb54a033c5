"""Plain value types passed between the layers and returned to applications."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

JSON = Any  # any value that json.dumps accepts


@dataclass(frozen=True, slots=True)
class ClientContext:
    """Who presented a request: the client's IP address and User-Agent, as far as known.

    The web integrations derive it from each request (the address through ``trusted_proxies``
    only); direct callers of the managers pass it as ``client=``. Either field may be None.
    """

    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class Token:
    """A token value and the moment it expires, in milliseconds since the epoch."""

    value: str
    expires: int

    def __repr__(self) -> str:  # tokens never appear in logs or tracebacks
        return f"Token(value=<{len(self.value)} chars>, expires={self.expires})"


@dataclass(slots=True)  # not frozen: created on every verify, and frozen init costs 2x
class Session:
    """Who the session belongs to; the handle never changes during the session's life."""

    handle: str
    user_id: str
    jwt_payload: JSON
    # When the user last proved who they are: the login, or the latest ``mark_fresh``
    # (milliseconds; None for tokens of older versions). ``fresh_login`` checks it.
    authenticated_at: int | None = None


@dataclass(frozen=True, slots=True, repr=False)
class SessionTokens:
    """What ``create_new_session`` and ``refresh_session`` hand back: a full token set."""

    session: Session
    access_token: Token
    refresh_token: Token
    id_refresh_token: Token
    anti_csrf_token: str | None

    def __repr__(self) -> str:
        return f"SessionTokens(session={self.session!r}, <tokens hidden>)"


@dataclass(slots=True)
class VerifiedSession:
    """What ``get_session`` hands back; send ``new_access_token`` to the client when it is set."""

    session: Session
    new_access_token: Token | None = None


@dataclass(frozen=True, slots=True)
class SessionRow:
    """The stored state of one session, as read for a refresh or a promotion decision."""

    handle: str
    user_id: str
    refresh_token_hash_2: str
    expires_at: int
    jwt_payload_json: str | None
    created_at: int | None = None
    parent_issued_at: int | None = None  # the anchor the current parent was derived with
    child_issued_at: int | None = None  # when the current parent's child was first issued
    # The client that presented the current parent first (and so holds its newest child), and
    # when: the grace window serves that child again only to the same client.
    refreshed_at: int | None = None
    refreshed_ip: str | None = None
    refreshed_user_agent: str | None = None
    # RFC 7638 thumbprint of the key the session is bound to (proof of possession), or None.
    pop_thumbprint: str | None = None
    payload_version: int | None = None  # which version of the jwt payload the row holds
    authenticated_at: int | None = None  # the latest mark_fresh (None: the login itself)


@dataclass(frozen=True, slots=True)
class PublishedKeys:
    """The JWK Set a deployment publishes (its public keys: current, previous still verifying,
    next) and how long it may be cached, in seconds. Empty for HS256: a secret is never
    published."""

    jwk_set: dict[str, list[dict[str, str]]]
    max_age: int


class KeyRow(NamedTuple):
    """One row of the key table: a signing key, or the refresh-token key."""

    name: str
    value: str  # an HMAC secret, the refresh-token key, or an asymmetric key's algorithm
    material: str | None = None  # the PEM private key of an asymmetric key
    created_at_ms: int = 0
    # How long after it stops signing the key must still verify (the longest access-token
    # validity plus leeway of the processes that sign with it); None: written by an older version.
    verify_window_ms: int | None = None


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """One of a user's live sessions, for a "your devices" page (beyond the original).

    ``last_refreshed_at`` is the last activity at refresh granularity (no write per request);
    the client is the one that refreshed last, or else the one that logged in. ``current`` is
    set by the web integrations for the session of the request asking.
    """

    handle: str
    user_id: str
    created_at: int | None
    expires_at: int
    last_refreshed_at: int | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    device: str | None = None  # a short label such as "Firefox on Linux"
    current: bool = False

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict with camelCase keys, as the example APIs' ``GET /devices`` answer."""
        return {
            "sessionHandle": self.handle,
            "device": self.device,
            "clientIp": self.client_ip,
            "userAgent": self.user_agent,
            "createdAt": self.created_at,
            "lastActiveAt": self.last_refreshed_at,
            "expiresAt": self.expires_at,
            "current": self.current,
        }
