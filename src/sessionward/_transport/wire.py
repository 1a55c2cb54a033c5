"""The names on the wire (docs/protocol.md#on-the-wire): cookies, headers, the values a client
may send, and the headers a CORS set-up must allow or expose."""

from __future__ import annotations

from sessionward._proof import PROOF_HEADER

ACCESS_TOKEN_COOKIE = "sAccessToken"
REFRESH_TOKEN_COOKIE = "sRefreshToken"
ID_REFRESH_TOKEN_COOKIE = "sIdRefreshToken"
ANTI_CSRF_HEADER = "anti-csrf"
ID_REFRESH_TOKEN_HEADER = "id-refresh-token"
AUTH_MODE_HEADER = "st-auth-mode"
ACCESS_TOKEN_HEADER = "st-access-token"
REFRESH_TOKEN_HEADER = "st-refresh-token"
# Beyond the original: what the browser client reads (docs/frontend.md#versions).
FRONT_TOKEN_HEADER = "front-token"  # base64url JSON {uid, ate, up, tId}: the readable claims
PROTOCOL_HEADER = "sessionward-protocol"  # the wire protocol's version, on every token write
PROTOCOL_VERSION = 1
EXPOSE_HEADERS = "Access-Control-Expose-Headers"
REMOVE = "remove"
FRONTEND_SDK_HEADERS = ("supertokens-sdk-name", "supertokens-sdk-version")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# The JWK Set member naming the revocation feed's URL (relative to the JWKS URL).
REVOCATION_FEED_MEMBER = "revocation_feed"
MAX_HEADER_TOKEN_LENGTH = 8192  # longer values are garbage, not tokens: do not even parse them


def cors_allowed_headers() -> list[str]:
    """Request headers a CORS preflight must allow for the frontend SDK and the header mode."""
    return [
        ANTI_CSRF_HEADER,
        *FRONTEND_SDK_HEADERS,
        AUTH_MODE_HEADER,
        "authorization",
        PROOF_HEADER.lower(),
    ]


def cors_exposed_headers() -> list[str]:
    """Response headers a cross-origin frontend must be able to read."""
    return [
        ID_REFRESH_TOKEN_HEADER,
        ANTI_CSRF_HEADER,
        ACCESS_TOKEN_HEADER,
        REFRESH_TOKEN_HEADER,
        FRONT_TOKEN_HEADER,
        PROTOCOL_HEADER,
    ]
