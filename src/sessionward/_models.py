"""The value types applications receive and pass in (exported from :mod:`sessionward`, or
returned by its methods). The rows the storage layer reads live in :mod:`sessionward._rows`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

JSON = Any  # any value that json.dumps accepts

# The tenant of every session created without one, and of every row written before tenants
# existed: an application with one tenant never needs to name it.
DEFAULT_TENANT = "public"


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
    # The tenant the session belongs to: a user id is unique within its tenant only.
    tenant_id: str = DEFAULT_TENANT
    # Who is acting as the user, for an impersonation session (the RFC 8693 ``act`` claim's
    # ``sub``); None for the user's own session. ``not_impersonated()`` refuses the others.
    actor: str | None = None
    # False for a session that ends when the browser closes ("remember me" off).
    persistent: bool = True


@dataclass(frozen=True, slots=True, repr=False)
class SessionTokens:
    """What ``create_new_session`` and ``refresh_session`` hand back: a full token set."""

    session: Session
    access_token: Token
    refresh_token: Token
    id_refresh_token: Token
    anti_csrf_token: str | None
    # False for a session that ends when the browser closes ("remember me" off): its cookies
    # carry no Max-Age, and the session ends after ``session_idle_timeout`` without a refresh.
    persistent: bool = True

    def __repr__(self) -> str:
        return f"SessionTokens(session={self.session!r}, <tokens hidden>)"


@dataclass(slots=True)
class VerifiedSession:
    """What ``get_session`` hands back; send ``new_access_token`` to the client when it is set."""

    session: Session
    new_access_token: Token | None = None


@dataclass(frozen=True, slots=True)
class PublishedKeys:
    """The JWK Set a deployment publishes (its public keys: current, previous still verifying,
    next) and how long it may be cached, in seconds. Empty for HS256: a secret is never
    published."""

    jwk_set: dict[str, list[dict[str, str]]]
    max_age: int


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """One of a user's live sessions, for a "your devices" page (beyond the original).

    ``last_refreshed_at`` is the last activity at refresh granularity (no write per request);
    the client is the one that refreshed last, or else the one that logged in. ``current`` is
    set by the web integrations for the session of the request asking. ``impersonated_by``
    names the actor of an impersonation session (support staff acting as the user): listed so
    that the user can see and end it, but never counted as one of the user's own devices.
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
    tenant_id: str = DEFAULT_TENANT
    impersonated_by: str | None = None

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
            "tenantId": self.tenant_id,
            "impersonatedBy": self.impersonated_by,
        }
